//! Trunks over TLS (`transport = "tls"` in `[[trunks]]`): the host name each
//! carrier's certificate is checked against (and sent as SNI), the CA bundles that
//! are trusted, and the driver's TLS options built from them.
//!
//! ```toml
//! [[trunks]]
//! name = "carrier-tls"
//! host = "sip.carrier.example:5061"      # or "192.0.2.10:5061" with tls_server_name
//! transport = "tls"
//! tls_ca_file = "/etc/callcore/carrier-ca.pem"
//! # tls_server_name = "sip.carrier.example"  (default: the name in host)
//! ```

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use callcore_sip::ua::tls::TlsOptions;

use crate::PremiseError;
use crate::trunks::{TrunkSection, host_name};

fn field(field: String, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field,
        detail: detail.into(),
    }
}

fn is_tls(t: &TrunkSection) -> bool {
    t.transport.eq_ignore_ascii_case("tls")
}

/// Checks the TLS fields of one trunk; `at` names a field of it.
pub(crate) fn validate(t: &TrunkSection, at: &dyn Fn(&str) -> String) -> Result<(), PremiseError> {
    if !is_tls(t) {
        for (name, set) in [
            ("tls_server_name", t.tls_server_name.is_some()),
            ("tls_ca_file", t.tls_ca_file.is_some()),
        ] {
            if set {
                return Err(field(at(name), "only with transport = \"tls\""));
            }
        }
        return Ok(());
    }
    if let Some(n) = &t.tls_server_name
        && n.parse::<IpAddr>().is_err()
        && host_name(&format!("{n}:0")).is_none()
    {
        return Err(field(
            at("tls_server_name"),
            format!("`{n}` is not a host name"),
        ));
    }
    if t.tls_ca_file.is_none() {
        return Err(field(
            at("tls_ca_file"),
            "a TLS trunk needs the CA bundle (PEM) its certificate is checked with",
        ));
    }
    Ok(())
}

/// The trunk's address: `IP:port`, or a TLS trunk's `name:port` looked up now (the
/// first address; `None` when the name does not resolve, logged).
pub(crate) fn resolve(t: &TrunkSection) -> Option<SocketAddr> {
    if let Ok(a) = t.host.parse() {
        return Some(a);
    }
    if crate::trunk_dns::dns_domain(&t.host).is_some() {
        // found by DNS at start (crate::trunk_dns)
        return Some(crate::trunk_dns::UNRESOLVED);
    }
    let (name, port) = host_name(&t.host)?;
    match (name, port).to_socket_addrs() {
        Ok(mut addrs) => addrs.next(),
        Err(e) => {
            tracing::warn!(trunk = %t.name, host = %t.host, error = %e, "trunk host not found");
            None
        }
    }
}

/// The name a TLS trunk's certificate is checked against: `tls_server_name`, else
/// the name in `host` (`None`: checked by IP address).
pub(crate) fn server_name(t: &TrunkSection) -> Option<String> {
    t.tls_server_name
        .clone()
        .or_else(|| host_name(&t.host).map(|(n, _)| n.to_owned()))
}

/// The driver's TLS options for validated `[[trunks]]`: every TLS trunk's CA bundle
/// trusted, each trunk's address checked against its name. `None` without TLS trunks.
///
/// # Errors
/// [`PremiseError::Config`] naming `trunks[i].tls_ca_file` when a bundle cannot be
/// read or holds no certificate.
pub fn tls_options(trunks: &[TrunkSection]) -> Result<Option<TlsOptions>, PremiseError> {
    let mut bundle = String::new();
    let mut names = Vec::new();
    for (i, t) in trunks.iter().enumerate().filter(|(_, t)| is_tls(t)) {
        let Some(path) = &t.tls_ca_file else { continue };
        let pem = TlsOptions::read_ca_bundle(path).map_err(|e| {
            field(
                format!("trunks[{i}].tls_ca_file"),
                format!("{}: {e}", path.display()),
            )
        })?;
        bundle.push_str(&pem);
        bundle.push('\n');
        if let (Some(addr), Some(name)) = (resolve(t), server_name(t)) {
            names.push((addr, name));
        }
    }
    if bundle.is_empty() {
        return Ok(None);
    }
    let mut tls = TlsOptions::new(None, None, &bundle)
        .map_err(|e| field("trunks[].tls_ca_file".into(), e.to_string()))?;
    for (addr, name) in names {
        tls = tls.with_server_name(addr, &name);
    }
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;

    fn load(extra: &str) -> Result<PremiseConfig, String> {
        PremiseConfig::from_toml(&format!(
            "[[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5090\"\n\
             [[trunks]]\nname = \"t\"\n{extra}"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn tls_trunks_load_with_a_name_and_a_ca_bundle() {
        let c = load(
            "host = \"192.0.2.10:5061\"\ntransport = \"tls\"\n\
             tls_server_name = \"sip.carrier.test\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n",
        )
        .unwrap();
        let t = crate::trunks::sip_trunks(&c.trunks);
        assert_eq!(
            t[0].peer.transport,
            callcore_sip::transaction::TransportKind::Tls
        );
        assert_eq!(t[0].tls_server_name.as_deref(), Some("sip.carrier.test"));
        let e = super::tls_options(&c.trunks).err().unwrap().to_string();
        assert!(e.contains("trunks[0].tls_ca_file"), "{e}");

        let c = load("host = \"localhost:5061\"\ntransport = \"tls\"\ntls_ca_file = \"ca.pem\"\n")
            .unwrap();
        assert_eq!(
            super::server_name(&c.trunks[0]).as_deref(),
            Some("localhost")
        );
    }

    #[test]
    fn tls_fields_are_checked() {
        let e = load("host = \"192.0.2.10:5061\"\ntransport = \"tls\"\n").unwrap_err();
        assert!(e.contains("trunks[0].tls_ca_file"), "{e}");
        let e = load("host = \"192.0.2.10:5060\"\ntls_server_name = \"a.test\"\n").unwrap_err();
        assert!(e.contains("trunks[0].tls_server_name"), "{e}");
        let e = load("host = \"carrier.test:5060\"\ntransport = \"tcp\"\n").unwrap_err();
        assert!(e.contains("trunks[0].host"), "{e}");
        let e = load(
            "host = \"192.0.2.10:5061\"\ntransport = \"tls\"\ntls_ca_file = \"c.pem\"\n\
             tls_server_name = \"bad name\"\n",
        )
        .unwrap_err();
        assert!(e.contains("trunks[0].tls_server_name"), "{e}");
    }
}
