//! Body map marks: where on the front/back figure, what was seen, how big.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use thrive_domain::records::{BodyMapMark, BodyMapMarkInput, Page};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "body_map_marks",
    order_by: "observed_at",
    filters: &["side"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/body-map-marks",
            &[Permission::BodyMapsView],
            "List body map marks (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/body-map-marks",
            &[Permission::BodyMapsCreate],
            "Create a body map mark for a service user",
            create,
        )
        .get(
            "/body-map-marks/{id}",
            &[Permission::BodyMapsView],
            "Read one body map mark",
            show,
        )
        .put(
            "/body-map-marks/{id}",
            &[Permission::BodyMapsUpdate],
            "Edit a body map mark",
            edit,
        )
        .delete(
            "/body-map-marks/{id}",
            &[Permission::BodyMapsDelete],
            "Delete a body map mark",
            remove,
        )
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<BodyMapMark>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<BodyMapMarkInput>,
) -> Result<(StatusCode, Json<BodyMapMark>)> {
    validate(&input)?;
    records::create_in(&s, &c, &TABLE, su, &input).await
}

async fn show(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<BodyMapMark>> {
    records::show(&s, &c, &TABLE, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<BodyMapMarkInput>,
) -> Result<Json<BodyMapMark>> {
    validate(&input)?;
    records::change(&s, &c, &TABLE, id, &input).await
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> Result<StatusCode> {
    records::remove(&s, &c, &TABLE, id).await
}
