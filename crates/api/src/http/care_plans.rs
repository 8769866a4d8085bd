//! Care plans and their sections (personal care, nutrition, mobility, …): draft → signed off
//! (active) → archived, with reviews in between. Enforced by the guard triggers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use thrive_domain::records::{
    Amendment, CarePlan, CarePlanInput, CarePlanSectionInput, CarePlanSectionRecord, Page, Review,
};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "care_plans",
    order_by: "created_at",
    filters: &["status"],
};
pub const SECTIONS: Table = Table {
    name: "care_plan_sections",
    order_by: "created_at",
    filters: &["care_plan_id", "section"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/care-plans",
            &[Permission::CarePlansView],
            "List care plans (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/care-plans",
            &[Permission::CarePlansCreate],
            "Create a care plan for a service user",
            create,
        )
        .get(
            "/care-plans/{id}",
            &[Permission::CarePlansView],
            "Read one care plan",
            show,
        )
        .put(
            "/care-plans/{id}",
            &[Permission::CarePlansUpdate],
            "Edit a draft care plan (a signed-off one is amended instead)",
            edit,
        )
        .post(
            "/care-plans/{id}/amend",
            &[Permission::CarePlansUpdate],
            "Amend a signed-off care plan: a new draft version with its sections and the reason, to be signed off again",
            amend,
        )
        .post(
            "/care-plans/{id}/review",
            &[Permission::CarePlansReview],
            "Review a care plan",
            review,
        )
        .post(
            "/care-plans/{id}/sign-off",
            &[Permission::CarePlansSignOff],
            "Sign off a care plan",
            sign_off,
        )
        .post(
            "/care-plans/{id}/archive",
            &[Permission::CarePlansArchive],
            "Archive a care plan",
            archive,
        )
        .get(
            "/care-plan-sections",
            &[Permission::CarePlansView],
            "List care plan sections",
            list_sections,
        )
        .post(
            "/service-users/{id}/care-plan-sections",
            &[Permission::CarePlansUpdate],
            "Add a section to a care plan",
            add_section,
        )
        .put(
            "/care-plan-sections/{id}",
            &[Permission::CarePlansUpdate],
            "Edit a care plan section",
            edit_section,
        )
        .delete(
            "/care-plan-sections/{id}",
            &[Permission::CarePlansUpdate],
            "Remove a care plan section",
            remove_section,
        )
}

type One = Result<Json<CarePlan>>;

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<CarePlan>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<CarePlanInput>,
) -> Result<(StatusCode, Json<CarePlan>)> {
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
    AppJson(input): AppJson<CarePlanInput>,
) -> One {
    validate(&input)?;
    records::change(&s, &c, &TABLE, id, &input).await
}

async fn amend(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<Amendment>,
) -> Result<(StatusCode, Json<CarePlan>)> {
    validate(&input)?;
    records::amend(
        &s,
        &c,
        &TABLE,
        id,
        &input.reason,
        "title, summary, review_date",
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

async fn list_sections(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<CarePlanSectionRecord>>> {
    records::index(&s, &c, &SECTIONS, &q).await
}

async fn add_section(
    State(s): State<AppState>,
    c: Caller,
    Path(su): Path<Uuid>,
    AppJson(input): AppJson<CarePlanSectionInput>,
) -> Result<(StatusCode, Json<CarePlanSectionRecord>)> {
    validate(&input)?;
    records::create_in(&s, &c, &SECTIONS, su, &input).await
}

async fn edit_section(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<CarePlanSectionInput>,
) -> Result<Json<CarePlanSectionRecord>> {
    validate(&input)?;
    let fields =
        json!({"needs": input.needs, "goals": input.goals, "interventions": input.interventions});
    records::change(&s, &c, &SECTIONS, id, fields).await
}

async fn remove_section(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    records::remove(&s, &c, &SECTIONS, id).await
}
