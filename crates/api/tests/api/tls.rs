//! Issue 10, must-show 3: TLS 1.3 both ways. A TLS 1.3 client connects (HTTP/2 by ALPN), a
//! TLS 1.2-only client is refused, HSTS goes out over HTTPS only, plain HTTP is redirected, and
//! the API's connection to PostgreSQL is TLS verified against the CA.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;
use thrive_api::clock::ManualClock;
use thrive_api::config::AuthSettings;
use thrive_api::model_files::{ModelStore, DEFAULT_CHUNK_BYTES};
use thrive_api::startup::{AppState, Application};
use thrive_api::tls::TlsSettings;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, TestDb};

/// A CA and a `localhost` certificate it signed, written to a fresh directory.
struct Certs {
    dir: PathBuf,
    ca: CertificateDer<'static>,
}

fn make_certs() -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = std::env::temp_dir().join(format!("thrive-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("cert");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem()).expect("write key");
    Certs {
        dir,
        ca: ca.der().clone(),
    }
}

/// The real application over TLS 1.3 (and a plain listener that redirects), on port 0.
async fn spawn_https() -> (SocketAddr, SocketAddr, Certs) {
    let certs = make_certs();
    let db = TestDb::new().await;
    let auth = AuthSettings::default();
    let state = AppState {
        pool: db.app.clone(),
        auth_pool: db.auth.clone(),
        guards: thrive_api::limits::Guards::new(&auth),
        clock: Arc::new(ManualClock::new(OffsetDateTime::now_utc())),
        auth,
        static_dir: None,
        models: ModelStore::new(None, DEFAULT_CHUNK_BYTES),
        keys: crate::helpers::test_keys(),
        audit: thrive_api::checkpoints::AuditAnchor {
            store: None,
            public_key: None,
        },
        passkeys: None,
    };
    let tls = TlsSettings {
        cert: certs.dir.join("server.pem"),
        key: certs.dir.join("server-key.pem"),
        allow_tls12: false,
    }
    .server_config()
    .expect("tls config");
    let app = Application::with_state("127.0.0.1:0".parse().expect("addr"), state)
        .await
        .expect("app")
        .with_tls(tls)
        .with_redirect_from("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("redirect listener");
    let https = app.local_addr().expect("https addr");
    let http = app.redirect_addr().expect("http addr");
    tokio::spawn(app.run_until_stopped());
    (https, http, certs)
}

fn client(
    ca: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn connect(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

#[tokio::test]
async fn a_tls13_client_speaks_http2_and_gets_hsts_and_the_cross_site_checks_still_see_the_host() {
    let (https, _, certs) = spawn_https().await;
    let connector = client(&certs.ca, &[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
    let tls = connect(https, &connector).await.expect("TLS 1.3 handshake");
    let (_, session) = tls.get_ref();
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));

    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let health = hyper::Request::get(format!("https://localhost:{}/api/health", https.port()))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = sender.send_request(health).await.expect("health");
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000; includeSubDomains")
    );

    // HTTP/2 has no Host header, only the :authority; a same-origin POST must still pass the
    // Origin check (wrong credentials: 401, not the cross-site 403).
    let origin = format!("https://localhost:{}", https.port());
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        TokioExecutor::new(),
        TokioIo::new(connect(https, &connector).await.expect("connect")),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let authorize = hyper::Request::post(format!("{origin}/api/auth/authorize"))
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"email":"nobody@example.org","password":"Wrong-Password-123!","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","code_challenge_method":"S256"}"#,
        )))
        .expect("request");
    let resp = sender.send_request(authorize).await.expect("authorize");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn a_tls12_only_client_is_refused() {
    let (https, _, certs) = spawn_https().await;
    let connector = client(&certs.ca, &[&rustls::version::TLS12], &[b"http/1.1"]);
    let refused = connect(https, &connector).await;
    assert!(refused.is_err(), "a TLS 1.2 handshake succeeded");
    // And the same server still serves TLS 1.3 (the refusal is the version, not the server).
    let connector = client(&certs.ca, &[&rustls::version::TLS13], &[b"http/1.1"]);
    connect(https, &connector).await.expect("TLS 1.3 handshake");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_gets_no_connection() {
    let (https, _, _) = spawn_https().await;
    let stranger = make_certs();
    let connector = client(&stranger.ca, &[&rustls::version::TLS13], &[b"http/1.1"]);
    assert!(connect(https, &connector).await.is_err());
}

#[tokio::test]
async fn plain_http_is_redirected_to_https_and_never_gets_hsts() {
    let (https, http, _) = spawn_https().await;
    let mut tcp = tokio::net::TcpStream::connect(http).await.expect("connect");
    tcp.write_all(
        b"GET /service-users?page=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    let head = response.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 308"), "{response}");
    assert!(
        head.contains(&format!(
            "location: https://localhost:{}/service-users?page=2",
            https.port()
        )),
        "{response}"
    );
    assert!(!head.contains("strict-transport-security"), "{response}");

    // A server without TLS (a development run) sends no HSTS either.
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("health");
    assert!(resp.headers().get("strict-transport-security").is_none());
}

/// The test cluster's URLs, when `cargo xtask test` runs a private cluster with TLS.
fn verify_full_url() -> Option<String> {
    let url = std::env::var("THRIVE_TEST_ADMIN_URL").ok()?;
    url.contains("sslmode=verify-full").then_some(url)
}

#[tokio::test]
async fn the_api_reaches_postgresql_over_verified_tls_13() {
    let Some(url) = verify_full_url() else {
        assert!(
            std::env::var_os("THRIVE_TEST_CLUSTER_DIR").is_none(),
            "the private test cluster must be reached with sslmode=verify-full"
        );
        eprintln!("skipped: the external PostgreSQL is not reached with verify-full");
        return;
    };
    let db = TestDb::new().await;
    // As thrive_app, through the very pool the API uses in the tests.
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(&db.app)
            .await
            .expect("pg_stat_ssl");
    assert!(ssl);
    assert_eq!(version.as_deref(), Some("TLSv1.3"));

    // Attacks: without TLS the server finds no pg_hba line; verifying against anything but
    // the CA (the public web roots) fails, so a machine in the middle gets nothing.
    let options: PgConnectOptions = url.parse().expect("url");
    let plain = options
        .clone()
        .ssl_mode(sqlx::postgres::PgSslMode::Disable)
        .connect()
        .await;
    assert!(plain.is_err(), "a plain connection was accepted");
    let base = url.split_once('?').map_or(url.as_str(), |(b, _)| b);
    let unverified: PgConnectOptions = format!("{base}?sslmode=verify-full").parse().expect("url");
    assert!(
        unverified.connect().await.is_err(),
        "a server certificate was accepted without the CA"
    );
}
