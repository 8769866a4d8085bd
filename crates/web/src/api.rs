//! A typed client for the Thrive API: non-2xx answers become one error type, carrying the
//! server's own message and, for 422, its field → messages map (the same messages the shared
//! `Validate` impls give before sending).

use std::collections::BTreeMap;

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thrive_domain::audit::{AuditEntry, Role, SetPermissions, StaffMember};
use thrive_domain::auth::{
    AuthorizeRequest, AuthorizeResponse, Me, MfaStatus, PasskeyAssertion, PasskeyChallengeRequest,
    PasskeyEnrolment, PasskeyStepUpChallenge, PasskeySummary, RecoveryCodes, SecondFactorRequest,
    StepUpRequest, TokenRequest, TotpCode, TotpEnrolment,
};
use thrive_domain::records::{CareNote, CareNoteInput, Page, ReturnNote, ServiceUser};
use thrive_domain::service_users::ServiceUserSummary;
use uuid::Uuid;

use crate::pkce::Pkce;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Server {
        status: u16,
        code: String,
        message: String,
        fields: BTreeMap<String, Vec<String>>,
    },
    #[error("Could not reach Thrive. Check the connection and try again.")]
    Network,
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Server { status, .. } => Some(*status),
            ApiError::Network => None,
        }
    }

    /// The server's error code (`step_up_required`, `invalid_credentials`…), if it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Server { code, .. } => Some(code),
            ApiError::Network => None,
        }
    }

    /// The server's messages for one form field (422), if any.
    pub fn field(&self, name: &str) -> Vec<String> {
        match self {
            ApiError::Server { fields, .. } => fields.get(name).cloned().unwrap_or_default(),
            ApiError::Network => Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
    #[serde(default)]
    fields: BTreeMap<String, Vec<String>>,
}

async fn check(resp: Response) -> Result<Response, ApiError> {
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let body: Option<ErrorBody> = resp.json().await.ok();
    // A wrong password or code (step-up, sign-in) is 401 too, but the session is still there.
    if status == 401 && body.as_ref().is_none_or(|b| b.error == "unauthenticated") {
        crate::session::on_unauthenticated();
    }
    let (code, message, fields) =
        body.map(|b| (b.error, b.message, b.fields))
            .unwrap_or_else(|| {
                (
                    "unknown".into(),
                    "Something went wrong.".into(),
                    BTreeMap::new(),
                )
            });
    if status == 403 {
        crate::session::on_forbidden(&code);
    }
    Err(ApiError::Server {
        status,
        code,
        message,
        fields,
    })
}

/// Every state-changing request carries the header a cross-site form cannot send; the server
/// refuses one without it (or a non-simple content type).
fn same_origin(builder: RequestBuilder) -> RequestBuilder {
    builder.header("x-requested-with", "thrive")
}

/// Sends the request `build` makes. A route that needs a fresh authentication (exports,
/// ladder changes, deactivation, closure…) answers `step_up_required`: the step-up dialog asks
/// the person to confirm it is them, and the request is then sent once more; if they cancel,
/// the refusal is the answer.
async fn send(build: impl Fn() -> Result<Request, gloo_net::Error>) -> Result<Response, ApiError> {
    let mut asked = false;
    loop {
        let resp = build()
            .map_err(|_| ApiError::Network)?
            .send()
            .await
            .map_err(|_| ApiError::Network)?;
        crate::session::touch();
        match check(resp).await {
            Err(e) if !asked && e.code() == Some("step_up_required") => {
                asked = true;
                if !crate::session::stepped_up().await {
                    return Err(e);
                }
            }
            answer => return answer,
        }
    }
}

/// The body as `T`; an empty body (204) reads as JSON `null`, so `Value` and `()` accept it.
async fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, ApiError> {
    let text = resp.text().await.map_err(|_| ApiError::Network)?;
    let text = if text.is_empty() { "null" } else { &text };
    serde_json::from_str(text).map_err(|_| ApiError::Network)
}

pub async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    decode(send(|| Request::get(url).build()).await?).await
}

async fn with_body<T: DeserializeOwned>(
    builder: impl Fn() -> RequestBuilder,
    body: &impl Serialize,
) -> Result<T, ApiError> {
    decode(send(|| builder().json(body)).await?).await
}

pub async fn post<T: DeserializeOwned>(url: &str, body: &impl Serialize) -> Result<T, ApiError> {
    with_body(|| same_origin(Request::post(url)), body).await
}

