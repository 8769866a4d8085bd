//! Passkeys (issue 9, MFA): enrolment needs step-up and is audited; a passkey is a second
//! factor at sign-in and for step-up; a ceremony is answered once; wrong answers count towards
//! the lockout like wrong codes; removal needs step-up and is audited; the data role cannot
//! read the credentials.
//!
//! The authenticator is a software one written here: a P-256 key (OpenSSL, as webauthn-rs
//! itself uses) answering the browser API's JSON with "none" attestation, exactly what a
//! browser sends for a platform authenticator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use thrive_api::clock::Clock;
use time::Duration;

use crate::helpers::{pkce_pair, session_cookie, TestApp, World, PASSWORD};

/// A software authenticator holding one credential.
struct SoftKey {
    key: EcKey<Private>,
    credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    origin: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("base64url")
}

/// A CBOR byte string's header and bytes.
fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend([0x58, n as u8]),
        n => {
            out.push(0x59);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend(bytes);
}

impl SoftKey {
    fn new(app: &TestApp) -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let mut credential_id = vec![0u8; 32];
        openssl::rand::rand_bytes(&mut credential_id).expect("random");
        let port = app.base.rsplit(':').next().expect("port");
        SoftKey {
            key: EcKey::generate(&group).expect("key"),
            credential_id,
            user_handle: Vec::new(),
            counter: 0,
            // The relying party is `localhost` (any port), as a browser on the test host sees it.
            origin: format!("http://localhost:{port}"),
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("client data")
    }

    fn auth_data(&mut self, attested: bool) -> Vec<u8> {
        self.counter += 1;
        let mut data = Sha256::digest(b"localhost").to_vec();
        // User present, user verified, and (at registration) attested credential data.
        data.push(if attested { 0x45 } else { 0x05 });
        data.extend(self.counter.to_be_bytes());
        if attested {
            data.extend([0u8; 16]);
            data.extend((self.credential_id.len() as u16).to_be_bytes());
            data.extend(&self.credential_id);
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
            let mut ctx = BigNumContext::new().expect("ctx");
            let point = self
                .key
                .public_key()
                .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
                .expect("point");
            // COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
            data.extend([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]);
            cbor_bytes(&mut data, &point[1..33]);
            data.push(0x22);
            cbor_bytes(&mut data, &point[33..65]);
        }
        data
    }

    /// The answer to `navigator.credentials.create` for webauthn-rs's options.
    fn register(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        self.user_handle = unb64(public_key["user"]["id"].as_str().expect("user id"));
        let client_data = self.client_data(
            "webauthn.create",
            public_key["challenge"].as_str().expect("challenge"),
        );
        let auth_data = self.auth_data(true);
        // {"fmt": "none", "attStmt": {}, "authData": …}
        let mut attestation = vec![0xa3, 0x63];
        attestation.extend(b"fmt");
        attestation.push(0x64);
        attestation.extend(b"none");
        attestation.push(0x67);
        attestation.extend(b"attStmt");
        attestation.push(0xa0);
        attestation.push(0x68);
        attestation.extend(b"authData");
        cbor_bytes(&mut attestation, &auth_data);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
                "transports": ["internal"],
            },
            "extensions": {},
        })
    }

    /// The answer to `navigator.credentials.get` for webauthn-rs's options.
    fn assert(&mut self, options: &Value) -> Value {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("challenge");
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data(false);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = EcdsaSig::sign(&Sha256::digest(&signed), &self.key)
            .and_then(|s| s.to_der())
            .expect("signature");
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(&signature),
                "userHandle": b64(&self.user_handle),
            },
            "extensions": {},
        })
    }
}

fn many_sign_ins() -> thrive_api::config::AuthSettings {
    thrive_api::config::AuthSettings {
        address_burst: 1_000,
        address_per_minute: 1_000,
        ..Default::default()
    }
}

/// Enrols `key` for the signed-in `cookie` (the session must be fresh).
async fn enrol(app: &TestApp, cookie: &str, key: &mut SoftKey, name: &str) -> Value {
    let options = app
        .expect(200, "POST", "/api/account/passkeys/options", cookie, None)
        .await;
    let credential = key.register(&options);
    app.expect(
        200,
        "POST",
        "/api/account/passkeys",
        cookie,
        Some(&json!({"name": name, "credential": credential})),
    )
    .await
}

