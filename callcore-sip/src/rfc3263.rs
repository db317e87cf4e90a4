//! Locating a SIP server by DNS (RFC 3263), the sans-IO part: which NAPTR records
//! lead to SIP and over which transport, the SRV names to try without NAPTR, the
//! order of SRV targets (priority, then a weighted random choice, RFC 2782), and a
//! cache of the resulting targets kept for the records' TTL. The queries
//! themselves are made by a [`TargetLookup`] (the `dns` module's hickory-resolver
//! lookup, behind the `dns` feature).
//!
//! ```
//! use callcore_sip::rfc3263::{Naptr, Srv, order_srv, sip_naptr};
//! use callcore_sip::transaction::TransportKind;
//! let naptr = vec![
//!     Naptr::new(20, 10, "s", "SIP+D2U", "_sip._udp.example.net"),
//!     Naptr::new(10, 10, "s", "SIP+D2T", "_sip._tcp.example.net"),
//!     Naptr::new(5, 10, "s", "SIPS+D2T", "_sips._tcp.example.net"),
//! ];
//! // TLS is not offered by this client: TCP first, then UDP
//! let chosen = sip_naptr(&naptr, &[TransportKind::Udp, TransportKind::Tcp]);
//! assert_eq!(chosen[0], (TransportKind::Tcp, "_sip._tcp.example.net".to_owned()));
//! let srv = vec![
//!     Srv::new(20, 0, 5060, "backup.example.net"),
//!     Srv::new(10, 0, 5060, "a.example.net"),
//! ];
//! let ordered = order_srv(srv, |_| 0);
//! assert_eq!(ordered[0].target, "a.example.net");
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::transaction::{Peer, TransportKind};

