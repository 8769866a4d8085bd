//! Observations and charts: fluids, food, repositioning and vital signs (NEWS2 scored by
//! `crates/domain`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use thrive_domain::records::{Observation, ObservationInput, Page};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "observations",
    order_by: "observed_at",
    filters: &["kind"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/observations",
            &[Permission::ObservationsView],
            "List observations (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/observations",
            &[Permission::ObservationsRecord],
            "Record an observation for a service user",
            record,
        )
        .get(
            "/observations/{id}",
            &[Permission::ObservationsView],
            "Read one observation",
            show,
        )
        .put(
            "/observations/{id}",
            &[Permission::ObservationsUpdate],
            "Edit an observation",
            edit,
        )
        .delete(
            "/observations/{id}",
            &[Permission::ObservationsDelete],
            "Delete an observation",
            remove,
        )
}

fn fields(input: &ObservationInput) -> serde_json::Value {
    json!({"kind": input.kind(), "observed_at": json!(input)["observed_at"], "data": input.data, "news2": input.news2()})
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Observation>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn record(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<ObservationInput>,
) -> Result<(StatusCode, Json<Observation>)> {
    validate(&input)?;
    records::create_in(&s, &c, &TABLE, su, fields(&input)).await
}

async fn show(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Observation>> {
    records::show(&s, &c, &TABLE, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<ObservationInput>,
) -> Result<Json<Observation>> {
    validate(&input)?;
    records::change(&s, &c, &TABLE, id, fields(&input)).await
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> Result<StatusCode> {
    records::remove(&s, &c, &TABLE, id).await
}
