//! The signed-in person's own account: their name (theirs in every organisation they work for;
//! a rename is written to each organisation's audit trail), their password, signing out
//! everywhere, moving between their organisations; and the administrator's one-time password
//! reset link, handed over like an invitation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use thrive_domain::audit::UpdateStaff;
use thrive_domain::Permission;
use uuid::Uuid;

use super::auth::{check_password, random_secret, session_cookie};
use super::extract::{secret_hash, AppJson, Caller, SessionToken};
use super::records::validate;
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::limits::ClientAddr;
use crate::passwords;
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .put(
            "/account/name",
            &[],
            "Change your own name (recorded in every organisation you work for)",
            rename,
        )
        .post(
            "/account/password",
            &[],
            "Change your password: the current one (under the lockout), then a new one meeting the policy; your other sessions end",
            change_password,
        )
        .post(
            "/auth/logout-everywhere",
            &[],
            "Sign out everywhere: every session of yours ends",
            logout_everywhere,
        )
        .get(
            "/auth/organisations",
            &[],
            "The organisations you can work in",
            organisations,
        )
        .post(
            "/auth/switch-organisation",
            &[],
            "Continue in another of your organisations (a new session there)",
            switch_organisation,
        )
        .post(
            "/staff/{user_id}/password-reset",
            &[Permission::StaffUpdate],
            "Make a one-time password reset link for a member (returned once, valid 24 hours)",
            create_reset,
        )
        .post(
            "/auth/reset-password",
            &[],
            "Set a new password with a one-time reset link",
            reset_password,
        )
        .public()
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// The policy, then argon2id on the bounded pool.
async fn new_password_hash(state: &AppState, password: String) -> Result<String> {
    let password = SecretString::from(password);
    if let Some(first) = passwords::check_policy(&password).first() {
        return Err(ApiError::field("new_password", first.to_string()));
    }
    state
        .guards
        .hashing
        .run(move || passwords::hash(&password))
        .await?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

async fn change_password(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    SessionToken(session): SessionToken,
    AppJson(input): AppJson<ChangePassword>,
) -> Result<StatusCode> {
    state.guards.admit(address)?;
    let now = state.clock.now();
    let (user, email): (Option<Uuid>, Option<String>) =
        sqlx::query_as("select user_id, email from auth.session_person($1, $2, $3)")
            .bind(&session)
            .bind(now)
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    let (Some(user), Some(email)) = (user, email) else {
        return Err(ApiError::Unauthenticated);
    };
    let hash = new_password_hash(&state, input.new_password).await?;
    let current = SecretString::from(input.current_password);
    if check_password(&state, address, &email, current).await? != Some(user) {
        return Err(ApiError::InvalidCredentials);
    }
    let done: bool = sqlx::query_scalar("select auth.change_password($1, $2, $3, $4, $5)")
        .bind(&session)
        .bind(user)
        .bind(hash)
        .bind(now)
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::Unauthenticated);
    }
    tracing::info!(user_id = %user, "password changed; other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    SessionToken(session): SessionToken,
) -> Result<impl IntoResponse> {
    let ended: i32 = sqlx::query_scalar("select auth.revoke_all_sessions($1, $2, $3)")
        .bind(&session)
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    tracing::info!(ended, "signed out everywhere");
    let mut removal = session_cookie(String::new());
    removal.make_removal();
    Ok((jar.add(removal), StatusCode::NO_CONTENT))
}

#[derive(Serialize, sqlx::FromRow)]
struct OrganisationChoice {
    organization_id: Uuid,
    name: String,
}

async fn organisations(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
) -> Result<Json<Vec<OrganisationChoice>>> {
    let rows: Vec<OrganisationChoice> =
        sqlx::query_as("select organization_id, name from auth.my_organisations($1, $2, $3)")
            .bind(&session)
            .bind(state.clock.now())
            .bind(state.auth.idle_timeout)
            .fetch_all(&state.auth_pool)
            .await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    organization_id: Uuid,
}

async fn switch_organisation(
    State(state): State<AppState>,
    jar: CookieJar,
    SessionToken(session): SessionToken,
    AppJson(input): AppJson<Switch>,
) -> Result<impl IntoResponse> {
    let token = random_secret();
    let done: bool = sqlx::query_scalar("select auth.switch_organisation($1, $2, $3, $4, $5)")
        .bind(&session)
        .bind(input.organization_id)
        .bind(secret_hash(&token))
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::NotFound);
    }
    Ok((jar.add(session_cookie(token)), StatusCode::NO_CONTENT))
}

#[derive(Serialize)]
struct ResetCreated {
    /// Shown once: the administrator hands it over.
    token: String,
    expires_in_hours: u32,
}

async fn create_reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
) -> Result<(StatusCode, Json<ResetCreated>)> {
    let mut tx = caller.begin(&state).await?;
    let token = random_secret();
    let made: bool = sqlx::query_scalar("select app.create_password_reset($1, $2)")
        .bind(user_id)
        .bind(secret_hash(&token))
        .fetch_one(&mut *tx)
        .await?;
    if !made {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(ResetCreated {
            token,
            expires_in_hours: 24,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetPassword {
    token: String,
    new_password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(input): AppJson<ResetPassword>,
) -> Result<StatusCode> {
    state.guards.admit(address)?;
    let hash = new_password_hash(&state, input.new_password).await?;
    let done: bool = sqlx::query_scalar("select auth.reset_password($1, $2, $3)")
        .bind(secret_hash(&input.token))
        .bind(hash)
        .bind(state.clock.now())
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::Refused(
            "This reset link is not valid any more.".into(),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
