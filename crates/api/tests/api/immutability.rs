//! Issue 10, finding 2: once signed off or closed, a record never changes. A Senior Carer
//! edited a signed-off care plan and its sections (the manager's sign-off still on it) and a
//! Registered Manager deleted a closed, notifiable incident. Now corrections are amendments (a
//! new version with a reason, signed off again), and deleting is only for a record entered in
//! error before sign-off or closure — through the API and as raw SQL as `thrive_app` alike.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// A care plan with one section, signed off by the manager.
async fn signed_plan(app: &TestApp, world: &World, manager: &str) -> (String, String) {
    let su = world.a.service_users[0];
    let plan = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/care-plans"),
            manager,
            Some(&json!({"title": "Mobility", "summary": "Walks with a frame.", "review_date": "2027-01-10"})),
        )
        .await;
    let section = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/care-plan-sections"),
            manager,
            Some(&json!({"care_plan_id": id(&plan), "section": "mobility", "needs": "Frame indoors.", "goals": "", "interventions": ""})),
        )
        .await;
    app.expect(
        200,
        "POST",
        &format!("/api/care-plans/{}/sign-off", id(&plan)),
        manager,
        None,
    )
    .await;
    (id(&plan), id(&section))
}

#[tokio::test]
async fn a_signed_off_care_plan_and_its_sections_never_change_and_are_amended_instead() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let senior = app.sign_in(world.a.email("senior")).await;
    let su = world.a.service_users[0];
    let (plan, section) = signed_plan(&app, &world, &manager).await;

    // The finding, as the Senior Carer did it: refused.
    app.expect(
        409,
        "PUT",
        &format!("/api/care-plans/{plan}"),
        &senior,
        Some(&json!({"title": "Mobility (hoist)", "summary": "Hoist only.", "review_date": "2027-01-10"})),
    )
    .await;
    app.expect(
        409,
        "PUT",
        &format!("/api/care-plan-sections/{section}"),
        &senior,
        Some(&json!({"care_plan_id": plan, "section": "mobility", "needs": "Hoist only.", "goals": "", "interventions": ""})),
    )
    .await;
    app.expect(
        409,
        "DELETE",
        &format!("/api/care-plan-sections/{section}"),
        &senior,
        None,
    )
    .await;
    app.expect(
        409,
        "POST",
        &format!("/api/service-users/{su}/care-plan-sections"),
        &senior,
        Some(&json!({"care_plan_id": plan, "section": "skin", "needs": "Added after sign-off.", "goals": "", "interventions": ""})),
    )
    .await;
    let signed = app
        .expect(
            200,
            "GET",
            &format!("/api/care-plans/{plan}"),
            &senior,
            None,
        )
        .await;
    assert_eq!(signed["title"], "Mobility");
    assert_eq!(signed["status"], "active");

    // The correction: an amendment needs a reason …
    app.expect(
        422,
        "POST",
        &format!("/api/care-plans/{plan}/amend"),
        &senior,
        Some(&json!({"reason": " "})),
    )
    .await;
    let amendment = app
        .expect(
            201,
            "POST",
            &format!("/api/care-plans/{plan}/amend"),
            &senior,
            Some(&json!({"reason": "Now needs the hoist after the fall on 20 November."})),
        )
        .await;
    assert_eq!(amendment["status"], "draft");
    assert_eq!(amendment["version"], 2);
    assert_eq!(amendment["amends_id"], plan.as_str());
    assert_eq!(amendment["signed_off_by"], Value::Null);
    let new_plan = id(&amendment);
    // … starts as a copy, sections included, edited as a draft …
    let sections = app
        .expect(
            200,
            "GET",
            &format!("/api/care-plan-sections?care_plan_id={new_plan}"),
            &senior,
            None,
        )
        .await;
    let copied = sections["items"].as_array().expect("items");
    assert_eq!(copied.len(), 1, "{sections}");
    app.expect(
        200,
        "PUT",
        &format!("/api/care-plan-sections/{}", id(&copied[0])),
        &senior,
        Some(&json!({"care_plan_id": new_plan, "section": "mobility", "needs": "Hoist only.", "goals": "", "interventions": ""})),
    )
    .await;
    // … and a second amendment of the same version would fork the history.
    let second = app
        .send(
            "POST",
            &format!("/api/care-plans/{plan}/amend"),
            &senior,
            Some(&json!({"reason": "Again."})),
        )
        .await;
    assert!(second.status().is_client_error(), "{}", second.status());
    // Signed off again, by the manager: the old version is archived (superseded).
    let done = app
        .expect(
            200,
            "POST",
            &format!("/api/care-plans/{new_plan}/sign-off"),
            &manager,
            None,
        )
        .await;
    assert_eq!(done["status"], "active");
    assert_eq!(done["signed_off_by"], world.a.user("manager").to_string());
    let old = app
        .expect(
            200,
            "GET",
            &format!("/api/care-plans/{plan}"),
            &senior,
            None,
        )
        .await;
    assert_eq!(old["status"], "archived");
    assert_eq!(
        old["title"], "Mobility",
        "the signed version is kept as it was"
    );
}

