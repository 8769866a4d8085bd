//! Incidents and accidents: reported, investigated by a manager, closed with outcome and
//! lessons; the notifiable flag is its own action.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use thrive_domain::records::{
    CloseIncident, Incident, IncidentInput, Investigation, Notifiable, Page,
};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "incidents",
    order_by: "occurred_at",
    filters: &["status", "category", "severity", "notifiable"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/incidents",
            &[Permission::IncidentsView],
            "List incidents (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/incidents",
            &[Permission::IncidentsReport],
            "Report an incident for a service user",
            report,
        )
        .get(
            "/incidents/{id}",
            &[Permission::IncidentsView],
            "Read one incident",
            show,
        )
        .put(
            "/incidents/{id}",
            &[Permission::IncidentsUpdate],
            "Edit an incident",
            edit,
        )
        .delete(
            "/incidents/{id}",
            &[Permission::IncidentsDelete],
            "Delete an incident",
            remove,
        )
        .post(
            "/incidents/{id}/investigate",
            &[Permission::IncidentsInvestigate],
            "Record the investigation of an incident",
            investigate,
        )
        .post(
            "/incidents/{id}/close",
            &[Permission::IncidentsClose],
            "Close an incident with its outcome and lessons",
            close,
        )
        .post(
            "/incidents/{id}/notifiable",
            &[Permission::IncidentsMarkNotifiable],
            "Mark an incident notifiable (to CQC)",
            notifiable,
        )
}

type One = Result<Json<Incident>>;

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Incident>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn report(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<IncidentInput>,
) -> Result<(StatusCode, Json<Incident>)> {
    validate(&input)?;
    records::create_in(&s, &c, &TABLE, su, &input).await
}

async fn show(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::show(&s, &c, &TABLE, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<IncidentInput>,
) -> One {
    validate(&input)?;
    records::change(&s, &c, &TABLE, id, &input).await
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> Result<StatusCode> {
    records::remove(&s, &c, &TABLE, id).await
}

async fn investigate(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<Investigation>,
) -> One {
    validate(&input)?;
    let fields = json!({"status": "investigating", "investigation": input.investigation});
    records::change(&s, &c, &TABLE, id, fields).await
}

async fn close(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<CloseIncident>,
) -> One {
    validate(&input)?;
    let fields = json!({"status": "closed", "outcome": input.outcome, "lessons": input.lessons});
    records::change(&s, &c, &TABLE, id, fields).await
}

async fn notifiable(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<Notifiable>,
) -> One {
    records::change(&s, &c, &TABLE, id, &input).await
}