/// A NAPTR record (RFC 3403) as far as SIP needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    /// Lower first.
    pub order: u16,
    /// Lower first among equal `order`.
    pub preference: u16,
    /// `s`: the replacement is an SRV name (the only flag SIP uses).
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T` ...
    pub service: String,
    /// The SRV name to look up next.
    pub replacement: String,
}

impl Naptr {
    /// A record from its fields.
    pub fn new(order: u16, preference: u16, flags: &str, service: &str, replacement: &str) -> Self {
        Naptr {
            order,
            preference,
            flags: flags.to_owned(),
            service: service.to_owned(),
            replacement: replacement.to_owned(),
        }
    }
}

/// An SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower first.
    pub priority: u16,
    /// Share of the choices among equal `priority`.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The host to look up (A/AAAA); `.` means "no service here".
    pub target: String,
}

impl Srv {
    /// A record from its fields.
    pub fn new(priority: u16, weight: u16, port: u16, target: &str) -> Self {
        Srv {
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }
}

/// The transport a NAPTR service field names (RFC 3263 §4.1).
pub fn naptr_transport(service: &str) -> Option<TransportKind> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(TransportKind::Udp),
        "SIP+D2T" => Some(TransportKind::Tcp),
        "SIPS+D2T" => Some(TransportKind::Tls),
        _ => None,
    }
}

/// The NAPTR records that lead to SIP over a transport in `allowed`, best first
/// (order, then preference), as (transport, SRV name).
pub fn sip_naptr(records: &[Naptr], allowed: &[TransportKind]) -> Vec<(TransportKind, String)> {
    let mut usable: Vec<&Naptr> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter(|r| naptr_transport(&r.service).is_some_and(|t| allowed.contains(&t)))
        .collect();
    usable.sort_by_key(|r| (r.order, r.preference));
    usable
        .into_iter()
        .filter_map(|r| {
            let t = naptr_transport(&r.service)?;
            Some((t, r.replacement.trim_end_matches('.').to_owned()))
        })
        .collect()
}

/// The SRV names to try for `domain` when it has no NAPTR records (RFC 3263
/// §4.1): one per transport of `allowed`, in that order.
pub fn srv_names(domain: &str, allowed: &[TransportKind]) -> Vec<(TransportKind, String)> {
    let domain = domain.trim_end_matches('.');
    allowed
        .iter()
        .map(|t| {
            let prefix = match t {
                TransportKind::Udp => "_sip._udp",
                TransportKind::Tcp => "_sip._tcp",
                TransportKind::Tls => "_sips._tcp",
            };
            (*t, format!("{prefix}.{domain}"))
        })
        .collect()
}

/// The port of a transport when DNS names none (5060; 5061 over TLS).
pub fn default_port(t: TransportKind) -> u16 {
    if t == TransportKind::Tls { 5061 } else { 5060 }
}

/// SRV records in the order to try them (RFC 2782): by priority; within one
/// priority, repeatedly a weighted random choice among those left, where
/// `pick(total)` returns a number in `0..=total` (a random one in production).
/// Targets `.` (no service) are dropped.
pub fn order_srv(records: Vec<Srv>, mut pick: impl FnMut(u32) -> u32) -> Vec<Srv> {
    let mut records: Vec<Srv> = records
        .into_iter()
        .filter(|r| !r.target.trim_end_matches('.').is_empty())
        .collect();
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let p = records[0].priority;
        let end = records
            .iter()
            .position(|r| r.priority != p)
            .unwrap_or(records.len());
        let mut group: Vec<Srv> = records.drain(..end).collect();
        // weight 0 first, as RFC 2782 arranges them, so they are chosen rarely
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let n = pick(total).min(total);
            let mut running = 0u32;
            let mut chosen = group.len() - 1;
            for (i, r) in group.iter().enumerate() {
                running += u32::from(r.weight);
                if running >= n {
                    chosen = i;
                    break;
                }
            }
            out.push(group.remove(chosen));
        }
    }
    out
}

/// One place a SIP domain is served at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Address and transport.
    pub peer: Peer,
    /// The host it was found under (the SRV target, or the domain itself).
    pub host: String,
}

/// Looks up where a SIP domain is served, in the order to try (RFC 3263 §4).
pub trait TargetLookup: Send + Sync + std::fmt::Debug {
    /// The targets of `domain`, best first; empty when it cannot be found.
    fn targets<'a>(
        &'a self,
        domain: &'a str,
    ) -> Pin<Box<dyn Future<Output = Vec<Target>> + Send + 'a>>;
}

/// Targets per domain until their TTL runs out (sans-IO: `now` is passed in).
#[derive(Debug, Default)]
pub struct TargetCache {
    entries: HashMap<String, (Duration, Vec<Target>)>,
}

impl TargetCache {
    /// The cached targets of `domain` if still valid at `now`.
    pub fn get(&self, domain: &str, now: Duration) -> Option<Vec<Target>> {
        self.entries
            .get(&domain.to_ascii_lowercase())
            .filter(|(until, _)| now < *until)
            .map(|(_, t)| t.clone())
    }

    /// Keeps `targets` of `domain` for `ttl` from `now` (nothing kept for a zero
    /// TTL or no targets); expired entries are dropped.
    pub fn insert(&mut self, domain: &str, targets: Vec<Target>, ttl: Duration, now: Duration) {
        self.entries.retain(|_, (until, _)| now < *until);
        if ttl.is_zero() || targets.is_empty() {
            return;
        }
        self.entries
            .insert(domain.to_ascii_lowercase(), (now + ttl, targets));
    }

    /// Domains cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naptr_keeps_sip_services_in_order_and_preference() {
        let recs = vec![
            Naptr::new(10, 20, "s", "SIP+D2U", "_sip._udp.x.net."),
            Naptr::new(10, 10, "S", "SIP+D2T", "_sip._tcp.x.net"),
            Naptr::new(5, 10, "u", "SIP+D2U", "!^.*$!sip:a@x.net!"),
            Naptr::new(1, 10, "s", "E2U+sip", "_sip._udp.y.net"),
        ];
        let all = [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls];
        assert_eq!(
            sip_naptr(&recs, &all),
            [
                (TransportKind::Tcp, "_sip._tcp.x.net".to_owned()),
                (TransportKind::Udp, "_sip._udp.x.net".to_owned()),
            ]
        );
        assert_eq!(sip_naptr(&recs, &[TransportKind::Udp]).len(), 1);
        assert_eq!(
            srv_names("x.net.", &[TransportKind::Tls, TransportKind::Udp]),
            [
                (TransportKind::Tls, "_sips._tcp.x.net".to_owned()),
                (TransportKind::Udp, "_sip._udp.x.net".to_owned()),
            ]
        );
    }

    #[test]
    fn srv_by_priority_then_weight() {
        let recs = vec![
            Srv::new(20, 0, 5060, "c"),
            Srv::new(10, 90, 5060, "a"),
            Srv::new(10, 10, 5060, "b"),
            Srv::new(30, 0, 5060, "."),
        ];
        // the highest draw picks the last of the running sums: b (90 + 10)
        let high: Vec<String> = order_srv(recs.clone(), |t| t)
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(high, ["b", "a", "c"]);
        let low: Vec<String> = order_srv(recs.clone(), |_| 1)
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(low, ["a", "b", "c"]);
        // heavy weights win most draws
        let mut seed = 7u32;
        let mut a_first = 0;
        for _ in 0..1000 {
            let ordered = order_srv(recs.clone(), |t| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 8) % (t + 1)
            });
            if ordered[0].target == "a" {
                a_first += 1;
            }
        }
        assert!((800..=980).contains(&a_first), "{a_first}");
    }

    #[test]
    fn the_cache_keeps_targets_for_their_ttl() {
        let t = Target {
            peer: Peer::udp("192.0.2.1:5060".parse().unwrap_or_else(|_| panic!())),
            host: "a.x.net".into(),
        };
        let mut c = TargetCache::default();
        c.insert(
            "X.net",
            vec![t.clone()],
            Duration::from_secs(30),
            Duration::ZERO,
        );
        assert_eq!(
            c.get("x.net", Duration::from_secs(29)),
            Some(vec![t.clone()])
        );
        assert_eq!(c.get("x.net", Duration::from_secs(30)), None);
        c.insert("y.net", vec![t], Duration::ZERO, Duration::from_secs(31));
        assert!(c.is_empty(), "expired and zero-TTL entries are not kept");
    }
}
