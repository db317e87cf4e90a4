//! Trunks found by DNS (RFC 3263): a `[[trunks]] host` that is a name without a
//! port (`host = "sip.carrier.example"`) is looked up NAPTR → SRV → A/AAAA at
//! start (its registration and OPTIONS probes go to the first target) and again
//! for each call, cached for the records' TTL: the call tries the targets in
//! order (SRV priority, then weight), the next one on 408, 5xx or a transport
//! failure, before the next trunk of the dial plan. The DNS server is
//! `[sip] dns = "IP:port"`, or the system's (`/etc/resolv.conf`).
//!
//! NAPTR chooses the transport among those the center has: UDP, TCP (with
//! `sip.tcp`) and TLS (for a trunk with `tls_ca_file`; the certificate is checked
//! against the domain). Without NAPTR records, the SRV records of the trunk's
//! `transport` come first, then those of the others.
//!
//! ```toml
//! [sip]
//! dns = "127.0.0.1:5353"      # optional
//! [[trunks]]
//! name = "carrier"
//! host = "sip.carrier.example"
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use callcore_sip::dns::DnsTargets;
use callcore_sip::rfc3263::TargetLookup;
use callcore_sip::transaction::TransportKind;
use callcore_sip::trunk::Trunk;
use callcore_sip::ua::tls::TlsOptions;

use crate::PremiseError;
use crate::config::SipSection;
use crate::trunks::TrunkSection;

/// The address a DNS trunk has until its name is found.
pub(crate) const UNRESOLVED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// The domain of a trunk host that is a DNS name without a port.
pub(crate) fn dns_domain(host: &str) -> Option<&str> {
    let name = host.strip_suffix('.').unwrap_or(host);
    let ok = name.contains('.')
        && name.parse::<IpAddr>().is_err()
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    ok.then_some(name)
}

fn kind(transport: &str) -> TransportKind {
    match transport.to_ascii_lowercase().as_str() {
        "tcp" => TransportKind::Tcp,
        "tls" => TransportKind::Tls,
        _ => TransportKind::Udp,
    }
}

/// The DNS trunks of a running center: the lookup, each trunk's domain, and the
/// TLS targets' names.
#[derive(Debug)]
pub struct DnsTrunks {
    /// The RFC 3263 lookup.
    pub lookup: Arc<DnsTargets>,
    /// Trunk name → domain.
    pub domains: HashMap<String, String>,
    tls_names: Vec<(SocketAddr, String)>,
}

impl DnsTrunks {
    /// TLS options with every TLS target found at start checked against its
    /// trunk's domain.
    pub fn with_tls_names(&self, tls: Option<TlsOptions>) -> Option<TlsOptions> {
        tls.map(|mut t| {
            for (addr, name) in &self.tls_names {
                t = t.with_server_name(*addr, name);
            }
            t
        })
    }
}

/// Looks up the DNS trunks among `sections` (their [`Trunk`]s in `trunks`, in the
/// same order as [`crate::trunks::sip_trunks`] made them) and points each at its
/// first target. `None` without DNS trunks.
///
/// # Errors
/// [`PremiseError::Config`] naming `sip.dns` when the system resolver
/// configuration cannot be read.
pub async fn start(
    sip: &SipSection,
    sections: &[TrunkSection],
    trunks: &mut [Trunk],
) -> Result<Option<DnsTrunks>, PremiseError> {
    let dns: Vec<&TrunkSection> = sections
        .iter()
        .filter(|t| dns_domain(&t.host).is_some())
        .collect();
    let Some(first) = dns.first() else {
        return Ok(None);
    };
    let mut allowed = vec![kind(&first.transport)];
    let mut add = |t: TransportKind| {
        if !allowed.contains(&t) {
            allowed.push(t);
        }
    };
    add(TransportKind::Udp);
    if sip.tcp {
        add(TransportKind::Tcp);
    }
    if dns.iter().any(|t| t.tls_ca_file.is_some()) {
        add(TransportKind::Tls);
    }
    let lookup = match sip.dns {
        Some(server) => DnsTargets::with_nameserver(server, allowed),
        None => DnsTargets::system(allowed).map_err(|e| PremiseError::Config {
            field: "sip.dns".into(),
            detail: format!("no DNS server given and the system's cannot be read: {e}"),
        })?,
    };
    let lookup = Arc::new(lookup);
    let mut domains = HashMap::new();
    let mut tls_names = Vec::new();
    for section in dns {
        let Some(domain) = dns_domain(&section.host) else {
            continue;
        };
        let Some(trunk) = trunks.iter_mut().find(|t| t.name == section.name) else {
            continue;
        };
        domains.insert(trunk.name.clone(), domain.to_owned());
        let found = lookup.targets(domain).await;
        let Some(best) = found.first() else {
            tracing::warn!(trunk = %trunk.name, %domain,
                "trunk domain not found by DNS: no registration or probes until it is; calls look it up again");
            trunk.registration = None;
            trunk.keepalive = None;
            trunk.trusted_sources.clear();
            continue;
        };
        trunk.peer = best.peer;
        if best.peer.transport == TransportKind::Tls {
            trunk.tls_server_name = Some(domain.to_owned());
        }
        for t in found
            .iter()
            .filter(|t| t.peer.transport == TransportKind::Tls)
        {
            tls_names.push((t.peer.addr, domain.to_owned()));
        }
        // IP authentication: every address the domain is served at
        if section.ip_auth.is_none() && section.username.is_none() {
            trunk.trusted_sources = found.iter().map(|t| t.peer.addr.ip()).collect();
            trunk.trusted_sources.dedup();
        }
        tracing::info!(trunk = %trunk.name, %domain, targets = found.len(), first = %best.peer.addr,
            "trunk found by DNS (RFC 3263)");
    }
    Ok(Some(DnsTrunks {
        lookup,
        domains,
        tls_names,
    }))
}

#[cfg(test)]
mod tests {
    use super::dns_domain;

    #[test]
    fn dns_names_are_names_without_ports() {
        assert_eq!(dns_domain("sip.example.net"), Some("sip.example.net"));
        assert_eq!(dns_domain("sip.example.net."), Some("sip.example.net"));
        assert_eq!(dns_domain("sip.example.net:5060"), None);
        assert_eq!(dns_domain("192.0.2.1"), None);
        assert_eq!(dns_domain("localhost"), None);
        assert_eq!(dns_domain("bad_name.example"), None);
    }
}
