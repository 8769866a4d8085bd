//! The test harness: `TestDb` (fresh database), `World` (two seeded organisations) and
//! `TestApp` (the real application on a random port with a controllable clock).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::PgConnection;
use thrive_api::clock::ManualClock;
use thrive_api::config::AuthSettings;
use thrive_api::db::seed::{self, SeededOrganization};
use thrive_api::model_files::{ModelStore, DEFAULT_CHUNK_BYTES};
use thrive_api::startup::{AppState, Application};
use thrive_domain::DefaultRole;
use time::OffsetDateTime;
use uuid::Uuid;

pub const PASSWORD: &str = "Quiet-Lantern-Orchard-47";

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `cargo xtask test`"))
}

/// A fresh database, cloned from the migrated template, with an administrator pool (fixtures
/// only) and the API role's pool (everything under test).
pub struct TestDb {
    pub admin: PgPool,
    pub app: PgPool,
    pub owner: PgPool,
    /// As `thrive_auth`, the sign-in routes' role.
    pub auth: PgPool,
}

impl TestDb {
    pub async fn new() -> Self {
        let admin_options: PgConnectOptions =
            env("THRIVE_TEST_ADMIN_URL").parse().expect("admin url");
        let name = format!("thrive_test_{}", Uuid::new_v4().simple());
        let server = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin_options.clone())
            .await
            .expect("connect admin");
        sqlx::query(&format!(
            "create database {name} template {} owner thrive_owner",
            env("THRIVE_TEST_TEMPLATE")
        ))
        .execute(&server)
        .await
        .expect("create test database");
        sqlx::query(&format!(
            "grant connect, temporary on database {name} to thrive_app"
        ))
        .execute(&server)
        .await
        .expect("grant connect");
        sqlx::query(&format!("grant connect on database {name} to thrive_auth"))
            .execute(&server)
            .await
            .expect("grant connect to thrive_auth");
        server.close().await;
        let pool = |opts: PgConnectOptions| {
            PgPoolOptions::new()
                .max_connections(5)
                .connect_lazy_with(opts)
        };
        let admin = pool(admin_options.clone().database(&name));
        let app = pool(
            admin_options
                .clone()
                .database(&name)
                .username("thrive_app")
                .password(&env("THRIVE_TEST_APP_PASSWORD")),
        );
        let owner = pool(
            admin_options
                .clone()
                .database(&name)
                .username("thrive_owner")
                .password(&env("THRIVE_TEST_OWNER_PASSWORD")),
        );
        let auth = pool(
            admin_options
                .database(&name)
                .username("thrive_auth")
                .password(&env("THRIVE_TEST_AUTH_PASSWORD")),
        );
        TestDb {
            admin,
            app,
            owner,
            auth,
        }
    }

    pub async fn admin_conn(&self) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
        self.admin.acquire().await.expect("admin connection")
    }
}

/// One seeded organisation's people and service users.
pub struct Org {
    pub org: SeededOrganization,
    pub staff: HashMap<&'static str, Uuid>,
    pub emails: HashMap<&'static str, String>,
    pub service_users: Vec<Uuid>,
}

impl Org {
    pub fn id(&self) -> Uuid {
        self.org.id
    }
    pub fn user(&self, who: &str) -> Uuid {
        self.staff[who]
    }
    pub fn email(&self, who: &str) -> &str {
        &self.emails[who]
    }
}

/// Two organisations, "a" and "b", each with admin, manager, senior, carer1 and carer2, and
/// four service users; carer1 is assigned to the first two, carer2 to the third.
pub struct World {
    pub a: Org,
    pub b: Org,
}

