//! RFC 3263 lookups over DNS with hickory-resolver (feature `dns`): NAPTR, then
//! SRV, then A/AAAA, with the ordering rules of [`crate::rfc3263`] and a cache of
//! the targets for the smallest TTL of the records they came from.
//!
//! ```no_run
//! # async fn demo() {
//! use callcore_sip::dns::DnsTargets;
//! use callcore_sip::rfc3263::TargetLookup;
//! use callcore_sip::transaction::TransportKind;
//! let dns = DnsTargets::with_nameserver(
//!     "127.0.0.1:5353".parse().unwrap(),
//!     vec![TransportKind::Udp, TransportKind::Tcp],
//! );
//! for t in dns.targets("sip.example.net").await {
//!     println!("{} over {:?}", t.peer.addr, t.peer.transport);
//! }
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;

use crate::rfc3263::{
    Naptr, Srv, Target, TargetCache, TargetLookup, default_port, order_srv, sip_naptr, srv_names,
};
use crate::transaction::{Peer, TransportKind};

/// The longest a lookup's result is kept whatever its TTL says.
const MAX_TTL: Duration = Duration::from_secs(3600);

/// RFC 3263 lookups through a DNS server (see the module docs).
pub struct DnsTargets {
    resolver: TokioResolver,
    allowed: Vec<TransportKind>,
    cache: Mutex<TargetCache>,
    epoch: Instant,
}

impl std::fmt::Debug for DnsTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsTargets")
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

fn options() -> ResolverOpts {
    let mut o = ResolverOpts::default();
    o.timeout = Duration::from_secs(2);
    o.attempts = 2;
    o
}

impl DnsTargets {
    /// Lookups through the DNS server at `server` (UDP, TCP for truncated answers),
    /// for servers reached over the transports of `allowed` (preferred first when
    /// the domain has no NAPTR records).
    pub fn with_nameserver(server: SocketAddr, allowed: Vec<TransportKind>) -> DnsTargets {
        let mut config = ResolverConfig::new();
        config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(options())
                .build();
        DnsTargets::from_resolver(resolver, allowed)
    }

    /// Lookups through the system's resolver configuration (`/etc/resolv.conf`).
    ///
    /// # Errors
    /// The system configuration cannot be read.
    pub fn system(allowed: Vec<TransportKind>) -> std::io::Result<DnsTargets> {
        let mut builder = TokioResolver::builder_tokio().map_err(std::io::Error::other)?;
        let o = builder.options_mut();
        o.timeout = Duration::from_secs(2);
        o.attempts = 2;
        Ok(DnsTargets::from_resolver(builder.build(), allowed))
    }

    fn from_resolver(resolver: TokioResolver, allowed: Vec<TransportKind>) -> DnsTargets {
        DnsTargets {
            resolver,
            allowed,
            cache: Mutex::new(TargetCache::default()),
            #[allow(clippy::disallowed_methods)] // the glue is where time enters
            epoch: Instant::now(),
        }
    }

    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The NAPTR records of `domain` (none when there are none or the query fails).
    async fn naptr(&self, domain: &str, until: &mut Instant) -> Vec<Naptr> {
        let Ok(lookup) = self.resolver.lookup(fqdn(domain), RecordType::NAPTR).await else {
            return Vec::new();
        };
        *until = (*until).min(lookup.valid_until());
        lookup
            .record_iter()
            .filter_map(|r| match r.data() {
                RData::NAPTR(n) => Some(Naptr {
                    order: n.order(),
                    preference: n.preference(),
                    flags: String::from_utf8_lossy(n.flags()).into_owned(),
                    service: String::from_utf8_lossy(n.services()).into_owned(),
                    replacement: n.replacement().to_ascii(),
                }),
                _ => None,
            })
            .collect()
    }

    async fn srv(&self, name: &str, until: &mut Instant) -> Vec<Srv> {
        let Ok(lookup) = self.resolver.srv_lookup(fqdn(name)).await else {
            return Vec::new();
        };
        *until = (*until).min(lookup.as_lookup().valid_until());
        lookup
            .iter()
            .map(|s| Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_ascii().trim_end_matches('.').to_owned(),
            })
            .collect()
    }

    /// The addresses of `host` at `port` over `transport`.
    async fn hosts(
        &self,
        host: &str,
        port: u16,
        transport: TransportKind,
        until: &mut Instant,
    ) -> Vec<Target> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return vec![Target {
                peer: Peer {
                    addr: SocketAddr::new(ip, port),
                    transport,
                },
                host: host.to_owned(),
            }];
        }
        let Ok(ips) = self.resolver.lookup_ip(fqdn(host)).await else {
            return Vec::new();
        };
        *until = (*until).min(ips.valid_until());
        ips.iter()
            .map(|ip| Target {
                peer: Peer {
                    addr: SocketAddr::new(ip, port),
                    transport,
                },
                host: host.to_owned(),
            })
            .collect()
    }

    /// RFC 3263 §4: NAPTR → SRV → A/AAAA, uncached.
    async fn lookup(&self, domain: &str, until: &mut Instant) -> Vec<Target> {
        let naptr = self.naptr(domain, until).await;
        let mut services = sip_naptr(&naptr, &self.allowed);
        if services.is_empty() {
            services = srv_names(domain, &self.allowed);
        }
        let mut out = Vec::new();
        for (transport, name) in services {
            let srv = self.srv(&name, until).await;
            for s in order_srv(srv, random_upto) {
                out.extend(self.hosts(&s.target, s.port, transport, until).await);
            }
        }
        if out.is_empty()
            && let Some(t) = self.allowed.first()
        {
            out = self.hosts(domain, default_port(*t), *t, until).await;
        }
        out
    }
}

impl TargetLookup for DnsTargets {
    fn targets<'a>(
        &'a self,
        domain: &'a str,
    ) -> Pin<Box<dyn Future<Output = Vec<Target>> + Send + 'a>> {
        Box::pin(async move {
            let now = self.now();
            if let Some(t) = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(domain, now)
            {
                return t;
            }
            #[allow(clippy::disallowed_methods)]
            let started = Instant::now();
            let mut until = started + MAX_TTL;
            let targets = self.lookup(domain, &mut until).await;
            let ttl = until.saturating_duration_since(started);
            tracing::debug!(
                domain,
                targets = targets.len(),
                ttl_secs = ttl.as_secs(),
                "RFC 3263 lookup"
            );
            self.cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(domain, targets.clone(), ttl, now);
            targets
        })
    }
}

/// A name as fully qualified (no search-list suffixes tried).
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// A random number in `0..=total` for the SRV weights (OS random source).
fn random_upto(total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    let mut b = [0u8; 4];
    if getrandom::getrandom(&mut b).is_err() {
        return 0;
    }
    u32::from_le_bytes(b) % (total + 1)
}
