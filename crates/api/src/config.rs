//! Configuration from the environment, with the defaults a local run needs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`THRIVE_ADDR`, default 127.0.0.1:8080).
    pub addr: SocketAddr,
    /// The API's own connection, as the non-superuser `thrive_app` role (`DATABASE_URL`).
    pub database_url: SecretString,
    /// The sign-in, session and invitation routes' connection, as `thrive_auth`
    /// (`THRIVE_AUTH_DATABASE_URL`).
    pub auth_database_url: SecretString,
    /// The built SPA (`THRIVE_STATIC_DIR`); the API serves it with the same headers.
    pub static_dir: Option<PathBuf>,
    pub auth: AuthSettings,
    pub db_pool_size: u32,
    pub db_acquire_timeout: Duration,
    /// Aayu's GGUF files (`THRIVE_MODELS_DIR`); unset serves an empty manifest.
    pub models_dir: Option<PathBuf>,
    /// The Range size the browser downloads models in (`THRIVE_MODEL_CHUNK_BYTES`).
    pub model_chunk_bytes: u64,
    /// The signed audit checkpoints' directory (`THRIVE_AUDIT_CHECKPOINTS`): the receipts the
    /// API serves and the hashes its verification checks. Written by `thrive-api
    /// audit-checkpoint`, never by the API.
    pub audit_checkpoints: Option<PathBuf>,
    /// The checkpoints' trusted Ed25519 public key, hex (`THRIVE_AUDIT_PUBLIC_KEY`).
    pub audit_public_key: Option<String>,
    /// The address browsers use (`THRIVE_PUBLIC_URL`, e.g. `https://thrive.example.org`): its
    /// host is the passkeys' relying party. Default for a loopback `THRIVE_ADDR`:
    /// `http://localhost:PORT` (`https` with TLS); otherwise none, and passkeys are off.
    pub public_url: Option<String>,
    /// Where `/metrics` (Prometheus) is served (`THRIVE_METRICS_ADDR`); unset, nowhere. Keep
    /// it on a private address: it is not on the public listener.
    pub metrics_addr: Option<SocketAddr>,
    /// HTTPS (`THRIVE_TLS_CERT` and `THRIVE_TLS_KEY`, PEM files); unset: plain HTTP.
    pub tls: Option<crate::tls::TlsSettings>,
    /// With TLS, also listen here for plain HTTP and redirect it (`THRIVE_HTTP_REDIRECT_ADDR`).
    pub redirect_addr: Option<SocketAddr>,
    /// Without TLS: a TLS-terminating proxy is in front, so HSTS is sent
    /// (`THRIVE_BEHIND_TLS_PROXY=1`).
    pub behind_tls_proxy: bool,
}

