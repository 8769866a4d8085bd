//! The clinical tools through the API: create, read, update and list as allowed roles; refused
//! for others; invisible across organisations; and a field-level audit entry for each change.
//! Plus the care-note lifecycle and the audit trail's immutability and chain verification.

use serde_json::{json, Value};
use thrive_domain::Permission;
use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};

/// One tool: where to create (for a service user), its record path, a body to create it with,
/// a body to update it with and the field that update changes, and its audit tool name.
struct ToolCase {
    tool: &'static str,
    create: &'static str,
    path: &'static str,
    body: Value,
    update: Value,
    changed: &'static str,
}

fn cases() -> Vec<ToolCase> {
    let now = "2026-11-23T09:30:00Z";
    vec![
        ToolCase {
            tool: "care_notes",
            create: "care-notes",
            path: "care-notes",
            body: json!({"category": "nutrition", "occurred_at": now, "body": "Ate half of lunch."}),
            update: json!({"category": "nutrition", "occurred_at": now, "body": "Ate all of lunch."}),
            changed: "body",
        },
        ToolCase {
            tool: "care_plans",
            create: "care-plans",
            path: "care-plans",
            body: json!({"title": "Mobility", "summary": "", "review_date": "2027-01-10"}),
            update: json!({"title": "Mobility and falls", "summary": "", "review_date": "2027-01-10"}),
            changed: "title",
        },
        ToolCase {
            tool: "risk_assessments",
            create: "risk-assessments",
            path: "risk-assessments",
            body: json!({"kind": "malnutrition", "answers": {"bmi_score": 0, "weight_loss_score": 0, "acute_disease_effect": 0}, "review_date": "2027-01-10"}),
            update: json!({"kind": "malnutrition", "answers": {"bmi_score": 2, "weight_loss_score": 0, "acute_disease_effect": 0}, "review_date": "2027-01-10"}),
            changed: "score",
        },
        ToolCase {
            tool: "incidents",
            create: "incidents",
            path: "incidents",
            body: json!({"occurred_at": now, "location": "Garden", "category": "fall", "severity": "low", "description": "Tripped on the path."}),
            update: json!({"occurred_at": now, "location": "Garden path", "category": "fall", "severity": "low", "description": "Tripped on the path."}),
            changed: "location",
        },
        ToolCase {
            tool: "body_maps",
            create: "body-map-marks",
            path: "body-map-marks",
            body: json!({"side": "back", "region": "sacrum", "x": 0.5, "y": 0.55, "description": "Red area", "size": "3 cm", "observed_at": now}),
            update: json!({"side": "back", "region": "sacrum", "x": 0.5, "y": 0.55, "description": "Red area, blanching", "size": "3 cm", "observed_at": now}),
            changed: "description",
        },
        ToolCase {
            tool: "observations",
            create: "observations",
            path: "observations",
            body: json!({"observed_at": now, "data": {"kind": "vitals", "respiration_rate": 18, "spo2": 96, "on_oxygen": false, "systolic_bp": 130, "pulse": 80, "consciousness": "alert", "temperature": 36.9}}),
            update: json!({"observed_at": now, "data": {"kind": "vitals", "respiration_rate": 22, "spo2": 96, "on_oxygen": false, "systolic_bp": 130, "pulse": 80, "consciousness": "alert", "temperature": 36.9}}),
            changed: "news2",
        },
        ToolCase {
            tool: "medication",
            create: "prescriptions",
            path: "prescriptions",
            body: json!({"drug": "Senna 7.5 mg", "dose": "Two tablets", "route": "oral", "schedule": "At night", "times": ["22:00"], "start_date": "2026-11-01"}),
            update: json!({"drug": "Senna 7.5 mg", "dose": "One tablet", "route": "oral", "schedule": "At night", "times": ["22:00"], "start_date": "2026-11-01"}),
            changed: "dose",
        },
    ]
}

