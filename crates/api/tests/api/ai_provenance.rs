//! Provenance of Aayu's contributions (issue 12): a note records each accepted contribution
//! (task, model and its sha256, engine, what the fact check flagged); the audit entry of the
//! change carries it; the list only grows, whatever a client sends.

use serde_json::{json, Value};

use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};

const SHA: &str = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046";

fn contribution(task: &str, flagged: Value) -> Value {
    json!({"task": task, "model": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "model_sha256": SHA,
           "engine": "aayu-wasm 0.1.0", "flagged": flagged})
}

#[tokio::test]
async fn an_accepted_draft_records_its_provenance_on_the_note_and_in_the_audit_entry() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let su = world.a.service_users[0];
    let first = contribution(
        "draft",
        json!([{"text": "14:45", "reason": "The time 14:45 is not in your points or the record."}]),
    );
    let note = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/care-notes"),
            &carer,
            Some(&json!({"category": "mobility", "occurred_at": "2026-12-02T14:30:00Z",
                         "body": "Margaret was found on the floor at 14:45.", "ai_assistance": "drafted",
                         "ai_provenance": [first]})),
        )
        .await;
    let id = note["id"].as_str().expect("id").to_owned();
    assert_eq!(note["ai_provenance"], json!([first]));

    // An edit that leaves the list out keeps it; one that appends keeps the first as it was.
    let edited = app
        .expect(
            200,
            "PUT",
            &format!("/api/care-notes/{id}"),
            &carer,
            Some(
                &json!({"category": "mobility", "occurred_at": "2026-12-02T14:30:00Z",
                         "body": "Margaret was found on the floor.", "ai_assistance": "drafted"}),
            ),
        )
        .await;
    assert_eq!(edited["ai_provenance"], json!([first]));
    let second = contribution("check", json!([]));
    let appended = app
        .expect(
            200,
            "PUT",
            &format!("/api/care-notes/{id}"),
            &carer,
            Some(
                &json!({"category": "mobility", "occurred_at": "2026-12-02T14:30:00Z",
                         "body": "Margaret was found on the floor.", "ai_assistance": "drafted",
                         "ai_provenance": [first, second]}),
            ),
        )
        .await;
    assert_eq!(appended["ai_provenance"], json!([first, second]));

    // The audit entries carry the provenance as a changed field.
    let audit = app
        .expect(
            200,
            "GET",
            &format!("/api/audit?service_user_id={su}&tool=care_notes&limit=50"),
            &manager,
            None,
        )
        .await;
    let entries: Vec<&Value> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["record_id"] == json!(id))
        .collect();
    let created = entries
        .iter()
        .find(|e| e["operation"] == "insert")
        .expect("the insert's entry");
    assert_eq!(created["changes"]["ai_provenance"]["new"], json!([first]));
    assert!(entries.iter().any(|e| {
        e["operation"] == "update"
            && e["changes"]["ai_provenance"]["new"] == json!([first, second])
            && e["changes"]["ai_provenance"]["old"] == json!([first])
    }));
}

#[tokio::test]
async fn a_contribution_is_never_dropped_or_rewritten_and_must_name_its_model() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    let su = world.a.service_users[0];
    let first = contribution(
        "draft",
        json!([{"text": "500mg", "reason": "The amount 500mg is not in your points or the record."}]),
    );
    let body = |provenance: Value| {
        json!({"category": "medication", "occurred_at": "2026-12-02T08:00:00Z",
               "body": "Edna refused her morning medication.", "ai_assistance": "drafted",
               "ai_provenance": provenance})
    };
    let note = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/care-notes"),
            &carer,
            Some(&body(json!([first]))),
        )
        .await;
    let id = note["id"].as_str().expect("id").to_owned();
    let path = format!("/api/care-notes/{id}");

    // Hiding what was flagged, or swapping the model, is refused by PostgreSQL.
    let mut laundered = first.clone();
    laundered["flagged"] = json!([]);
    let refused = app
        .expect(409, "PUT", &path, &carer, Some(&body(json!([laundered]))))
        .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("never changed"),
        "{refused}"
    );
    let other = contribution("rewrite", json!([]));
    let refused = app
        .expect(409, "PUT", &path, &carer, Some(&body(json!([other]))))
        .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("never changed"),
        "{refused}"
    );
    // Marking an AI-written note as unassisted is refused too.
    let mut unassisted = body(json!([first, contribution("check", json!([]))]));
    unassisted["ai_assistance"] = json!("none");
    app.expect(409, "PUT", &path, &carer, Some(&unassisted))
        .await;

    // A contribution must name its model by sha256: the API and PostgreSQL both refuse one that
    // does not.
    let mut anonymous = contribution("draft", json!([]));
    anonymous["model_sha256"] = json!("unknown");
    app.expect(
        422,
        "POST",
        &format!("/api/service-users/{su}/care-notes"),
        &carer,
        Some(&body(json!([anonymous]))),
    )
    .await;
    let unchanged = app.expect(200, "GET", &path, &carer, None).await;
    assert_eq!(unchanged["ai_provenance"], json!([first]));

    // The same by raw SQL as the API's own role, as the note's author: refused by PostgreSQL.
    let note_id = Uuid::parse_str(&id).expect("uuid");
    for stmt in [
        "update care_notes set ai_provenance = '[]' where id = $1",
        "update care_notes set ai_provenance = jsonb_set(ai_provenance, '{0,flagged}', '[]') where id = $1",
        "update care_notes set ai_provenance = ai_provenance || '[{\"task\": \"draft\"}]' where id = $1",
    ] {
        let mut tx =
            as_app_with(&app.db.app, Some(world.a.user("carer1")), Some(world.a.id())).await;
        let result = sqlx::query(stmt).bind(note_id).execute(&mut *tx).await;
        assert!(result.is_err(), "refused: {stmt}");
    }
}
