//! HTTPS for the premise's HTTP listener (`[http] tls`): the web API, the agent
//! and supervisor pages and the browser phone's WebSocket over TLS. Browsers give
//! a page the microphone only in a secure context, so remote agents need this
//! (plain HTTP works for `localhost` alone).
//!
//! ```toml
//! [http]
//! bind = "0.0.0.0:8443"
//! tls = { cert = "/etc/callcore/web.pem", key = "/etc/callcore/web.key" }
//! ```
//!
//! Handshakes run beside the accept loop, at most [`MAX_HANDSHAKES`] at once and
//! each within [`HANDSHAKE_TIMEOUT`], so a client that opens a connection and says
//! nothing holds up no one else. With TLS on, the session cookie is marked `Secure`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;

use crate::PremiseError;

/// A TLS handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's backlog.
pub const MAX_HANDSHAKES: usize = 256;

/// `[http] tls = { cert, key }`: serve the HTTP listener over TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsSection {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM); a world-readable key is refused.
    pub key: PathBuf,
}

fn field(field: &str, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// Checks the section's shape (the files are read at start, [`server_config`]).
pub(crate) fn validate(tls: Option<&HttpTlsSection>) -> Result<(), PremiseError> {
    let Some(tls) = tls else { return Ok(()) };
    if tls.cert.as_os_str().is_empty() {
        return Err(field("http.tls.cert", "the certificate chain (PEM) file"));
    }
    if tls.key.as_os_str().is_empty() {
        return Err(field("http.tls.key", "the private key (PEM) file"));
    }
    Ok(())
}

/// Reads the certificate chain and key of `[http] tls` into a rustls server
/// configuration speaking HTTP/1.1 (WebSocket upgrades included).
///
/// # Errors
/// [`PremiseError::Config`] naming `http.tls.cert` or `http.tls.key` when a file
/// cannot be read, holds no certificate or key, or the key is world-readable.
pub fn server_config(tls: &HttpTlsSection) -> Result<Arc<ServerConfig>, PremiseError> {
    let cert = std::fs::read_to_string(&tls.cert)
        .map_err(|e| field("http.tls.cert", format!("{}: {e}", tls.cert.display())))?;
    crate::sip_edge::check_key_mode(&tls.key, "http.tls.key")?;
    let key = std::fs::read_to_string(&tls.key)
        .map_err(|e| field("http.tls.key", format!("{}: {e}", tls.key.display())))?;
    // callcore-sip's PEM reading (the same rules as the SIP listener's files)
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = callcore_sip::ua::tls::TlsOptions::listener(any, &cert, &key).map_err(|e| {
        let f = if e.to_string().contains("private key") {
            "http.tls.key"
        } else {
            "http.tls.cert"
        };
        field(f, e.to_string())
    })?;
    let Some(server) = options.server else {
        return Err(field("http.tls.cert", "no server certificate"));
    };
    let mut config = (*server).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An accepting TLS listener for `axum::serve`: TCP connections are accepted in a
/// task of their own and handed over once their handshake is done.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `tcp` with `config`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    tls: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // out of descriptors and the like: wait a little instead of spinning
                // (a pause of the socket loop, wall time by nature, not the center's clock)
                tracing::warn!(error = %e, "HTTPS accept failed");
                #[allow(clippy::disallowed_methods)]
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tls = tls.clone();
        let handed = ready.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = handed.send((stream, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "HTTPS handshake failed"),
                Err(_) => tracing::debug!("HTTPS handshake timed out"),
            }
        });
        if ready.is_closed() {
            return;
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // the accept loop ended (only when the listener is dropped): wait for
            // the graceful shutdown that drops us
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::PremiseConfig;

    #[test]
    fn an_https_listener_needs_both_files_and_names_the_field() {
        let e = PremiseConfig::from_toml("[http]\ntls = { cert = \"/x.pem\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key"), "{e}");
        let e = PremiseConfig::from_toml("[http]\ntls = { cert = \"\", key = \"/k.pem\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.tls.cert"), "{e}");
        let tls = super::HttpTlsSection {
            cert: "/nonexistent/c.pem".into(),
            key: "/nonexistent/k.pem".into(),
        };
        let e = super::server_config(&tls).unwrap_err().to_string();
        assert!(e.contains("http.tls.cert"), "{e}");
    }
}
