//! The medication administration record: prescriptions, each scheduled dose's outcome
//! (given, refused, omitted with a reason), and stock movements. Doses and stock entries are
//! written once; corrections are new entries.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use thrive_domain::records::{
    Discontinue, Dose, DoseInput, DoseOutcome, Page, Prescription, PrescriptionInput, StockEntry,
    StockInput,
};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
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

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/prescriptions",
            &[Permission::MedicationView],
            "List prescriptions (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/prescriptions",
            &[Permission::MedicationPrescribe],
            "Prescribe for a service user",
            prescribe,
        )
        .get(
            "/prescriptions/{id}",
            &[Permission::MedicationView],
            "Read one prescription",
            show,
        )
        .put(
            "/prescriptions/{id}",
            &[Permission::MedicationUpdatePrescription],
            "Edit a prescription",
            edit,
        )
        .post(
            "/prescriptions/{id}/discontinue",
            &[Permission::MedicationDiscontinue],
            "Discontinue a prescription",
            discontinue,
        )
        .get(
            "/medication-administrations",
            &[Permission::MedicationView],
            "List scheduled doses and their outcomes",
            doses,
        )
        .post(
            "/service-users/{id}/medication-administrations",
            &[
                Permission::MedicationAdminister,
                Permission::MedicationRecordOmission,
            ],
            "Record a scheduled dose: given, refused or omitted with a reason",
            record_dose,
        )
        .by_data()
        .get(
            "/medication-stock",
            &[Permission::MedicationView],
            "List medication stock movements",
            stock,
        )
        .post(
            "/service-users/{id}/medication-stock",
            &[Permission::MedicationManageStock],
            "Record a stock movement",
            record_stock,
        )
}

type One = Result<Json<Prescription>>;

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Prescription>>> {
    records::index(&s, &c, &PRESCRIPTIONS, &q).await
}

async fn prescribe(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<PrescriptionInput>,
) -> Result<(StatusCode, Json<Prescription>)> {
    validate(&input)?;
    records::create_in(&s, &c, &PRESCRIPTIONS, su, &input).await
}

async fn show(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::show(&s, &c, &PRESCRIPTIONS, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<PrescriptionInput>,
) -> One {
    validate(&input)?;
    records::change(&s, &c, &PRESCRIPTIONS, id, &input).await
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
    records::change(&s, &c, &PRESCRIPTIONS, id, fields).await
}

async fn doses(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Dose>>> {
    records::index(&s, &c, &DOSES, &q).await
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
    let mut tx = c.begin(&s).await?;
    c.require(&mut tx, action).await?;
    let dose = records::insert(&mut tx, &DOSES, su, &input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(dose)))
}

async fn stock(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<StockEntry>>> {
    records::index(&s, &c, &STOCK, &q).await
}

async fn record_stock(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<StockInput>,
) -> Result<(StatusCode, Json<StockEntry>)> {
    validate(&input)?;
    records::create_in(&s, &c, &STOCK, su, &input).await
}
