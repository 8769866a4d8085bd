//! The medication administration record: prescriptions, each scheduled dose's outcome
//! (given, refused, omitted with a reason), and stock movements. Doses and stock entries are
//! written once; corrections are new entries.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use thrive_domain::records::{
    Discontinue, Dose, DoseInput, DoseOutcome, Page, Prescription, PrescriptionInput, StockEntry,
    StockInput,
};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use crate::error::Result;
use crate::startup::AppState;

pub const PRESCRIPTIONS: Table = Table {
    name: "prescriptions",
    order_by: "created_at",
    filters: &["status", "route"],
};
pub const DOSES: Table = Table {
    name: "medication_administrations",
    order_by: "scheduled_for",
    filters: &["outcome", "prescription_id"],
};
pub const STOCK: Table = Table {
    name: "medication_stock",
    order_by: "recorded_at",
    filters: &["kind", "prescription_id"],
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/prescriptions", get(list))
        .route("/service-users/{id}/prescriptions", post(prescribe))
        .route("/prescriptions/{id}", get(show).put(edit))
        .route("/prescriptions/{id}/discontinue", post(discontinue))
        .route("/medication-administrations", get(doses))
        .route(
            "/service-users/{id}/medication-administrations",
            post(record_dose),
        )
        .route("/medication-stock", get(stock))
        .route("/service-users/{id}/medication-stock", post(record_stock))
}

type One = Result<Json<Prescription>>;

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Prescription>>> {
    records::index(&s, &c, &PRESCRIPTIONS, Permission::MedicationView, &q).await
}

async fn prescribe(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<PrescriptionInput>,
) -> Result<(StatusCode, Json<Prescription>)> {
    validate(&input)?;
    records::create_in(
        &s,
        &c,
        &PRESCRIPTIONS,
        Permission::MedicationPrescribe,
        su,
        &input,
    )
    .await
}

async fn show(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::show(&s, &c, &PRESCRIPTIONS, Permission::MedicationView, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<PrescriptionInput>,
) -> One {
    validate(&input)?;
    records::change(
        &s,
        &c,
        &PRESCRIPTIONS,
        Permission::MedicationUpdatePrescription,
        id,
        &input,
    )
    .await
}

async fn discontinue(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<Discontinue>,
) -> One {
    validate(&input)?;
    let fields =
        json!({"status": "discontinued", "discontinued_reason": input.discontinued_reason});
    records::change(
        &s,
        &c,
        &PRESCRIPTIONS,
        Permission::MedicationDiscontinue,
        id,
        fields,
    )
    .await
}

async fn doses(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Dose>>> {
    records::index(&s, &c, &DOSES, Permission::MedicationView, &q).await
}

/// Given → medication.administer; refused or omitted → medication.record_omission.
async fn record_dose(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<DoseInput>,
) -> Result<(StatusCode, Json<Dose>)> {
    validate(&input)?;
    let action = match input.outcome {
        DoseOutcome::Given => Permission::MedicationAdminister,
        DoseOutcome::Refused | DoseOutcome::Omitted => Permission::MedicationRecordOmission,
    };
    records::create_in(&s, &c, &DOSES, action, su, &input).await
}

async fn stock(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<StockEntry>>> {
    records::index(&s, &c, &STOCK, Permission::MedicationView, &q).await
}

async fn record_stock(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<StockInput>,
) -> Result<(StatusCode, Json<StockEntry>)> {
    validate(&input)?;
    records::create_in(
        &s,
        &c,
        &STOCK,
        Permission::MedicationManageStock,
        su,
        &input,
    )
    .await
}
