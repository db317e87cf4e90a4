//! TLS under the channels' links (IMAP, SMTP, SMPP): rustls (ring), the
//! server's certificate verified against a configured CA file (PEM) or,
//! without one, the system's roots. No way to skip verification is offered.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::ChannelError;

/// The certificates of a PEM file (at least one).
///
/// # Errors
/// A readable description when the file is unreadable or holds no certificate.
pub(crate) fn read_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// A rustls client configuration trusting `ca_file`'s certificates, or the
/// system's roots without one.
/// Errors name `field` (`email.ca_file`, `sms.ca_file`).
pub(crate) fn client_config(
    field: &str,
    ca_file: Option<&Path>,
) -> Result<Arc<ClientConfig>, ChannelError> {
    let bad = |detail: String| ChannelError::Config {
        field: field.into(),
        detail,
    };
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca_file {
        for cert in read_ca(path).map_err(bad)? {
            roots
                .add(cert)
                .map_err(|e| bad(format!("{}: {e}", path.display())))?;
        }
    } else {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(bad("no system root certificates; set ca_file".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub(crate) fn host_of(host_port: &str) -> &str {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The TLS handshake over `tcp` with the server named in `host_port`, its
/// certificate verified (a refusal is a [`ChannelError::Peer`] of `peer`
/// naming the reason, e.g. `invalid peer certificate: UnknownIssuer`).
pub(crate) async fn handshake(
    peer: &'static str,
    config: Arc<ClientConfig>,
    host_port: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ChannelError> {
    let name = ServerName::try_from(host_of(host_port).to_owned())
        .map_err(|e| ChannelError::peer(peer, format!("TLS server name: {e}")))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ChannelError::peer(peer, format!("TLS handshake: {e}")))
}