pub async fn put<T: DeserializeOwned>(url: &str, body: &impl Serialize) -> Result<T, ApiError> {
    with_body(|| same_origin(Request::put(url)), body).await
}

/// POST with no body (state changes such as submit and sign-off).
pub async fn post_empty<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    decode(send(|| same_origin(Request::post(url)).build()).await?).await
}

pub async fn delete(url: &str) -> Result<(), ApiError> {
    send(|| same_origin(Request::delete(url)).build())
        .await
        .map(|_| ())
}

/// Uploads raw bytes (an image) with `method` to `url`.
pub async fn upload<T: DeserializeOwned>(
    method: &str,
    url: &str,
    file: &web_sys::File,
) -> Result<T, ApiError> {
    let content_type = file.type_();
    let blob: &web_sys::Blob = file;
    let build = || {
        let builder = match method {
            "PUT" => same_origin(Request::put(url)),
            _ => same_origin(Request::post(url)),
        };
        let builder = if content_type.is_empty() {
            builder
        } else {
            builder.header("content-type", &content_type)
        };
        builder.body(blob.clone())
    };
    decode(send(build).await?).await
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    js_sys::encode_uri_component(value).into()
}

pub async fn me() -> Result<Me, ApiError> {
    get("/api/me").await
}

pub async fn service_users() -> Result<Vec<ServiceUserSummary>, ApiError> {
    get("/api/service-users").await
}

pub async fn service_user(id: Uuid) -> Result<ServiceUser, ApiError> {
    get(&format!("/api/service-users/{id}")).await
}

pub async fn care_notes(query: &str) -> Result<Page<CareNote>, ApiError> {
    get(&format!("/api/care-notes?{query}")).await
}

pub async fn create_note(service_user: Uuid, input: &CareNoteInput) -> Result<CareNote, ApiError> {
    post(
        &format!("/api/service-users/{service_user}/care-notes"),
        input,
    )
    .await
}

pub async fn update_note(id: Uuid, input: &CareNoteInput) -> Result<CareNote, ApiError> {
    put(&format!("/api/care-notes/{id}"), input).await
}

pub async fn note_action(id: Uuid, action: &str) -> Result<CareNote, ApiError> {
    post_empty(&format!("/api/care-notes/{id}/{action}")).await
}

pub async fn return_note(id: Uuid, comment: String) -> Result<CareNote, ApiError> {
    post(
        &format!("/api/care-notes/{id}/return"),
        &ReturnNote {
            review_comment: comment,
        },
    )
    .await
}

pub async fn audit(query: &str) -> Result<Page<AuditEntry>, ApiError> {
    get(&format!("/api/audit?{query}")).await
}

pub async fn roles() -> Result<Vec<Role>, ApiError> {
    get("/api/roles").await
}

pub async fn set_permissions(role: Uuid, changes: &SetPermissions) -> Result<Role, ApiError> {
    put(&format!("/api/roles/{role}/permissions"), changes).await
}

pub async fn staff() -> Result<Vec<StaffMember>, ApiError> {
    get("/api/staff").await
}

/// Where a sign-in stands after the password.
pub enum SignIn {
    Done(Me),
    /// The account has a second factor: ask for a code, then call [`second_factor`].
    SecondFactor {
        token: String,
        verifier: String,
    },
}

async fn exchange(code: String, verifier: String) -> Result<Me, ApiError> {
    let exchange = TokenRequest {
        code,
        code_verifier: verifier,
    };
    send(|| same_origin(Request::post("/api/auth/token")).json(&exchange)).await?;
    me().await
}

/// The PKCE sign-in: credentials and challenge → one-time code (or a second-factor token);
/// code and verifier → session. The verifier never leaves the page.
pub async fn sign_in(email: String, password: String) -> Result<SignIn, ApiError> {
    let pkce = Pkce::generate().map_err(|_| ApiError::Network)?;
    let body = AuthorizeRequest {
        email,
        password,
        code_challenge: pkce.challenge,
        code_challenge_method: "S256".into(),
        invitation_token: crate::session::pending_invitation(),
    };
    let grant: AuthorizeResponse = post("/api/auth/authorize", &body).await?;
    match (grant.code, grant.second_factor_token) {
        (Some(code), _) => Ok(SignIn::Done(exchange(code, pkce.verifier).await?)),
        (None, Some(token)) => Ok(SignIn::SecondFactor {
            token,
            verifier: pkce.verifier,
        }),
        (None, None) => Err(ApiError::Network),
    }
}

