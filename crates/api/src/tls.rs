//! HTTPS: the API terminates TLS itself with rustls (TLS 1.3 only unless configured otherwise,
//! HTTP/2 or HTTP/1.1 by ALPN), and a plain-HTTP listener, when configured, only redirects to
//! it. HSTS goes out over HTTPS only (see `http::headers`): a request that came over TLS
//! carries the [`OverTls`] extension.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Marks a request that arrived over TLS (directly, or through a TLS-terminating proxy that the
/// configuration says is in front).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate and key (PEM files) and the protocol floor.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The certificate chain, leaf first (`THRIVE_TLS_CERT`).
    pub cert: PathBuf,
    /// Its private key, PKCS#8, SEC1 or PKCS#1 (`THRIVE_TLS_KEY`).
    pub key: PathBuf,
    /// Also accept TLS 1.2 (`THRIVE_TLS_ALLOW_1_2=1`), for old clients; off by default.
    pub allow_tls12: bool,
}

impl TlsSettings {
    /// rustls's server configuration: TLS 1.3 (and 1.2 only when allowed), ALPN h2 then
    /// http/1.1, the `ring` provider.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let certs = load_certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("reading the TLS key {}", self.key.display()))?;
        let versions: &[&rustls::SupportedProtocolVersion] = if self.allow_tls12 {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .context("choosing the TLS versions")?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .context("the TLS certificate and key do not belong together")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading the TLS certificate {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the TLS certificate {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

/// Serves `router` over TLS on `listener` until `stop` turns true; open connections are then
/// asked to finish (HTTP/2 GOAWAY, HTTP/1.1 close after the current response).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: Arc<ServerConfig>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                // A refused protocol version, a scanner, a timeout: nothing to answer.
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = router.map_request(move |mut request: Request<hyper::body::Incoming>| {
                mark_request(&mut request, peer);
                request
            });
            let service = hyper_util::service::TowerToHyperService::new(service);
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

/// What the plain listener adds to each request in the TLS task: the peer address (for the
/// sign-in limits), the TLS mark, and a `Host` header from an HTTP/2 request's authority (the
/// cross-site checks compare `Origin` with `Host`).
fn mark_request<B>(request: &mut Request<B>, peer: SocketAddr) {
    request.extensions_mut().insert(ConnectInfo(peer));
    request.extensions_mut().insert(OverTls);
    if !request.headers().contains_key(header::HOST) {
        let authority = request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        if let Some(host) = authority {
            request.headers_mut().insert(header::HOST, host);
        }
    }
}

/// The plain-HTTP listener's whole application: every request is sent, with a permanent
/// redirect keeping method and body (308), to the same host and path on the HTTPS port.
pub fn redirect_router(https_port: u16) -> Router {
    Router::new().fallback(move |request: Request| async move { redirect(&request, https_port) })
}

fn redirect(request: &Request, https_port: u16) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .map(|a| a.host().to_owned());
    let Some(host) = host else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let authority = if https_port == 443 {
        host
    } else {
        format!("{host}:{https_port}")
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    match Uri::builder()
        .scheme("https")
        .authority(authority)
        .path_and_query(path)
        .build()
    {
        Ok(to) => match HeaderValue::from_str(&to.to_string()) {
            Ok(location) => (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response(),
            Err(_) => StatusCode::BAD_REQUEST.into_response(),
        },
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Serves the redirect on a plain listener until `stop` turns true.
pub async fn serve_redirect(
    listener: TcpListener,
    https_port: u16,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    axum::serve(listener, redirect_router(https_port))
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await
        .context("serving the HTTPS redirect")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: &str, path: &str, port: u16) -> Option<String> {
        let request = Request::builder()
            .uri(path)
            .header(header::HOST, host)
            .body(axum::body::Body::empty())
            .ok()?;
        let response = redirect(&request, port);
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        response
            .headers()
            .get(header::LOCATION)?
            .to_str()
            .ok()
            .map(str::to_owned)
    }

    #[test]
    fn plain_http_is_sent_to_the_same_place_over_https() {
        assert_eq!(
            location("localhost:8080", "/service-users?x=1", 8443).as_deref(),
            Some("https://localhost:8443/service-users?x=1")
        );
        assert_eq!(
            location("care.example", "/", 443).as_deref(),
            Some("https://care.example/")
        );
    }

    #[test]
    fn a_request_without_a_usable_host_is_not_redirected() {
        let request = Request::builder()
            .uri("/")
            .header(header::HOST, "bad host/x")
            .body(axum::body::Body::empty())
            .expect("request");
        assert_eq!(redirect(&request, 8443).status(), StatusCode::BAD_REQUEST);
    }
}
