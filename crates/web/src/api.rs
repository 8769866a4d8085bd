//! A typed client for the Thrive API: non-2xx answers become one error type.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use thrive_domain::auth::{AuthorizeRequest, AuthorizeResponse, Me, TokenRequest};
use thrive_domain::service_users::ServiceUserSummary;

use crate::pkce::Pkce;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Could not reach Thrive. Check the connection and try again.")]
    Network,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

async fn check(resp: Response) -> Result<Response, ApiError> {
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let body: Option<ErrorBody> = resp.json().await.ok();
    let (code, message) = body
        .map(|b| (b.error, b.message))
        .unwrap_or_else(|| ("unknown".into(), "Something went wrong.".into()));
    Err(ApiError::Server {
        status,
        code,
        message,
    })
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let resp = Request::get(url)
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    check(resp)
        .await?
        .json()
        .await
        .map_err(|_| ApiError::Network)
}

pub async fn me() -> Result<Me, ApiError> {
    get_json("/api/me").await
}

pub async fn service_users() -> Result<Vec<ServiceUserSummary>, ApiError> {
    get_json("/api/service-users").await
}

/// The PKCE sign-in: credentials and challenge → one-time code; code and verifier → session.
pub async fn sign_in(email: String, password: String) -> Result<Me, ApiError> {
    let pkce = Pkce::generate().map_err(|_| ApiError::Network)?;
    let body = AuthorizeRequest {
        email,
        password,
        code_challenge: pkce.challenge,
        code_challenge_method: "S256".into(),
    };
    let resp = Request::post("/api/auth/authorize")
        .json(&body)
        .map_err(|_| ApiError::Network)?
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    let grant: AuthorizeResponse = check(resp)
        .await?
        .json()
        .await
        .map_err(|_| ApiError::Network)?;
    let exchange = TokenRequest {
        code: grant.code,
        code_verifier: pkce.verifier,
    };
    let resp = Request::post("/api/auth/token")
        .json(&exchange)
        .map_err(|_| ApiError::Network)?
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    check(resp).await?;
    me().await
}

pub async fn logout() -> Result<(), ApiError> {
    let resp = Request::post("/api/auth/logout")
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    check(resp).await.map(|_| ())
}
