//! Issue 13 item 3: the carer's home in one request. `GET /api/home/today` lists only what the
//! caller may see (a carer: assigned service users), drops doses already recorded and handovers
//! already acknowledged, and shows another organisation nothing.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, World};

async fn today(app: &TestApp, cookie: &str) -> Vec<Value> {
    let resp = app.get("/api/home/today", cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    body["tasks"].as_array().expect("tasks").clone()
}

fn su_of(t: &Value) -> Uuid {
    t["service_user_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

fn has(tasks: &[Value], su: Uuid, kind: &str, pred: impl Fn(&Value) -> bool) -> bool {
    tasks
        .iter()
        .any(|t| su_of(t) == su && t["kind"] == kind && pred(t))
}

/// A prescription at 08:00 and 20:00, a handover written now, for every service user of `org`.
async fn seed_today(app: &TestApp, org: Uuid, sus: &[Uuid]) -> Vec<(Uuid, Uuid)> {
    let mut conn = app.db.admin_conn().await;
    let mut out = Vec::new();
    for su in sus {
        let rx: Uuid = sqlx::query_scalar(
            "insert into prescriptions (organization_id, service_user_id, drug, dose, route, schedule, times, start_date)
             values ($1, $2, 'Hometestol', '5 mg', 'oral', 'twice daily', array['08:00','20:00']::time[], current_date - 1)
             returning id",
        )
        .bind(org)
        .bind(su)
        .fetch_one(&mut *conn)
        .await
        .expect("prescription");
        let h: Uuid = sqlx::query_scalar(
            "insert into handovers (organization_id, service_user_id, shift, summary)
             values ($1, $2, 'morning', 'Home test handover') returning id",
        )
        .bind(org)
        .bind(su)
        .fetch_one(&mut *conn)
        .await
        .expect("handover");
        out.push((rx, h));
    }
    out
}

#[tokio::test]
async fn a_carers_today_lists_only_assigned_people_and_only_what_is_still_to_do() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    let made = seed_today(&app, a.id(), &a.service_users).await;
    seed_today(&app, world.b.id(), &world.b.service_users).await;

    let carer = app.sign_in(a.email("carer1")).await;
    let tasks = today(&app, &carer).await;
    let assigned: BTreeSet<Uuid> = a.service_users[..2].iter().copied().collect();
    let seen: BTreeSet<Uuid> = tasks.iter().map(su_of).collect();
    assert_eq!(
        seen, assigned,
        "a carer sees tasks for assigned people only"
    );
    for su in &a.service_users[..2] {
        for time in ["08:00", "20:00"] {
            assert!(
                has(&tasks, *su, "dose", |t| t["time"] == time
                    && t["drug"] == "Hometestol"),
                "dose {time} due"
            );
        }
        assert!(has(&tasks, *su, "handover", |t| t["shift"] == "morning"));
    }
    // Person1 has no fluid chart at all: overdue.
    assert!(has(&tasks, a.service_users[1], "fluid_overdue", |_| true));

    // The 08:00 dose recorded and the handover acknowledged: both leave the list.
    let (rx, h) = made[0];
    let su0 = a.service_users[0];
    sqlx::query(
        "insert into medication_administrations (organization_id, service_user_id, prescription_id, scheduled_for, outcome)
         values ($1, $2, $3, current_date + time '08:00', 'given')",
    )
    .bind(a.id())
    .bind(su0)
    .bind(rx)
    .execute(&mut *app.db.admin_conn().await)
    .await
    .expect("administration");
    let resp = app
        .http
        .post(app.url(&format!("/api/handovers/{h}/acknowledge")))
        .header(reqwest::header::COOKIE, &carer)
        .header("x-requested-with", "thrive")
        .send()
        .await
        .expect("ack");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let tasks = today(&app, &carer).await;
    assert!(!has(&tasks, su0, "dose", |t| t["time"] == "08:00"
        && t["drug"] == "Hometestol"));
    assert!(has(&tasks, su0, "dose", |t| t["time"] == "20:00"
        && t["drug"] == "Hometestol"));
    let h = h.to_string();
    assert!(!has(&tasks, su0, "handover", |t| t["id"] == h.as_str()));
    let other = made[1].1.to_string();
    assert!(has(&tasks, a.service_users[1], "handover", |t| t["id"]
        == other.as_str()));
    // Another carer still has to acknowledge it (acknowledgement is per person): carer2 is not
    // assigned to Person0, so they see nothing of it at all.
    let carer2 = app.sign_in(a.email("carer2")).await;
    let tasks2 = today(&app, &carer2).await;
    assert!(tasks2.iter().all(|t| su_of(t) == a.service_users[2]));

    // Another organisation's manager sees none of organisation A's people.
    let manager_b = app.sign_in(world.b.email("manager")).await;
    let theirs = today(&app, &manager_b).await;
    assert!(!theirs.is_empty());
    assert!(theirs
        .iter()
        .all(|t| world.b.service_users.contains(&su_of(t))));
}

#[tokio::test]
async fn signed_out_callers_get_401() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/api/home/today"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// The manager's dashboard counts past the list pages' 200 rows, and only its own organisation.
#[tokio::test]
async fn the_dashboard_counts_exactly_and_only_its_organisation() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    let manager = app.sign_in(a.email("manager")).await;
    let get = |cookie: String| {
        let app = &app;
        async move {
            let resp = app.get("/api/home/dashboard", &cookie).await;
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Value>().await.expect("json")
        }
    };
    let before = get(manager.clone()).await;
    let mut conn = app.db.admin_conn().await;
    // Bulk rows straight in, past the lifecycle triggers (this connection only).
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .expect("replica");
    // 250 submitted notes in A (more than a list page's 200), 40 in B.
    for (org, su, n) in [
        (a.id(), a.service_users[0], 250),
        (world.b.id(), world.b.service_users[0], 40),
    ] {
        sqlx::query(
            "insert into care_notes (organization_id, service_user_id, category, occurred_at, body, status)
             select $1, $2, 'nutrition', now() - interval '1 hour', 'Dashboard note ' || g, 'submitted'
             from generate_series(1, $3) g",
        )
        .bind(org)
        .bind(su)
        .bind(n)
        .execute(&mut *conn)
        .await
        .expect("notes");
    }
    let after = get(manager.clone()).await;
    assert_eq!(
        after["awaiting_sign_off"].as_i64().expect("n")
            - before["awaiting_sign_off"].as_i64().expect("n"),
        250
    );
    assert_eq!(
        after["incidents_by_week"].as_array().expect("weeks").len(),
        6
    );
    assert_eq!(
        after["signed_off_by_day"].as_array().expect("days").len(),
        7
    );
    // B's manager counts none of A's 250.
    let manager_b = app.sign_in(world.b.email("manager")).await;
    let b = get(manager_b).await;
    assert!(b["awaiting_sign_off"].as_i64().expect("n") < 250);
}

#[tokio::test]
async fn the_carers_today_is_an_audited_read_naming_the_people_shown_once_per_window() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    seed_today(&app, a.id(), &a.service_users).await;
    let entries = || async {
        sqlx::query_as::<_, (Value,)>(
            "select changes from audit.audit_log
              where organization_id = $1 and actor_user_id = $2 and operation = 'view'
                and changes->'query'->'new'->>'home' = 'today'",
        )
        .bind(a.id())
        .bind(a.user("carer1"))
        .fetch_all(&app.db.admin)
        .await
        .expect("audit")
    };
    let carer = app.sign_in(a.email("carer1")).await;
    let tasks = today(&app, &carer).await;
    let shown: BTreeSet<Uuid> = tasks.iter().map(su_of).collect();
    let logged = entries().await;
    assert_eq!(logged.len(), 1, "one read entry for the home's tasks");
    let named: BTreeSet<Uuid> =
        serde_json::from_value(logged[0].0["service_users"]["new"].clone()).expect("service users");
    assert_eq!(
        named, shown,
        "the entry names exactly the people whose tasks were shown"
    );
    // The same read again within five minutes is collapsed into the first entry.
    today(&app, &carer).await;
    assert_eq!(entries().await.len(), 1);
}

