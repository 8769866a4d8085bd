//! Aayu's model files for the browser cache: `GET /api/models/manifest.json` lists them, and
//! `GET|HEAD /api/models/{name}` serves one with single Range requests, a strong ETag (its
//! sha256), conditional requests and a year of immutable caching. The bytes, Range and the
//! date conditions are tower-http's file service; in front of it stand the permission check
//! and the sha256 ETag (`If-None-Match`, `If-Range`), which tower-http does not know.
//!
//! Both routes need a signed-in session. The weights are not personal data, but a care
//! organisation's server is not a public mirror: only its staff download the 1.1 GB, and the
//! browser only ever fetches it from a signed-in page anyway. Because the response depends on
//! the session, caching is `private` (the browser's own cache may keep it for a year; a shared
//! proxy must not hand it to someone who is not signed in).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

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

/// Whether an `If-None-Match` / `If-Range` list names this entity (strong comparison; `*` too).
fn names_etag(value: Option<&HeaderValue>, etag: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == etag || t == "*"))
}

async fn model_file(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response> {
    may_download(&state, &caller).await?;
    let Some((file, path)) = state.models.find(&name).await? else {
        return Err(ApiError::NotFound);
    };
    // The digest describes the file as scanned; a file replaced since is not served under it.
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .len();
    if size != file.size {
        tracing::warn!(file = %file.name, "a model file changed after it was scanned; restart the server");
        return Err(ApiError::NotFound);
    }
    let etag = file.etag();
    let (mut parts, _) = request.into_parts();
    let mut response = if names_etag(parts.headers.get(header::IF_NONE_MATCH), &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // If-Range: the range holds only for the entity the client already has part of.
        // tower-http compares If-Range with dates only, so the ETag is compared here.
        if let Some(if_range) = parts.headers.remove(header::IF_RANGE) {
            if !names_etag(Some(&if_range), &etag) {
                parts.headers.remove(header::RANGE);
            }
        }
        let request = Request::from_parts(parts, Body::empty());
        match ServeFile::new(&path).oneshot(request).await {
            Ok(served) => served.map(Body::new),
            Err(never) => match never {},
        }
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(MODEL_CACHE_CONTROL),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if matches!(
        response.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT
    ) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    Ok(response)
}
