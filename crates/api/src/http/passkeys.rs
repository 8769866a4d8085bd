//! Passkeys (WebAuthn, via `webauthn-rs`) as a second factor beside TOTP.
//!
//! * Enrolment from the account page: `POST /account/passkeys/options` (needs step-up) gives
//!   the options for `navigator.credentials.create`; `POST /account/passkeys` with the
//!   authenticator's answer and a name keeps the passkey. Listing and removal (step-up) too.
//! * Sign-in: after the password, `POST /auth/second-factor/passkey/options` with the
//!   second-factor token gives the options for `navigator.credentials.get`, and
//!   `POST /auth/second-factor/passkey` with the answer gives the PKCE code. A wrong answer is a
//!   failed attempt under the same lockout as a wrong password or TOTP code.
//! * Step-up with a passkey: the same two steps under `/auth/step-up/passkey`.
//!
//! The ceremonies' state and the credentials live in PostgreSQL (`auth.passkeys`, reached only
//! through `auth.*` functions as `thrive_auth`), so several instances share them. The relying
//! party is the address the browser uses (`THRIVE_PUBLIC_URL`, else `http://localhost:PORT` for
//! a loopback address); without one the passkey routes answer 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use thrive_domain::auth::{
    AuthorizeResponse, PasskeyAssertion, PasskeyChallengeRequest, PasskeyEnrolment,
    PasskeyStepUpChallenge, PasskeySummary, PASSKEY_NAME_MAX,
};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};

use super::auth::random_secret;
use super::extract::{secret_hash, AppJson, SessionToken};
use super::mfa::STEP_UP_WINDOW;
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::limits::ClientAddr;
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/account/passkeys", &[], "Your passkeys", list)
        .post(
            "/account/passkeys/options",
            &[],
            "Start enrolling a passkey (needs step-up): options for navigator.credentials.create",
            enrol_options,
        )
        .post(
            "/account/passkeys",
            &[],
            "Finish enrolling a passkey: its name and the authenticator's answer",
            enrol,
        )
        .delete(
            "/account/passkeys/{id}",
            &[],
            "Remove one of your passkeys (needs step-up)",
            remove,
        )
        .post(
            "/auth/second-factor/passkey/options",
            &[],
            "Sign-in step 1b with a passkey: options for navigator.credentials.get",
            sign_in_options,
        )
        .public()
        .post(
            "/auth/second-factor/passkey",
            &[],
            "Sign-in step 1b with a passkey: the authenticator's answer gives the one-time code",
            sign_in,
        )
        .public()
        .post(
            "/auth/step-up/passkey/options",
            &[],
            "Step-up with a passkey: options for navigator.credentials.get",
            step_up_options,
        )
        .post(
            "/auth/step-up/passkey",
            &[],
            "Step-up with a passkey: the authenticator's answer",
            step_up,
        )
}

/// The relying party for the address the browser uses (its host is the RP id). On
/// `localhost` any port is accepted (tests and development listen on port 0 or others).
pub fn relying_party(public_url: &str) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(public_url)?;
    let host = origin
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("`{public_url}` has no host"))?
        .to_owned();
    let builder = WebauthnBuilder::new(&host, &origin)?
        .rp_name("Thrive")
        .allow_any_port(host == "localhost");
    Ok(builder.build()?)
}

fn webauthn(state: &AppState) -> Result<&Webauthn> {
    state.passkeys.as_deref().ok_or(ApiError::NotFound)
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("{what}: {e}"))
}

#[derive(sqlx::FromRow)]
struct Subject {
    user_id: Option<Uuid>,
    email: Option<String>,
    display_name: Option<String>,
    authenticated_at: Option<time::OffsetDateTime>,
    credential_ids: Option<Vec<Vec<u8>>>,
}

async fn subject(state: &AppState, session: &[u8]) -> Result<Subject> {
    let me: Subject = sqlx::query_as(
        "select user_id, email, display_name, authenticated_at, credential_ids
           from auth.passkey_subject($1, $2, $3)",
    )
    .bind(session)
    .bind(state.clock.now())
    .bind(state.auth.idle_timeout)
    .fetch_one(&state.auth_pool)
    .await?;
    if me.user_id.is_none() {
        return Err(ApiError::Unauthenticated);
    }
    Ok(me)
}

/// The guarded account routes answer `step_up_required` without a fresh authentication.
fn require_fresh(state: &AppState, me: &Subject) -> Result<()> {
    match me.authenticated_at {
        Some(at) if state.clock.now() - at <= STEP_UP_WINDOW => Ok(()),
        _ => Err(ApiError::StepUpRequired),
    }
}

async fn list(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
) -> Result<Json<Vec<PasskeySummary>>> {
    let rows: Vec<(
        Uuid,
        String,
        time::OffsetDateTime,
        Option<time::OffsetDateTime>,
    )> = sqlx::query_as(
        "select id, name, created_at, last_used_at from auth.passkey_list($1, $2, $3)",
    )
    .bind(&session)
    .bind(state.clock.now())
    .bind(state.auth.idle_timeout)
    .fetch_all(&state.auth_pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, name, created_at, last_used_at)| PasskeySummary {
                id,
                name,
                created_at,
                last_used_at,
            })
            .collect(),
    ))
}