fn ids(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|s| s["id"].as_str().expect("id").parse().expect("uuid"))
        .collect()
}

/// A home is `/api/me` and one aggregate (issue 13 must-show 4): each aggregate carries the
/// service-users card's list, the same rows in the same order `GET /api/service-users` gives
/// that caller, under RLS (a carer: assigned people only; another organisation: none of A's).
#[tokio::test]
async fn each_home_aggregate_carries_the_callers_service_users_list() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    for (who, aggregate) in [
        ("carer1", "/api/home/today"),
        ("manager", "/api/home/dashboard"),
        ("manager", "/api/home/today"),
    ] {
        let cookie = app.sign_in(a.email(who)).await;
        let list: Value = app
            .get("/api/service-users", &cookie)
            .await
            .json()
            .await
            .expect("json");
        let resp = app.get(aggregate, &cookie).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let home: Value = resp.json().await.expect("json");
        assert_eq!(home["service_users"], list, "{who} {aggregate}");
        let shown = ids(&home["service_users"]);
        if who == "carer1" {
            assert_eq!(shown, a.service_users[..2].to_vec());
        } else {
            assert!(a.service_users.iter().all(|s| shown.contains(s)));
        }
        assert!(
            !world.b.service_users.iter().any(|s| shown.contains(s)),
            "nothing of another organisation"
        );
    }
}

/// The assignments screen in one request: every visible service user with exactly the staff
/// the per-person route lists, names only with staff.view, none of another organisation.
#[tokio::test]
async fn the_assignments_overview_matches_the_per_person_lists_in_one_request() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let a = &world.a;
    let manager = app.sign_in(a.email("manager")).await;
    let resp = app.get("/api/assignments", &manager).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    let rows = body["service_users"].as_array().expect("rows");
    let shown: Vec<Uuid> = rows
        .iter()
        .map(|r| {
            r["service_user"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid")
        })
        .collect();
    let list: Value = app
        .get("/api/service-users", &manager)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown, ids(&list), "the same people, in the list's order");
    assert!(!world.b.service_users.iter().any(|s| shown.contains(s)));
    let mut any_assigned = false;
    for r in rows {
        let id = r["service_user"]["id"].as_str().expect("id");
        let each: Value = app
            .get(&format!("/api/service-users/{id}/assignments"), &manager)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(r["assigned"], each, "{id}");
        any_assigned |= !each.as_array().expect("ids").is_empty();
    }
    assert!(any_assigned, "the seed assigns carers");
    let staff: Vec<Uuid> = body["staff"]
        .as_array()
        .expect("staff")
        .iter()
        .map(|s| s["user_id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    assert!(staff.contains(&a.user("carer1")));
    assert!(!staff.iter().any(|u| *u == world.b.user("manager")));

    // Without assignments.view (a carer in the default ladder): 403, as the per-person route.
    let carer = app.sign_in(a.email("carer1")).await;
    let per_person = app
        .get(
            &format!("/api/service-users/{}/assignments", a.service_users[0]),
            &carer,
        )
        .await
        .status();
    assert_eq!(
        app.get("/api/assignments", &carer).await.status(),
        per_person
    );
}