/// A role allowed exactly `allowed` (everything else explicitly denied) held by a new member of
/// org a; returns their session cookie.
pub async fn member_with(
    app: &TestApp,
    world: &World,
    name: &str,
    allowed: &[Permission],
) -> (Uuid, Uuid, String) {
    let mut conn = app.db.admin_conn().await;
    let role: Uuid = sqlx::query_scalar(
        "insert into roles (organization_id, name) values ($1, $2) returning id",
    )
    .bind(world.a.id())
    .bind(name)
    .fetch_one(&mut *conn)
    .await
    .expect("role");
    set_role_permissions(&mut conn, world.a.id(), role, allowed).await;
    let hash = thrive_api::passwords::hash(&secrecy::SecretString::from(crate::helpers::PASSWORD))
        .expect("hash");
    let email = format!("{}@a.example", name.to_lowercase());
    let user =
        thrive_api::db::seed::create_staff(&mut conn, world.a.id(), role, &email, name, &hash)
            .await
            .expect("staff");
    drop(conn);
    let cookie = app.sign_in(&email).await;
    (user, role, cookie)
}

pub async fn set_role_permissions(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    role: Uuid,
    allowed: &[Permission],
) {
    let keys: Vec<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
    let flags: Vec<bool> = Permission::ALL
        .iter()
        .map(|p| allowed.contains(p))
        .collect();
    sqlx::query(
        "insert into role_permissions (organization_id, role_id, permission_key, allowed)
         select $1, $2, k, a from unnest($3::text[], $4::bool[]) as t(k, a)
         on conflict (role_id, permission_key) do update set allowed = excluded.allowed",
    )
    .bind(org)
    .bind(role)
    .bind(&keys)
    .bind(&flags)
    .execute(&mut *conn)
    .await
    .expect("permissions");
}

#[tokio::test]
async fn every_clinical_tool_round_trips_for_allowed_roles_is_refused_for_others_and_audited() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let other_org = app.sign_in(world.b.email("manager")).await;
    let views: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.key().ends_with(".view") || p.key().ends_with(".view_all"))
        .collect();
    let (_, _, viewer) = member_with(&app, &world, "Viewer", &views).await;
    let (_, _, nobody) = member_with(&app, &world, "Nobody", &[]).await;
    let su = world.a.service_users[1];

    for case in cases() {
        let t = case.tool;
        // Create, read, update, list as the manager.
        let created = app
            .expect(
                201,
                "POST",
                &format!("/api/service-users/{su}/{}", case.create),
                &manager,
                Some(&case.body),
            )
            .await;
        let id = created["id"].as_str().expect("id").to_owned();
        let shown = app
            .expect(
                200,
                "GET",
                &format!("/api/{}/{id}", case.path),
                &manager,
                None,
            )
            .await;
        assert_eq!(shown["id"], created["id"], "{t}");
        let updated = app
            .expect(
                200,
                "PUT",
                &format!("/api/{}/{id}", case.path),
                &manager,
                Some(&case.update),
            )
            .await;
        assert_ne!(
            updated[case.changed], created[case.changed],
            "{t}: {} changed",
            case.changed
        );
        let page = app
            .expect(
                200,
                "GET",
                &format!("/api/{}?service_user_id={su}", case.path),
                &manager,
                None,
            )
            .await;
        assert!(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|r| r["id"] == created["id"]),
            "{t}: listed"
        );

        // A role that may only view: reads, but cannot create or change.
        app.expect(
            200,
            "GET",
            &format!("/api/{}/{id}", case.path),
            &viewer,
            None,
        )
        .await;
        app.expect(
            403,
            "POST",
            &format!("/api/service-users/{su}/{}", case.create),
            &viewer,
            Some(&case.body),
        )
        .await;
        app.expect(
            403,
            "PUT",
            &format!("/api/{}/{id}", case.path),
            &viewer,
            Some(&case.update),
        )
        .await;
        // A role with nothing: refused outright.
        app.expect(
            403,
            "GET",
            &format!("/api/{}/{id}", case.path),
            &nobody,
            None,
        )
        .await;
        app.expect(403, "GET", &format!("/api/{}", case.path), &nobody, None)
            .await;

        // Another organisation's manager: not found, never forbidden (existence does not leak).
        app.expect(
            404,
            "GET",
            &format!("/api/{}/{id}", case.path),
            &other_org,
            None,
        )
        .await;
        app.expect(
            404,
            "PUT",
            &format!("/api/{}/{id}", case.path),
            &other_org,
            Some(&case.update),
        )
        .await;
        app.expect(
            404,
            "POST",
            &format!("/api/service-users/{su}/{}", case.create),
            &other_org,
            Some(&case.body),
        )
        .await;
        let theirs = app
            .expect(200, "GET", &format!("/api/{}", case.path), &other_org, None)
            .await;
        assert!(
            theirs["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|r| r["id"] != created["id"]),
            "{t}: not listed elsewhere"
        );

        // The audit trail has the insert and the update, field by field.
        let audit = app
            .expect(
                200,
                "GET",
                &format!("/api/audit?tool={t}&service_user_id={su}"),
                &manager,
                None,
            )
            .await;
        let entries: Vec<&Value> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["record_id"] == created["id"])
            .collect();
        let update = entries
            .iter()
            .find(|e| e["operation"] == "update")
            .unwrap_or_else(|| panic!("{t}: update audited"));
        assert_eq!(
            update["changes"][case.changed]["old"], created[case.changed],
            "{t}: old value"
        );
        assert_eq!(
            update["changes"][case.changed]["new"], updated[case.changed],
            "{t}: new value"
        );
        assert_eq!(update["actor_role"], "Registered Manager");
        assert!(
            update["action"]
                .as_str()
                .expect("action")
                .starts_with(&format!("{t}.")),
            "{t}: {}",
            update["action"]
        );
        let insert = entries
            .iter()
            .find(|e| e["operation"] == "insert")
            .unwrap_or_else(|| panic!("{t}: insert audited"));
        assert!(insert["changes"]["id"]["new"].is_string());
        // Only changed fields on update.
        assert!(
            update["changes"].get("service_user_id").is_none(),
            "{t}: unchanged fields left out"
        );
    }
}

