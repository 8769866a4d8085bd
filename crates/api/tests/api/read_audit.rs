//! Issue 10, finding 4: reading clinical data left no trace. Now every list, record and photo a
//! person reads writes one audit entry per request (the tool's view action, the table, the
//! record, the service users touched), and the same read again within five minutes adds none.

use std::time::Instant;

use serde_json::Value;
use thrive_api::db::{begin_as, Identity};
use uuid::Uuid;

use crate::files::{mark, png_with_gps_exif, upload};
use crate::helpers::{TestApp, World};

/// The `view` entries of `org`, newest last: (action, table, record, service user, changes).
async fn views(
    app: &TestApp,
    org: Uuid,
) -> Vec<(String, String, Option<Uuid>, Option<Uuid>, Value)> {
    sqlx::query_as(
        "select action, table_name, record_id, service_user_id, changes from audit.audit_log
          where organization_id = $1 and operation = 'view' order by seq",
    )
    .bind(org)
    .fetch_all(&app.db.admin)
    .await
    .expect("views")
}

#[tokio::test]
async fn a_manager_reading_notes_incidents_doses_observations_marks_and_a_photo_leaves_entries() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let su = world.a.service_users[0];
    let mark_id = mark(&app, &manager, su).await;
    let photo: Value = upload(
        &app,
        &format!("/api/body-map-marks/{mark_id}/photos"),
        &manager,
        png_with_gps_exif(),
        "image/png",
    )
    .await
    .json()
    .await
    .expect("json");
    let photo_id = photo["id"].as_str().expect("id").to_owned();
    let before = views(&app, world.a.id()).await.len();

    for path in [
        "/api/care-notes".to_owned(),
        "/api/incidents".to_owned(),
        "/api/medication-administrations".to_owned(),
        "/api/observations".to_owned(),
        "/api/body-map-marks".to_owned(),
        format!("/api/body-map-marks/{mark_id}/photos"),
    ] {
        app.expect(200, "GET", &path, &manager, None).await;
    }
    let photo_bytes = app.get(&format!("/api/files/{photo_id}"), &manager).await;
    assert_eq!(photo_bytes.status(), 200);

    let after = views(&app, world.a.id()).await;
    let new: Vec<_> = after[before..].to_vec();
    let actions: Vec<(&str, &str)> = new
        .iter()
        .map(|(a, t, _, _, _)| (a.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("care_notes.view", "care_notes"),
            ("incidents.view", "incidents"),
            ("medication.view", "medication_administrations"),
            ("observations.view", "observations"),
            ("body_maps.view", "body_map_marks"),
            ("body_maps.photos_view", "files"),
            ("body_maps.photos_view", "files"),
        ],
        "{new:?}"
    );
    // The body map list names the service user it showed; the photo names itself and its
    // service user.
    let (_, _, _, _, changes) = &new[4];
    assert!(
        changes["service_users"]["new"]
            .as_array()
            .expect("service users")
            .contains(&Value::String(su.to_string())),
        "{changes}"
    );
    let (_, _, record, service_user, _) = &new[6];
    assert_eq!(record.map(|r| r.to_string()), Some(photo_id.clone()));
    assert_eq!(*service_user, Some(su));
    // The actor is the manager.
    let actors: Vec<Option<Uuid>> = sqlx::query_scalar(
        "select distinct actor_user_id from audit.audit_log where organization_id = $1 and operation = 'view' and seq > $2",
    )
    .bind(world.a.id())
    .bind(before as i64)
    .fetch_all(&app.db.admin)
    .await
    .expect("actors");
    assert_eq!(actors, vec![Some(world.a.user("manager"))]);

    // The same reads again within five minutes: collapsed into the entries above.
    app.expect(200, "GET", "/api/care-notes", &manager, None)
        .await;
    app.get(&format!("/api/files/{photo_id}"), &manager).await;
    assert_eq!(views(&app, world.a.id()).await.len(), after.len());
    // A different read is a new entry; so is the same read by someone else.
    app.expect(
        200,
        "GET",
        &format!("/api/care-notes?service_user_id={su}"),
        &manager,
        None,
    )
    .await;
    let admin = app.sign_in(world.a.email("admin")).await;
    app.expect(200, "GET", "/api/care-notes", &admin, None)
        .await;
    assert_eq!(views(&app, world.a.id()).await.len(), after.len() + 2);
    // And the audit chain still verifies.
    assert!(app.verify_audit().await.iter().all(|(_, v)| v.intact()));
}

/// What the read audit costs a list request, measured in the database (the same list query
/// the API runs, as `thrive_app` under RLS, in the caller's transaction): without the audit,
/// with a new entry every time (the worst case), and with the read collapsed into an earlier
/// entry (repeats within five minutes). Prints the figures; asserts no timing.
#[tokio::test]
async fn read_audit_cost_of_a_list_request_is_printed() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let who = Identity {
        user_id: world.a.user("manager"),
        organization_id: world.a.id(),
    };
    const N: usize = 200;
    let list = "select to_jsonb(t.*), t.id from care_notes t
                 order by t.created_at desc, t.id desc limit 51";
    let mut results = Vec::new();
    for (label, mode) in [
        ("list only (before)", 0),
        ("list + read audit, new entry each time", 1),
        ("list + read audit, collapsed repeat", 2),
    ] {
        let started = Instant::now();
        for i in 0..N {
            let mut tx = begin_as(&app.db.app, who).await.expect("begin");
            sqlx::query("select set_config('app.action', 'care_notes.view', true)")
                .execute(&mut *tx)
                .await
                .expect("action");
            let rows: Vec<(Value, Uuid)> = sqlx::query_as(list)
                .fetch_all(&mut *tx)
                .await
                .expect("list");
            if mode > 0 {
                let su: Vec<Uuid> = rows
                    .iter()
                    .filter_map(|(r, _)| r["service_user_id"].as_str()?.parse().ok())
                    .collect();
                let detail = if mode == 1 {
                    serde_json::json!({"i": i})
                } else {
                    serde_json::json!({})
                };
                sqlx::query("select app.audit_read('care_notes.view', 'care_notes', $1, null, $2)")
                    .bind(&su)
                    .bind(sqlx::types::Json(detail))
                    .execute(&mut *tx)
                    .await
                    .expect("audit");
            }
            tx.commit().await.expect("commit");
        }
        results.push((label, started.elapsed() / N as u32));
    }
    println!("read audit: mean time per list request ({N} each, one database, 2-core machine)");
    for (label, mean) in &results {
        println!("  {label:<45} {:>8.3} ms", mean.as_secs_f64() * 1000.0);
    }
}
