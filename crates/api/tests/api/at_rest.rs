//! Issue 10, finding 7 and must-show 5: uploaded files are encrypted at rest per organisation
//! (envelope encryption, AES-256-GCM), another organisation's key opens nothing, files from
//! before encryption are sealed by provisioning, and a purge destroys the organisation's key,
//! so a copy of its ciphertext (a backup) can no longer be opened.

use serde_json::{json, Value};
use thrive_api::at_rest::{self, KeyError, KeyProvider};
use uuid::Uuid;

use crate::helpers::{TestApp, World};

/// A small PNG the image cleaner accepts.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 13, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Uploads a body map photo for the organisation's first service user; returns its id.
async fn upload_photo(app: &TestApp, cookie: &str, su: Uuid) -> Uuid {
    let body = json!({"side": "front", "region": "left hip", "x": 0.4, "y": 0.5, "description": "Bruise", "observed_at": "2026-11-23T08:00:00Z"});
    let mark = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/body-map-marks"),
            cookie,
            Some(&body),
        )
        .await["id"]
        .as_str()
        .expect("mark id")
        .to_owned();
    let resp = app
        .http
        .post(app.url(&format!("/api/body-map-marks/{mark}/photos")))
        .header(reqwest::header::COOKIE, cookie)
        .header("x-requested-with", "thrive")
        .header(reqwest::header::CONTENT_TYPE, "image/png")
        .body(png())
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    let stored: Value = resp.json().await.expect("json");
    stored["id"].as_str().expect("id").parse().expect("uuid")
}

/// What the database holds for a file: (organisation, ciphertext, nonce).
async fn stored(app: &TestApp, id: Uuid) -> (Uuid, Vec<u8>, Option<Vec<u8>>) {
    sqlx::query_as("select organization_id, content, content_nonce from files where id = $1")
        .bind(id)
        .fetch_one(&app.db.admin)
        .await
        .expect("stored file")
}

async fn served(app: &TestApp, cookie: &str, id: Uuid) -> reqwest::Response {
    app.get(&format!("/api/files/{id}"), cookie).await
}

#[tokio::test]
async fn a_photo_is_ciphertext_in_the_table_and_only_its_organisations_key_opens_it() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let id = upload_photo(&app, &manager, world.a.service_users[0]).await;

    let resp = served(&app, &manager, id).await;
    assert_eq!(resp.status(), 200);
    let plaintext = resp.bytes().await.expect("bytes").to_vec();
    let img = image::load_from_memory(&plaintext).expect("served bytes are the image");
    assert_eq!((img.width(), img.height()), (24, 16));

    let (org, ciphertext, nonce) = stored(&app, id).await;
    assert_eq!(org, world.a.id());
    let nonce = nonce.expect("a sealed file has its nonce");
    assert_eq!(nonce.len(), 12);
    assert_ne!(ciphertext, plaintext);
    assert!(
        !contains(&ciphertext, &plaintext[..8]) && !contains(&ciphertext, b"IHDR"),
        "the table holds PNG structure: not encrypted"
    );
    // AES-GCM: the plaintext plus a 16-byte tag.
    assert_eq!(ciphertext.len(), plaintext.len() + 16);

    // A's key opens it; B's key does not, as A's file or passed off as B's.
    let key_a = app
        .keys
        .existing_key(world.a.id())
        .expect("read")
        .expect("A has a key");
    assert_eq!(
        key_a
            .open(world.a.id(), id, &nonce, &ciphertext)
            .expect("open"),
        plaintext
    );
    let key_b = app.keys.data_key(world.b.id()).expect("B's key");
    assert!(matches!(
        key_b.open(world.a.id(), id, &nonce, &ciphertext),
        Err(KeyError::Undecryptable)
    ));
    assert!(key_b.open(world.b.id(), id, &nonce, &ciphertext).is_err());
    // Nor does A's own key open it as another file (the id is bound in).
    assert!(key_a
        .open(world.a.id(), Uuid::new_v4(), &nonce, &ciphertext)
        .is_err());

    // A ciphertext copied onto another of A's rows is refused, not served.
    let other = upload_photo(&app, &manager, world.a.service_users[0]).await;
    let mut admin = app.db.admin_conn().await;
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *admin)
        .await
        .expect("triggers off");
    sqlx::query("update files set content = $2, content_nonce = $3 where id = $1")
        .bind(other)
        .bind(&ciphertext)
        .bind(&nonce)
        .execute(&mut *admin)
        .await
        .expect("swap ciphertext");
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *admin)
        .await
        .expect("triggers on");
    drop(admin);
    assert_eq!(served(&app, &manager, other).await.status(), 500);
}