async fn enrol_options(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
) -> Result<Json<Value>> {
    let webauthn = webauthn(&state)?;
    let me = subject(&state, &session).await?;
    require_fresh(&state, &me)?;
    let (Some(user_id), Some(email)) = (me.user_id, me.email.as_deref()) else {
        return Err(ApiError::Unauthenticated);
    };
    let exclude: Vec<CredentialID> = me
        .credential_ids
        .unwrap_or_default()
        .into_iter()
        .map(CredentialID::from)
        .collect();
    let (options, registration) = webauthn
        .start_passkey_registration(
            user_id,
            email,
            me.display_name.as_deref().unwrap_or(email),
            Some(exclude),
        )
        .map_err(|e| internal("starting a passkey registration", e))?;
    let saved = serde_json::to_value(&registration)
        .map_err(|e| internal("keeping a passkey registration", e))?;
    let started: bool =
        sqlx::query_scalar("select auth.passkey_registration_start($1, $2, $3, $4)")
            .bind(&session)
            .bind(saved)
            .bind(state.clock.now())
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    if !started {
        return Err(ApiError::Unauthenticated);
    }
    Ok(Json(serde_json::to_value(&options).map_err(|e| {
        internal("passkey registration options", e)
    })?))
}

async fn enrol(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
    AppJson(req): AppJson<PasskeyEnrolment>,
) -> Result<Json<PasskeySummary>> {
    let webauthn = webauthn(&state)?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > PASSKEY_NAME_MAX {
        return Err(ApiError::field(
            "name",
            format!("Give the passkey a name of 1 to {PASSKEY_NAME_MAX} characters."),
        ));
    }
    let now = state.clock.now();
    let saved: Option<Value> =
        sqlx::query_scalar("select auth.passkey_registration_take($1, $2, $3)")
            .bind(&session)
            .bind(now)
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    let Some(registration) =
        saved.and_then(|v| serde_json::from_value::<PasskeyRegistration>(v).ok())
    else {
        return Err(ApiError::Conflict("Start adding the passkey again."));
    };
    let unverified = || ApiError::field("credential", "The passkey could not be verified.");
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(req.credential).map_err(|_| unverified())?;
    let passkey = webauthn
        .finish_passkey_registration(&credential, &registration)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            unverified()
        })?;
    let stored = serde_json::to_value(&passkey).map_err(|e| internal("keeping a passkey", e))?;
    let id: Option<Uuid> = sqlx::query_scalar("select auth.passkey_add($1, $2, $3, $4, $5, $6)")
        .bind(&session)
        .bind(passkey.cred_id().as_ref())
        .bind(stored)
        .bind(&name)
        .bind(now)
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    let Some(id) = id else {
        return Err(ApiError::Conflict("That passkey is already registered."));
    };
    tracing::info!(passkey_id = %id, "passkey enrolled");
    Ok(Json(PasskeySummary {
        id,
        name,
        created_at: now,
        last_used_at: None,
    }))
}

async fn remove(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let me = subject(&state, &session).await?;
    require_fresh(&state, &me)?;
    let done: bool = sqlx::query_scalar("select auth.passkey_remove($1, $2, $3, $4)")
        .bind(&session)
        .bind(id)
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The challenge for the second-factor token's person's passkeys; its state waits on the
/// token's row. 404 for a spent or unknown token, or a person without passkeys.
async fn challenge(state: &AppState, token_hash: &[u8]) -> Result<RequestChallengeResponse> {
    let webauthn = webauthn(state)?;
    let now = state.clock.now();
    let stored: Vec<Value> = sqlx::query_scalar("select auth.passkeys_for_factor($1, $2)")
        .bind(token_hash)
        .bind(now)
        .fetch_all(&state.auth_pool)
        .await?;
    let keys: Vec<Passkey> = stored
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    if keys.is_empty() {
        return Err(ApiError::NotFound);
    }
    let (options, authentication) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| internal("starting a passkey authentication", e))?;
    let saved = serde_json::to_value(&authentication)
        .map_err(|e| internal("keeping a passkey authentication", e))?;
    let started: bool = sqlx::query_scalar("select auth.passkey_factor_start($1, $2, $3)")
        .bind(token_hash)
        .bind(saved)
        .bind(now)
        .fetch_one(&state.auth_pool)
        .await?;
    if !started {
        return Err(ApiError::NotFound);
    }
    Ok(options)
}

