//! Second factors and step-up: TOTP (RFC 6238, via `totp-rs`) with one-time recovery codes.
//!
//! * Enrolment (`/account/mfa/totp`, then `/confirm` with a code from the app) shows the secret
//!   once and, on confirmation, ten recovery codes once. Removal needs step-up. Enrolment, use
//!   and removal are written to the organisation's audit trail (in the database).
//! * Sign-in: `authorize` answers a second-factor token instead of a code; `second-factor` takes
//!   it with a TOTP or recovery code. A wrong code is a failed attempt under the same lockout as
//!   a wrong password, and a code (its time step) is never accepted twice.
//! * Step-up (`/auth/step-up`): the password or a second-factor code again; the routes listed
//!   in [`STEP_UP`] then work for five minutes.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thrive_domain::auth::{
    AuthorizeResponse, MfaStatus, RecoveryCodes, SecondFactorRequest, StepUpRequest, TotpCode,
    TotpEnrolment,
};
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

use super::auth::{check_password, random_secret};
use super::extract::{secret_hash, AppJson, SessionToken};
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::limits::ClientAddr;
use crate::startup::AppState;

/// How long a fresh authentication lets the guarded routes work.
pub const STEP_UP_WINDOW: time::Duration = time::Duration::minutes(5);

/// The routes that need a fresh authentication: exports, subject access exports, ladder
/// changes, staff deactivation, closure, removing a second factor.
pub const STEP_UP: &[(Method, &str)] = &[
    (Method::GET, "/exports/organisation.zip"),
    (Method::GET, "/exports/organisation.xlsx"),
    (Method::GET, "/exports/inspection-report.csv"),
    (Method::GET, "/audit/export.csv"),
    (Method::GET, "/service-users/{id}/export.zip"),
    (Method::POST, "/roles"),
    (Method::PUT, "/roles/{id}"),
    (Method::DELETE, "/roles/{id}"),
    (Method::PUT, "/roles/{id}/permissions"),
    (Method::PUT, "/roles/{id}/mfa"),
    (Method::PUT, "/staff/{user_id}/role"),
    (Method::POST, "/staff/{user_id}/deactivate"),
    (Method::POST, "/organisation/closure"),
    (Method::DELETE, "/organisation/closure"),
    (Method::DELETE, "/account/mfa/totp"),
    (Method::POST, "/staff/{user_id}/password-reset"),
    (Method::GET, "/auth/step-up"),
];

/// Whether `method` on the route `path` (as matched, with or without `/api`) needs step-up.
pub fn needs_step_up(method: &Method, path: &str) -> bool {
    let path = path.strip_prefix("/api").unwrap_or(path);
    STEP_UP.iter().any(|(m, p)| m == method && *p == path)
}

pub fn routes() -> Routes {
    Routes::new()
        .post(
            "/auth/second-factor",
            &[],
            "Sign-in step 1b: the second-factor token and a TOTP or recovery code give the one-time code",
            second_factor,
        )
        .public()
        .post(
            "/auth/step-up",
            &[],
            "Prove it is you again (password or second-factor code) for the guarded routes",
            step_up,
        )
        .get(
            "/auth/step-up",
            &[],
            "204 while a fresh authentication is in hand, else step_up_required (before a download link)",
            fresh,
        )
        .get(
            "/account/mfa",
            &[],
            "Your second factors",
            status,
        )
        .post(
            "/account/mfa/totp",
            &[],
            "Start TOTP enrolment: a new secret for your authenticator app, shown once",
            enrol,
        )
        .post(
            "/account/mfa/totp/confirm",
            &[],
            "Confirm TOTP enrolment with a code: ten recovery codes, shown once",
            confirm,
        )
        .delete(
            "/account/mfa/totp",
            &[],
            "Remove your TOTP second factor (needs step-up)",
            remove,
        )
}

const ISSUER: &str = "Thrive";

fn totp(secret: Vec<u8>) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret)
}

/// The time step `code` is valid for at `now` (one step of clock skew either way), if any.
pub fn matching_step(secret: &[u8], code: &str, now: time::OffsetDateTime) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret.to_vec());
    let step = now.unix_timestamp().max(0) / 30;
    (step - 1..=step + 1).find(|s| {
        let expected = t.generate((*s as u64) * 30);
        bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
    })
}

