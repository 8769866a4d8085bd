//! Aayu's model files for the browser cache: `GET /api/models/manifest.json` lists them, and
//! `GET|HEAD /api/models/{name}` serves one with single Range requests, a strong ETag (its
//! sha256), conditional requests and a year of immutable caching.
//!
//! Both routes need a signed-in session. The weights are not personal data, but a care
//! organisation's server is not a public mirror: only its staff download the 1.1 GB, and the
//! browser only ever fetches it from a signed-in page anyway. Because the response depends on
//! the session, caching is `private` (the browser's own cache may keep it for a year; a shared
//! proxy must not hand it to someone who is not signed in).

use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::http::extract::Caller;
use crate::model_files::ModelFile;
use crate::startup::AppState;
use thrive_domain::Permission;

pub const MODEL_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/models/manifest.json",
            &[Permission::AssistantDownloadModel],
            "Aayu's model files: name, size, sha256, chunking",
            manifest,
        )
        .get(
            "/models/{name}",
            &[Permission::AssistantDownloadModel],
            "A model file, with Range, ETag and If-Range support",
            model_file,
        )
}

#[derive(Debug, Serialize)]
pub struct Manifest<'a> {
    pub models: &'a [ModelFile],
}

/// Downloading the model to this device is its own action (assistant.download_model).
async fn may_download(state: &AppState, caller: &Caller) -> Result<()> {
    let tx = caller.begin(state).await?;
    tx.commit().await?;
    Ok(())
}

async fn manifest(caller: Caller, State(state): State<AppState>) -> Result<Response> {
    may_download(&state, &caller).await?;
    let models = state.models.manifest().await?;
    // The list changes only when the server restarts; still, no-store like every API answer.
    Ok(Json(Manifest { models }).into_response())
}

/// The byte range a request asks for, after checking it against the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Whole,
    /// Inclusive bounds, as in `Content-Range`.
    Part {
        first: u64,
        last: u64,
    },
    Unsatisfiable,
}

/// One `bytes=` range; anything else (several ranges, other units, bad syntax) is ignored and
/// the whole file is sent, which RFC 9110 allows.
fn wanted(range: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(n) if size > 0 => Wanted::Part {
                first: size.saturating_sub(n),
                last: size - 1,
            },
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        // bytes=A-
        (false, true) => match parse(first) {
            Some(a) if a < size => Wanted::Part {
                first: a,
                last: size - 1,
            },
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        // bytes=A-B
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a > b => Wanted::Whole,
            (Some(a), Some(b)) if a < size => Wanted::Part {
                first: a,
                last: b.min(size - 1),
            },
            (Some(_), Some(_)) => Wanted::Unsatisfiable,
            _ => Wanted::Whole,
        },
        (true, true) => Wanted::Whole,
    }
}

/// Whether an `If-None-Match` / `If-Range` list names this entity (strong comparison; `*` too).
fn names_etag(value: Option<&HeaderValue>, etag: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == etag || t == "*"))
}

async fn model_file(
    caller: Caller,
    State(state): State<AppState>,
    method: Method,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    may_download(&state, &caller).await?;
    let Some((file, path)) = state.models.find(&name).await? else {
        return Err(ApiError::NotFound);
    };
    let etag = file.etag();
    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, MODEL_CACHE_CONTROL)
        .header(header::ACCEPT_RANGES, "bytes")
        .header("cross-origin-resource-policy", "same-origin");

    if names_etag(headers.get(header::IF_NONE_MATCH), &etag) {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError::Internal(e.into()));
    }

    // If-Range: the range holds only for the entity the client already has part of.
    let range = match headers.get(header::IF_RANGE) {
        Some(_) if !names_etag(headers.get(header::IF_RANGE), &etag) => None,
        _ => headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
    };
    let (status, first, length) = match wanted(range, file.size) {
        Wanted::Whole => (StatusCode::OK, 0, file.size),
        Wanted::Part { first, last } => {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{}", file.size),
            );
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        Wanted::Unsatisfiable => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{}", file.size))],
            )
                .into_response());
        }
    };

    let mut opened = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    // The digest describes the file as scanned; a file replaced since is not served under it.
    let meta = opened
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if meta.len() != file.size {
        tracing::warn!(file = %file.name, "a model file changed after it was scanned; restart the server");
        return Err(ApiError::NotFound);
    }
    response = response
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        opened
            .seek(SeekFrom::Start(first))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        // Streamed in 64 KiB reads: the file is never held in memory.
        Body::from_stream(ReaderStream::with_capacity(opened.take(length), 1 << 16))
    };
    response
        .body(body)
        .map_err(|e| ApiError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_against_the_file_size() {
        let part = |first, last| Wanted::Part { first, last };
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(wanted(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(wanted(Some("bytes=90-500"), 100), part(90, 99));
        assert_eq!(wanted(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(wanted(Some("bytes=-500"), 100), part(0, 99));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=100-200"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        // Ignored: the whole file.
        assert_eq!(wanted(Some("bytes=0-1,5-6"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-1"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=9-1"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=x-"), 100), Wanted::Whole);
    }
}
