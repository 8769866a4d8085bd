//! Prometheus metrics (`metrics-exporter-prometheus`), served only on their own address
//! (`THRIVE_METRICS_ADDR`, unset by default: no metrics endpoint at all), never on the public
//! listener.
//!
//! - `thrive_http_requests_total{method, route, status}`: requests per route (the route's
//!   pattern, e.g. `/api/care-notes/{id}`, never the raw path).
//! - `thrive_http_request_duration_seconds{method, route}`: latency histogram per route.
//! - `thrive_db_pool_connections{pool, state}`: the `app` and `auth` pools, `idle` and
//!   `in_use`, read at each scrape.
//! - `thrive_argon2_running`, `thrive_argon2_waiting`: password hashing on its bounded pool.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::startup::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process's recorder, installed on first use (once per process: tests share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("thrive_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        handle
    })
}

/// Counts and times every request that matched a route (a route layer, so the pattern is
/// known).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("thrive_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("thrive_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The metrics router, for its own listener.
pub fn router(state: AppState) -> Router {
    // Make sure the recorder exists before the first request is counted.
    let _ = handle();
    Router::new()
        .route("/metrics", get(render))
        .with_state(state)
}

async fn render(State(state): State<AppState>) -> impl IntoResponse {
    for (name, pool) in [("app", &state.pool), ("auth", &state.auth_pool)] {
        let size = f64::from(pool.size());
        let idle = pool.num_idle() as f64;
        metrics::gauge!("thrive_db_pool_connections", "pool" => name, "state" => "idle").set(idle);
        metrics::gauge!("thrive_db_pool_connections", "pool" => name, "state" => "in_use")
            .set((size - idle).max(0.0));
    }
    let (running, waiting) = state.guards.hashing.load();
    metrics::gauge!("thrive_argon2_running").set(running as f64);
    metrics::gauge!("thrive_argon2_waiting").set(waiting as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}