#[tokio::test]
async fn files_stored_before_encryption_are_sealed_by_provisioning_and_still_served() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    // The seeded example photo was written straight into the table, as before this change.
    let (id, plain): (Uuid, Vec<u8>) = sqlx::query_as(
        "select id, content from files where organization_id = $1 and content_nonce is null limit 1",
    )
    .bind(world.a.id())
    .fetch_one(&app.db.admin)
    .await
    .expect("a plaintext file");
    assert_eq!(
        served(&app, &manager, id)
            .await
            .bytes()
            .await
            .expect("bytes")
            .to_vec(),
        plain
    );

    let mut admin = app.db.admin_conn().await;
    let sealed = at_rest::seal_plaintext_files(&mut admin, app.keys.as_ref())
        .await
        .expect("seal");
    assert!(sealed >= 2, "both organisations' example photos: {sealed}");
    drop(admin);
    let left: i64 = sqlx::query_scalar("select count(*) from files where content_nonce is null")
        .fetch_one(&app.db.admin)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let (_, ciphertext, nonce) = stored(&app, id).await;
    assert!(nonce.is_some());
    assert_ne!(ciphertext, plain);
    assert_eq!(
        served(&app, &manager, id)
            .await
            .bytes()
            .await
            .expect("bytes")
            .to_vec(),
        plain
    );
}

#[tokio::test]
async fn after_a_purge_the_organisations_photos_cannot_be_decrypted_and_the_others_can() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager_a = app.sign_in(world.a.email("manager")).await;
    let manager_b = app.sign_in(world.b.email("manager")).await;
    let photo_a = upload_photo(&app, &manager_a, world.a.service_users[0]).await;
    let photo_b = upload_photo(&app, &manager_b, world.b.service_users[0]).await;
    // What a backup taken now holds of A's photo.
    let (_, backup_ciphertext, backup_nonce) = stored(&app, photo_a).await;
    let backup_nonce = backup_nonce.expect("nonce");
    assert!(at_rest::open_file(
        app.keys.as_ref(),
        world.a.id(),
        photo_a,
        &backup_nonce,
        &backup_ciphertext
    )
    .is_ok());

    // Closure requested long enough ago that its retention period has ended (the guard would
    // refuse a back-dated request, so the fixture writes it with triggers off).
    let mut conn = app.db.admin_conn().await;
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .expect("triggers off");
    sqlx::query(
        "update organizations set closure_requested_at = now() - interval '31 days',
                closure_requested_by = (select user_id from memberships where organization_id = $1 limit 1),
                purge_after = now() - interval '1 day' where id = $1",
    )
    .bind(world.a.id())
    .execute(&mut *conn)
    .await
    .expect("closure due");
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .expect("triggers on");
    let purged =
        thrive_api::db::purge::purge_due(&mut conn, time::OffsetDateTime::now_utc(), false)
            .await
            .expect("purge");
    assert_eq!(purged.len(), 1);
    let destroyed = thrive_api::db::purge::destroy_purged_keys(&mut conn, app.keys.as_ref())
        .await
        .expect("destroy keys");
    assert_eq!(destroyed, 1);
    drop(conn);

    // The key is gone; the backup's ciphertext opens with nothing, not even a new key for A.
    assert!(app.keys.existing_key(world.a.id()).expect("read").is_none());
    assert!(matches!(
        at_rest::open_file(
            app.keys.as_ref(),
            world.a.id(),
            photo_a,
            &backup_nonce,
            &backup_ciphertext
        ),
        Err(KeyError::NoKey(_))
    ));
    let fresh = app.keys.data_key(world.a.id()).expect("a new key");
    assert!(fresh
        .open(world.a.id(), photo_a, &backup_nonce, &backup_ciphertext)
        .is_err());

    // B is untouched: its photo is still served.
    let resp = served(&app, &manager_b, photo_b).await;
    assert_eq!(resp.status(), 200);
    image::load_from_memory(&resp.bytes().await.expect("bytes")).expect("B's photo");
}
