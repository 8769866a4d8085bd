//! Second factors and step-up (issue 9, must-show 3): TOTP enrolment, sign-in with it,
//! recovery codes used once, a wrong code counted towards the lockout, a role made
//! MFA-mandatory reaching nothing until enrolled, and an export demanding step-up.

use reqwest::StatusCode;
use serde_json::{json, Value};
use thrive_api::clock::Clock;
use time::Duration;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{pkce_pair, session_cookie, TestApp, World, PASSWORD};

fn code_at(secret: &str, app: &TestApp) -> String {
    let bytes = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("base32");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes)
        .generate(app.clock.now().unix_timestamp() as u64)
}

/// Enrols a TOTP for the signed-in `cookie`: (secret, recovery codes).
async fn enrol(app: &TestApp, cookie: &str) -> (String, Vec<String>) {
    let started = app
        .expect(200, "POST", "/api/account/mfa/totp", cookie, None)
        .await;
    let secret = started["secret"].as_str().expect("secret").to_owned();
    assert!(started["otpauth_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("otpauth://totp/Thrive:")));
    app.expect(
        422,
        "POST",
        "/api/account/mfa/totp/confirm",
        cookie,
        Some(&json!({"code": "000000"})),
    )
    .await;
    let done = app
        .expect(
            200,
            "POST",
            "/api/account/mfa/totp/confirm",
            cookie,
            Some(&json!({"code": code_at(&secret, app)})),
        )
        .await;
    let codes: Vec<String> = done["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Password step: the second-factor token.
async fn password_step(app: &TestApp, email: &str, challenge: &str) -> String {
    let resp = app.authorize(email, PASSWORD, challenge).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body.get("code").is_none(),
        "no code before the second factor: {body}"
    );
    body["second_factor_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn factor(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    app.send(
        "POST",
        "/api/auth/second-factor",
        "",
        Some(&json!({"second_factor_token": token, "code": code})),
    )
    .await
}

async fn finish(app: &TestApp, resp: reqwest::Response, verifier: &str) -> String {
    assert_eq!(resp.status(), StatusCode::OK);
    let code = resp.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let resp = app.exchange(&code, verifier, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    session_cookie(resp.headers())
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned()
}

#[tokio::test]
async fn totp_enrolment_sign_in_recovery_codes_once_and_wrong_codes_lock() {
    // Many sign-ins from one address: the per-address rate limit is not what is tested here.
    let app = TestApp::spawn_with_auth(thrive_api::config::AuthSettings {
        address_burst: 1_000,
        address_per_minute: 1_000,
        ..Default::default()
    })
    .await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let cookie = app.sign_in(email).await;
    let (secret, recovery) = enrol(&app, &cookie).await;
    let status = app
        .expect(200, "GET", "/api/account/mfa", &cookie, None)
        .await;
    assert_eq!(status, json!({"totp": true, "recovery_codes_left": 10}));
    // Enrolment is in the organisation's audit trail.
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit.audit_log where table_name = 'second_factor' and changes->'factor'->>'new' = 'enrol' and actor_user_id = $1",
    )
    .bind(world.a.user("carer1"))
    .fetch_one(&app.db.admin)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // Sign-in now needs the code after the password.
    app.clock.advance(Duration::seconds(31));
    let (verifier, challenge) = pkce_pair();
    let token = password_step(&app, email, &challenge).await;
    let now_code = code_at(&secret, &app);
    let signed_in = finish(&app, factor(&app, &token, &now_code).await, &verifier).await;
    assert_eq!(
        app.get("/api/me", &signed_in).await.status(),
        StatusCode::OK
    );
    // The same code is never accepted twice.
    let (_, challenge) = pkce_pair();
    let token = password_step(&app, email, &challenge).await;
    assert_eq!(
        factor(&app, &token, &now_code).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A recovery code works once.
    let (verifier, challenge) = pkce_pair();
    let token = password_step(&app, email, &challenge).await;
    finish(&app, factor(&app, &token, &recovery[0]).await, &verifier).await;
    let (_, challenge) = pkce_pair();
    let token = password_step(&app, email, &challenge).await;
    assert_eq!(
        factor(&app, &token, &recovery[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Wrong codes count towards the lockout like wrong passwords (and a right password between
    // them forgets none of them): with the replayed recovery code above, four more lock the
    // account; then even the right password is refused.
    app.clock.advance(Duration::seconds(31));
    for _ in 0..4 {
        let (_, challenge) = pkce_pair();
        let token = password_step(&app, email, &challenge).await;
        assert_eq!(
            factor(&app, &token, "123456").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let (_, challenge) = pkce_pair();
    assert_eq!(
        app.authorize(email, PASSWORD, &challenge).await.status(),
        StatusCode::UNAUTHORIZED,
        "locked after five failed codes"
    );
}

#[tokio::test]
async fn a_role_made_mfa_mandatory_reaches_nothing_until_its_member_enrols() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let roles = app.expect(200, "GET", "/api/roles", &admin, None).await;
    let carer_role = roles
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["name"] == "Carer")
        .and_then(|r| r["id"].as_str())
        .expect("carer")
        .to_owned();
    app.expect(
        204,
        "PUT",
        &format!("/api/roles/{carer_role}/mfa"),
        &admin,
        Some(&json!({"required": true})),
    )
    .await;
    let carer = app.sign_in(world.a.email("carer1")).await;
    app.expect(200, "GET", "/api/me", &carer, None).await;
    let refused = app
        .expect(403, "GET", "/api/service-users", &carer, None)
        .await;
    assert_eq!(refused["error"], "mfa_enrolment_required");
    let su = world.a.service_users[0];
    app.expect(
        403,
        "GET",
        &format!("/api/care-notes?service_user_id={su}"),
        &carer,
        None,
    )
    .await;
    enrol(&app, &carer).await;
    app.expect(200, "GET", "/api/service-users", &carer, None)
        .await;
}

#[tokio::test]
async fn an_export_demands_step_up_by_password_or_code() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    // Fresh from signing in: allowed.
    assert_eq!(
        app.get("/api/exports/organisation.zip", &admin)
            .await
            .status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::minutes(6));
    let resp = app.get("/api/exports/organisation.zip", &admin).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"],
        "step_up_required"
    );
    // The ladder, deactivation and closure are guarded the same way.
    app.expect(
        403,
        "POST",
        &format!("/api/staff/{}/deactivate", world.a.user("carer2")),
        &admin,
        None,
    )
    .await;
    // A wrong password is refused (and counted); the right one steps up.
    app.expect(
        401,
        "POST",
        "/api/auth/step-up",
        &admin,
        Some(&json!({"password": "Wrong-Password-123"})),
    )
    .await;
    app.expect(
        204,
        "POST",
        "/api/auth/step-up",
        &admin,
        Some(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(
        app.get("/api/exports/organisation.zip", &admin)
            .await
            .status(),
        StatusCode::OK
    );
    // With a second factor, a code steps up too.
    let (secret, _) = enrol(&app, &admin).await;
    app.clock.advance(Duration::minutes(6));
    assert_eq!(
        app.get("/api/exports/organisation.zip", &admin)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    app.expect(
        204,
        "POST",
        "/api/auth/step-up",
        &admin,
        Some(&json!({"code": code_at(&secret, &app)})),
    )
    .await;
    assert_eq!(
        app.get("/api/exports/organisation.zip", &admin)
            .await
            .status(),
        StatusCode::OK
    );
}
