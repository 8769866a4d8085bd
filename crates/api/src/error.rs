//! One error type for the HTTP layer. Clients get a stable code, a generic useful message and
//! the request id; the detail goes to the server log only.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(BTreeMap<&'static str, Vec<String>>),
    /// Sign-in refused. Identical for unknown email, wrong password and locked account.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A PKCE code that is unknown, spent, expired or paired with the wrong verifier.
    #[error("invalid grant")]
    InvalidGrant,
    #[error("not signed in")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    /// Also the answer for other organisations' and unassigned records, so existence never leaks.
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A unique violation no handler mapped to its own words (see [`ResultExt`]).
    #[error("duplicate")]
    Duplicate(#[source] anyhow::Error),
    /// A change the record's current state does not allow, in the database guard's own words
    /// (raised with SQLSTATE P0001 by `app.refuse`; never a raw database message).
    #[error("refused: {0}")]
    Refused(String),
    /// An upload over its limit, with what the limit is.
    #[error("too large")]
    TooLarge(String),
    /// A value the database's constraints refused that validation did not catch.
    #[error("constraint")]
    Constraint(#[source] anyhow::Error),
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Over a rate limit or a bounded pool's queue: 429 with `Retry-After` (whole seconds).
    #[error("too many requests")]
    TooManyRequests(std::time::Duration),
    /// A state-changing request that a browser sent from another site, or without the
    /// non-simple content type or header that only a same-origin script can add.
    #[error("cross-site request")]
    CrossSite,
    /// A guarded route (exports, ladder changes, closure…) without a recent authentication.
    #[error("step-up required")]
    StepUpRequired,
    /// The member's role demands a second factor they have not enrolled.
    #[error("second factor enrolment required")]
    MfaEnrolmentRequired,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(BTreeMap::from([(field, vec![message.into()])]))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidGrant => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidCredentials | ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Refused(_) | ApiError::Duplicate(_) => {
                StatusCode::CONFLICT
            }
            ApiError::Constraint(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::CrossSite | ApiError::StepUpRequired | ApiError::MfaEnrolmentRequired => {
                StatusCode::FORBIDDEN
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// The database constraint a unique, foreign-key or check violation names.
    fn constraint(&self) -> Option<&str> {
        match self {
            ApiError::Duplicate(e) | ApiError::Constraint(e) => e
                .downcast_ref::<sqlx::Error>()
                .and_then(sqlx::Error::as_database_error)
                .and_then(|db| db.constraint()),
            _ => None,
        }
    }
}

/// Turns the violation of one named constraint into a client error where the query is (as
/// realworld-axum-sqlx does), rather than guessing afterwards which constraint fired.
pub trait ResultExt<T> {
    fn on_constraint(self, name: &str, error: impl FnOnce() -> ApiError) -> Result<T>;
}

impl<T, E: Into<ApiError>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(self, name: &str, error: impl FnOnce() -> ApiError) -> Result<T> {
        self.map_err(|e| {
            let e = e.into();
            if e.constraint() == Some(name) {
                error()
            } else {
                e
            }
        })
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => ApiError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                ApiError::Unavailable(e.into())
            }
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // Row Level Security refused a write, or a missing privilege.
                Some("42501") => ApiError::Forbidden,
                Some("P0001") => ApiError::Refused(db.message().to_owned()),
                Some("23505") => ApiError::Duplicate(e.into()),
                // check, not-null and foreign-key violations, malformed values.
                Some(code) if code.starts_with("23") || code.starts_with("22") => {
                    ApiError::Constraint(e.into())
                }
                // admin_shutdown, crash_shutdown, cannot_connect_now, connection exceptions:
                // the pool drops the broken connection and the next request recovers.
                Some(code) if code.starts_with("57P") || code.starts_with("08") => {
                    ApiError::Unavailable(e.into())
                }
                _ => ApiError::Internal(e.into()),
            },
            _ => ApiError::Internal(e.into()),
        }
    }
}

