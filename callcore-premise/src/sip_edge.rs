//! The premise center's SIP edge toward phones: a TLS listener for agents' phones
//! (`[sip] tls`) and the bounds on TCP/TLS connections (`[sip.connections]`), both
//! handed to callcore-sip's driver.
//!
//! ```toml
//! [sip]
//! bind = "0.0.0.0:5060"
//! tls = { bind = "0.0.0.0:5061", cert = "/etc/callcore/sip.pem", key = "/etc/callcore/sip.key" }
//!
//! [sip.connections]        # defaults shown
//! max = 4096               # TCP/TLS connections open at once
//! per_source = 256         # inbound connections from one IP address
//! handshake_secs = 10      # a TLS handshake must finish within
//! first_message_secs = 10  # a new connection must send a whole message within
//! idle_secs = 30           # silent connections close (not those of calls or live registrations)
//! write_queue_bytes = 262144  # bytes waiting for a peer that does not read
//! ```
//!
//! A phone that registers over TLS (`;transport=tls`) is rung over its TLS
//! connection while its registration lives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use callcore_sip::ua::StreamLimits;
use callcore_sip::ua::tls::TlsOptions;
use serde::Deserialize;

use crate::PremiseError;
use crate::config::SipSection;

fn field(field: &str, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// `[sip] tls = { bind, cert, key }`: SIP over TLS for phones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListenSection {
    /// The TLS listener's address (5061 is SIP's; port 0 picks a free one).
    pub bind: SocketAddr,
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM); must not be readable by others than its owner's
    /// group (a world-readable key is refused, a group-readable one warned about).
    pub key: PathBuf,
}

/// `[sip.connections]`: bounds on TCP/TLS connections, on by default.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsSection {
    /// Connections open at once, inbound and outbound (more are closed on accept).
    pub max: usize,
    /// Inbound connections open at once from one IP address (raise it for an
    /// office of TCP/TLS phones behind one NAT address).
    pub per_source: usize,
    /// Seconds a TLS handshake may take.
    pub handshake_secs: u64,
    /// Seconds a new connection has to send its first whole message.
    pub first_message_secs: u64,
    /// Seconds of silence after which a connection closes, unless a call or a live
    /// registration uses it.
    pub idle_secs: u64,
    /// Bytes that may wait to be written to one connection (a peer that does not
    /// read is disconnected beyond it).
    pub write_queue_bytes: usize,
}

impl Default for ConnectionsSection {
    fn default() -> Self {
        let d = StreamLimits::default();
        ConnectionsSection {
            max: d.max_connections,
            per_source: d.max_connections_per_source,
            handshake_secs: d.handshake_timeout.as_secs(),
            first_message_secs: d.first_message_timeout.as_secs(),
            idle_secs: d.idle_timeout.as_secs(),
            write_queue_bytes: d.max_write_queue,
        }
    }
}

impl ConnectionsSection {
    /// callcore-sip's stream limits from these fields.
    pub fn limits(&self) -> StreamLimits {
        StreamLimits {
            max_connections: self.max,
            max_connections_per_source: self.per_source,
            handshake_timeout: Duration::from_secs(self.handshake_secs),
            first_message_timeout: Duration::from_secs(self.first_message_secs),
            idle_timeout: Duration::from_secs(self.idle_secs),
            max_write_queue: self.write_queue_bytes,
        }
    }

    fn validate(&self) -> Result<(), PremiseError> {
        let at = |f: &str| format!("sip.connections.{f}");
        if self.max == 0 || self.max > 1_000_000 {
            return Err(field(&at("max"), "1 to 1000000"));
        }
        if self.per_source == 0 || self.per_source > self.max {
            return Err(field(&at("per_source"), "1 to sip.connections.max"));
        }
        for (name, secs) in [
            ("handshake_secs", self.handshake_secs),
            ("first_message_secs", self.first_message_secs),
            ("idle_secs", self.idle_secs),
        ] {
            if secs == 0 || secs > 86_400 {
                return Err(field(&at(name), "1 to 86400 seconds"));
            }
        }
        // one whole message (64 KB at most) must fit
        if !(65_536..=64 << 20).contains(&self.write_queue_bytes) {
            return Err(field(&at("write_queue_bytes"), "65536 to 67108864 bytes"));
        }
        Ok(())
    }
}

/// Checks `[sip] tls` and `[sip.connections]` (files are read at start).
pub(crate) fn validate(sip: &SipSection) -> Result<(), PremiseError> {
    sip.connections.validate()?;
    if let Some(tls) = &sip.tls {
        if tls.cert.as_os_str().is_empty() {
            return Err(field("sip.tls.cert", "the certificate chain (PEM) file"));
        }
        if tls.key.as_os_str().is_empty() {
            return Err(field("sip.tls.key", "the private key (PEM) file"));
        }
    }
    Ok(())
}

