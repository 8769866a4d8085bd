//! The caller's organisation and its settings.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use thrive_domain::validation::{Check, FieldErrors, Validate};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::validate;
use crate::error::{ApiError, Result};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/organisation", get(show).put(update))
}

#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
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
    let mut tx = caller
        .begin_for(&state, Permission::OrganisationView)
        .await?;
    let org: Organisation =
        sqlx::query_as("select id, name from organizations where id = app.current_org()")
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
    let mut tx = caller
        .begin_for(&state, Permission::OrganisationUpdate)
        .await?;
    let org: Organisation = sqlx::query_as(
        "update organizations set name = $1 where id = app.current_org() returning id, name",
    )
    .bind(input.name.trim())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(org))
}
