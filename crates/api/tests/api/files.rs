//! Uploads: checked by content, capped at 10 MB, cleaned of metadata, stored under RLS and
//! served only to those allowed.

use image::codecs::png::PngEncoder;
use image::{DynamicImage, RgbImage};
use serde_json::{json, Value};

use crate::helpers::{TestApp, World};

/// A marker that stands in for a GPS position inside the EXIF block.
const GPS_MARKER: &[u8] = b"GPS 51.5007N 0.1246W";

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 40×30 PNG carrying an `eXIf` chunk: a big-endian TIFF header whose IFD points at a GPS IFD
/// (tag 0x8825), followed by the marker.
pub fn png_with_gps_exif() -> Vec<u8> {
    let img = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 90]));
    let mut png = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_with_encoder(PngEncoder::new(&mut png))
        .expect("encode");
    let mut exif = b"MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(&[0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    exif.extend_from_slice(GPS_MARKER);
    let mut chunk = (exif.len() as u32).to_be_bytes().to_vec();
    let mut typed = b"eXIf".to_vec();
    typed.extend_from_slice(&exif);
    chunk.extend_from_slice(&typed);
    chunk.extend_from_slice(&crc32(&typed).to_be_bytes());
    // After the 8-byte signature and the 25-byte IHDR chunk.
    let mut out = png[..33].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[33..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub async fn upload(
    app: &TestApp,
    path: &str,
    cookie: &str,
    bytes: Vec<u8>,
    declared: &str,
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .header("x-requested-with", "thrive")
        .header(reqwest::header::CONTENT_TYPE, declared)
        .body(bytes)
        .send()
        .await
        .expect("upload")
}

pub async fn mark(app: &TestApp, cookie: &str, su: uuid::Uuid) -> String {
    let body = json!({"side": "front", "region": "left hip", "x": 0.4, "y": 0.5, "description": "Bruise", "observed_at": "2026-11-23T08:00:00Z"});
    app.expect(
        201,
        "POST",
        &format!("/api/service-users/{su}/body-map-marks"),
        cookie,
        Some(&body),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn a_png_with_gps_exif_is_stored_and_served_without_it() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let mark = mark(&app, &manager, world.a.service_users[0]).await;
    let original = png_with_gps_exif();
    assert!(contains(&original, b"eXIf") && contains(&original, GPS_MARKER));
    image::load_from_memory(&original).expect("the fixture is a valid PNG");

    let resp = upload(
        &app,
        &format!("/api/body-map-marks/{mark}/photos"),
        &manager,
        original,
        "image/png",
    )
    .await;
    assert_eq!(resp.status(), 201);
    let stored: Value = resp.json().await.expect("json");
    assert_eq!(stored["content_type"], "image/png");
    assert_eq!(
        (stored["width"].as_i64(), stored["height"].as_i64()),
        (Some(40), Some(30))
    );

    let resp = app
        .get(
            &format!("/api/files/{}", stored["id"].as_str().expect("id")),
            &manager,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let served = resp.bytes().await.expect("bytes");
    assert!(!contains(&served, b"eXIf"), "no EXIF chunk");
    assert!(!contains(&served, GPS_MARKER), "no GPS data");
    let img = image::load_from_memory(&served).expect("still an image");
    assert_eq!((img.width(), img.height()), (40, 30));

    let listed = app
        .expect(
            200,
            "GET",
            &format!("/api/body-map-marks/{mark}/photos"),
            &manager,
            None,
        )
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    // The audit entry records the upload without the bytes.
    let audit = app
        .expect(
            200,
            "GET",
            "/api/audit?tool=body_maps&limit=5",
            &manager,
            None,
        )
        .await;
    let entry = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["table_name"] == "files" && e["operation"] == "insert")
        .expect("audited");
    assert_eq!(entry["changes"]["content"], json!({"changed": true}));
}

#[tokio::test]
async fn html_named_jpg_huge_and_truncated_uploads_are_refused_with_clear_messages() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let mark = mark(&app, &manager, world.a.service_users[0]).await;
    let path = format!("/api/body-map-marks/{mark}/photos");

    let resp = upload(
        &app,
        &path,
        &manager,
        b"<!doctype html><script>alert('x')</script>".to_vec(),
        "image/jpeg",
    )
    .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["fields"]["file"][0]
            .as_str()
            .expect("message")
            .contains("Only JPEG, PNG and WebP"),
        "{body}"
    );

    let resp = upload(
        &app,
        &path,
        &manager,
        vec![0xFF; 20 * 1024 * 1024],
        "image/jpeg",
    )
    .await;
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["message"].as_str().expect("message").contains("10 MB"),
        "{body}"
    );

    let whole = png_with_gps_exif();
    let resp = upload(
        &app,
        &path,
        &manager,
        whole[..whole.len() - 40].to_vec(),
        "image/png",
    )
    .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["fields"]["file"][0]
            .as_str()
            .expect("message")
            .contains("damaged or incomplete"),
        "{body}"
    );

    let listed = app
        .expect(
            200,
            "GET",
            &format!("/api/body-map-marks/{mark}/photos"),
            &manager,
            None,
        )
        .await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "nothing was stored"
    );
}

