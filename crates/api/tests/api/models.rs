//! Aayu's model files: the manifest, Range requests (206/416), the strong ETag and 304,
//! immutable caching and CORP headers, strict names, and no download without a session.

use reqwest::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, COOKIE, ETAG, IF_NONE_MATCH,
    IF_RANGE, RANGE,
};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use thrive_api::model_files::ModelStore;

use crate::helpers::{TestApp, World};

const CHUNK: u64 = 1000;

/// 2,500 deterministic bytes, so chunks of 1,000 make three (the last one short).
fn model_bytes() -> Vec<u8> {
    (0..2500u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The app with a models directory holding `tiny.gguf`, a non-model file and a hidden file,
/// and a signed-in carer's cookie.
async fn app_with_models() -> (TestApp, String) {
    let dir = std::env::temp_dir().join(format!("thrive-models-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("tiny.gguf"), model_bytes()).expect("model");
    std::fs::write(dir.join("notes.txt"), "not a model").expect("txt");
    std::fs::write(dir.join(".hidden.gguf"), "hidden").expect("hidden");
    let secret_dir = dir.with_extension("secret");
    std::fs::create_dir_all(&secret_dir).expect("secret dir");
    std::fs::write(secret_dir.join("secret.gguf"), "outside the models dir").expect("secret");
    let app =
        TestApp::spawn_with_models(axum::Router::new(), None, ModelStore::new(Some(dir), CHUNK))
            .await;
    let world = World::seed(&app.db).await;
    let cookie = app.sign_in(world.a.email("carer1")).await;
    (app, cookie)
}

async fn get_with(
    app: &TestApp,
    path: &str,
    cookie: &str,
    headers: &[(reqwest::header::HeaderName, &str)],
) -> reqwest::Response {
    let mut req = app.http.get(app.url(path)).header(COOKIE, cookie);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    req.send().await.expect("request")
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    resp.headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing header {name}"))
}

#[tokio::test]
async fn the_manifest_lists_each_model_with_size_sha256_and_chunk_size() {
    let (app, cookie) = app_with_models().await;
    let resp = app.get("/api/models/manifest.json", &cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"models": [{
            "name": "tiny.gguf",
            "size": 2500,
            "sha256": hex(&model_bytes()),
            "chunk_size": CHUNK,
        }]})
    );
}

#[tokio::test]
async fn a_model_is_served_whole_with_a_strong_etag_and_immutable_caching() {
    let (app, cookie) = app_with_models().await;
    let resp = app.get("/api/models/tiny.gguf", &cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, ETAG),
        format!("\"sha256-{}\"", hex(&model_bytes()))
    );
    assert_eq!(
        header(&resp, CACHE_CONTROL),
        "private, max-age=31536000, immutable"
    );
    assert_eq!(header(&resp, ACCEPT_RANGES), "bytes");
    assert_eq!(
        header(&resp, "cross-origin-resource-policy".parse().expect("name")),
        "same-origin"
    );
    assert_eq!(header(&resp, CONTENT_LENGTH), "2500");
    assert_eq!(resp.bytes().await.expect("body").to_vec(), model_bytes());
}

#[tokio::test]
async fn range_requests_get_206_with_exactly_the_bytes_asked_for() {
    let (app, cookie) = app_with_models().await;
    let bytes = model_bytes();
    for (range, first, last) in [
        ("bytes=0-999", 0usize, 999usize),
        ("bytes=1000-1999", 1000, 1999),
        // The last chunk is short; asking past the end is clipped to it.
        ("bytes=2000-2999", 2000, 2499),
        ("bytes=2400-", 2400, 2499),
        ("bytes=-100", 2400, 2499),
    ] {
        let resp = get_with(&app, "/api/models/tiny.gguf", &cookie, &[(RANGE, range)]).await;
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&resp, CONTENT_RANGE),
            format!("bytes {first}-{last}/2500"),
            "{range}"
        );
        assert_eq!(
            header(&resp, CONTENT_LENGTH),
            (last - first + 1).to_string()
        );
        assert!(header(&resp, ETAG).starts_with("\"sha256-"));
        assert_eq!(
            resp.bytes().await.expect("body").to_vec(),
            bytes[first..=last].to_vec(),
            "{range}"
        );
    }
}

#[tokio::test]
async fn an_unsatisfiable_range_gets_416() {
    let (app, cookie) = app_with_models().await;
    for range in ["bytes=2500-", "bytes=9000-9999"] {
        let resp = get_with(&app, "/api/models/tiny.gguf", &cookie, &[(RANGE, range)]).await;
        assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            header(&resp, CONTENT_RANGE),
            format!("bytes */{}", model_bytes().len()),
            "the 416 tells the length"
        );
    }
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_and_if_range_guards_the_range() {
    let (app, cookie) = app_with_models().await;
    let etag = format!("\"sha256-{}\"", hex(&model_bytes()));
    let path = "/api/models/tiny.gguf";

    let resp = get_with(&app, path, &cookie, &[(IF_NONE_MATCH, &etag)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&resp, ETAG), etag);
    assert_eq!(
        header(&resp, CACHE_CONTROL),
        "private, max-age=31536000, immutable"
    );
    assert!(resp.bytes().await.expect("body").is_empty());

    let resp = get_with(&app, path, &cookie, &[(IF_NONE_MATCH, "\"sha256-other\"")]).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // If-Range with our ETag: the range is served; with another, the whole (new) file.
    let resp = get_with(
        &app,
        path,
        &cookie,
        &[(RANGE, "bytes=0-9"), (IF_RANGE, &etag)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let resp = get_with(
        &app,
        path,
        &cookie,
        &[(RANGE, "bytes=0-9"), (IF_RANGE, "\"sha256-stale\"")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.expect("body").len(), 2500);
}

#[tokio::test]
async fn head_answers_the_headers_without_the_body() {
    let (app, cookie) = app_with_models().await;
    let resp = app
        .http
        .head(app.url("/api/models/tiny.gguf"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("head");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, CONTENT_LENGTH), "2500");
    assert!(header(&resp, ETAG).starts_with("\"sha256-"));
    assert!(resp.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn names_outside_the_manifest_and_path_traversal_are_refused() {
    let (app, cookie) = app_with_models().await;
    for path in [
        "/api/models/..%2Fthrive-models.secret%2Fsecret.gguf",
        "/api/models/..%2F..%2Fetc%2Fpasswd",
        "/api/models/%2Fetc%2Fpasswd",
        "/api/models/notes.txt",
        "/api/models/.hidden.gguf",
        "/api/models/tiny.gguf.sha256",
        "/api/models/missing.gguf",
        "/api/models/..",
    ] {
        let resp = app.get(path, &cookie).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.expect("json error body");
        assert_eq!(body["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn models_and_the_manifest_need_a_signed_in_session() {
    let (app, _cookie) = app_with_models().await;
    for path in ["/api/models/manifest.json", "/api/models/tiny.gguf"] {
        let resp = app.http.get(app.url(path)).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(header(&resp, CACHE_CONTROL), "no-store");
        let resp = app.get(path, "__Host-thrive_session=forged").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}
