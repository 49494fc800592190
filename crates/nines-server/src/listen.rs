//! The accept loop: plain TCP or TLS, HTTP/1.1 via hyper with a request
//! head size limit and a header read timeout, the peer address handed to
//! the router, and graceful shutdown that lets requests in flight finish.
//!
//! TLS handshakes run in each connection's own task, so a client that
//! stalls its handshake holds up nobody else.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::hyper_errors::FillErrorBodies;
use crate::limits::PeerAddr;
use crate::timed_body::{BodyPace, TimedBody};

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS configuration; plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Largest request head (request line and headers), bytes; at least 8 KiB.
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head or finish a TLS
    /// handshake.
    pub header_timeout: Duration,
    /// How a request body must keep arriving.
    pub body_pace: BodyPace,
}

/// Bytes of a request head as sent: request line and header lines.
fn head_bytes<B>(req: &hyper::Request<B>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + "  HTTP/1.1\r\n".len();
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum::<usize>()
        + line
        + 2
}

/// The answer to a head over the limit, in the API's envelope: hyper's own
/// buffer is only a backstop (it admits more than its size) and answers
/// with an empty body.
fn head_too_large(size: usize, limit: usize) -> axum::response::Response {
    use axum::response::IntoResponse;
    crate::ApiError {
        status: hyper::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        kind: "bad_data",
        message: format!(
            "request head is {size} bytes, larger than the limit of {limit} bytes (set by server.max_header_size)"
        ),
    }
    .into_response()
}

/// A TLS certificate or key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {message}")]
pub struct TlsError {
    /// `tls_cert_file` or `tls_key_file`.
    pub what: &'static str,
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Loads a PEM certificate chain and private key into a server config.
pub fn load_tls(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_err = |message: String| TlsError {
        what: "tls_cert_file",
        path: cert_file.display().to_string(),
        message,
    };
    let key_err = |message: String| TlsError {
        what: "tls_key_file",
        path: key_file.display().to_string(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no PEM certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| key_err(format!("does not match the certificate or is unusable: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits up
/// to `drain` for requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off a
                    // little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            let max_head = opts.max_header_bytes.max(8192);
            let pace = opts.body_pace;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                let mut router = router.clone();
                let size = head_bytes(&req);
                async move {
                    if size > max_head {
                        return Ok(head_too_large(size, max_head));
                    }
                    let req = req.map(|b| axum::body::Body::new(TimedBody::new(b, pace)));
                    tower_service::Service::call(&mut router, req).await
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                // Room for a head just over the limit to reach the check
                // above, which answers it properly.
                .max_buf_size(max_head.saturating_mul(2))
                .header_read_timeout(opts.header_timeout);
            match acceptor {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(opts.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let io = FillErrorBodies::new(tls, max_head);
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    let _ = watcher.watch(conn).await;
                }
                None => {
                    let io = FillErrorBodies::new(tcp, max_head);
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after {drain:?}; closing their connections");
    }
}

/// The address a client sees, for logs.
pub fn display_url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}
