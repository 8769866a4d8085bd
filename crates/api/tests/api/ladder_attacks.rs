//! Issue 9, findings 5 and 9, written the way the attacks were made: granting oneself more
//! than one holds through invitations, role moves and allow/deny changes, closing the
//! organisation without being an administrator, and reading the ladder by raw SQL as a carer.
//! Each is tried through the API and again as raw SQL as `thrive_app` with the member's own
//! identity, where PostgreSQL refuses it.

use serde_json::json;
use thrive_domain::Permission::{self, *};
use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};
use crate::records::member_with;

async fn role_id(app: &TestApp, org: Uuid, name: &str) -> Uuid {
    sqlx::query_scalar("select id from roles where organization_id = $1 and name = $2")
        .bind(org)
        .bind(name)
        .fetch_one(&app.db.admin)
        .await
        .expect("role")
}

/// Raw SQL as thrive_app with `user`'s identity in organisation a: must be refused.
async fn refused_by_sql(app: &TestApp, world: &World, user: Uuid, sql: &str, binds: &[Uuid]) {
    let mut tx = as_app_with(&app.db.app, Some(user), Some(world.a.id())).await;
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    match q.execute(&mut *tx).await {
        Err(e) => assert_eq!(
            e.as_database_error().and_then(|d| d.code()).as_deref(),
            Some("42501"),
            "{sql}: {e}"
        ),
        Ok(done) => assert_eq!(done.rows_affected(), 0, "`{sql}` was not refused"),
    }
    tx.rollback().await.expect("rollback");
}

const INVITER: &[Permission] = &[StaffInvite, StaffView];

#[tokio::test]
async fn nobody_invites_into_a_role_that_allows_more_than_they_hold() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let (user, _, cookie) = member_with(&app, &world, "Inviter", INVITER).await;
    let admin_role = role_id(&app, world.a.id(), "Administrator").await;
    app.expect(
        403,
        "POST",
        "/api/staff/invitations",
        &cookie,
        Some(
            &json!({"email": "friend@a.example", "display_name": "Friend", "role_id": admin_role}),
        ),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        user,
        "insert into staff_invitations (organization_id, email, display_name, role_id, token_hash, expires_at)
         values (app.current_org(), 'raw@a.example', 'Raw', $1, sha256('raw'::bytea), now() + interval '1 day')",
        &[admin_role],
    )
    .await;
    // A role within reach (only what the inviter holds) is fine.
    let (_, within, _) = member_with(&app, &world, "Within", &[StaffView]).await;
    app.expect(
        201,
        "POST",
        "/api/staff/invitations",
        &cookie,
        Some(&json!({"email": "friend@a.example", "display_name": "Friend", "role_id": within})),
    )
    .await;
}

#[tokio::test]
async fn nobody_moves_themselves_or_anyone_into_a_role_above_their_own() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let (user, _, cookie) = member_with(
        &app,
        &world,
        "Mover",
        &[RolesAssignMembers, RolesView, StaffView],
    )
    .await;
    let admin_role = role_id(&app, world.a.id(), "Administrator").await;
    // Itself to Administrator.
    app.expect(
        403,
        "PUT",
        &format!("/api/staff/{user}/role"),
        &cookie,
        Some(&json!({"role_id": admin_role})),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        user,
        "update memberships set role_id = $1 where user_id = $2",
        &[admin_role, user],
    )
    .await;
    // A colleague to Administrator.
    let carer = world.a.user("carer2");
    app.expect(
        403,
        "PUT",
        &format!("/api/staff/{carer}/role"),
        &cookie,
        Some(&json!({"role_id": admin_role})),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        user,
        "update memberships set role_id = $1 where user_id = $2",
        &[admin_role, carer],
    )
    .await;
    // Even the Administrator cannot change their own role.
    let admin = app.sign_in(world.a.email("admin")).await;
    let carer_role = role_id(&app, world.a.id(), "Carer").await;
    app.expect(
        403,
        "PUT",
        &format!("/api/staff/{}/role", world.a.user("admin")),
        &admin,
        Some(&json!({"role_id": carer_role})),
    )
    .await;
}

#[tokio::test]
async fn nobody_changes_their_own_roles_actions_or_allows_what_they_lack() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = world.a.user("manager");
    let cookie = app.sign_in(world.a.email("manager")).await;
    let manager_role = role_id(&app, world.a.id(), "Registered Manager").await;
    let carer_role = role_id(&app, world.a.id(), "Carer").await;
    // The attack: the Registered Manager switches on closure for its own role.
    app.expect(
        403,
        "PUT",
        &format!("/api/roles/{manager_role}/permissions"),
        &cookie,
        Some(&json!({"permissions": {"organisation.request_closure": true}})),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        manager,
        "update role_permissions set allowed = true where role_id = $1 and permission_key = 'organisation.request_closure'",
        &[manager_role],
    )
    .await;
    // Nor for another role, holding it not itself.
    app.expect(
        403,
        "PUT",
        &format!("/api/roles/{carer_role}/permissions"),
        &cookie,
        Some(&json!({"permissions": {"organisation.request_closure": true}})),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        manager,
        "update role_permissions set allowed = true where role_id = $1 and permission_key = 'organisation.request_closure'",
        &[carer_role],
    )
    .await;
    // Nor even deny its own role something.
    app.expect(
        403,
        "PUT",
        &format!("/api/roles/{manager_role}/permissions"),
        &cookie,
        Some(&json!({"permissions": {"care_notes.view": false}})),
    )
    .await;
    // What it holds, on a role within its reach, it may allow.
    let allowed = app
        .expect(
            200,
            "PUT",
            &format!("/api/roles/{carer_role}/permissions"),
            &cookie,
            Some(&json!({"permissions": {"incidents.view": true}})),
        )
        .await;
    assert_eq!(allowed["permissions"]["incidents.view"], true);
}