#[tokio::test]
async fn a_care_note_is_submitted_returned_resubmitted_signed_off_and_amended_with_the_signed_version_unchanged(
) {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let su = world.a.service_users[0];
    let body = json!({"category": "wellbeing", "occurred_at": "2026-11-23T14:00:00Z", "body": "Quiet afternoon; enjoyed music."});
    let note = app
        .expect(
            201,
            "POST",
            &format!("/api/service-users/{su}/care-notes"),
            &carer,
            Some(&body),
        )
        .await;
    let id = note["id"].as_str().expect("id").to_owned();
    assert_eq!(note["status"], "draft");

    // A carer cannot sign off; a manager cannot sign off a draft.
    app.expect(
        403,
        "POST",
        &format!("/api/care-notes/{id}/sign-off"),
        &carer,
        None,
    )
    .await;
    let refused = app
        .expect(
            409,
            "POST",
            &format!("/api/care-notes/{id}/sign-off"),
            &manager,
            None,
        )
        .await;
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("cannot go from draft"),
        "{refused}"
    );

    let submitted = app
        .expect(
            200,
            "POST",
            &format!("/api/care-notes/{id}/submit"),
            &carer,
            None,
        )
        .await;
    assert_eq!(submitted["status"], "submitted");
    // Submitted notes are not edited.
    app.expect(
        409,
        "PUT",
        &format!("/api/care-notes/{id}"),
        &carer,
        Some(&body),
    )
    .await;
    // Returned with a comment (a comment is required).
    app.expect(
        422,
        "POST",
        &format!("/api/care-notes/{id}/return"),
        &manager,
        Some(&json!({"review_comment": " "})),
    )
    .await;
    let returned = app
        .expect(
            200,
            "POST",
            &format!("/api/care-notes/{id}/return"),
            &manager,
            Some(&json!({"review_comment": "Add what music and for how long."})),
        )
        .await;
    assert_eq!(returned["status"], "returned");
    let fixed = json!({"category": "wellbeing", "occurred_at": "2026-11-23T14:00:00Z", "body": "Quiet afternoon; listened to Vera Lynn for an hour and sang along."});
    app.expect(
        200,
        "PUT",
        &format!("/api/care-notes/{id}"),
        &carer,
        Some(&fixed),
    )
    .await;
    app.expect(
        200,
        "POST",
        &format!("/api/care-notes/{id}/submit"),
        &carer,
        None,
    )
    .await;
    let signed = app
        .expect(
            200,
            "POST",
            &format!("/api/care-notes/{id}/sign-off"),
            &manager,
            None,
        )
        .await;
    assert_eq!(signed["status"], "signed_off");
    assert_eq!(signed["reviewed_by"], json!(world.a.user("manager")));

    // Signed: never changed, by the API or by raw SQL as the app role.
    app.expect(
        409,
        "PUT",
        &format!("/api/care-notes/{id}"),
        &carer,
        Some(&body),
    )
    .await;
    let mut tx = as_app_with(&app.db.app, Some(world.a.user("admin")), Some(world.a.id())).await;
    let raw = sqlx::query("update care_notes set body = 'rewritten' where id = $1")
        .bind(Uuid::parse_str(&id).expect("uuid"))
        .execute(&mut *tx)
        .await;
    assert!(raw.is_err(), "raw SQL cannot overwrite a signed note");
    drop(tx);

    // Amendment: a reason is required; the new version references the signed one.
    let amend = json!({"category": "wellbeing", "occurred_at": "2026-11-23T14:00:00Z", "body": "Quiet afternoon; listened to Vera Lynn for two hours.", "amendment_reason": ""});
    app.expect(
        422,
        "POST",
        &format!("/api/care-notes/{id}/amend"),
        &manager,
        Some(&amend),
    )
    .await;
    let mut amend = amend;
    amend["amendment_reason"] = json!("Duration corrected after speaking to family.");
    let v2 = app
        .expect(
            201,
            "POST",
            &format!("/api/care-notes/{id}/amend"),
            &manager,
            Some(&amend),
        )
        .await;
    assert_eq!(v2["amends_id"], json!(id));
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["status"], "submitted");
    let original = app
        .expect(200, "GET", &format!("/api/care-notes/{id}"), &manager, None)
        .await;
    assert_eq!(original, signed, "the signed version is unchanged");

    // The audit trail shows each step with old → new status.
    let audit = app
        .expect(
            200,
            "GET",
            &format!("/api/audit?service_user_id={su}&tool=care_notes&limit=50"),
            &manager,
            None,
        )
        .await;
    let steps: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["record_id"] == json!(id) && e["changes"].get("status").is_some())
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["changes"]["status"]["new"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    for (action, status) in [
        ("care_notes.submit", "submitted"),
        ("care_notes.return", "returned"),
        ("care_notes.sign_off", "signed_off"),
    ] {
        assert!(
            steps.contains(&(action.to_owned(), status.to_owned())),
            "{action} → {status} in {steps:?}"
        );
    }
}