/// The passkey the answer proves, if it does: its credential id and its state after use.
fn verify(
    webauthn: &Webauthn,
    saved: Option<Value>,
    keys: Vec<Value>,
    credential: Value,
) -> Option<(Vec<u8>, Value)> {
    let authentication: PasskeyAuthentication = serde_json::from_value(saved?).ok()?;
    let credential: PublicKeyCredential = serde_json::from_value(credential).ok()?;
    let result = webauthn
        .finish_passkey_authentication(&credential, &authentication)
        .map_err(|e| tracing::info!(error = %e, "passkey answer refused"))
        .ok()?;
    let mut key = keys
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Passkey>(v).ok())
        .find(|k| k.cred_id() == result.cred_id())?;
    key.update_credential(&result);
    Some((
        result.cred_id().as_ref().to_vec(),
        serde_json::to_value(&key).ok()?,
    ))
}

#[derive(sqlx::FromRow)]
struct Admission {
    attempt_id: Option<Uuid>,
    verdict: String,
}

/// One passkey answer under the lockout (as a TOTP code is): admitted or refused in
/// PostgreSQL, verified, and the outcome recorded, which checks the locks again. Issues a PKCE
/// code when `code_hash` is given. Returns the user when the answer proves them.
async fn check_passkey(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    token: &str,
    credential: Value,
    code_hash: Option<Vec<u8>>,
) -> Result<Option<Uuid>> {
    let webauthn = webauthn(state)?;
    let now = state.clock.now();
    let token_hash = secret_hash(token);
    let admission: Admission =
        sqlx::query_as("select attempt_id, verdict from auth.begin_factor($1, $2::inet, $3)")
            .bind(&token_hash)
            .bind(address.map(|a| a.to_string()))
            .bind(now)
            .fetch_one(&state.auth_pool)
            .await?;
    let Some(attempt) = admission.attempt_id else {
        return Err(ApiError::InvalidGrant);
    };
    let mut proved = None;
    if admission.verdict == "ok" {
        let (saved, keys): (Option<Value>, Option<Vec<Value>>) =
            sqlx::query_as("select state, passkeys from auth.passkey_factor_take($1, $2)")
                .bind(&token_hash)
                .bind(now)
                .fetch_one(&state.auth_pool)
                .await?;
        proved = verify(webauthn, saved, keys.unwrap_or_default(), credential);
    }
    let (credential_id, passkey) = proved.unzip();
    let user: Option<Uuid> =
        sqlx::query_scalar("select auth.finish_passkey_factor($1, $2, $3, $4, $5, $6, $7)")
            .bind(attempt)
            .bind(&token_hash)
            .bind(credential_id)
            .bind(passkey)
            .bind(code_hash)
            .bind(now)
            .bind(state.auth.code_ttl)
            .fetch_one(&state.auth_pool)
            .await?;
    Ok(user)
}

async fn sign_in_options(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(req): AppJson<PasskeyChallengeRequest>,
) -> Result<Json<RequestChallengeResponse>> {
    state.guards.admit(address)?;
    let options = challenge(&state, &secret_hash(&req.second_factor_token)).await?;
    Ok(Json(options))
}

async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(req): AppJson<PasskeyAssertion>,
) -> Result<Json<AuthorizeResponse>> {
    state.guards.admit(address)?;
    let code = random_secret();
    match check_passkey(
        &state,
        address,
        &req.second_factor_token,
        req.credential,
        Some(secret_hash(&code)),
    )
    .await?
    {
        Some(user_id) => {
            tracing::info!(%user_id, "passkey accepted; sign-in code issued");
            Ok(Json(AuthorizeResponse {
                code: Some(code),
                second_factor_token: None,
                expires_in: state.auth.code_ttl.whole_seconds().unsigned_abs(),
            }))
        }
        None => Err(ApiError::InvalidCredentials),
    }
}

async fn step_up_options(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    SessionToken(session): SessionToken,
) -> Result<Json<PasskeyStepUpChallenge>> {
    state.guards.admit(address)?;
    webauthn(&state)?;
    let token = random_secret();
    let started: bool = sqlx::query_scalar("select auth.second_factor_for_session($1, $2, $3, $4)")
        .bind(&session)
        .bind(secret_hash(&token))
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !started {
        return Err(ApiError::NotFound);
    }
    let options = challenge(&state, &secret_hash(&token)).await?;
    Ok(Json(PasskeyStepUpChallenge {
        second_factor_token: token,
        options: serde_json::to_value(&options)
            .map_err(|e| internal("passkey step-up options", e))?,
    }))
}

async fn step_up(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    SessionToken(session): SessionToken,
    AppJson(req): AppJson<PasskeyAssertion>,
) -> Result<StatusCode> {
    state.guards.admit(address)?;
    let me = subject(&state, &session).await?;
    let proved = check_passkey(
        &state,
        address,
        &req.second_factor_token,
        req.credential,
        None,
    )
    .await?;
    let Some(user_id) = me.user_id.filter(|me| proved == Some(*me)) else {
        return Err(ApiError::InvalidCredentials);
    };
    let done: bool = sqlx::query_scalar("select auth.step_up($1, $2, $3, $4)")
        .bind(&session)
        .bind(user_id)
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_one(&state.auth_pool)
        .await?;
    if !done {
        return Err(ApiError::Unauthenticated);
    }
    tracing::info!(%user_id, "stepped up with a passkey");
    Ok(StatusCode::NO_CONTENT)
}