pub async fn seed_org(conn: &mut PgConnection, tag: &str, hash: &str) -> Org {
    let org = seed::create_organization(conn, &format!("Org {tag}"))
        .await
        .expect("org");
    let mut staff = HashMap::new();
    let mut emails = HashMap::new();
    for (who, role) in [
        ("admin", DefaultRole::Administrator),
        ("manager", DefaultRole::RegisteredManager),
        ("senior", DefaultRole::SeniorCarer),
        ("carer1", DefaultRole::Carer),
        ("carer2", DefaultRole::Carer),
    ] {
        let email = format!("{who}@{tag}.example");
        let id = seed::create_staff(
            conn,
            org.id,
            org.role(role),
            &email,
            &format!("{who} {tag}"),
            hash,
        )
        .await
        .expect("staff");
        staff.insert(who, id);
        emails.insert(who, email);
    }
    let mut service_users = Vec::new();
    for i in 0..4 {
        service_users.push(
            seed::create_service_user(
                conn,
                org.id,
                &format!("Person{i}"),
                &format!("{tag}-family"),
                &format!("Room {i}"),
            )
            .await
            .expect("service user"),
        );
    }
    seed::assign(conn, org.id, staff["carer1"], service_users[0])
        .await
        .expect("assign");
    seed::assign(conn, org.id, staff["carer1"], service_users[1])
        .await
        .expect("assign");
    seed::assign(conn, org.id, staff["carer2"], service_users[2])
        .await
        .expect("assign");
    seed::clinical_examples(conn, org.id, service_users[0], staff["admin"])
        .await
        .expect("clinical examples");
    // A pending invitation, so every organisation table has a row to probe.
    sqlx::query(
        "insert into staff_invitations (organization_id, email, display_name, role_id, token_hash, expires_at)
         values ($1, $2, 'Invited Person', $3, sha256($2::bytea), now() + interval '7 days')",
    )
    .bind(org.id)
    .bind(format!("invited@{tag}.example"))
    .bind(org.role(DefaultRole::Carer))
    .execute(&mut *conn)
    .await
    .expect("invitation");
    Org {
        org,
        staff,
        emails,
        service_users,
    }
}

impl World {
    pub async fn seed(db: &TestDb) -> World {
        let hash = thrive_api::passwords::hash(&SecretString::from(PASSWORD)).expect("hash");
        let mut conn = db.admin_conn().await;
        let a = seed_org(&mut conn, "a", &hash).await;
        let b = seed_org(&mut conn, "b", &hash).await;
        World { a, b }
    }
}

/// A key store of its own (fresh master key, fresh directory) for one test application.
pub fn test_keys() -> Arc<thrive_api::at_rest::DirectoryKeys> {
    use thrive_api::at_rest::DirectoryKeys;
    let dir = std::env::temp_dir().join(format!("thrive-keys-{}", Uuid::new_v4()));
    Arc::new(
        DirectoryKeys::new(&DirectoryKeys::generate_master_key().into(), dir).expect("key store"),
    )
}

/// The real application on 127.0.0.1:0 with a manual clock.
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    /// The application's data keys (encryption at rest).
    pub keys: Arc<thrive_api::at_rest::DirectoryKeys>,
    /// This app's audit checkpoint directory: `key` (the signing key) and `store`.
    pub checkpoints: std::path::PathBuf,
}

impl TestApp {
    /// Runs the checkpointer (`thrive-api audit-checkpoint`) over this app's database.
    pub async fn audit_checkpoint(&self) -> Vec<(Uuid, thrive_api::checkpoints::Outcome)> {
        let key =
            thrive_api::checkpoints::CheckpointKey::load_or_create(&self.checkpoints.join("key"))
                .expect("key");
        let store = thrive_api::checkpoints::DirectoryStore::new(self.checkpoints.join("store"));
        let mut conn = self.db.admin_conn().await;
        thrive_api::checkpoints::checkpoint_all(&mut conn, &store, &key, OffsetDateTime::now_utc())
            .await
            .expect("checkpoint")
    }

    /// `thrive-api verify-audit` over this app's database, against its checkpoints.
    pub async fn verify_audit(&self) -> Vec<(Uuid, thrive_api::audit_chain::Verification)> {
        let key =
            thrive_api::checkpoints::CheckpointKey::load_or_create(&self.checkpoints.join("key"))
                .expect("key");
        let store = thrive_api::checkpoints::DirectoryStore::new(self.checkpoints.join("store"));
        let mut conn = self.db.admin_conn().await;
        thrive_api::checkpoints::verify_all(&mut conn, Some(&store), Some(&key.verifying_key()))
            .await
            .expect("verify")
    }
}