#[tokio::test]
async fn the_audit_trail_is_append_only_for_the_app_role_and_the_owner() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    // As the app role with a real administrator's identity.
    for stmt in [
        "update audit.audit_log set action = 'x'",
        "delete from audit.audit_log",
        "truncate audit.audit_log",
        "insert into audit.audit_log select * from audit.audit_log limit 1",
    ] {
        let mut tx =
            as_app_with(&app.db.app, Some(world.a.user("admin")), Some(world.a.id())).await;
        let err = sqlx::query(stmt).execute(&mut *tx).await.expect_err(stmt);
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{stmt}: {err}"
        );
    }
    // The migration login owns nothing of the trail (thrive_audit does): no privilege at all.
    for stmt in [
        "update audit.audit_log set action = 'x'",
        "delete from audit.audit_log",
        "truncate audit.audit_log",
        "insert into audit.audit_log select * from audit.audit_log limit 1",
    ] {
        let err = sqlx::query(stmt)
            .execute(&app.db.owner)
            .await
            .expect_err(stmt);
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{stmt}: {err}"
        );
    }
    // Even a superuser, who bypasses RLS, is refused by the triggers (it would have to disable
    // them first; the hash chain then shows the edit, see the next test).
    for stmt in [
        "update audit.audit_log set action = 'x'",
        "delete from audit.audit_log",
        "truncate audit.audit_log",
    ] {
        let err = sqlx::query(stmt)
            .execute(&app.db.admin)
            .await
            .expect_err(stmt);
        assert!(err.to_string().contains("append-only"), "{stmt}: {err}");
    }
    let entries: i64 = sqlx::query_scalar("select count(*) from audit.audit_log")
        .fetch_one(&app.db.admin)
        .await
        .expect("count");
    assert!(entries > 0);
}

