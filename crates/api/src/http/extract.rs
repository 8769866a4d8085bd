//! Extractors: JSON bodies that fail with the app's own error, and the signed-in caller.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};
use thrive_domain::Permission;
use uuid::Uuid;

use super::routes::{Check, RouteGuard};
use crate::db::{self, Identity};
use crate::error::{ApiError, Result};
use crate::startup::AppState;

pub const SESSION_COOKIE: &str = "__Host-thrive_session";

/// `axum::Json`, but a malformed body is answered with the app's error body: a 400/415/422
/// with a generic message naming what is wrong, never serde's text with the request echoed.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
                    "Send the request body as JSON with Content-Type: application/json.".into(),
                ),
                JsonRejection::JsonSyntaxError(_) => {
                    ApiError::BadRequest("The request body is not valid JSON.".into())
                }
                JsonRejection::JsonDataError(_) => ApiError::BadRequest(
                    "The request body has missing fields, unknown fields or values of the wrong type."
                        .into(),
                ),
                JsonRejection::BytesRejection(_) => {
                    ApiError::BadRequest("The request body could not be read.".into())
                }
                _ => ApiError::BadRequest("The request body could not be read.".into()),
            }),
        }
    }
}

/// SHA-256 of a bearer secret (session token, sign-in code): what the database stores.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The SHA-256 of the session cookie's token, for routes whose session is checked inside an
/// auth function (401 without a cookie, before any body is read).
pub struct SessionToken(pub Vec<u8>);

impl<S: Send + Sync> FromRequestParts<S> for SessionToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        CookieJar::from_headers(&parts.headers)
            .get(SESSION_COOKIE)
            .map(|c| SessionToken(secret_hash(c.value())))
            .ok_or(ApiError::Unauthenticated)
    }
}

/// The signed-in caller, from a live session, with the route table's entry for the route
/// called. Rejects with 401 otherwise.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub session_id: Uuid,
    pub membership_id: Uuid,
    /// When the person last proved who they are (sign-in or step-up).
    pub authenticated_at: time::OffsetDateTime,
    /// The route's table entry (none for a route not built from a table: it gets no
    /// transaction).
    route: Option<RouteGuard>,
}

impl Caller {
    /// A transaction carrying this caller's identity into PostgreSQL, after the check of the
    /// route's action when its table entry names one (403 when the role does not allow it).
    /// Every handler starts here, so none can skip or contradict its route's action.
    pub async fn begin(&self, state: &AppState) -> Result<Transaction<'static, Postgres>> {
        let route = self.route()?;
        let mut tx = db::begin_as(&state.pool, self.identity).await?;
        if let Check::Fixed(action) = route.check {
            self.check(&mut tx, route, action).await?;
        }
        Ok(tx)
    }

    /// The action the route's table entry names, for what the handler records about it (the
    /// read audit names the tool by its view action).
    pub fn action(&self) -> Result<Permission> {
        match self.route()?.check {
            Check::Fixed(action) => Ok(action),
            check => Err(ApiError::Internal(anyhow::anyhow!(
                "the handler asks for its route's one action, but the table says {check:?}"
            ))),
        }
    }

    /// For a route marked `by_data`: 403 unless the caller's role allows `action`, which the
    /// handler chose from the data it read and which must be one its table entry lists (500
    /// otherwise: the handler contradicts its table).
    pub async fn require(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        action: Permission,
    ) -> Result<()> {
        let route = self.route()?;
        self.check(tx, route, action).await
    }

    fn route(&self) -> Result<&RouteGuard> {
        self.route.as_ref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "a signed-in route that was not built from a route table"
            ))
        })
    }

    /// Asked of the same function the policies use, inside the request's transaction. The
    /// policies enforce it again regardless.
    async fn check(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        route: &RouteGuard,
        action: Permission,
    ) -> Result<()> {
        route.checking(action)?;
        // One round trip: the check, and the action named for the audit trail's entries.
        let allowed: bool = sqlx::query_scalar(
            "select app.has_permission($1) from set_config('app.action', $1, true)",
        )
        .bind(action.key())
        .fetch_one(&mut **tx)
        .await?;
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// What `auth.resolve_session` answers: all NULL unless the session is live.
#[derive(sqlx::FromRow)]
struct ResolvedSession {
    session_id: Option<Uuid>,
    user_id: Option<Uuid>,
    organization_id: Option<Uuid>,
    membership_id: Option<Uuid>,
    authenticated_at: Option<time::OffsetDateTime>,
    mfa_missing: Option<bool>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(ApiError::Unauthenticated)?;
        // Tokens we issue are 43 characters; anything else cannot match, so skip the query.
        if token.len() != 43 {
            return Err(ApiError::Unauthenticated);
        }
        let session: Option<ResolvedSession> = sqlx::query_as(
            "select session_id, user_id, organization_id, membership_id, authenticated_at, mfa_missing
               from auth.resolve_session($1, $2, $3)",
        )
        .bind(secret_hash(&token))
        .bind(state.clock.now())
        .bind(state.auth.idle_timeout)
        .fetch_optional(&state.auth_pool)
        .await?;
        let Some(ResolvedSession {
            session_id: Some(session_id),
            user_id: Some(user_id),
            organization_id: Some(organization_id),
            membership_id: Some(membership_id),
            authenticated_at: Some(authenticated_at),
            mfa_missing,
        }) = session
        else {
            return Err(ApiError::Unauthenticated);
        };
        let path = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        // A role that demands a second factor reaches only the member's own account until
        // they have enrolled one.
        if mfa_missing == Some(true) && !matches!(path.as_str(), "/api/me" | "/me") {
            return Err(ApiError::MfaEnrolmentRequired);
        }
        if super::mfa::needs_step_up(&parts.method, &path)
            && state.clock.now() - authenticated_at > super::mfa::STEP_UP_WINDOW
        {
            return Err(ApiError::StepUpRequired);
        }
        Ok(Caller {
            identity: Identity {
                user_id,
                organization_id,
            },
            session_id,
            membership_id,
            authenticated_at,
            route: parts.extensions.get::<RouteGuard>().cloned(),
        })
    }
}
