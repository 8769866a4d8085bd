//! The signed-in person's own account: their name, which is theirs in every organisation they
//! work for (a rename is written to each organisation's audit trail).

use axum::extract::State;
use axum::http::StatusCode;
use thrive_domain::audit::UpdateStaff;

use super::extract::{AppJson, Caller};
use super::records::validate;
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new().put(
        "/account/name",
        &[],
        "Change your own name (recorded in every organisation you work for)",
        rename,
    )
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<UpdateStaff>,
) -> Result<StatusCode> {
    validate(&input)?;
    let mut tx = caller.begin(&state).await?;
    sqlx::query("select app.rename_self($1)")
        .bind(input.display_name.trim())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