/// The password step: the second-factor token.
async fn password_step(app: &TestApp, email: &str, challenge: &str) -> String {
    let resp = app.authorize(email, PASSWORD, challenge).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert!(body.get("code").is_none(), "no code before the passkey");
    body["second_factor_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn passkey_options(app: &TestApp, token: &str) -> Value {
    app.expect(
        200,
        "POST",
        "/api/auth/second-factor/passkey/options",
        "",
        Some(&json!({"second_factor_token": token})),
    )
    .await
}

async fn passkey_answer(app: &TestApp, token: &str, credential: &Value) -> reqwest::Response {
    app.send(
        "POST",
        "/api/auth/second-factor/passkey",
        "",
        Some(&json!({"second_factor_token": token, "credential": credential})),
    )
    .await
}

async fn audited(app: &TestApp, what: &str, user: uuid::Uuid) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit.audit_log where table_name = 'second_factor'
            and changes->'factor'->>'new' = $1 and actor_user_id = $2",
    )
    .bind(what)
    .bind(user)
    .fetch_one(&app.db.admin)
    .await
    .expect("audit")
}

#[tokio::test]
async fn a_passkey_enrolled_after_step_up_signs_in_steps_up_and_is_removed_all_audited() {
    let app = TestApp::spawn_with_auth(many_sign_ins()).await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let me = world.a.user("carer1");
    let cookie = app.sign_in(email).await;
    let mut key = SoftKey::new(&app);

    // Enrolment needs a fresh authentication.
    app.clock.advance(Duration::minutes(6));
    let refused = app
        .expect(403, "POST", "/api/account/passkeys/options", &cookie, None)
        .await;
    assert_eq!(refused["error"], "step_up_required");
    app.expect(
        204,
        "POST",
        "/api/auth/step-up",
        &cookie,
        Some(&json!({"password": PASSWORD})),
    )
    .await;
    let added = enrol(&app, &cookie, &mut key, "Ward laptop").await;
    assert_eq!(added["name"], "Ward laptop");
    assert_eq!(audited(&app, "passkey_enrol", me).await, 1);

    // A ceremony finishes once: the same answer again is refused.
    let options = app
        .expect(200, "POST", "/api/account/passkeys/options", &cookie, None)
        .await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        json!(b64(&key.credential_id)),
        "the registered passkey is excluded from a new registration"
    );
    let again = key.register(&options);
    let resp = app
        .send(
            "POST",
            "/api/account/passkeys",
            &cookie,
            Some(&json!({"name": "Same again", "credential": again})),
        )
        .await;
    assert!(
        resp.status().is_client_error(),
        "a registered credential is not registered twice"
    );
    app.expect(
        409,
        "POST",
        "/api/account/passkeys",
        &cookie,
        Some(&json!({"name": "Replayed", "credential": again})),
    )
    .await;
    let list = app
        .expect(200, "GET", "/api/account/passkeys", &cookie, None)
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Sign-in: the password gives a token, the passkey the code.
    let (verifier, challenge) = pkce_pair();
    let token = password_step(&app, email, &challenge).await;
    let options = passkey_options(&app, &token).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        json!(b64(&key.credential_id))
    );
    let answer = key.assert(&options);
    let resp = passkey_answer(&app, &token, &answer).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let code = resp.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let resp = app.exchange(&code, &verifier, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let second = session_cookie(resp.headers())
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    app.expect(200, "GET", "/api/me", &second, None).await;
    assert_eq!(audited(&app, "sign_in_passkey", me).await, 1);
    let list = app
        .expect(200, "GET", "/api/account/passkeys", &second, None)
        .await;
    assert!(list[0]["last_used_at"].is_string(), "{list}");

    // The same answer cannot be used again, with the spent token or a new one.
    let resp = passkey_answer(&app, &token, &answer).await;
    assert_ne!(resp.status(), StatusCode::OK);
    let (_, challenge) = pkce_pair();
    let fresh = password_step(&app, email, &challenge).await;
    passkey_options(&app, &fresh).await;
    let resp = passkey_answer(&app, &fresh, &answer).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Removal needs step-up: with the passkey this time.
    app.clock.advance(Duration::minutes(6));
    let id = list[0]["id"].as_str().expect("id").to_owned();
    let refused = app
        .expect(
            403,
            "DELETE",
            &format!("/api/account/passkeys/{id}"),
            &second,
            None,
        )
        .await;
    assert_eq!(refused["error"], "step_up_required");
    let challenge = app
        .expect(
            200,
            "POST",
            "/api/auth/step-up/passkey/options",
            &second,
            None,
        )
        .await;
    let answer = key.assert(&challenge["options"]);
    app.expect(
        204,
        "POST",
        "/api/auth/step-up/passkey",
        &second,
        Some(
            &json!({"second_factor_token": challenge["second_factor_token"], "credential": answer}),
        ),
    )
    .await;
    app.expect(
        204,
        "DELETE",
        &format!("/api/account/passkeys/{id}"),
        &second,
        None,
    )
    .await;
    assert_eq!(audited(&app, "passkey_remove", me).await, 1);
    // Without a second factor, the password alone signs in again.
    let (_, challenge) = pkce_pair();
    let resp = app.authorize(email, PASSWORD, &challenge).await;
    let body: Value = resp.json().await.expect("json");
    assert!(body["code"].is_string(), "{body}");
}

