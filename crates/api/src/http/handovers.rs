//! Shift handovers and their acknowledgements.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use thrive_domain::records::{Handover, HandoverInput, Page};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "handovers",
    order_by: "created_at",
    filters: &["shift"],
};
pub const ACKNOWLEDGEMENTS: Table = Table {
    name: "handover_acknowledgements",
    order_by: "acknowledged_at",
    filters: &["handover_id", "user_id"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/handovers",
            &[Permission::HandoversView],
            "List handovers (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/handovers",
            &[Permission::HandoversCreate],
            "Create a handover for a service user",
            create,
        )
        .get(
            "/handovers/{id}",
            &[Permission::HandoversView],
            "Read one handover",
            show,
        )
        .post(
            "/handovers/{id}/acknowledge",
            &[Permission::HandoversAcknowledge],
            "Acknowledge a handover",
            acknowledge,
        )
        .get(
            "/handover-acknowledgements",
            &[Permission::HandoversView],
            "Who acknowledged which handover",
            acknowledgements,
        )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub id: Uuid,
    pub handover_id: Uuid,
    pub user_id: Option<Uuid>,
    pub acknowledged_at: String,
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Handover>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<HandoverInput>,
) -> Result<(StatusCode, Json<Handover>)> {
    validate(&input)?;
    records::create_in(&s, &c, &TABLE, su, &input).await
}

async fn show(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Handover>> {
    records::show(&s, &c, &TABLE, id).await
}

async fn acknowledge(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<Acknowledgement>)> {
    let mut tx = c.begin(&s).await?;
    let handover: Handover = records::fetch(&mut tx, &TABLE, id).await?;
    let ack = records::insert(
        &mut tx,
        &ACKNOWLEDGEMENTS,
        handover.service_user_id,
        json!({"handover_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(ack)))
}

async fn acknowledgements(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Acknowledgement>>> {
    records::index(&s, &c, &ACKNOWLEDGEMENTS, &q).await
}