/// The body every error response carries, rendered by [`render_errors`] once the request id is
/// known. Handlers and extractors only attach it.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<&'static str, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    fn generic(status: StatusCode) -> Self {
        let (error, message) = match status {
            StatusCode::BAD_REQUEST => ("bad_request", "The request could not be understood."),
            StatusCode::UNAUTHORIZED => ("unauthenticated", "Please sign in."),
            StatusCode::FORBIDDEN => ("forbidden", "You do not have permission to do that."),
            StatusCode::NOT_FOUND => ("not_found", "Not found."),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "That method is not allowed here.")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "The request is too large: uploads can be at most 10 MB, other requests 64 KB.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "Send the request body as application/json.",
            ),
            StatusCode::RANGE_NOT_SATISFIABLE => ("range_not_satisfiable", "Invalid range."),
            StatusCode::TOO_MANY_REQUESTS => (
                "too_many_requests",
                "Too many attempts. Please wait a moment and try again.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "unavailable",
                "The service is temporarily unavailable. Please try again.",
            ),
            s if s.is_client_error() => ("bad_request", "The request could not be processed."),
            _ => ("internal", "Something went wrong on our side."),
        };
        ErrorBody {
            error,
            message: message.into(),
            fields: None,
            request_id: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut retry_after = None;
        let body = match self {
            ApiError::TooManyRequests(wait) => {
                retry_after = Some((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1));
                ErrorBody::generic(status)
            }
            ApiError::StepUpRequired => ErrorBody {
                error: "step_up_required",
                message: "Confirm it is you (password or second-factor code) to do this.".into(),
                fields: None,
                request_id: None,
            },
            ApiError::MfaEnrolmentRequired => ErrorBody {
                error: "mfa_enrolment_required",
                message: "Your role needs a second factor: set one up in your account first."
                    .into(),
                fields: None,
                request_id: None,
            },
            ApiError::CrossSite => ErrorBody {
                error: "cross_site",
                message: "This request came from another site and was refused.".into(),
                fields: None,
                request_id: None,
            },
            ApiError::Internal(ref e) => {
                tracing::error!(error = ?e, "internal error");
                ErrorBody::generic(status)
            }
            ApiError::Unavailable(ref e) => {
                tracing::warn!(error = %e, "database unavailable");
                ErrorBody::generic(status)
            }
            ApiError::BadRequest(detail) => ErrorBody {
                error: "bad_request",
                message: detail,
                fields: None,
                request_id: None,
            },
            ApiError::Validation(fields) => ErrorBody {
                error: "validation",
                message: "Some fields need attention.".into(),
                fields: Some(fields),
                request_id: None,
            },
            ApiError::InvalidCredentials => ErrorBody {
                error: "invalid_credentials",
                message:
                    "Those details did not work. Check your email and password, or try again later."
                        .into(),
                fields: None,
                request_id: None,
            },
            ApiError::InvalidGrant => ErrorBody {
                error: "invalid_grant",
                message: "That sign-in has expired or was already used. Please sign in again."
                    .into(),
                fields: None,
                request_id: None,
            },
            ApiError::Duplicate(_) => ErrorBody {
                error: "conflict",
                message: "That already exists.".into(),
                fields: None,
                request_id: None,
            },
            ApiError::Conflict(message) => ErrorBody {
                error: "conflict",
                message: message.into(),
                fields: None,
                request_id: None,
            },
            ApiError::Refused(message) => {
                let mut chars = message.chars();
                let message = match chars.next() {
                    Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
                    None => "That change is not allowed.".into(),
                };
                ErrorBody {
                    error: "refused",
                    message,
                    fields: None,
                    request_id: None,
                }
            }
            ApiError::TooLarge(message) => ErrorBody {
                error: "payload_too_large",
                message,
                fields: None,
                request_id: None,
            },
            ApiError::Constraint(ref e) => {
                tracing::info!(error = %e, "constraint refused a write");
                ErrorBody {
                    error: "validation",
                    message: "A value is missing, out of range or refers to something that does not exist."
                        .into(),
                    fields: None,
                    request_id: None,
                }
            }
            ApiError::Unauthenticated | ApiError::Forbidden | ApiError::NotFound => {
                ErrorBody::generic(status)
            }
        };
        let mut response = status.into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// Middleware: every 4xx/5xx response leaves as the JSON error body with the request id, whether
/// it came from a handler, an extractor's rejection, a body limit, the router or a caught panic.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let mut body = parts
        .extensions
        .remove::<ErrorBody>()
        .unwrap_or_else(|| ErrorBody::generic(status));
    body.request_id = request_id;
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    // A 416 keeps its `Content-Range: bytes */<size>` (RFC 9110 §15.5.17): it tells the client
    // the file's length. Any other error drops a range header that describes no body.
    let unsatisfied = status == StatusCode::RANGE_NOT_SATISFIABLE
        && parts
            .headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("bytes */"));
    if !unsatisfied {
        parts.headers.remove(header::CONTENT_RANGE);
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Response::from_parts(parts, axum::body::Body::from(json))
}
