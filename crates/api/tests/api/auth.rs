//! Must-shows 4 and 5: lockout, identical failures, idle and absolute session expiry on a
//! controllable clock, and the PKCE exchange refusing wrong verifiers, reused and expired codes.

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{pkce_pair, session_cookie, TestApp, World, PASSWORD};

/// Status and body with the request id removed (it differs per request by design).
async fn comparable(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let mut body: Value = resp.json().await.expect("json body");
    let id = body.as_object_mut().and_then(|o| o.remove("request_id"));
    assert!(id.is_some(), "errors carry a request id");
    (status, body)
}

#[tokio::test]
async fn five_failures_within_five_minutes_lock_the_account_and_all_failures_look_alike() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let (_, challenge) = pkce_pair();

    let unknown = comparable(
        app.authorize("nobody@nowhere.example", PASSWORD, &challenge)
            .await,
    )
    .await;
    let wrong = comparable(app.authorize(email, "Wrong-Password-123", &challenge).await).await;
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown, wrong,
        "unknown email and wrong password answer alike"
    );

    for _ in 0..4 {
        app.clock.advance(Duration::seconds(30));
        assert_eq!(
            comparable(app.authorize(email, "Wrong-Password-123", &challenge).await).await,
            wrong
        );
    }
    // Five failures within five minutes: now even the right password is refused, identically.
    let locked = comparable(app.authorize(email, PASSWORD, &challenge).await).await;
    assert_eq!(
        locked, wrong,
        "a locked account answers like a wrong password"
    );

    // The lock is in PostgreSQL, so it holds for another API instance on the same database.
    let failures: i64 = sqlx::query_scalar("select count(*) from auth.lockouts")
        .fetch_one(&app.db.admin)
        .await
        .expect("q");
    assert_eq!(failures, 1);

    // It lifts after the lockout period.
    app.clock.advance(Duration::minutes(16));
    assert_eq!(
        app.authorize(email, PASSWORD, &challenge).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failures_spread_beyond_five_minutes_do_not_lock() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let (_, challenge) = pkce_pair();
    for _ in 0..8 {
        assert_eq!(
            app.authorize(email, "Wrong-Password-123", &challenge)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        app.clock.advance(Duration::seconds(80));
    }
    assert_eq!(
        app.authorize(email, PASSWORD, &challenge).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let cookie = app.sign_in(world.a.email("carer1")).await;
    // Activity slides the idle window.
    for _ in 0..3 {
        app.clock.advance(Duration::minutes(29));
        assert_eq!(app.get("/api/me", &cookie).await.status(), StatusCode::OK);
    }
    app.clock
        .advance(Duration::minutes(30) + Duration::seconds(1));
    assert_eq!(
        app.get("/api/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime_however_active() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let cookie = app.sign_in(world.a.email("carer1")).await;
    let mut elapsed = Duration::ZERO;
    while elapsed < Duration::hours(12) - Duration::minutes(20) {
        app.clock.advance(Duration::minutes(20));
        elapsed += Duration::minutes(20);
        assert_eq!(
            app.get("/api/me", &cookie).await.status(),
            StatusCode::OK,
            "at {elapsed}"
        );
    }
    app.clock.advance(Duration::minutes(20));
    assert_eq!(
        app.get("/api/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_revokes_the_session_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let cookie = app.sign_in(world.a.email("carer1")).await;
    assert_eq!(app.get("/api/me", &cookie).await.status(), StatusCode::OK);
    let resp = app
        .http
        .post(app.url("/api/auth/logout"))
        .header(COOKIE, &cookie)
        .header("x-requested-with", "thrive")
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = session_cookie(resp.headers()).expect("removal cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        app.get("/api/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_http_only_secure_and_strict() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let (code, verifier) = fresh_code(&app, world.a.email("carer1")).await;
    let resp = app.exchange(&code, &verifier, None).await;
    let cookie = session_cookie(resp.headers()).expect("cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(
        !cookie.contains("Domain="),
        "__Host- cookies carry no Domain"
    );
    // The token is stored only as its SHA-256: the row is found by the hash, never by the value.
    let value = cookie
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .expect("pair")
        .1
        .to_owned();
    let (by_hash, by_value): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where token_hash = sha256(convert_to($1, 'UTF8'))),
                count(*) filter (where position(convert_to($1, 'UTF8') in token_hash) > 0)
           from auth.sessions",
    )
    .bind(&value)
    .fetch_one(&app.db.admin)
    .await
    .expect("q");
    assert_eq!((by_hash, by_value), (1, 0));
}

#[tokio::test]
async fn every_sign_in_gets_a_new_session_and_revokes_the_one_presented() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let first = app.sign_in(email).await;
    let (code, verifier) = fresh_code(&app, email).await;
    let resp = app.exchange(&code, &verifier, Some(&first)).await;
    let second = session_cookie(resp.headers())
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(
        app.get("/api/me", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/me", &second).await.status(), StatusCode::OK);
}

async fn fresh_code(app: &TestApp, email: &str) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let resp = app.authorize(email, PASSWORD, &challenge).await;
    let code = resp.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    (code, verifier)
}

#[tokio::test]
async fn pkce_refuses_a_wrong_verifier_and_the_code_is_spent_by_the_attempt() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let (code, verifier) = fresh_code(&app, world.a.email("carer1")).await;
    let (other_verifier, _) = pkce_pair();
    let resp = app.exchange(&code, &other_verifier, None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(resp.headers()).is_none());
    assert_eq!(comparable(resp).await.1["error"], "invalid_grant");
    // Right verifier afterwards: too late, the code is gone.
    assert_eq!(
        app.exchange(&code, &verifier, None).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn pkce_refuses_a_reused_code() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let (code, verifier) = fresh_code(&app, world.a.email("carer1")).await;
    assert_eq!(
        app.exchange(&code, &verifier, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let again = app.exchange(&code, &verifier, None).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(again.headers()).is_none());
}

#[tokio::test]
async fn pkce_refuses_an_expired_code() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let (code, verifier) = fresh_code(&app, world.a.email("carer1")).await;
    app.clock.advance(Duration::seconds(61));
    assert_eq!(
        app.exchange(&code, &verifier, None).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn pkce_requires_s256() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let resp = app
        .http
        .post(app.url("/api/auth/authorize"))
        .json(
            &serde_json::json!({"email": world.a.email("carer1"), "password": PASSWORD,
              "code_challenge": "a".repeat(43), "code_challenge_method": "plain"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_deactivated_member_cannot_sign_in_and_their_sessions_stop_working() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let cookie = app.sign_in(world.a.email("carer1")).await;
    sqlx::query("update memberships set active = false where user_id = $1")
        .bind(world.a.user("carer1"))
        .execute(&app.db.admin)
        .await
        .expect("deactivate");
    assert_eq!(
        app.get("/api/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, challenge) = pkce_pair();
    assert_eq!(
        app.authorize(world.a.email("carer1"), PASSWORD, &challenge)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
