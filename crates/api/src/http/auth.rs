//! Sign-in as an authorisation-code exchange with PKCE (S256), sessions, sign-out.
//!
//! 1. `POST /api/auth/authorize` — email, password and a code challenge → a one-time code.
//! 2. `POST /api/auth/token` — the code and its verifier → a session cookie.
//! 3. `POST /api/auth/logout` — revokes the session.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thrive_domain::auth::{
    is_valid_code_verifier, is_valid_s256_challenge, normalise_email, AuthorizeRequest,
    AuthorizeResponse, Me, TokenRequest,
};
use thrive_domain::password::MAX_LENGTH;
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{secret_hash, AppJson, Caller, SESSION_COOKIE};
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::limits::ClientAddr;
use crate::passwords;
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post(
            "/auth/authorize",
            &[],
            "Sign-in step 1: email, password and a PKCE S256 challenge give a one-time code",
            authorize,
        )
        .public()
        .post(
            "/auth/token",
            &[],
            "Sign-in step 2: the code and its PKCE verifier set the session cookie",
            token,
        )
        .public()
        .post("/auth/logout", &[], "End the session", logout)
        .public()
        .get(
            "/me",
            &[],
            "The signed-in member: organisation, role, allowed actions, idle timeout",
            me,
        )
}

/// 256 random bits, base64url without padding (43 characters).
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What `auth.begin_login` answers.
#[derive(sqlx::FromRow)]
struct Admission {
    attempt_id: Option<Uuid>,
    password_hash: Option<String>,
    verdict: String,
    retry_after: Option<time::OffsetDateTime>,
}

/// One password check against the lockout, for sign-in and step-up: a place in the bounded
/// hashing pool (429 before any database work when it is full), the attempt admitted or refused
/// in PostgreSQL in one locked step, one argon2id verification whatever the answer (a dummy hash
/// for an unknown or locked account), and the outcome recorded in one locked step that checks
/// the locks again. Every path costs the same two round trips and one hash, so an unknown email,
/// a wrong password and a locked account look alike in status, body and timing.
///
/// The work runs in its own task: a client that disconnects half-way cannot leave its attempt
/// without an outcome. Returns the user when the password is right and no lock applies.
pub(crate) async fn check_password(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    email: &str,
    password: SecretString,
) -> Result<Option<Uuid>> {
    let ticket = state.guards.hashing.admit()?;
    let state = state.clone();
    let email = normalise_email(email).unwrap_or_default();
    tokio::spawn(async move {
        let now = state.clock.now();
        let admission: Admission = sqlx::query_as(
            "select attempt_id, password_hash, verdict, retry_after
               from auth.begin_login($1, $2::inet, $3)",
        )
        .bind(&email)
        .bind(address.map(|a| a.to_string()))
        .bind(now)
        .fetch_one(&state.auth_pool)
        .await?;
        if admission.verdict == "address_blocked" {
            let wait = admission
                .retry_after
                .map(|t| (t - now).unsigned_abs())
                .unwrap_or(std::time::Duration::from_secs(60));
            tracing::info!(
                ?address,
                "sign-in refused: too many failures from this address"
            );
            return Err(ApiError::TooManyRequests(wait));
        }
        let stored = (admission.verdict == "ok")
            .then_some(admission.password_hash)
            .flatten();
        let verified = ticket
            .run(move || {
                let too_long = password.expose_secret().len() > MAX_LENGTH;
                let target = if too_long { None } else { stored.as_deref() };
                passwords::verify(&password, target) && !too_long
            })
            .await?;
        let Some(attempt) = admission.attempt_id else {
            return Err(ApiError::InvalidCredentials);
        };
        let user: Option<Uuid> = sqlx::query_scalar("select auth.finish_login($1, $2, $3)")
            .bind(attempt)
            .bind(verified)
            .bind(now)
            .fetch_one(&state.auth_pool)
            .await?;
        if user.is_none() {
            tracing::info!(verdict = %admission.verdict, verified, "password check refused");
        }
        Ok(user)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("password check task: {e}")))?
}

