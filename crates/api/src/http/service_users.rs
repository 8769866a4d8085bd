//! Service users and who is assigned to them. Visibility is decided by the policies on
//! `service_users` (patient assignment); handlers only name the action for a clear 403.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use sqlx::{Postgres, Transaction};
use thrive_domain::records::{ServiceUser, ServiceUserInput, StatusChange};
use thrive_domain::service_users::{
    AssignStaffRequest, AssignmentsOverview, ServiceUserAssignments, ServiceUserStatus,
    ServiceUserSummary, StaffName,
};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, Table};
use super::routes::Routes;
use crate::error::{ApiError, Result, ResultExt};
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/service-users",
            &[Permission::ServiceUsersView],
            "The service users the caller may see",
            list,
        )
        .post(
            "/service-users",
            &[Permission::ServiceUsersCreate],
            "Admit a new service user",
            create,
        )
        .get(
            "/service-users/{id}",
            &[Permission::ServiceUsersView],
            "A service user's full record",
            show,
        )
        .put(
            "/service-users/{id}",
            &[Permission::ServiceUsersUpdate],
            "Edit the profile (sent in full)",
            update,
        )
        .delete(
            "/service-users/{id}",
            &[Permission::ServiceUsersDelete],
            "Delete a record entered in error (everything recorded about them goes with it)",
            remove,
        )
        .post(
            "/service-users/{id}/status",
            &[Permission::ServiceUsersChangeStatus],
            "Record a hospital stay, discharge or death",
            change_status,
        )
        .get(
            "/assignments",
            &[Permission::AssignmentsView],
            "The assignments screen in one request: every service user the caller may see with \
             the staff assigned to them, and staff names (only with staff.view)",
            overview,
        )
        .get(
            "/service-users/{id}/assignments",
            &[Permission::AssignmentsView],
            "Who is assigned to this service user",
            assignments,
        )
        .post(
            "/service-users/{id}/assignments",
            &[Permission::AssignmentsCreate],
            "Assign a member of staff to this service user",
            assign,
        )
        .delete(
            "/service-users/{id}/assignments/{user_id}",
            &[Permission::AssignmentsDelete],
            "Unassign a member of staff",
            unassign,
        )
}

pub const TABLE: Table = Table {
    name: "service_users",
    order_by: "created_at",
    filters: &["status"],
};

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
    let list = visible(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(list))
}

/// The list `GET /api/service-users` answers, in the caller's transaction (the home pages'
/// aggregates carry it too, so a home is one request).
pub(super) async fn visible(
    tx: &mut Transaction<'static, Postgres>,
) -> Result<Vec<ServiceUserSummary>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from service_users order by family_name, given_name, id limit 500"
    ))
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct AssignedRow {
    #[sqlx(flatten)]
    service_user: Row,
    assigned: Vec<Uuid>,
}

