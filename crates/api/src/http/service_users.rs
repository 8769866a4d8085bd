//! Service users and who is assigned to them. Visibility is decided by the policies on
//! `service_users` (patient assignment); handlers only name the action for a clear 403.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use thrive_domain::service_users::{AssignStaffRequest, ServiceUserStatus, ServiceUserSummary};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use crate::error::{ApiError, Result};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/service-users", get(list))
        .route("/service-users/{id}", get(show))
        .route(
            "/service-users/{id}/assignments",
            axum::routing::post(assign),
        )
        .route(
            "/service-users/{id}/assignments/{user_id}",
            delete(unassign),
        )
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    given_name: String,
    family_name: String,
    preferred_name: Option<String>,
    room: Option<String>,
    status: String,
}

impl From<Row> for ServiceUserSummary {
    fn from(r: Row) -> Self {
        let status = match r.status.as_str() {
            "in_hospital" => ServiceUserStatus::InHospital,
            "discharged" => ServiceUserStatus::Discharged,
            "deceased" => ServiceUserStatus::Deceased,
            _ => ServiceUserStatus::Active,
        };
        ServiceUserSummary {
            id: r.id,
            display_name: format!("{} {}", r.given_name, r.family_name),
            preferred_name: r.preferred_name,
            room: r.room,
            status,
        }
    }
}

const COLUMNS: &str = "id, given_name, family_name, preferred_name, room, status";

/// The service users the caller may see: all of them with `service_users.view_all`, otherwise
/// only those assigned to them. The WHERE clause has no filter of ours: RLS decides.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ServiceUserSummary>>> {
    let mut tx = caller.begin(&state).await?;
    caller
        .require(&mut tx, Permission::ServiceUsersView)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from service_users order by family_name, given_name, id limit 500"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<ServiceUserSummary>> {
    let mut tx = caller.begin(&state).await?;
    caller
        .require(&mut tx, Permission::ServiceUsersView)
        .await?;
    let row: Row = sqlx::query_as(&format!(
        "select {COLUMNS} from service_users where id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

async fn visible(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<()> {
    let seen: bool =
        sqlx::query_scalar("select exists (select 1 from service_users where id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if seen {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(req): AppJson<AssignStaffRequest>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    caller
        .require(&mut tx, Permission::AssignmentsCreate)
        .await?;
    visible(&mut tx, id).await?;
    let result = sqlx::query(
        "insert into staff_assignments (organization_id, user_id, service_user_id)
         values (app.current_org(), $1, $2)",
    )
    .bind(req.user_id)
    .bind(id)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(ApiError::Conflict("That staff member is already assigned."))
        }
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            return Err(ApiError::field(
                "user_id",
                "Not a member of this organisation.",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(StatusCode::CREATED)
}

async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    caller
        .require(&mut tx, Permission::AssignmentsDelete)
        .await?;
    let removed =
        sqlx::query("delete from staff_assignments where service_user_id = $1 and user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if removed == 0 {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
