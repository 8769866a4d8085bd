//! The HTTP surface: the JSON API under `/api`, the SPA for everything else, and the layers
//! every response passes through (request id, security headers, error bodies, panics caught).

pub mod audit;
pub mod auth;
pub mod body_maps;
pub mod care_notes;
pub mod care_plans;
pub mod exports;
pub mod extract;
pub mod files;
pub mod handovers;
pub mod headers;
pub mod incidents;
pub mod medication;
pub mod models;
pub mod observations;
pub mod organisation;
pub mod records;
pub mod risk_assessments;
pub mod roles;
pub mod service_users;
pub mod staff;

use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::error::{render_errors, ApiError};
use crate::startup::AppState;

/// API request bodies are small JSON documents; uploads get their own limit where they exist.
pub const API_BODY_LIMIT: usize = 64 * 1024;

pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { StatusCode::NO_CONTENT }))
        .merge(auth::router())
        .merge(service_users::router())
        .merge(care_notes::router())
        .merge(care_plans::router())
        .merge(risk_assessments::router())
        .merge(incidents::router())
        .merge(body_maps::router())
        .merge(observations::router())
        .merge(handovers::router())
        .merge(medication::router())
        .merge(roles::router())
        .merge(audit::router())
        .merge(exports::router())
        .merge(staff::router())
        .merge(organisation::router())
        .merge(files::router())
        .merge(models::router())
        .fallback(|| async { ApiError::NotFound })
}

/// The whole application: API, SPA and the layers around both.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application with `extra` API routes (tests use it to add a route that panics, to prove
/// the layers turn a panic into a generic 500).
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let static_dir = state.static_dir.clone();
    // JSON routes keep a small body limit; upload routes get theirs (10 MB images).
    let api = api_router()
        .merge(extra)
        .layer(RequestBodyLimitLayer::new(API_BODY_LIMIT))
        .merge(files::upload_router().layer(RequestBodyLimitLayer::new(files::UPLOAD_BODY_LIMIT)));
    let router = Router::new().nest("/api", api.with_state(state));
    let router = match static_dir {
        // Unknown paths outside /api get index.html so the SPA's own routes survive a reload.
        Some(dir) => router.fallback_service(
            ServeDir::new(&dir)
                .precompressed_gzip()
                .fallback(ServeFile::new(dir.join("index.html"))),
        ),
        None => router.fallback(|| async { ApiError::NotFound }),
    };
    let request_id = HeaderName::from_static("x-request-id");
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(TraceLayer::new_for_http())
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(middleware::from_fn(headers::security_headers))
            .layer(middleware::from_fn(render_errors))
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
            })),
    )
}
