//! Observability: `/metrics` on its own listener. (That every log line of a request carries
//! its id is tested in `tests/logs.rs`, a binary of its own: a log subscriber is per process.)

use crate::helpers::TestApp;

/// `/metrics` counts requests per route pattern, and it is served only on its own listener:
/// the public one has no such path.
#[tokio::test]
async fn metrics_count_requests_per_route_on_their_own_listener_only() {
    // The recorder, as Application::build installs it when THRIVE_METRICS_ADDR is set.
    let _ = thrive_api::metrics::handle();
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        let health = app
            .http
            .get(app.url("/api/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(health.status(), 204);
    }
    for path in ["/metrics", "/api/metrics"] {
        let public = app.http.get(app.url(path)).send().await.expect("get");
        assert_eq!(public.status(), 404, "{path} on the public listener");
    }
    let state = thrive_api::startup::AppState {
        pool: app.db.app.clone(),
        auth_pool: app.db.auth.clone(),
        guards: thrive_api::limits::Guards::new(&thrive_api::config::AuthSettings::default()),
        clock: std::sync::Arc::new(app.clock.clone()),
        auth: thrive_api::config::AuthSettings::default(),
        static_dir: None,
        models: thrive_api::model_files::ModelStore::new(
            None,
            thrive_api::model_files::DEFAULT_CHUNK_BYTES,
        ),
        audit: thrive_api::checkpoints::AuditAnchor {
            store: None,
            public_key: None,
        },
        passkeys: None,
        keys: app.keys.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, thrive_api::metrics::router(state)).await;
    });
    let text = app
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let health = text
        .lines()
        .find(|l| {
            l.starts_with("thrive_http_requests_total{")
                && l.contains("route=\"/api/health\"")
                && l.contains("status=\"204\"")
        })
        .unwrap_or_else(|| panic!("no count for /api/health:\n{text}"));
    let count: f64 = health
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(count >= 3.0, "{health}");
    for name in [
        "thrive_http_request_duration_seconds_bucket{",
        "thrive_db_pool_connections{",
        "thrive_argon2_running",
        "thrive_argon2_waiting",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
}
