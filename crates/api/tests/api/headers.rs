//! Must-show 6 and bad input: the security headers on an API response, an SPA file, a 404 and a
//! 500; malformed, oversized and mistyped bodies get clear 4xx answers; a panic is a 500.

use axum::routing::get;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::Value;
use thrive_api::http::headers::SECURITY_HEADERS;

use crate::helpers::TestApp;

fn assert_security_headers(resp: &reqwest::Response, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            resp.headers().get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: header {name}"
        );
    }
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    for directive in [
        "default-src 'self'",
        "connect-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: CSP lacks {directive}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}");
}

async fn panicking_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("thrive-static-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Thrive</title>",
    )
    .expect("index");
    std::fs::write(dir.join("app.js"), "export {};").expect("js");
    // What the xtask writes beside each built file (the bytes need not be real gzip here).
    std::fs::write(dir.join("app.js.gz"), b"\x1f\x8bpretend").expect("js.gz");
    let extra = axum::Router::new().route(
        "/test/panic",
        get(|| async {
            let v: Vec<u8> = Vec::new();
            #[allow(clippy::indexing_slicing)]
            let boom = v[1];
            boom.to_string()
        }),
    );
    TestApp::spawn_with(extra, Some(dir)).await
}

#[tokio::test]
async fn spa_files_go_gzipped_to_browsers_that_accept_it_and_are_revalidated() {
    let app = panicking_app().await;
    let get = |encoding: Option<&'static str>| {
        let mut req = app.http.get(app.url("/app.js"));
        if let Some(e) = encoding {
            req = req.header("accept-encoding", e);
        }
        req.send()
    };
    let header = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let gzipped = get(Some("gzip, deflate, br")).await.expect("gzip");
    assert_eq!(gzipped.status(), StatusCode::OK);
    assert_eq!(
        header(&gzipped, "content-encoding").as_deref(),
        Some("gzip")
    );
    assert_eq!(header(&gzipped, "vary").as_deref(), Some("accept-encoding"));
    assert_eq!(
        header(&gzipped, "cache-control").as_deref(),
        Some("no-cache")
    );
    let content_type = header(&gzipped, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert_eq!(
        &gzipped.bytes().await.expect("body")[..],
        b"\x1f\x8bpretend"
    );

    let plain = get(None).await.expect("plain");
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary").as_deref(), Some("accept-encoding"));
    assert_eq!(plain.text().await.expect("body"), "export {};");

    // API answers are never cached, so they keep `no-store` and carry no Vary of ours.
    let api = app
        .http
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("api");
    assert_eq!(header(&api, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&api, "vary"), None);
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = panicking_app().await;

    let api = app
        .http
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), StatusCode::NO_CONTENT);
    assert_security_headers(&api, "API response");

    let spa = app
        .http
        .get(app.url("/app.js"))
        .send()
        .await
        .expect("spa file");
    assert_eq!(spa.status(), StatusCode::OK);
    assert_security_headers(&spa, "SPA file");

    let route = app
        .http
        .get(app.url("/service-users/anything"))
        .send()
        .await
        .expect("spa route");
    assert_eq!(
        route.status(),
        StatusCode::OK,
        "SPA routes fall back to index.html"
    );
    assert_security_headers(&route, "SPA route");

    let missing = app
        .http
        .get(app.url("/api/no-such-thing"))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&missing, "404");
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"], "not_found");

    let failing = app
        .http
        .get(app.url("/api/test/panic"))
        .send()
        .await
        .expect("500");
    assert_eq!(failing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_security_headers(&failing, "500");
    let request_id = failing.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let body: Value = failing.json().await.expect("json");
    // A 500 says nothing but that something went wrong, and which request it was.
    assert_eq!(body["error"], "internal");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");

    // The server survived the panic.
    assert_eq!(
        app.http
            .get(app.url("/api/health"))
            .send()
            .await
            .expect("again")
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_never_an_echo() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/auth/authorize");
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "malformed JSON",
            app.http.post(&url).header(CONTENT_TYPE, "application/json").body("{\"email\": <script>"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong types",
            app.http.post(&url).json(&serde_json::json!({"email": 5, "password": [], "code_challenge": {}, "code_challenge_method": null})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown fields",
            app.http.post(&url).json(&serde_json::json!({"email": "a@b.example", "password": "x", "code_challenge": "x", "code_challenge_method": "S256", "admin": true})),
            StatusCode::BAD_REQUEST,
        ),
        ("not JSON at all", app.http.post(&url).header("x-requested-with", "thrive").body("email=a"), StatusCode::BAD_REQUEST),
        (
            "oversized body",
            app.http.post(&url).header(CONTENT_TYPE, "application/json").body(format!("{{\"email\": \"{}\"}}", "a".repeat(200_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        ("wrong method", app.http.get(&url), StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (what, req, expected) in cases {
        let resp = req.send().await.expect(what);
        assert_eq!(resp.status(), expected, "{what}");
        assert_security_headers(&resp, what);
        let body: Value = resp
            .json()
            .await
            .unwrap_or_else(|_| panic!("{what}: JSON error body"));
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert!(body["request_id"].is_string(), "{what}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("<script>") && !text.contains("aaaa"),
            "{what}: echoed input: {text}"
        );
    }
}
