//! Risk assessments (falls, pressure ulcers, malnutrition, moving and handling), scored from
//! their answers by `crates/domain`; the same review / sign-off / archive lifecycle as care plans.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use thrive_domain::records::{
    risk_score, Amendment, Page, Review, RiskAssessment, RiskAssessmentInput,
};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "risk_assessments",
    order_by: "created_at",
    filters: &["status", "kind", "level"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/risk-assessments",
            &[Permission::RiskAssessmentsView],
            "List risk assessments (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/risk-assessments",
            &[Permission::RiskAssessmentsCreate],
            "Create a risk assessment for a service user",
            create,
        )
        .get(
            "/risk-assessments/{id}",
            &[Permission::RiskAssessmentsView],
            "Read one risk assessment",
            show,
        )
        .put(
            "/risk-assessments/{id}",
            &[Permission::RiskAssessmentsUpdate],
            "Edit a draft risk assessment (a signed-off one is amended instead)",
            edit,
        )
        .post(
            "/risk-assessments/{id}/amend",
            &[Permission::RiskAssessmentsUpdate],
            "Amend a signed-off risk assessment: a new draft version with the reason, to be signed off again",
            amend,
        )
        .post(
            "/risk-assessments/{id}/review",
            &[Permission::RiskAssessmentsReview],
            "Review a risk assessment",
            review,
        )
        .post(
            "/risk-assessments/{id}/sign-off",
            &[Permission::RiskAssessmentsSignOff],
            "Sign off a risk assessment",
            sign_off,
        )
        .post(
            "/risk-assessments/{id}/archive",
            &[Permission::RiskAssessmentsArchive],
            "Archive a risk assessment",
            archive,
        )
}

type One = Result<Json<RiskAssessment>>;

/// The stored fields: the answers with the score and level they give.
fn scored(input: &RiskAssessmentInput) -> serde_json::Value {
    let (score, level) = risk_score(input.kind, &input.answers);
    let mut fields = json!(input);
    fields["score"] = json!(score);
    fields["level"] = json!(level);
    fields
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<RiskAssessment>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<RiskAssessmentInput>,
) -> Result<(StatusCode, Json<RiskAssessment>)> {
    validate(&input)?;
    records::create_in(&s, &c, &TABLE, su, scored(&input)).await
}

async fn show(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::show(&s, &c, &TABLE, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<RiskAssessmentInput>,
) -> One {
    validate(&input)?;
    records::change(&s, &c, &TABLE, id, scored(&input)).await
}

async fn amend(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<Amendment>,
) -> Result<(StatusCode, Json<RiskAssessment>)> {
    validate(&input)?;
    records::amend(
        &s,
        &c,
        &TABLE,
        id,
        &input.reason,
        "kind, answers, score, level, control_measures, review_date",
    )
    .await
}

async fn review(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<Review>,
) -> One {
    validate(&input)?;
    let fields = json!({"review_notes": input.review_notes, "review_date": input.review_date, "last_reviewed_at": "now"});
    records::change(&s, &c, &TABLE, id, fields).await
}

async fn sign_off(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::change(&s, &c, &TABLE, id, json!({"status": "active"})).await
}

async fn archive(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::change(&s, &c, &TABLE, id, json!({"status": "archived"})).await
}
