//! The HTTP surface: the JSON API under `/api`, the SPA for everything else, and the layers
//! every response passes through (request id, security headers, error bodies, panics caught).

pub mod account;
pub mod audit;
pub mod auth;
pub mod body_maps;
pub mod care_notes;
pub mod care_plans;
pub mod csrf;
pub mod exports;
pub mod extract;
pub mod files;
pub mod handovers;
pub mod headers;
pub mod home;
pub mod incidents;
pub mod medication;
pub mod mfa;
pub mod models;
pub mod observations;
pub mod organisation;
pub mod passkeys;
pub mod records;
pub mod risk_assessments;
pub mod roles;
pub mod routes;
pub mod service_users;
pub mod staff;

use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::{middleware, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::error::{render_errors, ApiError};
use crate::startup::AppState;
use routes::Routes;

/// API request bodies are small JSON documents; uploads get their own limit where they exist.
pub const API_BODY_LIMIT: usize = 64 * 1024;

/// Every JSON route, from the modules' route tables.
pub fn api_routes() -> Routes {
    Routes::new()
        .get(
            "/health",
            &[],
            "Liveness: 204 while the server runs",
            || async { StatusCode::NO_CONTENT },
        )
        .public()
        .get(
            "/openapi.json",
            &[],
            "This API's OpenAPI 3.1 document, generated from the route tables",
            openapi_json,
        )
        .public()
        .merge(auth::routes())
        .merge(service_users::routes())
        .merge(care_notes::routes())
        .merge(care_plans::routes())
        .merge(risk_assessments::routes())
        .merge(incidents::routes())
        .merge(body_maps::routes())
        .merge(observations::routes())
        .merge(handovers::routes())
        .merge(home::routes())
        .merge(medication::routes())
        .merge(roles::routes())
        .merge(audit::routes())
        .merge(exports::routes())
        .merge(staff::routes())
        .merge(organisation::routes())
        .merge(files::routes())
        .merge(account::routes())
        .merge(mfa::routes())
        .merge(passkeys::routes())
        .merge(models::routes())
}

/// Every documented endpoint: the JSON routes and the uploads.
pub fn endpoints() -> Vec<routes::Endpoint> {
    let mut all = api_routes().endpoints;
    all.extend(files::upload_routes().endpoints);
    all
}

async fn openapi_json() -> axum::Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    axum::Json(DOC.get_or_init(|| routes::openapi(&endpoints())).clone())
}

pub fn api_router() -> Router<AppState> {
    api_routes()
        .router()
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
        .merge(
            files::upload_routes()
                .router()
                .layer(RequestBodyLimitLayer::new(files::UPLOAD_BODY_LIMIT)),
        )
        .route_layer(middleware::from_fn(crate::metrics::track));
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
            .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(middleware::from_fn(headers::security_headers))
            .layer(middleware::from_fn(render_errors))
            .layer(middleware::from_fn(csrf::refuse_cross_site))
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
            })),
    )
}
