//! Must-show 3: a carer sees only assigned service users, through the API and through raw SQL
//! as the app role, and (un)assigning changes that at once.

use std::collections::BTreeSet;

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};

async fn visible_via_api(app: &TestApp, cookie: &str) -> BTreeSet<Uuid> {
    let resp = app.get("/api/service-users", cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Vec<Value> = resp.json().await.expect("json");
    list.iter()
        .map(|s| s["id"].as_str().expect("id").parse().expect("uuid"))
        .collect()
}

async fn visible_via_sql(app: &TestApp, user: Uuid, org: Uuid) -> BTreeSet<Uuid> {
    let mut tx = as_app_with(&app.db.app, Some(user), Some(org)).await;
    let ids: Vec<Uuid> = sqlx::query_scalar("select id from service_users")
        .fetch_all(&mut *tx)
        .await
        .expect("q");
    ids.into_iter().collect()
}

#[tokio::test]
async fn a_carer_sees_only_assigned_service_users_and_assignment_changes_that_at_once() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    let carer = app.sign_in(a.email("carer1")).await;
    let manager = app.sign_in(a.email("manager")).await;
    let assigned: BTreeSet<Uuid> = a.service_users[..2].iter().copied().collect();

    assert_eq!(visible_via_api(&app, &carer).await, assigned);
    assert_eq!(
        visible_via_sql(&app, a.user("carer1"), a.id()).await,
        assigned
    );
    // A manager (service_users.view_all) sees everyone in the organisation.
    assert_eq!(visible_via_api(&app, &manager).await.len(), 4);

    // An unassigned record answers 404, like one that does not exist.
    let other = a.service_users[3];
    assert_eq!(
        app.get(&format!("/api/service-users/{other}"), &carer)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The manager assigns the fourth service user: visible at once, both ways.
    let resp = app
        .http
        .post(app.url(&format!("/api/service-users/{other}/assignments")))
        .header(COOKIE, &manager)
        .header("x-requested-with", "thrive")
        .json(&json!({"user_id": a.user("carer1")}))
        .send()
        .await
        .expect("assign");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let mut now_assigned = assigned.clone();
    now_assigned.insert(other);
    assert_eq!(visible_via_api(&app, &carer).await, now_assigned);
    assert_eq!(
        visible_via_sql(&app, a.user("carer1"), a.id()).await,
        now_assigned
    );
    assert_eq!(
        app.get(&format!("/api/service-users/{other}"), &carer)
            .await
            .status(),
        StatusCode::OK
    );

    // And unassigns the first: gone at once.
    let first = a.service_users[0];
    let resp = app
        .http
        .delete(app.url(&format!(
            "/api/service-users/{first}/assignments/{}",
            a.user("carer1")
        )))
        .header(COOKIE, &manager)
        .header("x-requested-with", "thrive")
        .send()
        .await
        .expect("unassign");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    now_assigned.remove(&first);
    assert_eq!(visible_via_api(&app, &carer).await, now_assigned);
    assert_eq!(
        visible_via_sql(&app, a.user("carer1"), a.id()).await,
        now_assigned
    );
}

#[tokio::test]
async fn a_carer_cannot_assign_themselves_even_by_raw_sql() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    let carer = app.sign_in(a.email("carer1")).await;
    let target = a.service_users[3];
    let resp = app
        .http
        .post(app.url(&format!("/api/service-users/{target}/assignments")))
        .header(COOKIE, &carer)
        .header("x-requested-with", "thrive")
        .json(&json!({"user_id": a.user("carer1")}))
        .send()
        .await
        .expect("assign");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let mut tx = as_app_with(&app.db.app, Some(a.user("carer1")), Some(a.id())).await;
    let err = sqlx::query("insert into staff_assignments (organization_id, user_id, service_user_id) values ($1, $2, $3)")
        .bind(a.id())
        .bind(a.user("carer1"))
        .bind(target)
        .execute(&mut *tx)
        .await
        .expect_err("policy refuses");
    assert_eq!(
        err.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn other_organisations_service_users_are_not_found() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager_a = app.sign_in(world.a.email("manager")).await;
    let theirs = world.b.service_users[0];
    assert_eq!(
        app.get(&format!("/api/service-users/{theirs}"), &manager_a)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let resp = app
        .http
        .post(app.url(&format!("/api/service-users/{theirs}/assignments")))
        .header(COOKIE, &manager_a)
        .header("x-requested-with", "thrive")
        .json(&json!({"user_id": world.a.user("carer1")}))
        .send()
        .await
        .expect("assign");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!visible_via_api(&app, &manager_a).await.contains(&theirs));
}

#[tokio::test]
async fn signed_out_callers_get_401() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/api/service-users"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let forged = format!("__Host-thrive_session={}", "A".repeat(43));
    assert_eq!(
        app.get("/api/service-users", &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn killed_database_connections_give_at_worst_a_503_and_the_api_recovers() {
    // What a PostgreSQL restart does to pooled connections (57P01, admin shutdown).
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    assert_eq!(visible_via_api(&app, &carer).await.len(), 2);
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
          where usename = 'thrive_app' and datname = current_database()",
    )
    .fetch_all(&app.db.admin)
    .await
    .expect("terminate");
    assert!(!killed.is_empty(), "the app had pooled connections to kill");
    let first = app.get("/api/service-users", &carer).await.status();
    assert!(
        first == StatusCode::OK || first == StatusCode::SERVICE_UNAVAILABLE,
        "{first}"
    );
    assert_eq!(visible_via_api(&app, &carer).await.len(), 2);
}
