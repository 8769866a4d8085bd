//! The caller's organisation and its settings, and the request to close it: an administrator
//! with `organisation.request_closure` names the organisation to confirm and a retention period
//! (30 days at least, 90 unless said); after it, `thrive-api purge-closed` deletes everything.
//! Until then the request can be withdrawn.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use thrive_domain::validation::{Check, FieldErrors, Validate};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::validate;
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/organisation", &[Permission::OrganisationView], "The organisation's settings and closure state", show)
        .put("/organisation", &[Permission::OrganisationUpdate], "Rename the organisation", update)
        .post("/organisation/closure", &[Permission::OrganisationRequestClosure], "Request closure: confirm the name; data is purged after the retention period (30 days at least)", request_closure)
        .delete("/organisation/closure", &[Permission::OrganisationRequestClosure], "Withdraw a closure request", withdraw_closure)
}

#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
    /// When closure was requested (RFC 3339), if it was.
    pub closure_requested_at: Option<String>,
    /// When the organisation's data will be purged, if closure was requested.
    pub purge_after: Option<String>,
}

const COLUMNS: &str = "id, name,
    to_char(closure_requested_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as closure_requested_at,
    to_char(purge_after at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as purge_after";

/// Days between a closure request and the purge unless the request says otherwise.
pub const DEFAULT_RETENTION_DAYS: i32 = 90;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureRequest {
    /// The organisation's name, typed again to confirm.
    pub confirm_name: String,
    pub retention_days: Option<i32>,
}

impl Validate for ClosureRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut check = Check::new();
        check.text("confirm_name", &self.confirm_name, 200);
        if let Some(days) = self.retention_days {
            if !(30..=3650).contains(&days) {
                check.fail(
                    "retention_days",
                    "Keep the data between 30 and 3650 days before it is purged.",
                );
            }
        }
        check.finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationInput {
    pub name: String,
}

impl Validate for OrganisationInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new().text("name", &self.name, 200).finish()
    }
}

async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<Organisation>> {
    let mut tx = caller.begin(&state).await?;
    let org: Organisation = sqlx::query_as(&format!(
        "select {COLUMNS} from organizations where id = app.current_org()"
    ))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(org))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<OrganisationInput>,
) -> Result<Json<Organisation>> {
    validate(&input)?;
    let mut tx = caller.begin(&state).await?;
    let org: Organisation = sqlx::query_as(&format!(
        "update organizations set name = $1 where id = app.current_org() returning {COLUMNS}"
    ))
    .bind(input.name.trim())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(org))
}

async fn request_closure(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<ClosureRequest>,
) -> Result<Json<Organisation>> {
    validate(&input)?;
    let mut tx = caller.begin(&state).await?;
    let name: String =
        sqlx::query_scalar("select name from organizations where id = app.current_org()")
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(ApiError::NotFound)?;
    if input.confirm_name.trim() != name {
        return Err(ApiError::field(
            "confirm_name",
            "Type the organisation's name exactly as shown to confirm.",
        ));
    }
    // The database sets the request's time and requester, and checks the retention.
    let org: Organisation = sqlx::query_as(&format!(
        "update organizations
            set purge_after = now() + make_interval(days => $1),
                closure_requested_at = now(), closure_requested_by = app.current_user_id()
          where id = app.current_org() returning {COLUMNS}"
    ))
    .bind(input.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    tracing::warn!(organisation = %org.id, purge_after = ?org.purge_after, "organisation closure requested");
    Ok(Json(org))
}

async fn withdraw_closure(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Organisation>> {
    let mut tx = caller.begin(&state).await?;
    let org: Organisation = sqlx::query_as(&format!(
        "update organizations
            set purge_after = null, closure_requested_at = null, closure_requested_by = null
          where id = app.current_org() returning {COLUMNS}"
    ))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    tracing::info!(organisation = %org.id, "organisation closure withdrawn");
    Ok(Json(org))
}
