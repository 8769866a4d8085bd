//! Issue 9, findings 6 and 7, written the way the attacks were made: an image bomb uploaded as
//! a photo, and cross-site requests (a form post from another site, a sibling subdomain, an
//! upload as text/plain) on every state-changing route.

use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{TestApp, World};

const NOW: &str = "2026-11-23T10:00:00Z";

/// A PNG of `side` × `side` black 8-bit grey pixels: a few hundred KB declaring a lot.
fn bomb(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().expect("header");
    let mut stream = writer.stream_writer().expect("stream");
    let row = vec![0u8; side as usize];
    for _ in 0..side {
        std::io::Write::write_all(&mut stream, &row).expect("row");
    }
    stream.finish().expect("finish");
    drop(writer);
    out
}

async fn mark(app: &TestApp, cookie: &str, su: Uuid) -> Uuid {
    let v = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/body-map-marks"),
            cookie,
            Some(&json!({"side": "front", "region": "knee", "x": 0.4, "y": 0.8, "description": "Graze", "observed_at": NOW})),
        )
        .await;
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

async fn files(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from files")
        .fetch_one(&app.db.admin)
        .await
        .expect("count")
}

/// Finding 6: a 12,000 × 12,000 PNG of a few hundred KB was decoded in full (seconds, hundreds
/// of MB) and stored. Its header now refuses it before any decoding.
#[tokio::test]
async fn an_image_bomb_is_refused_from_its_header() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let mark = mark(&app, &admin, world.a.service_users[0]).await;
    let bytes = bomb(12_000);
    println!("bomb: {} KB declaring 144 megapixels", bytes.len() / 1024);
    let before = files(&app).await;
    for path in [
        format!("/api/body-map-marks/{mark}/photos"),
        "/api/organisation/logo".to_owned(),
    ] {
        let method = if path.ends_with("logo") {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let resp = app
            .http
            .request(method, app.url(&path))
            .header(COOKIE, &admin)
            .header(CONTENT_TYPE, "image/png")
            .body(bytes.clone())
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.status(), 422, "{path}");
        let body: Value = resp.json().await.expect("json");
        assert!(body.to_string().contains("megapixels"), "{body}");
    }
    assert_eq!(files(&app).await, before, "nothing stored");
}

/// Finding 7: a body-less POST with a form's content type from another site succeeded.
#[tokio::test]
async fn a_form_post_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    let note = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{}/care-notes", world.a.service_users[0]),
            &carer,
            Some(&json!({"category": "other", "occurred_at": NOW, "body": "Draft."})),
        )
        .await;
    let id = note["id"].as_str().expect("id").to_owned();
    let url = app.url(&format!("/api/care-notes/{id}/submit"));
    let attempts = [
        // The reproduced attack: another site's form.
        vec![
            (ORIGIN.as_str(), "https://evil.example"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        // A sibling subdomain is same-site, so SameSite=Strict lets the cookie through.
        vec![
            ("sec-fetch-site", "same-site"),
            ("content-type", "application/json"),
        ],
        // No origin at all, but nothing a form could not send.
        vec![("content-type", "text/plain")],
        vec![],
    ];
    for headers in attempts {
        let mut req = app.http.post(&url).header(COOKIE, &carer);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("post");
        assert_eq!(resp.status(), 403, "{headers:?}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"], "cross_site", "{headers:?}");
    }
    let status: String = sqlx::query_scalar("select status from care_notes where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db.admin)
        .await
        .expect("status");
    assert_eq!(status, "draft");
    // The same request as the SPA sends it works.
    app.expect(
        200,
        "POST",
        &format!("/api/care-notes/{id}/submit"),
        &carer,
        None,
    )
    .await;
}

/// Finding 7, on every route: every documented state-changing endpoint, with a live session
/// and a body a cross-site form could send (text/plain, form-encoded, multipart, uploads
/// included), is refused before its handler runs.
#[tokio::test]
async fn every_state_changing_route_refuses_what_a_cross_site_form_can_send() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let before = files(&app).await;
    let mut checked = 0;
    for e in thrive_api::http::endpoints() {
        if e.method == reqwest::Method::GET {
            continue;
        }
        let path: String = e
            .path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    world.a.service_users[0].to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let resp = app
                .http
                .request(e.method.clone(), app.url(&format!("/api{path}")))
                .header(COOKIE, &admin)
                .header(CONTENT_TYPE, ct)
                .body("{}")
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 403, "{} {path} as {ct}", e.method);
        }
        checked += 1;
    }
    println!("cross-site: {checked} state-changing routes refused forms");
    assert!(checked > 40, "{checked}");
    assert_eq!(files(&app).await, before);
}
