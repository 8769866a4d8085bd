//! Cross-site request forgery, refused in depth on every state-changing request (POST, PUT,
//! PATCH, DELETE; uploads included), whatever the route. SameSite=Strict alone does not stop a
//! sibling subdomain, which is "same-site".
//!
//! 1. `Sec-Fetch-Site`, when the browser sends it, must be `same-origin` (or `none`: typed by
//!    the user).
//! 2. `Origin`, when sent, must name this server: its host and port equal to `Host`.
//! 3. The request must carry what only a same-origin script can add without a CORS preflight
//!    (which this server never grants): a content type other than the three a form can send
//!    (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`), or, for a
//!    request without a body, the header `X-Requested-With` (the SPA sends `thrive`).

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The header the SPA adds to every request.
pub const REQUESTED_WITH: &str = "x-requested-with";

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if !matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(request).await;
    }
    if let Some(why) = cross_site(request.headers()) {
        tracing::info!(method = %request.method(), path = %request.uri().path(), why, "cross-site request refused");
        return ApiError::CrossSite.into_response();
    }
    next.run(request).await
}

/// Why a state-changing request with these headers is refused, if it is.
pub fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return Some("Sec-Fetch-Site is not same-origin");
        }
    }
    if headers.contains_key(header::ORIGIN) {
        let origin = text(header::ORIGIN.as_str()).unwrap_or("null");
        let host = text(header::HOST.as_str());
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        match (origin_host, host) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => {}
            _ => return Some("Origin is not this server"),
        }
    }
    let simple = match text(header::CONTENT_TYPE.as_str()) {
        None => true,
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            [
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "text/plain",
            ]
            .iter()
            .any(|s| essence.eq_ignore_ascii_case(s))
        }
    };
    if simple && !headers.contains_key(REQUESTED_WITH) {
        return Some("no non-simple content type and no X-Requested-With");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn what_is_refused_and_what_is_not() {
        let host = ("host", "care.example:8443");
        let cases: &[(&[(&'static str, &'static str)], bool)] = &[
            (&[host, ("content-type", "application/json")], false),
            (&[host, ("x-requested-with", "thrive")], false),
            (&[host, ("content-type", "image/png")], false),
            (
                &[
                    host,
                    ("origin", "https://care.example:8443"),
                    ("sec-fetch-site", "same-origin"),
                    ("content-type", "application/json"),
                ],
                false,
            ),
            (&[host], true),
            (&[host, ("content-type", "text/plain")], true),
            (
                &[host, ("content-type", "application/x-www-form-urlencoded")],
                true,
            ),
            (
                &[host, ("content-type", "Multipart/Form-Data; boundary=x")],
                true,
            ),
            (
                &[
                    host,
                    ("origin", "https://evil.example"),
                    ("content-type", "application/json"),
                ],
                true,
            ),
            (
                &[
                    host,
                    ("origin", "null"),
                    ("content-type", "application/json"),
                ],
                true,
            ),
            (
                &[
                    host,
                    ("sec-fetch-site", "same-site"),
                    ("content-type", "application/json"),
                ],
                true,
            ),
            (
                &[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("x-requested-with", "thrive"),
                ],
                true,
            ),
        ];
        for (pairs, refused) in cases {
            assert_eq!(cross_site(&headers(pairs)).is_some(), *refused, "{pairs:?}");
        }
    }
}