/// The second sign-in step: a TOTP code or a recovery code.
pub async fn second_factor(token: String, code: String, verifier: String) -> Result<Me, ApiError> {
    let grant: AuthorizeResponse = post(
        "/api/auth/second-factor",
        &SecondFactorRequest {
            second_factor_token: token,
            code,
        },
    )
    .await?;
    let code = grant.code.ok_or(ApiError::Network)?;
    exchange(code, verifier).await
}

/// Step-up: the password (or a code) again, for exports, ladder changes and closure.
pub async fn step_up(request: &StepUpRequest) -> Result<(), ApiError> {
    post::<serde_json::Value>("/api/auth/step-up", request)
        .await
        .map(|_| ())
}

pub async fn mfa_status() -> Result<MfaStatus, ApiError> {
    get("/api/account/mfa").await
}

pub async fn totp_enrol() -> Result<TotpEnrolment, ApiError> {
    post_empty("/api/account/mfa/totp").await
}

pub async fn totp_confirm(code: String) -> Result<RecoveryCodes, ApiError> {
    post("/api/account/mfa/totp/confirm", &TotpCode { code }).await
}

pub async fn logout() -> Result<(), ApiError> {
    send(|| same_origin(Request::post("/api/auth/logout")).build())
        .await
        .map(|_| ())
}

/// Whether a fresh authentication is in hand (`204`), asking for one first if not: for the
/// export downloads, which are plain links the browser follows.
pub async fn ensure_stepped_up() -> Result<(), ApiError> {
    get::<serde_json::Value>("/api/auth/step-up")
        .await
        .map(|_| ())
}

fn passkey_failed(message: &str) -> ApiError {
    ApiError::Server {
        status: 0,
        code: "passkey".into(),
        message: message.into(),
        fields: BTreeMap::new(),
    }
}

pub async fn passkeys() -> Result<Vec<PasskeySummary>, ApiError> {
    get("/api/account/passkeys").await
}

/// Enrols a passkey on this device's authenticator under `name`.
pub async fn passkey_enrol(name: String) -> Result<PasskeySummary, ApiError> {
    let options: serde_json::Value = post_empty("/api/account/passkeys/options").await?;
    let answer = crate::passkey::create(&options.to_string())
        .await
        .ok_or_else(|| {
            passkey_failed("No passkey was made (cancelled, or this device cannot make one).")
        })?;
    post(
        "/api/account/passkeys",
        &PasskeyEnrolment {
            name,
            credential: answer,
        },
    )
    .await
}

pub async fn passkey_remove(id: Uuid) -> Result<(), ApiError> {
    delete(&format!("/api/account/passkeys/{id}")).await
}

/// The second sign-in step with a passkey instead of a code.
pub async fn second_factor_passkey(token: String, verifier: String) -> Result<Me, ApiError> {
    let options: serde_json::Value = post(
        "/api/auth/second-factor/passkey/options",
        &PasskeyChallengeRequest {
            second_factor_token: token.clone(),
        },
    )
    .await?;
    let answer = crate::passkey::get(&options.to_string())
        .await
        .ok_or_else(|| {
            passkey_failed("The passkey was not used (cancelled, or not on this device).")
        })?;
    let grant: AuthorizeResponse = post(
        "/api/auth/second-factor/passkey",
        &PasskeyAssertion {
            second_factor_token: token,
            credential: answer,
        },
    )
    .await?;
    let code = grant.code.ok_or(ApiError::Network)?;
    exchange(code, verifier).await
}

/// Step-up with a passkey.
pub async fn step_up_passkey() -> Result<(), ApiError> {
    let challenge: PasskeyStepUpChallenge = post_empty("/api/auth/step-up/passkey/options").await?;
    let answer = crate::passkey::get(&challenge.options.to_string())
        .await
        .ok_or_else(|| {
            passkey_failed("The passkey was not used (cancelled, or not on this device).")
        })?;
    post::<serde_json::Value>(
        "/api/auth/step-up/passkey",
        &PasskeyAssertion {
            second_factor_token: challenge.second_factor_token,
            credential: answer,
        },
    )
    .await
    .map(|_| ())
}