#[tokio::test]
async fn closure_needs_an_administrator() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    // A senior carer given the closure action (by the administrator connection) is still no
    // administrator.
    let manager_role = role_id(&app, world.a.id(), "Senior Carer").await;
    sqlx::query("update role_permissions set allowed = true where role_id = $1 and permission_key = 'organisation.request_closure'")
        .bind(manager_role)
        .execute(&app.db.admin)
        .await
        .expect("grant");
    let cookie = app.sign_in(world.a.email("senior")).await;
    app.expect(
        403,
        "POST",
        "/api/organisation/closure",
        &cookie,
        Some(&json!({"confirm_name": "Org a", "retention_days": 30})),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        world.a.user("senior"),
        "update organizations set purge_after = now() + interval '60 days' where id = app.current_org() and $1::uuid is not null",
        &[Uuid::nil()],
    )
    .await;
    let admin = app.sign_in(world.a.email("admin")).await;
    app.expect(
        200,
        "POST",
        "/api/organisation/closure",
        &admin,
        Some(&json!({"confirm_name": "Org a", "retention_days": 30})),
    )
    .await;
}

/// Finding 9: a carer read every role and every allow/deny by raw SQL.
#[tokio::test]
async fn the_ladder_is_read_by_raw_sql_only_with_roles_view() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let count = |user: Uuid, table: &'static str| {
        let app = &app;
        let org = world.a.id();
        async move {
            let mut tx = as_app_with(&app.db.app, Some(user), Some(org)).await;
            let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
                .fetch_one(&mut *tx)
                .await
                .expect("count");
            tx.rollback().await.expect("rollback");
            n
        }
    };
    let carer = world.a.user("carer1");
    assert_eq!(count(carer, "role_permissions").await, 0);
    assert_eq!(count(carer, "roles").await, 1, "only their own role's name");
    let admin = world.a.user("admin");
    assert!(count(admin, "role_permissions").await > 84);
    assert_eq!(count(admin, "roles").await, 4);
    // The carer's own actions still reach the app.
    let cookie = app.sign_in(world.a.email("carer1")).await;
    let me = app.expect(200, "GET", "/api/me", &cookie, None).await;
    assert!(me["permissions"]
        .as_array()
        .is_some_and(|p| p.contains(&json!("care_notes.create"))));
    assert_eq!(me["role_name"], "Carer");
}

/// Finding 8: one organisation renamed a person it shares with another; the other's trail had
/// no entry, and audit views (looking names up live) showed the new name throughout history.
#[tokio::test]
async fn a_person_shared_with_another_organisation_is_renamed_only_by_themselves_in_every_trail() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = world.a.user("carer1");
    // carer1 of a also works for b.
    let b_carer_role = role_id(&app, world.b.id(), "Carer").await;
    sqlx::query("insert into memberships (organization_id, user_id, role_id) values ($1, $2, $3)")
        .bind(world.b.id())
        .bind(carer)
        .bind(b_carer_role)
        .execute(&app.db.admin)
        .await
        .expect("join b");
    let entries_about = |org: Uuid| {
        let app = &app;
        async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from audit.audit_log where organization_id = $1 and table_name = 'users' and record_id = $2",
            )
            .bind(org)
            .bind(carer)
            .fetch_one(&app.db.admin)
            .await
            .expect("count")
        }
    };
    // carer1 writes something in a under their old name.
    let carer_cookie = app.sign_in(world.a.email("carer1")).await;
    app.expect(
        201,
        "POST",
        &format!("/api/service-users/{}/care-notes", world.a.service_users[0]),
        &carer_cookie,
        Some(
            &json!({"category": "other", "occurred_at": "2026-11-23T10:00:00Z", "body": "Before."}),
        ),
    )
    .await;

    // The attack: a's manager renames the shared person.
    let manager = app.sign_in(world.a.email("manager")).await;
    app.expect(
        409,
        "PUT",
        &format!("/api/staff/{carer}"),
        &manager,
        Some(&json!({"display_name": "Renamed By A"})),
    )
    .await;
    refused_by_sql(
        &app,
        &world,
        world.a.user("manager"),
        "update users set display_name = 'Raw' where id = $1",
        &[carer],
    )
    .await;
    assert_eq!(entries_about(world.b.id()).await, 0);

    // The person renames themselves: an entry in both organisations' trails.
    app.expect(
        204,
        "PUT",
        "/api/account/name",
        &carer_cookie,
        Some(&json!({"display_name": "Carer One Married"})),
    )
    .await;
    assert_eq!(entries_about(world.a.id()).await, 1);
    assert_eq!(entries_about(world.b.id()).await, 1);

    // The audit view shows each entry under the name its actor had then.
    let admin = app.sign_in(world.a.email("admin")).await;
    let page = app
        .expect(
            200,
            "GET",
            &format!("/api/audit?actor_user_id={carer}"),
            &admin,
            None,
        )
        .await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["actor_name"].as_str())
        .collect();
    assert!(names.contains(&"carer1 a"), "{names:?}");
    assert!(names.contains(&"Carer One Married"), "{names:?}");
    let note_entry = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["table_name"] == "care_notes")
        .expect("note entry");
    assert_eq!(note_entry["actor_name"], "carer1 a");

    // Someone who works only here is still the manager's to correct.
    app.expect(
        204,
        "PUT",
        &format!("/api/staff/{}", world.a.user("carer2")),
        &manager,
        Some(&json!({"display_name": "Carer Two"})),
    )
    .await;
}