/// A recovery code as shown: 4-4-4 lowercase base32, 60 bits.
fn recovery_code() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = Secret::Raw(bytes.to_vec())
        .to_encoded()
        .to_string()
        .to_lowercase();
    format!("{}-{}-{}", &text[0..4], &text[4..8], &text[8..12])
}

fn recovery_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// What `auth.begin_factor` answers.
#[derive(sqlx::FromRow)]
struct FactorAdmission {
    attempt_id: Option<Uuid>,
    secret: Option<Vec<u8>>,
    last_step: Option<i64>,
    verdict: String,
}

/// One second-factor attempt under the lockout; issues a PKCE code when `code_hash` is given.
async fn check_factor(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    token: &str,
    code: &str,
    code_hash: Option<Vec<u8>>,
) -> Result<Option<Uuid>> {
    let now = state.clock.now();
    let token_hash = secret_hash(token);
    let admission: FactorAdmission = sqlx::query_as(
        "select attempt_id, secret, last_step, verdict from auth.begin_factor($1, $2::inet, $3)",
    )
    .bind(&token_hash)
    .bind(address.map(|a| a.to_string()))
    .bind(now)
    .fetch_one(&state.auth_pool)
    .await?;
    let Some(attempt) = admission.attempt_id else {
        return Err(ApiError::InvalidGrant);
    };
    let (mut step, mut recovery) = (None, None);
    if admission.verdict == "ok" {
        step = admission
            .secret
            .as_deref()
            .and_then(|s| matching_step(s, code, now))
            .filter(|s| Some(*s) > admission.last_step);
        if step.is_none() && code.trim().len() > 6 {
            recovery = Some(recovery_hash(code));
        }
    }
    let user: Option<Uuid> =
        sqlx::query_scalar("select auth.finish_factor($1, $2, $3, $4, $5, $6, $7)")
            .bind(attempt)
            .bind(&token_hash)
            .bind(step)
            .bind(recovery)
            .bind(code_hash)
            .bind(now)
            .bind(state.auth.code_ttl)
            .fetch_one(&state.auth_pool)
            .await?;
    Ok(user)
}

async fn second_factor(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(req): AppJson<SecondFactorRequest>,
) -> Result<Json<AuthorizeResponse>> {
    state.guards.admit(address)?;
    let code = random_secret();
    match check_factor(
        &state,
        address,
        &req.second_factor_token,
        &req.code,
        Some(secret_hash(&code)),
    )
    .await?
    {
        Some(user_id) => {
            tracing::info!(%user_id, "second factor accepted; sign-in code issued");
            Ok(Json(AuthorizeResponse {
                code: Some(code),
                second_factor_token: None,
                expires_in: state.auth.code_ttl.whole_seconds().unsigned_abs(),
            }))
        }
        None => Err(ApiError::InvalidCredentials),
    }
}

#[derive(sqlx::FromRow)]
struct Person {
    user_id: Option<Uuid>,
    email: Option<String>,
}

async fn step_up(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    SessionToken(session): SessionToken,
    AppJson(req): AppJson<StepUpRequest>,
) -> Result<StatusCode> {
    state.guards.admit(address)?;
    let now = state.clock.now();
    let person: Person =
        sqlx::query_as("select user_id, email from auth.session_person($1, $2, $3)")
            .bind(&session)
            .bind(now)
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    let (Some(me), Some(email)) = (person.user_id, person.email) else {
        return Err(ApiError::Unauthenticated);
    };
    let proved = match (req.password, req.code) {
        (Some(password), None) => {
            check_password(&state, address, &email, SecretString::from(password)).await?
        }
        (None, Some(code)) => {
            let token = random_secret();
            let has: bool =
                sqlx::query_scalar("select auth.second_factor_for_session($1, $2, $3, $4)")
                    .bind(&session)
                    .bind(secret_hash(&token))
                    .bind(now)
                    .bind(state.auth.idle_timeout)
                    .fetch_one(&state.auth_pool)
                    .await?;
            if !has {
                return Err(ApiError::InvalidCredentials);
            }
            check_factor(&state, address, &token, &code, None).await?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Send either your password or a code.".into(),
            ))
        }
    };
    if proved != Some(me) {
        return Err(ApiError::InvalidCredentials);
    }
    let done: bool = sqlx::query_scalar("select auth.step_up($1, $2, $3, $4)")
        .bind(&session)
        .bind(me)
        .bind(now)
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::Unauthenticated);
    }
    tracing::info!(user_id = %me, "stepped up");
    Ok(StatusCode::NO_CONTENT)
}