/// The assignments screen (issue 13, one request per screen): what it asked one request per
/// service user for. RLS limits both tables to what the caller may see; the staff names come
/// only with `staff.view`, as `GET /api/staff` would give them.
async fn overview(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AssignmentsOverview>> {
    let mut tx = caller.begin(&state).await?;
    let rows: Vec<AssignedRow> = sqlx::query_as(
        "select su.id, su.given_name, su.family_name, su.preferred_name, su.room, su.status,
                coalesce((select array_agg(a.user_id order by a.created_at, a.user_id)
                            from staff_assignments a where a.service_user_id = su.id),
                         '{}') as assigned
           from service_users su
          order by su.family_name, su.given_name, su.id limit 500",
    )
    .fetch_all(&mut *tx)
    .await?;
    let staff: Vec<(Uuid, String)> = sqlx::query_as(
        "select u.id, u.display_name
           from memberships m join users u on u.id = m.user_id
          where (select app.has_permission('staff.view'))
          order by u.display_name, u.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(AssignmentsOverview {
        service_users: rows
            .into_iter()
            .map(|r| ServiceUserAssignments {
                service_user: r.service_user.into(),
                assigned: r.assigned,
            })
            .collect(),
        staff: staff
            .into_iter()
            .map(|(user_id, display_name)| StaffName {
                user_id,
                display_name,
            })
            .collect(),
    }))
}

/// A service user's full record. Opening it writes a view event to the audit trail.
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<ServiceUser>> {
    let mut tx = caller.begin(&state).await?;
    let row: ServiceUser = records::fetch(&mut tx, &TABLE, id).await?;
    sqlx::query("select app.audit_view($1)")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Admit a new service user.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<ServiceUserInput>,
) -> Result<(StatusCode, Json<ServiceUser>)> {
    validate(&input)?;
    let input = input.normalised();
    let mut tx = caller.begin(&state).await?;
    let fields = serde_json::json!(input);
    let sql = "insert into service_users (organization_id, given_name, family_name, preferred_name,
                   date_of_birth, room, nhs_number, address, next_of_kin_name, next_of_kin_relationship,
                   next_of_kin_phone, allergies, gp_name, gp_practice, gp_phone, key_worker_id)
               select app.current_org(), given_name, family_name, preferred_name, date_of_birth, room,
                   nhs_number, address, next_of_kin_name, next_of_kin_relationship, next_of_kin_phone,
                   allergies, gp_name, gp_practice, gp_phone, key_worker_id
               from jsonb_populate_record(null::service_users, $1)
               returning id";
    let id: Uuid = sqlx::query_scalar(sql)
        .bind(sqlx::types::Json(fields))
        .fetch_one(&mut *tx)
        .await
        .on_constraint(NHS_NUMBER_KEY, nhs_number_taken)?;
    // Whoever admits a service user without view_all is assigned to them, so they can see them.
    sqlx::query(
        "insert into staff_assignments (organization_id, user_id, service_user_id)
         select app.current_org(), app.current_user_id(), $1
         where not app.has_permission('service_users.view_all') and app.has_permission('assignments.create')",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let row: Option<ServiceUser> = match records::fetch(&mut tx, &TABLE, id).await {
        Ok(row) => Some(row),
        Err(ApiError::NotFound) => None,
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    // Created but not visible to its creator (no view_all, no assignment): say so plainly.
    row.map(|r| (StatusCode::CREATED, Json(r))).ok_or(ApiError::Conflict(
        "The service user was admitted, but you are not assigned to them; ask a manager to assign you.",
    ))
}

/// Edit the profile (sent in full).
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<ServiceUserInput>,
) -> Result<Json<ServiceUser>> {
    validate(&input)?;
    let input = input.normalised();
    let mut tx = caller.begin(&state).await?;
    let row = records::update(&mut tx, &TABLE, id, &input)
        .await
        .on_constraint(NHS_NUMBER_KEY, nhs_number_taken)?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Record a hospital stay, discharge or death.
async fn change_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<StatusChange>,
) -> Result<Json<ServiceUser>> {
    records::change(&state, &caller, &TABLE, id, &input).await
}

/// Delete a record entered in error (everything recorded about them goes with it).
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    records::remove(&state, &caller, &TABLE, id).await
}

/// One NHS number per service user in an organisation (migration 0005).
const NHS_NUMBER_KEY: &str = "service_users_nhs_number_key";

fn nhs_number_taken() -> ApiError {
    ApiError::field("nhs_number", "Another service user has this NHS number.")
}

/// Who is assigned to this service user.
async fn assignments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<Uuid>>> {
    let mut tx = caller.begin(&state).await?;
    records::service_user_visible(&mut tx, id).await?;
    let users: Vec<Uuid> = sqlx::query_scalar(
        "select user_id from staff_assignments where service_user_id = $1 order by created_at, user_id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(users))
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(req): AppJson<AssignStaffRequest>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    records::service_user_visible(&mut tx, id).await?;
    sqlx::query(
        "insert into staff_assignments (organization_id, user_id, service_user_id)
         values (app.current_org(), $1, $2)",
    )
    .bind(req.user_id)
    .bind(id)
    .execute(&mut *tx)
    .await
    .on_constraint("staff_assignments_user_id_service_user_id_key", || {
        ApiError::Conflict("That staff member is already assigned.")
    })
    .on_constraint("staff_assignments_organization_id_user_id_fkey", || {
        ApiError::field("user_id", "Not a member of this organisation.")
    })?;
    tx.commit().await?;
    Ok(StatusCode::CREATED)
}

async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
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