pub fn pkce_pair() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
        + &URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-thrive_session="))
        .map(str::to_owned)
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(axum::Router::new(), None).await
    }

    pub async fn spawn_with(
        extra: axum::Router<AppState>,
        static_dir: Option<std::path::PathBuf>,
    ) -> TestApp {
        Self::spawn_with_models(
            extra,
            static_dir,
            ModelStore::new(None, DEFAULT_CHUNK_BYTES),
        )
        .await
    }

    pub async fn spawn_with_models(
        extra: axum::Router<AppState>,
        static_dir: Option<std::path::PathBuf>,
        models: ModelStore,
    ) -> TestApp {
        Self::spawn_full(extra, static_dir, models, AuthSettings::default()).await
    }

    /// The app with its own sign-in limits (the attack tests raise or lower them).
    pub async fn spawn_with_auth(auth: AuthSettings) -> TestApp {
        Self::spawn_full(
            axum::Router::new(),
            None,
            ModelStore::new(None, DEFAULT_CHUNK_BYTES),
            auth,
        )
        .await
    }

    async fn spawn_full(
        extra: axum::Router<AppState>,
        static_dir: Option<std::path::PathBuf>,
        models: ModelStore,
        auth: AuthSettings,
    ) -> TestApp {
        let db = TestDb::new().await;
        let clock = ManualClock::new(OffsetDateTime::now_utc());
        // This app's signed audit checkpoints: a directory of its own and a fresh key.
        let checkpoints =
            std::env::temp_dir().join(format!("thrive-checkpoints-{}", Uuid::new_v4().simple()));
        let checkpoint_key =
            thrive_api::checkpoints::CheckpointKey::load_or_create(&checkpoints.join("key"))
                .expect("checkpoint key");
        let keys = test_keys();
        let state = AppState {
            pool: db.app.clone(),
            auth_pool: db.auth.clone(),
            guards: thrive_api::limits::Guards::new(&auth),
            clock: Arc::new(clock.clone()),
            auth,
            static_dir,
            models,
            audit: thrive_api::checkpoints::AuditAnchor {
                store: Some(Arc::new(thrive_api::checkpoints::DirectoryStore::new(
                    checkpoints.join("store"),
                ))),
                public_key: Some(checkpoint_key.verifying_key()),
            },
            passkeys: Some(Arc::new(
                thrive_api::http::passkeys::relying_party("http://localhost")
                    .expect("relying party"),
            )),
            keys: keys.clone(),
        };
        let router = thrive_api::http::app_with(state.clone(), extra);
        let app = Application::with_router("127.0.0.1:0".parse().expect("addr"), state, router)
            .await
            .expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        TestApp {
            base,
            db,
            clock,
            http,
            checkpoints,
            keys,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn authorize(
        &self,
        email: &str,
        password: &str,
        challenge: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/api/auth/authorize"))
            .json(&json!({"email": email, "password": password, "code_challenge": challenge, "code_challenge_method": "S256"}))
            .send()
            .await
            .expect("authorize")
    }

    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/api/auth/token"))
            .json(&json!({"code": code, "code_verifier": verifier}));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.expect("token")
    }

    /// Full PKCE sign-in; returns the `name=value` cookie pair.
    /// (The test keeps the cookie itself: reqwest's cookie store would rightly refuse to send a
    /// `Secure` cookie over plain http to the test server.)
    pub async fn sign_in(&self, email: &str) -> String {
        let (verifier, challenge) = pkce_pair();
        let resp = self.authorize(email, PASSWORD, &challenge).await;
        assert_eq!(resp.status(), StatusCode::OK, "authorize {email}");
        let code = resp.json::<Value>().await.expect("json")["code"]
            .as_str()
            .expect("code")
            .to_owned();
        let resp = self.exchange(&code, &verifier, None).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let set = session_cookie(resp.headers()).expect("session cookie");
        set.split(';').next().expect("pair").to_owned()
    }

    /// Any method, with an optional JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        // As the SPA does: the header a cross-site form cannot send.
        let mut req = self
            .http
            .request(method, self.url(path))
            .header(COOKIE, cookie)
            .header("x-requested-with", "thrive");
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("send")
    }

    /// `send`, asserting the status, returning the JSON body (null when empty).
    pub async fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<&Value>,
    ) -> Value {
        let resp = self.send(method, path, cookie, body).await;
        let got = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_eq!(got, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .expect("get")
    }
}

/// Run `sql` as thrive_app inside a transaction with the given settings (None = unset).
pub async fn as_app_with(
    pool: &PgPool,
    user: Option<Uuid>,
    org: Option<Uuid>,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.expect("begin");
    if let Some(u) = user {
        sqlx::query("select set_config('app.user_id', $1, true)")
            .bind(u.to_string())
            .execute(&mut *tx)
            .await
            .expect("set user");
    }
    if let Some(o) = org {
        sqlx::query("select set_config('app.org_id', $1, true)")
            .bind(o.to_string())
            .execute(&mut *tx)
            .await
            .expect("set org");
    }
    tx
}
