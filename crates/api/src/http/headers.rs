//! Security headers on every response: API, SPA files, errors and 404s alike.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; \
script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; \
font-src 'self'; worker-src 'self'; object-src 'none'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'self'";

/// HSTS, sent only on responses over HTTPS (RFC 6797 §7.2: a browser ignores it over plain
/// HTTP, and sending it there only misleads a reader of the headers).
pub const HSTS: (&str, &str) = (
    "strict-transport-security",
    "max-age=31536000; includeSubDomains",
);

/// The fixed set, as (name, value), on every response. Cross-origin isolation (COOP + COEP)
/// lets the browser grant SharedArrayBuffer to the assistant's worker threads.
pub const SECURITY_HEADERS: [(&str, &str); 8] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    ("cross-origin-resource-policy", "same-origin"),
];

pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let over_tls = request.extensions().get::<crate::tls::OverTls>().is_some();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if over_tls {
        headers.insert(
            HeaderName::from_static(HSTS.0),
            HeaderValue::from_static(HSTS.1),
        );
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    // Personal data must not linger in browser or proxy caches. The one exception sets its own
    // policy: model files (immutable, see `http::models`).
    if is_api && !headers.contains_key(axum::http::header::CACHE_CONTROL) {
        headers.insert(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    if !is_api {
        // The SPA's files keep their names from one release to the next, so a browser must
        // ask (a cheap 304 when unchanged) rather than guess from their age; and each may be
        // sent gzipped or not, so a shared cache must key on Accept-Encoding.
        if !headers.contains_key(axum::http::header::CACHE_CONTROL) {
            headers.insert(
                axum::http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
        }
        headers.append(
            axum::http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
    }
    response
}
