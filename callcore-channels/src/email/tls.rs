//! TLS for the mailbox (IMAP) and the outbox (SMTP): rustls (ring), the
//! server's certificate verified against the configured CA file (PEM) or,
//! without one, the system's roots. No way to skip verification is offered.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::ChannelError;

/// How a mail server is spoken to: `tls = "implicit" | "starttls" | "none"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain TCP (a local test server only: passwords and mail in clear).
    #[default]
    None,
    /// Plain TCP upgraded with STARTTLS before logging in (IMAP 143, SMTP 587).
    Starttls,
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
}

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
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, ChannelError> {
    let bad = |detail: String| ChannelError::Config {
        field: "email.ca_file".into(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::ChannelError;
    use crate::email::EmailConfig;

    fn config(extra: &str) -> Result<EmailConfig, toml::de::Error> {
        toml::from_str(&format!(
            "address = \"support@center.test\"\nimap = \"mail.center.test:993\"\n\
             smtp = \"mail.center.test:465\"\nuser = \"support\"\nqueue = \"support\"\n{extra}"
        ))
    }

    fn field(e: ChannelError) -> String {
        match e {
            ChannelError::Config { field, .. } => field,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn plain_is_the_default_and_each_mode_is_spelled_out() {
        let c = config("").unwrap();
        assert_eq!(c.imap_tls, super::MailTls::None);
        assert!(c.validate("email").is_ok());
        let c = config("imap_tls = \"implicit\"\nsmtp_tls = \"starttls\"").unwrap();
        assert_eq!(c.imap_tls, super::MailTls::Implicit);
        assert_eq!(c.smtp_tls, super::MailTls::Starttls);
        let e = config("imap_tls = \"ssl\"").unwrap_err().to_string();
        assert!(e.contains("imap_tls") && e.contains("implicit"), "{e}");
    }

    #[test]
    fn a_missing_or_empty_ca_file_names_the_field() {
        let c = config("imap_tls = \"implicit\"\nca_file = \"/nonexistent/ca.pem\"").unwrap();
        assert_eq!(field(c.validate("email").unwrap_err()), "email.ca_file");
        let empty =
            std::env::temp_dir().join(format!("callcore-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let c = config(&format!("smtp_tls = \"implicit\"\nca_file = {empty:?}")).unwrap();
        let e = c.validate("email").unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        assert_eq!(field(e), "email.ca_file");
        let _ = std::fs::remove_file(empty);
        // a CA file with no TLS side is a mistake, not silently ignored
        let c = config("ca_file = \"/etc/hosts\"").unwrap();
        assert_eq!(field(c.validate("email").unwrap_err()), "email.ca_file");
    }
}