/// Session and sign-in limits. Defaults are the security policy; tests shorten nothing.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub idle_timeout: time::Duration,
    pub absolute_lifetime: time::Duration,
    pub code_ttl: time::Duration,
    pub failure_window: time::Duration,
    pub max_failures: i32,
    pub lockout: time::Duration,
    /// Password hashes verified at once (argon2id, 19 MiB each): about one per core.
    pub hash_workers: usize,
    /// Password checks allowed to wait for a worker; beyond them, 429 with Retry-After.
    pub hash_queue: usize,
    /// Sign-in requests per address: a burst, then this many a minute (in memory, per
    /// instance; failures per address are also counted in PostgreSQL, across instances).
    pub address_burst: u32,
    pub address_per_minute: u32,
    /// Sign-in requests from everyone together: a burst, then this many a second.
    pub global_burst: u32,
    pub global_per_second: u32,
    /// A header naming the client's address, set by a trusted reverse proxy
    /// (`THRIVE_CLIENT_IP_HEADER`, e.g. `x-forwarded-for`: its last address is used). Unset:
    /// the peer address of the connection.
    pub client_ip_header: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            idle_timeout: time::Duration::minutes(30),
            absolute_lifetime: time::Duration::hours(12),
            code_ttl: time::Duration::seconds(60),
            failure_window: time::Duration::minutes(5),
            max_failures: 5,
            lockout: time::Duration::minutes(15),
            hash_workers: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            hash_queue: 8,
            // A care home's staff share one address: a shift change signs 30 people in at once.
            address_burst: 60,
            address_per_minute: 30,
            global_burst: 100,
            global_per_second: 20,
            client_ip_header: None,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self> {
        let addr = std::env::var("THRIVE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
        let addr = addr
            .parse()
            .with_context(|| format!("THRIVE_ADDR `{addr}` is not a socket address"))?;
        let database_url = std::env::var("DATABASE_URL")
            .context("DATABASE_URL must name the thrive_app connection")?;
        let auth_database_url = std::env::var("THRIVE_AUTH_DATABASE_URL")
            .context("THRIVE_AUTH_DATABASE_URL must name the thrive_auth connection")?;
        let auth = AuthSettings {
            client_ip_header: std::env::var("THRIVE_CLIENT_IP_HEADER")
                .ok()
                .filter(|h| !h.is_empty()),
            ..AuthSettings::default()
        };
        let public_url = std::env::var("THRIVE_PUBLIC_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                let addr: &SocketAddr = &addr;
                addr.ip().is_loopback().then(|| {
                    // Served over HTTPS when a certificate is configured (see `tls` below).
                    let scheme = if std::env::var_os("THRIVE_TLS_CERT").is_some() {
                        "https"
                    } else {
                        "http"
                    };
                    format!("{scheme}://localhost:{}", addr.port())
                })
            });
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v == "true");
        let tls = match (
            std::env::var_os("THRIVE_TLS_CERT"),
            std::env::var_os("THRIVE_TLS_KEY"),
        ) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsSettings {
                cert: cert.into(),
                key: key.into(),
                allow_tls12: flag("THRIVE_TLS_ALLOW_1_2"),
            }),
            (None, None) => None,
            _ => anyhow::bail!("THRIVE_TLS_CERT and THRIVE_TLS_KEY go together"),
        };
        let redirect_addr = match std::env::var("THRIVE_HTTP_REDIRECT_ADDR") {
            Ok(a) if !a.is_empty() => Some(a.parse().with_context(|| {
                format!("THRIVE_HTTP_REDIRECT_ADDR `{a}` is not a socket address")
            })?),
            _ => None,
        };
        Ok(Self {
            public_url,
            tls,
            redirect_addr,
            behind_tls_proxy: flag("THRIVE_BEHIND_TLS_PROXY"),
            addr,
            database_url: database_url.into(),
            auth_database_url: auth_database_url.into(),
            static_dir: std::env::var_os("THRIVE_STATIC_DIR").map(PathBuf::from),
            auth,
            db_pool_size: 16,
            db_acquire_timeout: Duration::from_secs(5),
            models_dir: std::env::var_os("THRIVE_MODELS_DIR").map(PathBuf::from),
            model_chunk_bytes: match std::env::var("THRIVE_MODEL_CHUNK_BYTES") {
                Ok(v) => v.parse().ok().filter(|&n: &u64| n > 0).with_context(|| {
                    format!("THRIVE_MODEL_CHUNK_BYTES `{v}` is not a positive number")
                })?,
                Err(_) => crate::model_files::DEFAULT_CHUNK_BYTES,
            },
            audit_checkpoints: std::env::var_os("THRIVE_AUDIT_CHECKPOINTS").map(PathBuf::from),
            audit_public_key: std::env::var("THRIVE_AUDIT_PUBLIC_KEY").ok(),
            metrics_addr: match std::env::var("THRIVE_METRICS_ADDR") {
                Ok(v) if !v.is_empty() => Some(v.parse().with_context(|| {
                    format!("THRIVE_METRICS_ADDR `{v}` is not a socket address")
                })?),
                _ => None,
            },
        })
    }
}
