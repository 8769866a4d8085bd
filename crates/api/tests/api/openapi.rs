//! The OpenAPI document is generated from the route tables the router is built from. These
//! tests show that each documented operation exists with its method (a request without a
//! session gets 401, never the 404 of an unknown path or the 405 of a wrong method) and that
//! every action of the catalogue is named by some endpoint or enforced inside one.

use std::collections::BTreeSet;

use serde_json::Value;
use thrive_domain::Permission;

use crate::helpers::TestApp;

/// Actions no endpoint names as its own: the database checks them inside other endpoints.
const ENFORCED_WITHIN: &[(&str, &str)] = &[
    (
        "service_users.view_all",
        "widens what service_users.view shows (RLS)",
    ),
    (
        "assistant.use",
        "checked on notes and handovers that record AI help",
    ),
    (
        "assistant.draft_notes",
        "checked on notes recording ai_assistance = drafted/rewritten",
    ),
    (
        "assistant.check_notes",
        "checked on notes recording ai_assistance = checked",
    ),
    (
        "assistant.summarise",
        "checked on handovers recording ai_assistance = summarised",
    ),
];

#[tokio::test]
async fn every_documented_operation_exists_and_every_action_is_accounted_for() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200, "the document needs no session");
    let doc: Value = resp.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");

    let mut operations = 0;
    let mut named = BTreeSet::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            operations += 1;
            for a in op["x-thrive-actions"].as_array().expect("actions") {
                named.insert(a.as_str().expect("action").to_owned());
            }
            let public = op.get("security") == Some(&Value::Array(vec![]));
            let concrete = path
                .replace("{name}", "tiny.gguf")
                .replace("{id}", "00000000-0000-4000-8000-000000000000")
                .replace("{user_id}", "00000000-0000-4000-8000-000000000000");
            let req = app.http.request(
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                app.url(&concrete),
            );
            let status = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{}")
                .send()
                .await
                .expect("send")
                .status()
                .as_u16();
            if public {
                assert!(![404, 405].contains(&status), "{method} {path}: {status}");
            } else {
                assert_eq!(status, 401, "{method} {path} without a session");
            }
            assert!(
                op["summary"].as_str().is_some_and(|s| s.len() > 8),
                "{method} {path} has a summary"
            );
        }
    }
    assert!(operations >= 100, "{operations} operations documented");
    for p in Permission::ALL {
        let key = p.key();
        assert!(
            named.contains(key) || ENFORCED_WITHIN.iter().any(|(k, _)| *k == key),
            "{key} is named by no endpoint"
        );
    }
    println!(
        "OpenAPI: {operations} operations over {} paths; {} actions named by endpoints",
        paths.len(),
        named.len()
    );
}
