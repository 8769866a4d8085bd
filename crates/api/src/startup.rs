//! Building and running the application: state, listener, background housekeeping.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{AuthSettings, Config};
use crate::model_files::ModelStore;
use crate::{db, http};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// The sign-in, session and invitation routes' pool, as `thrive_auth`: the only role that
    /// may execute the `auth.*` functions.
    pub auth_pool: PgPool,
    /// Bounded hashing and decoding, sign-in rate limits.
    pub guards: crate::limits::Guards,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthSettings,
    pub static_dir: Option<PathBuf>,
    /// Aayu's model files (`THRIVE_MODELS_DIR`).
    pub models: ModelStore,
    /// The signed audit checkpoints, read-only (receipts and verification).
    pub audit: crate::checkpoints::AuditAnchor,
    /// The WebAuthn relying party for passkeys (`THRIVE_PUBLIC_URL`); none: no passkeys.
    pub passkeys: Option<Arc<webauthn_rs::Webauthn>>,
    /// The organisations' data keys, for the files encrypted at rest.
    pub keys: Arc<dyn crate::at_rest::KeyProvider>,
}

/// The application bound to its listener; `port()` tells tests where it landed (port 0).
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// `/metrics`, on its own listener when configured.
    metrics: Option<TcpListener>,
    /// Set: the listener speaks TLS only.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// A plain-HTTP listener that only redirects to the TLS one.
    redirect: Option<TcpListener>,
}

impl Application {
    pub async fn build(config: &Config) -> Result<Self> {
        let pool = db::connect_lazy(
            config.database_url.expose_secret(),
            config.db_pool_size,
            config.db_acquire_timeout,
            db::APP_IDLE_IN_TRANSACTION,
        )
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let auth_pool = db::connect_lazy(
            config.auth_database_url.expose_secret(),
            config.db_pool_size,
            config.db_acquire_timeout,
            db::AUTH_IDLE_IN_TRANSACTION,
        )
        .context("THRIVE_AUTH_DATABASE_URL is not a valid PostgreSQL URL")?;
        let state = AppState {
            pool,
            auth_pool,
            guards: crate::limits::Guards::new(&config.auth),
            clock: Arc::new(SystemClock),
            auth: config.auth.clone(),
            static_dir: config.static_dir.clone(),
            models: ModelStore::new(config.models_dir.clone(), config.model_chunk_bytes),
            audit: crate::checkpoints::AuditAnchor {
                store: config.audit_checkpoints.clone().map(|dir| {
                    Arc::new(crate::checkpoints::DirectoryStore::new(dir))
                        as Arc<dyn crate::checkpoints::CheckpointStore>
                }),
                public_key: config
                    .audit_public_key
                    .as_deref()
                    .map(crate::checkpoints::parse_public_key)
                    .transpose()
                    .context("THRIVE_AUDIT_PUBLIC_KEY")?,
            },
            passkeys: match &config.public_url {
                Some(url) => Some(Arc::new(http::passkeys::relying_party(url).with_context(
                    || format!("THRIVE_PUBLIC_URL `{url}` cannot be a WebAuthn relying party"),
                )?)),
                None => {
                    tracing::warn!("no THRIVE_PUBLIC_URL: passkeys are off");
                    None
                }
            },
            keys: Arc::new(crate::at_rest::from_env()?),
        };
        let mut app = Self::with_state(config.addr, state).await?;
        if let Some(addr) = config.metrics_addr {
            // Recording starts now, before the first request.
            let _ = crate::metrics::handle();
            app.metrics = Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics address {addr}"))?,
            );
        }
        if let Some(tls) = &config.tls {
            app = app.with_tls(tls.server_config()?);
            if let Some(addr) = config.redirect_addr {
                app = app.with_redirect_from(addr).await?;
            }
        } else if config.behind_tls_proxy {
            // A proxy in front terminates TLS: every request reached it over HTTPS.
            app.router = app.router.layer(axum::Extension(crate::tls::OverTls));
        }
        Ok(app)
    }

    /// Speak TLS only, with this configuration (see `tls::TlsSettings::server_config`).
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Also listen for plain HTTP on `addr`, answering every request with a redirect to HTTPS.
    pub async fn with_redirect_from(mut self, addr: std::net::SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        self.redirect = Some(listener);
        Ok(self)
    }

    /// Where the plain-HTTP redirect listens, when there is one.
    pub fn redirect_addr(&self) -> Option<std::net::SocketAddr> {
        self.redirect.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub async fn with_state(addr: std::net::SocketAddr, state: AppState) -> Result<Self> {
        Self::with_router(addr, state.clone(), http::app(state)).await
    }

    pub async fn with_router(
        addr: std::net::SocketAddr,
        state: AppState,
        router: Router,
    ) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        Ok(Self {
            listener,
            router,
            state,
            metrics: None,
            tls: None,
            redirect: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub async fn run_until_stopped(self) -> Result<()> {
        tokio::spawn(prune_periodically(self.state.clone()));
        tokio::spawn(scan_models(self.state.models.clone()));
        if let Some(listener) = self.metrics {
            tracing::info!(addr = ?listener.local_addr().ok(), "metrics at /metrics");
            let metrics = crate::metrics::router(self.state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).await {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let Some(tls) = self.tls else {
            return serve_plain(self.listener, self.router).await;
        };
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        if let Some(redirect) = self.redirect {
            let https_port = self.listener.local_addr()?.port();
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::tls::serve_redirect(redirect, https_port, stop).await {
                    tracing::error!(error = ?e, "the HTTPS redirect stopped");
                }
            });
        }
        crate::tls::serve(self.listener, self.router, tls, stop).await
    }
}

async fn serve_plain(listener: TcpListener, router: Router) -> Result<()> {
    {
        // The peer address reaches the sign-in rate limits as ConnectInfo.
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")
    }
}

/// Hashes the model files now rather than on the first browser's request.
async fn scan_models(models: ModelStore) {
    match models.manifest().await {
        Ok(files) => tracing::info!(count = files.len(), "model files ready"),
        Err(e) => tracing::warn!(error = ?e, "scanning the model files failed"),
    }
}

/// Spent codes, ended sessions and old failures are deleted every ten minutes.
async fn prune_periodically(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        state.guards.housekeep();
        let result = sqlx::query("select auth.prune($1, $2)")
            .bind(state.clock.now())
            .bind(time::Duration::days(1))
            .execute(&state.auth_pool)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "pruning sign-in state failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
