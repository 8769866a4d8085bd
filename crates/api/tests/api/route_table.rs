//! Issue 14, point 1: the route table's action is the check. Routes built from a table here
//! (added to the real app) show that a handler which names no action is still held to its
//! entry's, that one which checks a different action than its entry fails, and that one which
//! answers without checking its entry's action fails too.

use axum::extract::State;
use axum::http::StatusCode;
use thrive_api::error::Result;
use thrive_api::http::extract::Caller;
use thrive_api::http::routes::Routes;
use thrive_api::startup::AppState;
use thrive_domain::Permission;

use crate::helpers::{TestApp, World};

/// Names no action: opens the caller's transaction and reads nothing else.
async fn names_nothing(State(s): State<AppState>, c: Caller) -> Result<StatusCode> {
    c.begin(&s).await?.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the audit trail's action, whatever its table entry says.
async fn checks_audit_view(State(s): State<AppState>, c: Caller) -> Result<StatusCode> {
    let mut tx = c.begin(&s).await?;
    c.require(&mut tx, Permission::AuditView).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Answers without opening the caller's transaction at all.
async fn forgets(_: Caller) -> StatusCode {
    StatusCode::NO_CONTENT
}

fn table() -> Routes {
    Routes::new()
        .get(
            "/test/audit-only",
            &[Permission::AuditView],
            "A route whose handler names no action",
            names_nothing,
        )
        .get(
            "/test/contradicts",
            &[Permission::CareNotesView],
            "A handler checking another action than its entry",
            checks_audit_view,
        )
        .get(
            "/test/chooses",
            &[Permission::CareNotesView, Permission::AuditView],
            "A handler choosing among its entry's actions",
            checks_audit_view,
        )
        .by_data()
        .get(
            "/test/forgets",
            &[Permission::AuditView],
            "A handler that never checks",
            forgets,
        )
}

#[tokio::test]
async fn a_handler_is_held_to_its_route_tables_action_and_cannot_contradict_or_skip_it() {
    let app = TestApp::spawn_with(table().router(), None).await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let carer = app.sign_in(world.a.email("carer1")).await;

    // The handler names nothing; the table's audit.view is checked for it.
    app.expect(204, "GET", "/api/test/audit-only", &admin, None)
        .await;
    let refused = app
        .expect(403, "GET", "/api/test/audit-only", &carer, None)
        .await;
    assert_eq!(refused["error"], "forbidden");

    // A carer may read care notes (the entry's action), yet the handler's own different check
    // is not honoured: the request fails for everyone, the administrator included.
    for who in [&admin, &carer] {
        let failed = app
            .expect(500, "GET", "/api/test/contradicts", who, None)
            .await;
        assert_eq!(failed["error"], "internal");
    }

    // Marked by_data, the handler may choose an action its entry lists.
    app.expect(204, "GET", "/api/test/chooses", &admin, None)
        .await;
    app.expect(403, "GET", "/api/test/chooses", &carer, None)
        .await;

    // Answering without the entry's action checked is a failure, never a success.
    app.expect(500, "GET", "/api/test/forgets", &admin, None)
        .await;
}

#[test]
#[should_panic(expected = "several actions")]
fn a_route_with_several_actions_not_marked_by_data_cannot_be_built() {
    let _ = Routes::new()
        .get(
            "/test/ambiguous",
            &[Permission::CareNotesView, Permission::AuditView],
            "Which one would begin check?",
            names_nothing,
        )
        .router();
}

#[test]
#[should_panic(expected = "no action to choose from")]
fn a_by_data_route_without_actions_cannot_be_built() {
    let _ = Routes::new()
        .get("/test/empty", &[], "Nothing to choose", names_nothing)
        .by_data()
        .router();
}