#[tokio::test]
async fn signed_and_closed_records_refuse_raw_sql_from_the_api_role_too() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let (plan, section) = signed_plan(&app, &world, &manager).await;
    let plan: Uuid = plan.parse().expect("uuid");
    let section: Uuid = section.parse().expect("uuid");
    for (who, sql) in [
        (
            "senior",
            "update care_plans set title = 'Hoist only' where id = $1",
        ),
        (
            "senior",
            "update care_plans set summary = 'x', signed_off_by = null where id = $1",
        ),
        (
            "senior",
            "update care_plan_sections set needs = 'Hoist only' where id = $1",
        ),
        ("senior", "delete from care_plan_sections where id = $1"),
        (
            "manager",
            "update care_plans set title = 'Hoist only' where id = $1",
        ),
        ("manager", "delete from care_plans where id = $1"),
    ] {
        let target = if sql.contains("care_plan_sections") {
            section
        } else {
            plan
        };
        let mut tx = as_app_with(&app.db.app, Some(world.a.user(who)), Some(world.a.id())).await;
        let err = sqlx::query(sql)
            .bind(target)
            .execute(&mut *tx)
            .await
            .expect_err(sql);
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("P0001"),
            "{who}: {sql}: {err}"
        );
    }

    // A closed incident, as raw SQL by the Registered Manager (who holds incidents.delete).
    let incident = closed_incident(&app, &world, &manager).await;
    let mut tx = as_app_with(
        &app.db.app,
        Some(world.a.user("manager")),
        Some(world.a.id()),
    )
    .await;
    let err = sqlx::query("delete from incidents where id = $1")
        .bind(incident)
        .execute(&mut *tx)
        .await
        .expect_err("delete closed incident");
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("P0001"),
        "{err}"
    );
}

async fn closed_incident(app: &TestApp, world: &World, manager: &str) -> Uuid {
    let su = world.a.service_users[0];
    let incident = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/incidents"),
            manager,
            Some(&json!({"occurred_at": "2026-11-23T09:30:00Z", "location": "Garden", "category": "fall", "severity": "moderate", "description": "Fell on the path."})),
        )
        .await;
    let x = id(&incident);
    app.expect(
        200,
        "POST",
        &format!("/api/incidents/{x}/notifiable"),
        manager,
        Some(&json!({"notifiable": true})),
    )
    .await;
    app.expect(
        200,
        "POST",
        &format!("/api/incidents/{x}/investigate"),
        manager,
        Some(&json!({"investigation": "Loose paving stone."})),
    )
    .await;
    app.expect(
        200,
        "POST",
        &format!("/api/incidents/{x}/close"),
        manager,
        Some(&json!({"outcome": "Paving fixed.", "lessons": "Check paths weekly."})),
    )
    .await;
    x.parse().expect("uuid")
}

#[tokio::test]
async fn a_closed_incident_is_never_deleted_and_one_reported_in_error_is() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let closed = closed_incident(&app, &world, &manager).await;
    app.expect(
        409,
        "DELETE",
        &format!("/api/incidents/{closed}"),
        &manager,
        None,
    )
    .await;
    app.expect(
        200,
        "GET",
        &format!("/api/incidents/{closed}"),
        &manager,
        None,
    )
    .await;
    // Reported in error (still open): deleted, and the deletion is in the audit trail.
    let su = world.a.service_users[1];
    let wrong = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/incidents"),
            &manager,
            Some(&json!({"occurred_at": "2026-11-23T09:30:00Z", "location": "Lounge", "category": "other", "severity": "no_harm", "description": "Wrong person."})),
        )
        .await;
    app.expect(
        204,
        "DELETE",
        &format!("/api/incidents/{}", id(&wrong)),
        &manager,
        None,
    )
    .await;
    let logged: i64 = sqlx::query_scalar(
        "select count(*) from audit.audit_log where table_name = 'incidents' and operation = 'delete' and record_id = $1",
    )
    .bind(id(&wrong).parse::<Uuid>().expect("uuid"))
    .fetch_one(&app.db.admin)
    .await
    .expect("count");
    assert_eq!(logged, 1);
}