#[tokio::test]
async fn chain_verification_catches_a_direct_edit_by_a_superuser_and_names_the_entry() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let before = app
        .expect(200, "GET", "/api/audit/verify", &admin, None)
        .await;
    assert_eq!(before["intact"], true, "{before}");
    assert!(before["entries"].as_i64().expect("entries") > 100);

    // A superuser edits one entry's changes directly, triggers disabled.
    let mut conn = app.db.admin_conn().await;
    sqlx::raw_sql("alter table audit.audit_log disable trigger audit_log_append_only")
        .execute(&mut *conn)
        .await
        .expect("disable");
    sqlx::query("update audit.audit_log set changes = '{\"body\": {\"new\": \"nothing happened\"}}' where organization_id = $1 and seq = 42")
        .bind(world.a.id())
        .execute(&mut *conn)
        .await
        .expect("tamper");
    sqlx::raw_sql("alter table audit.audit_log enable trigger audit_log_append_only")
        .execute(&mut *conn)
        .await
        .expect("enable");
    drop(conn);

    let after = app
        .expect(200, "GET", "/api/audit/verify", &admin, None)
        .await;
    assert_eq!(after["intact"], false);
    assert_eq!(after["first_broken_seq"], 42);
    assert!(after["problem"]
        .as_str()
        .expect("problem")
        .contains("altered"));
    // The other organisation's chain is untouched.
    let other = app.sign_in(world.b.email("admin")).await;
    assert_eq!(
        app.expect(200, "GET", "/api/audit/verify", &other, None)
            .await["intact"],
        true
    );
    // A carer may not verify.
    let carer = app.sign_in(world.a.email("carer1")).await;
    app.expect(403, "GET", "/api/audit/verify", &carer, None)
        .await;
}

#[tokio::test]
async fn opening_a_service_users_record_writes_a_view_event() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    let su = world.a.service_users[0];
    app.expect(
        200,
        "GET",
        &format!("/api/service-users/{su}"),
        &carer,
        None,
    )
    .await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let audit = app
        .expect(
            200,
            "GET",
            &format!(
                "/api/audit?service_user_id={su}&actor_user_id={}",
                world.a.user("carer1")
            ),
            &admin,
            None,
        )
        .await;
    let view = &audit["items"][0];
    assert_eq!(view["operation"], "view");
    assert_eq!(view["actor_role"], "Carer");
    // Unassigned: not found, and nothing is recorded.
    app.expect(
        404,
        "GET",
        &format!("/api/service-users/{}", world.a.service_users[3]),
        &carer,
        None,
    )
    .await;
}