/// Refuses a private key file others may read; warns when its group may. `name` is
/// the config field the file comes from (`sip.tls.key`, `http.tls.key`).
pub(crate) fn check_key_mode(path: &Path, name: &str) -> Result<(), PremiseError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).map_err(|e| field(name, format!("{}: {e}", path.display())))?;
        let mode = meta.permissions().mode();
        if mode & 0o004 != 0 {
            return Err(field(
                name,
                format!(
                    "{} is readable by everyone (mode {:o}): chmod 600 it",
                    path.display(),
                    mode & 0o777
                ),
            ));
        }
        if mode & 0o040 != 0 {
            tracing::warn!(key = %path.display(), "the TLS private key is readable by its group");
        }
    }
    Ok(())
}

/// The driver's TLS options: the phones' listener of `[sip] tls` (certificate and
/// key read now) joined to the TLS trunks' outbound options `trunks`.
///
/// # Errors
/// [`PremiseError::Config`] naming `sip.tls.cert` or `sip.tls.key` when a file cannot
/// be read, holds no certificate or key, or the key is world-readable.
pub fn tls_options(
    sip: &SipSection,
    trunks: Option<TlsOptions>,
) -> Result<Option<TlsOptions>, PremiseError> {
    let Some(tls) = &sip.tls else {
        return Ok(trunks);
    };
    let cert = std::fs::read_to_string(&tls.cert)
        .map_err(|e| field("sip.tls.cert", format!("{}: {e}", tls.cert.display())))?;
    check_key_mode(&tls.key, "sip.tls.key")?;
    let key = std::fs::read_to_string(&tls.key)
        .map_err(|e| field("sip.tls.key", format!("{}: {e}", tls.key.display())))?;
    let built = match trunks {
        Some(t) => t.with_listener(tls.bind, &cert, &key),
        None => TlsOptions::listener(tls.bind, &cert, &key),
    };
    built.map(Some).map_err(|e| {
        let f = if e.to_string().contains("private key") {
            "sip.tls.key"
        } else {
            "sip.tls.cert"
        };
        field(f, e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;

    fn load(sip: &str) -> Result<PremiseConfig, String> {
        PremiseConfig::from_toml(&format!(
            "[sip]\n{sip}\n[[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5090\"\n"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn connection_limits_load_with_defaults_and_are_checked() {
        let c = load("").unwrap();
        assert_eq!(
            c.sip.connections.limits(),
            callcore_sip::ua::StreamLimits::default()
        );
        let c = load("[sip.connections]\nmax = 300\nidle_secs = 5\n").unwrap();
        assert_eq!(c.sip.connections.limits().max_connections, 300);
        assert_eq!(c.sip.connections.limits().idle_timeout.as_secs(), 5);
        let e = load("[sip.connections]\nmax = 100\n").unwrap_err();
        assert!(e.contains("sip.connections.per_source"), "{e}");
        let e = load("[sip.connections]\nmax = 0\n").unwrap_err();
        assert!(e.contains("sip.connections.max"), "{e}");
        let e = load("[sip.connections]\nidle_secs = 0\n").unwrap_err();
        assert!(e.contains("sip.connections.idle_secs"), "{e}");
        let e = load("[sip.connections]\nwrite_queue_bytes = 10\n").unwrap_err();
        assert!(e.contains("sip.connections.write_queue_bytes"), "{e}");
        let e = load("[sip.connections]\nidle = 5\n").unwrap_err();
        assert!(e.contains("idle"), "{e}");
    }

    #[test]
    fn a_tls_listener_needs_readable_files_and_a_private_key() {
        let e = load("tls = { bind = \"127.0.0.1:0\", cert = \"/x.pem\" }").unwrap_err();
        assert!(e.contains("key"), "{e}");
        let c = load(
            "tls = { bind = \"127.0.0.1:0\", cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }",
        )
        .unwrap();
        let e = super::tls_options(&c.sip, None).unwrap_err().to_string();
        assert!(e.contains("sip.tls.cert"), "{e}");

        let dir = std::env::temp_dir().join(format!("callcore-sip-edge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["pbx.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("c.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("k.pem"), key.serialize_pem()).unwrap();
        let toml = format!(
            "tls = {{ bind = \"127.0.0.1:0\", cert = \"{}\", key = \"{}\" }}",
            dir.join("c.pem").display(),
            dir.join("k.pem").display()
        );
        let c = load(&toml).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let k = dir.join("k.pem");
            std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = super::tls_options(&c.sip, None).unwrap_err().to_string();
            assert!(e.contains("sip.tls.key") && e.contains("everyone"), "{e}");
            std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let tls = super::tls_options(&c.sip, None).unwrap().unwrap();
        assert!(tls.server.is_some() && tls.listen.is_some());
        // a certificate where the key should be
        std::fs::write(dir.join("k.pem"), cert.pem()).unwrap();
        let e = super::tls_options(&c.sip, None).unwrap_err().to_string();
        assert!(e.contains("sip.tls.key"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