#[tracing::instrument(skip_all)]
async fn authorize(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(req): AppJson<AuthorizeRequest>,
) -> Result<impl IntoResponse> {
    if req.code_challenge_method != "S256" {
        return Err(ApiError::field(
            "code_challenge_method",
            "Only S256 is supported.",
        ));
    }
    if !is_valid_s256_challenge(&req.code_challenge) {
        return Err(ApiError::field(
            "code_challenge",
            "Must be an S256 code challenge.",
        ));
    }
    state.guards.admit(address)?;
    let password = SecretString::from(req.password);
    let Some(user_id) = check_password(&state, address, &req.email, password).await? else {
        return Err(ApiError::InvalidCredentials);
    };
    // The invitation is accepted only when this sign-in completes (auth.issue_code), for the
    // invitation's own email.
    if let Some(invitation) = req.invitation_token.as_deref() {
        sqlx::query("select auth.sign_in_invitation($1, $2, $3, $4)")
            .bind(user_id)
            .bind(&req.code_challenge)
            .bind(secret_hash(invitation))
            .bind(state.clock.now())
            .execute(&state.auth_pool)
            .await?;
    }

    // An account with a second factor gets a token for it, not yet a code.
    let second = random_secret();
    let needs_factor: bool = sqlx::query_scalar("select auth.begin_second_factor($1, $2, $3, $4)")
        .bind(user_id)
        .bind(secret_hash(&second))
        .bind(&req.code_challenge)
        .bind(state.clock.now())
        .fetch_one(&state.auth_pool)
        .await?;
    if needs_factor {
        tracing::info!(%user_id, "password accepted; second factor required");
        return Ok(Json(AuthorizeResponse {
            code: None,
            second_factor_token: Some(second),
            expires_in: 300,
        }));
    }

    let code = random_secret();
    let issued: bool = sqlx::query_scalar("select auth.issue_code($1, $2, $3, $4, $5)")
        .bind(user_id)
        .bind(secret_hash(&code))
        .bind(&req.code_challenge)
        .bind(state.clock.now())
        .bind(state.auth.code_ttl)
        .fetch_one(&state.auth_pool)
        .await?;
    if !issued {
        tracing::info!(%user_id, "sign-in refused: no active membership");
        return Err(ApiError::InvalidCredentials);
    }
    tracing::info!(%user_id, "sign-in code issued");
    Ok(Json(AuthorizeResponse {
        code: Some(code),
        second_factor_token: None,
        expires_in: state.auth.code_ttl.whole_seconds().unsigned_abs(),
    }))
}

pub(crate) fn session_cookie(value: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

#[tracing::instrument(skip_all)]
async fn token(
    State(state): State<AppState>,
    jar: CookieJar,
    AppJson(req): AppJson<TokenRequest>,
) -> Result<impl IntoResponse> {
    if !is_valid_code_verifier(&req.code_verifier) || req.code.len() != 43 {
        return Err(ApiError::InvalidGrant);
    }
    let now = state.clock.now();
    let grant: Option<(Option<Uuid>, Option<Uuid>, Option<String>)> = sqlx::query_as(
        "select user_id, membership_id, code_challenge from auth.consume_code($1, $2)",
    )
    .bind(secret_hash(&req.code))
    .bind(now)
    .fetch_optional(&state.auth_pool)
    .await?;
    let Some((Some(user_id), Some(membership_id), Some(challenge))) = grant else {
        tracing::info!("code exchange refused: unknown, spent or expired code");
        return Err(ApiError::InvalidGrant);
    };
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(req.code_verifier.as_bytes()));
    if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
        tracing::info!(%user_id, "code exchange refused: verifier does not match challenge");
        return Err(ApiError::InvalidGrant);
    }

    // A fresh session id on every sign-in; a session this browser held before is revoked.
    if let Some(old) = jar.get(SESSION_COOKIE) {
        sqlx::query("select auth.revoke_session($1, $2)")
            .bind(secret_hash(old.value()))
            .bind(now)
            .execute(&state.auth_pool)
            .await?;
    }
    let session_token = random_secret();
    let session_id: Uuid = sqlx::query_scalar("select auth.create_session($1, $2, $3, $4, $5)")
        .bind(secret_hash(&session_token))
        .bind(user_id)
        .bind(membership_id)
        .bind(now)
        .bind(state.auth.absolute_lifetime)
        .fetch_one(&state.auth_pool)
        .await?;
    tracing::info!(%user_id, %session_id, "session started");
    let jar = jar.add(session_cookie(session_token));
    Ok((jar, StatusCode::NO_CONTENT))
}

#[tracing::instrument(skip_all)]
async fn logout(State(state): State<AppState>, jar: CookieJar) -> Result<impl IntoResponse> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        sqlx::query("select auth.revoke_session($1, $2)")
            .bind(secret_hash(cookie.value()))
            .bind(state.clock.now())
            .execute(&state.auth_pool)
            .await?;
    }
    let mut removal = session_cookie(String::new());
    removal.make_removal();
    Ok((jar.add(removal), StatusCode::NO_CONTENT))
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>> {
    let mut tx = caller.begin(&state).await?;
    // One statement: the member's names, and their own role's actions through the definer
    // (the ladder itself is read only with roles.view).
    let (email, display_name, organization_name, role_name, keys): (
        String,
        String,
        String,
        String,
        Vec<String>,
    ) = sqlx::query_as(
        "select u.email, u.display_name, o.name, r.name, array(select app.my_permissions())
           from memberships m
           join users u on u.id = m.user_id
           join organizations o on o.id = m.organization_id
           join roles r on r.id = m.role_id
          where m.id = $1",
    )
    .bind(caller.membership_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Me {
        user_id: caller.identity.user_id,
        email,
        display_name,
        organization_id: caller.identity.organization_id,
        organization_name,
        role_name,
        permissions: keys
            .iter()
            .filter_map(|k| k.parse::<Permission>().ok())
            .collect(),
        idle_timeout_secs: state.auth.idle_timeout.whole_seconds().unsigned_abs(),
    }))
}
