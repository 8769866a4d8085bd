//! The account basics: change password, sign out everywhere, an administrator's one-time reset
//! link, and moving between one's organisations.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{pkce_pair, TestApp, World, PASSWORD};

const NEW: &str = "Brand-New-Lantern-92!";

#[tokio::test]
async fn changing_the_password_needs_the_current_one_meets_the_policy_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let here = app.sign_in(email).await;
    let elsewhere = app.sign_in(email).await;
    app.expect(
        401,
        "POST",
        "/api/account/password",
        &here,
        Some(&json!({"current_password": "Wrong-Password-123", "new_password": NEW})),
    )
    .await;
    app.expect(
        422,
        "POST",
        "/api/account/password",
        &here,
        Some(&json!({"current_password": PASSWORD, "new_password": "password1"})),
    )
    .await;
    app.expect(
        204,
        "POST",
        "/api/account/password",
        &here,
        Some(&json!({"current_password": PASSWORD, "new_password": NEW})),
    )
    .await;
    assert_eq!(app.get("/api/me", &here).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/me", &elsewhere).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, challenge) = pkce_pair();
    assert_eq!(
        app.authorize(email, PASSWORD, &challenge).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.authorize(email, NEW, &challenge).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let one = app.sign_in(world.a.email("carer1")).await;
    let two = app.sign_in(world.a.email("carer1")).await;
    let other_person = app.sign_in(world.a.email("carer2")).await;
    app.expect(204, "POST", "/api/auth/logout-everywhere", &one, None)
        .await;
    for cookie in [&one, &two] {
        assert_eq!(
            app.get("/api/me", cookie).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.get("/api/me", &other_person).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_administrators_reset_link_works_once_within_their_reach_only() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let carer = world.a.user("carer2");
    let made = app
        .expect(
            201,
            "POST",
            &format!("/api/staff/{carer}/password-reset"),
            &admin,
            None,
        )
        .await;
    let token = made["token"].as_str().expect("token").to_owned();
    app.expect(
        422,
        "POST",
        "/api/auth/reset-password",
        "",
        Some(&json!({"token": token, "new_password": "short"})),
    )
    .await;
    app.expect(
        204,
        "POST",
        "/api/auth/reset-password",
        "",
        Some(&json!({"token": token, "new_password": NEW})),
    )
    .await;
    app.expect(
        409,
        "POST",
        "/api/auth/reset-password",
        "",
        Some(&json!({"token": token, "new_password": NEW})),
    )
    .await;
    let (_, challenge) = pkce_pair();
    assert_eq!(
        app.authorize(world.a.email("carer2"), NEW, &challenge)
            .await
            .status(),
        StatusCode::OK
    );
    // A manager cannot take over the administrator's account.
    let manager = app.sign_in(world.a.email("manager")).await;
    app.expect(
        403,
        "POST",
        &format!("/api/staff/{}/password-reset", world.a.user("admin")),
        &manager,
        None,
    )
    .await;
    // Nor another organisation's member.
    app.expect(
        404,
        "POST",
        &format!("/api/staff/{}/password-reset", world.b.user("carer1")),
        &admin,
        None,
    )
    .await;
}

#[tokio::test]
async fn a_person_in_two_organisations_chooses_where_to_work() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let b_carer_role: uuid::Uuid =
        sqlx::query_scalar("select id from roles where organization_id = $1 and name = 'Carer'")
            .bind(world.b.id())
            .fetch_one(&app.db.admin)
            .await
            .expect("role");
    sqlx::query("insert into memberships (organization_id, user_id, role_id) values ($1, $2, $3)")
        .bind(world.b.id())
        .bind(world.a.user("carer1"))
        .bind(b_carer_role)
        .execute(&app.db.admin)
        .await
        .expect("join b");
    let cookie = app.sign_in(world.a.email("carer1")).await;
    let orgs = app
        .expect(200, "GET", "/api/auth/organisations", &cookie, None)
        .await;
    assert_eq!(orgs.as_array().map(Vec::len), Some(2), "{orgs}");
    let resp = app
        .send(
            "POST",
            "/api/auth/switch-organisation",
            &cookie,
            Some(&json!({"organization_id": world.b.id()})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let moved = crate::helpers::session_cookie(resp.headers())
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let me = app.expect(200, "GET", "/api/me", &moved, None).await;
    assert_eq!(me["organization_name"], "Org b");
    assert_eq!(
        app.get("/api/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old session ends"
    );
}

/// A new reset link replaces the member's earlier one.
#[tokio::test]
async fn a_new_reset_link_replaces_the_earlier_one() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let path = format!("/api/staff/{}/password-reset", world.a.user("carer2"));
    let first = app.expect(201, "POST", &path, &admin, None).await;
    app.expect(201, "POST", &path, &admin, None).await;
    app.expect(
        409,
        "POST",
        "/api/auth/reset-password",
        "",
        Some(&json!({"token": first["token"], "new_password": NEW})),
    )
    .await;
}