#[tokio::test]
async fn wrong_passkey_answers_count_towards_the_lockout() {
    let app = TestApp::spawn_with_auth(many_sign_ins()).await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
    let cookie = app.sign_in(email).await;
    let mut key = SoftKey::new(&app);
    enrol(&app, &cookie, &mut key, "Phone").await;

    // An attacker with the password but not the device: a key of their own, a forged
    // signature, an answer with no challenge asked for, garbage.
    let mut impostor = SoftKey::new(&app);
    impostor.credential_id = key.credential_id.clone();
    impostor.user_handle = key.user_handle.clone();
    for attempt in 0..5 {
        let (_, challenge) = pkce_pair();
        let token = password_step(&app, email, &challenge).await;
        let answer = match attempt {
            0 => {
                let options = passkey_options(&app, &token).await;
                impostor.assert(&options)
            }
            1 => {
                let options = passkey_options(&app, &token).await;
                let mut answer = key.assert(&options);
                answer["response"]["signature"] = json!(b64(&[0x30, 0x06, 2, 1, 1, 2, 1, 1]));
                answer
            }
            2 => key.assert(&json!({"publicKey": {"challenge": b64(b"never asked")}})),
            _ => {
                passkey_options(&app, &token).await;
                json!({"id": "x"})
            }
        };
        let resp = passkey_answer(&app, &token, &answer).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Five failures: the account is locked; even the right password is refused now.
    let (_, challenge) = pkce_pair();
    let resp = app.authorize(email, PASSWORD, &challenge).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let locks: i64 = sqlx::query_scalar(
        "select count(*) from auth.lockouts where user_id = $1 and locked_until > $2",
    )
    .bind(world.a.user("carer1"))
    .bind(app.clock.now())
    .fetch_one(&app.db.admin)
    .await
    .expect("locks");
    assert!(locks >= 1, "the account is locked");
}

#[tokio::test]
async fn a_passkey_satisfies_a_role_that_demands_a_second_factor_and_the_data_role_cannot_read_passkeys(
) {
    let app = TestApp::spawn_with_auth(many_sign_ins()).await;
    let world = World::seed(&app.db).await;
    let email = world.a.email("carer1");
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
    let cookie = app.sign_in(email).await;
    let refused = app
        .expect(403, "GET", "/api/service-users", &cookie, None)
        .await;
    assert_eq!(refused["error"], "mfa_enrolment_required");
    let mut key = SoftKey::new(&app);
    enrol(&app, &cookie, &mut key, "Phone").await;
    app.expect(200, "GET", "/api/service-users", &cookie, None)
        .await;

    for sql in [
        "select * from auth.passkeys",
        "select * from auth.passkey_registrations",
        "select auth.passkeys_for_factor('\\x00', now())",
    ] {
        let err = sqlx::query(sql).execute(&app.db.app).await.expect_err(sql);
        assert_eq!(
            err.as_database_error().and_then(|d| d.code()).as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
}
