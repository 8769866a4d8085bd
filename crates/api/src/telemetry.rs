//! Structured logs. Request bodies, cookies and passwords are never logged.
//!
//! Every line written while a request is handled carries its request id (the `x-request-id`
//! the response also carries), method and path, as fields of the `request` span. Plain text
//! by default; `THRIVE_LOG_FORMAT=json` writes one JSON object a line, the span's fields under
//! `span`.

use axum::http::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("THRIVE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let json = std::env::var("THRIVE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// The span every request runs in: its id (set by the request-id layer before this one), the
/// method and the path (without the query string).
pub fn request_span<B>(request: &Request<B>) -> Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}