#[tokio::test]
async fn the_last_member_able_to_manage_roles_cannot_lose_that_ability_and_held_roles_are_not_removed(
) {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let roles = app.expect(200, "GET", "/api/roles", &admin, None).await;
    let role_id = |name: &str| {
        roles
            .as_array()
            .expect("roles")
            .iter()
            .find(|r| r["name"] == name)
            .expect(name)["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (admin_role, manager_role, carer_role) = (
        role_id("Administrator"),
        role_id("Registered Manager"),
        role_id("Carer"),
    );

    // Managers can manage roles too by default; take it away from them, then try the admin role.
    app.expect(
        200,
        "PUT",
        &format!("/api/roles/{manager_role}/permissions"),
        &admin,
        Some(&json!({"permissions": {"roles.set_permissions": false}})),
    )
    .await;
    // The administrator's own role, and their own move: refused before the last-manager guard
    // is even reached, because nobody changes their own role or its actions (issue 9).
    app.expect(
        403,
        "PUT",
        &format!("/api/roles/{admin_role}/permissions"),
        &admin,
        Some(&json!({"permissions": {"roles.set_permissions": false}})),
    )
    .await;
    app.expect(
        403,
        "PUT",
        &format!("/api/staff/{}/role", world.a.user("admin")),
        &admin,
        Some(&json!({"role_id": carer_role})),
    )
    .await;
    // The guard still holds when someone else would take the last manager away: the manager
    // (who may deactivate staff, but no longer manage roles) deactivating the administrator.
    let manager = app.sign_in(world.a.email("manager")).await;
    let refused = app
        .expect(
            409,
            "POST",
            &format!("/api/staff/{}/deactivate", world.a.user("admin")),
            &manager,
            None,
        )
        .await;
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("last member able to manage roles"),
        "{refused}"
    );
    // So is deactivating a manager-holder's way out: the admin cannot deactivate themselves.
    app.expect(
        409,
        "POST",
        &format!("/api/staff/{}/deactivate", world.a.user("admin")),
        &admin,
        None,
    )
    .await;

    // A role someone holds is not removed; an unused one is.
    app.expect(
        409,
        "DELETE",
        &format!("/api/roles/{carer_role}"),
        &admin,
        None,
    )
    .await;
    let spare = app
        .expect(
            201,
            "POST",
            "/api/roles",
            &admin,
            Some(&json!({"name": "Night Auditor"})),
        )
        .await;
    assert!(spare["permissions"]
        .as_object()
        .expect("perms")
        .values()
        .all(|v| v == false));
    app.expect(
        422,
        "POST",
        "/api/roles",
        &admin,
        Some(&json!({"name": "Night Auditor"})),
    )
    .await;
    app.expect(
        204,
        "DELETE",
        &format!("/api/roles/{}", spare["id"].as_str().expect("id")),
        &admin,
        None,
    )
    .await;

    // Moving a carer into a new role changes what they can do on the next request.
    let carer = app.sign_in(world.a.email("carer1")).await;
    app.expect(200, "GET", "/api/care-notes", &carer, None)
        .await;
    let limited = app
        .expect(
            201,
            "POST",
            "/api/roles",
            &admin,
            Some(&json!({"name": "Visitor"})),
        )
        .await;
    app.expect(
        204,
        "PUT",
        &format!("/api/staff/{}/role", world.a.user("carer1")),
        &admin,
        Some(&json!({"role_id": limited["id"]})),
    )
    .await;
    app.expect(403, "GET", "/api/care-notes", &carer, None)
        .await;
}

/// Keyset pages: one service user's notes in pages of two, newest first, each page continuing
/// after the last of the one before, and never another resident's note.
#[tokio::test]
async fn a_residents_notes_page_by_keyset_newest_first() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let manager = app.sign_in(world.a.email("manager")).await;
    let su = world.a.service_users[1];
    let other = world.a.service_users[2];
    let mut created = Vec::new();
    for hour in 1..=5 {
        let note = app
            .expect(
                201,
                "POST",
                &format!("/api/service-users/{su}/care-notes"),
                &manager,
                Some(&json!({"category": "other", "occurred_at": format!("2026-11-23T0{hour}:00:00Z"), "body": format!("Note {hour}.")})),
            )
            .await;
        created.push(note["id"].as_str().expect("id").to_owned());
    }
    app.expect(
        201,
        "POST",
        &format!("/api/service-users/{other}/care-notes"),
        &manager,
        Some(&json!({"category": "other", "occurred_at": "2026-11-23T03:30:00Z", "body": "Someone else."})),
    )
    .await;
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..4 {
        let path = match &before {
            Some(b) => format!("/api/care-notes?service_user_id={su}&limit=2&before={b}"),
            None => format!("/api/care-notes?service_user_id={su}&limit=2"),
        };
        let page = app.expect(200, "GET", &path, &manager, None).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        for item in items {
            assert_eq!(item["service_user_id"], su.to_string());
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match items.last() {
            Some(last) if !page["next"].is_null() => {
                before = Some(last["id"].as_str().expect("id").to_owned());
            }
            _ => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each exactly once");
}