/// The guard in [`super::extract::Caller`] does the work: reaching here means fresh.
async fn fresh(_caller: super::extract::Caller) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn status(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
) -> Result<Json<MfaStatus>> {
    let (totp, left): (Option<bool>, Option<i32>) =
        sqlx::query_as("select totp, recovery_codes_left from auth.mfa_status($1, $2, $3)")
            .bind(&session)
            .bind(state.clock.now())
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    Ok(Json(MfaStatus {
        totp: totp.unwrap_or(false),
        recovery_codes_left: left.unwrap_or(0),
    }))
}

async fn enrol(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
) -> Result<Json<TotpEnrolment>> {
    let now = state.clock.now();
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let person: Person =
        sqlx::query_as("select user_id, email from auth.session_person($1, $2, $3)")
            .bind(&session)
            .bind(now)
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    let Some(email) = person.email else {
        return Err(ApiError::Unauthenticated);
    };
    let started: bool = sqlx::query_scalar("select auth.totp_enrol($1, $2, $3, $4)")
        .bind(&session)
        .bind(&secret)
        .bind(now)
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !started {
        return Err(ApiError::Conflict(
            "A second factor is already set up: remove it first.",
        ));
    }
    let encoded = Secret::Raw(secret).to_encoded().to_string();
    let label = format!("{ISSUER}:{email}").replace(' ', "%20");
    Ok(Json(TotpEnrolment {
        otpauth_url: format!(
            "otpauth://totp/{label}?secret={encoded}&issuer={ISSUER}&algorithm=SHA1&digits=6&period=30"
        ),
        secret: encoded,
    }))
}

async fn confirm(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
    AppJson(req): AppJson<TotpCode>,
) -> Result<Json<RecoveryCodes>> {
    let now = state.clock.now();
    let (secret, confirmed, last): (Option<Vec<u8>>, Option<bool>, Option<i64>) = sqlx::query_as(
        "select secret, confirmed, last_step from auth.totp_for_session($1, $2, $3)",
    )
    .bind(&session)
    .bind(now)
    .bind(state.auth.idle_timeout)
    .fetch_one(&state.auth_pool)
    .await?;
    let step = match (secret, confirmed) {
        (Some(secret), Some(false)) => matching_step(&secret, &req.code, now)
            .filter(|s| Some(*s) > last)
            .ok_or_else(|| ApiError::field("code", "That code did not match. Try the next one."))?,
        _ => return Err(ApiError::Conflict("Start the set-up again.")),
    };
    let codes: Vec<String> = (0..10).map(|_| recovery_code()).collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_hash(c)).collect();
    let done: bool = sqlx::query_scalar("select auth.totp_confirm($1, $2, $3, $4, $5)")
        .bind(&session)
        .bind(step)
        .bind(&hashes)
        .bind(now)
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::Conflict("Start the set-up again."));
    }
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

async fn remove(
    State(state): State<AppState>,
    caller: super::extract::Caller,
    SessionToken(session): SessionToken,
) -> Result<StatusCode> {
    // Caller enforces the step-up (this route is in STEP_UP).
    let _ = caller;
    let done: bool = sqlx::query_scalar("select auth.totp_remove($1, $2, $3)")
        .bind(&session)
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors_and_skew() {
        // RFC 6238 appendix B, SHA-1, 8 digits there; 6 digits are its last six.
        let secret = b"12345678901234567890".to_vec();
        let t = totp(secret.clone());
        assert_eq!(t.generate(59), "287082");
        assert_eq!(t.generate(1111111109), "081804");
        let at = |s| time::OffsetDateTime::from_unix_timestamp(s).expect("time");
        assert_eq!(
            matching_step(&secret, "081804", at(1111111109)),
            Some(37037036)
        );
        assert_eq!(
            matching_step(&secret, "081804", at(1111111109 + 30)),
            Some(37037036)
        );
        assert_eq!(matching_step(&secret, "081804", at(1111111109 + 90)), None);
        assert_eq!(matching_step(&secret, "08180", at(1111111109)), None);
    }

    #[test]
    fn recovery_codes_are_random_and_compared_loosely() {
        let a = recovery_code();
        assert_eq!(a.len(), 14);
        assert_ne!(a, recovery_code());
        assert_eq!(
            recovery_hash(&a),
            recovery_hash(&a.to_uppercase().replace('-', " "))
        );
    }
}