#[tokio::test]
async fn photos_are_served_only_to_those_allowed() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let su = world.a.service_users[3]; // assigned to no carer
    let mark = mark(&app, &manager, su).await;
    let resp = upload(
        &app,
        &format!("/api/body-map-marks/{mark}/photos"),
        &manager,
        png_with_gps_exif(),
        "image/png",
    )
    .await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Another organisation: not found. A carer not assigned to the service user: not found.
    let other = app.sign_in(world.b.email("admin")).await;
    assert_eq!(
        app.get(&format!("/api/files/{id}"), &other).await.status(),
        404
    );
    let carer = app.sign_in(world.a.email("carer1")).await;
    assert_eq!(
        app.get(&format!("/api/files/{id}"), &carer).await.status(),
        404
    );
    // Signed out: 401.
    assert_eq!(
        app.http
            .get(app.url(&format!("/api/files/{id}")))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    // The organisation's logo uses the same mechanism, visible to members.
    let resp = app
        .http
        .put(app.url("/api/organisation/logo"))
        .header(reqwest::header::COOKIE, &manager)
        .header("x-requested-with", "thrive")
        .body(png_with_gps_exif())
        .send()
        .await
        .expect("logo");
    assert_eq!(resp.status(), 201);
    let logo = app.get("/api/organisation/logo", &carer).await;
    assert_eq!(logo.status(), 200);
    assert!(!contains(&logo.bytes().await.expect("bytes"), GPS_MARKER));
    assert_eq!(
        app.get("/api/organisation/logo", &other).await.status(),
        404
    );
}

#[tokio::test]
async fn a_profile_photo_is_cleaned_seen_only_with_its_service_user_and_audited_under_its_tool() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let su = world.a.service_users[0];
    let put = |cookie: String| {
        let app = &app;
        async move {
            app.http
                .put(app.url(&format!("/api/service-users/{su}/photo")))
                .header(reqwest::header::COOKIE, cookie)
                .header("x-requested-with", "thrive")
                .body(png_with_gps_exif())
                .send()
                .await
                .expect("upload")
                .status()
        }
    };
    assert_eq!(put(manager.clone()).await, 201);
    assert_eq!(
        put(manager.clone()).await,
        201,
        "a second upload replaces the first"
    );
    let photos: i64 = sqlx::query_scalar(
        "select count(*) from files where purpose = 'service_user_photo' and service_user_id = $1",
    )
    .bind(su)
    .fetch_one(&app.db.admin)
    .await
    .expect("count");
    assert_eq!(photos, 1);

    let assigned = app.sign_in(world.a.email("carer1")).await;
    let resp = app
        .get(&format!("/api/service-users/{su}/photo"), &assigned)
        .await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("bytes");
    assert!(!contains(&bytes, GPS_MARKER), "EXIF GPS stripped");
    let unassigned = app.sign_in(world.a.email("carer2")).await;
    assert_eq!(
        app.get(&format!("/api/service-users/{su}/photo"), &unassigned)
            .await
            .status(),
        404
    );
    let other = app.sign_in(world.b.email("manager")).await;
    assert_eq!(
        app.get(&format!("/api/service-users/{su}/photo"), &other)
            .await
            .status(),
        404
    );
    assert_eq!(
        put(assigned).await,
        403,
        "a carer may not change the profile"
    );

    let tools: Vec<(String, String)> = sqlx::query_as(
        "select tool, operation from audit.audit_log where organization_id = $1 and table_name = 'files'
            and operation <> 'view' order by seq desc limit 3",
    )
    .bind(world.a.id())
    .fetch_all(&app.db.admin)
    .await
    .expect("audit");
    assert_eq!(
        tools,
        vec![
            ("service_users".to_owned(), "insert".to_owned()),
            ("service_users".to_owned(), "delete".to_owned()),
            ("service_users".to_owned(), "insert".to_owned()),
        ]
    );
}
