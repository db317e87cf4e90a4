//! Trunks: outbound routing by number prefix with failover to the next trunk on timeout
//! or 5xx, health from OPTIONS keep-alives, and matching inbound calls to a trunk by
//! source address and Request-URI (sans-IO).
//!
//! ```
//! use std::time::Duration;
//! use callcore_sip::trunk::{Trunk, TrunkKind, TrunkRouter, CallOutcome};
//! let mut r = TrunkRouter::new(vec![
//!     Trunk::new("carrier-a", TrunkKind::Carrier, "127.0.0.1:5071".parse().unwrap(), &["+1", "+44"]),
//!     Trunk::new("carrier-b", TrunkKind::Carrier, "127.0.0.1:5072".parse().unwrap(), &["+"]),
//! ]);
//! let plan: Vec<&str> = r.route("+15551234").iter().map(|t| t.name.as_str()).collect();
//! assert_eq!(plan, ["carrier-a", "carrier-b"]);
//! assert!(r.should_failover(CallOutcome::Status(503)));
//! assert!(!r.should_failover(CallOutcome::Status(486)));
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::auth::DigestAlgorithm;
use crate::transaction::{Peer, TransportKind};

/// What kind of line a trunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkKind {
    /// A carrier's SIP trunk (usually registers or is IP-authenticated).
    Carrier,
    /// A dedicated line from a gateway.
    Dedicated,
    /// A virtual trunk to another PBX or a test peer.
    Virtual,
}

/// Credentials for trunks that want outbound registration.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkRegistration {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Requested expiry in seconds.
    pub expires: u32,
    /// Digest algorithms we answer, preferred first (see
    /// [`crate::auth::choose_challenge`]); empty: the topmost challenge we support.
    /// `[SHA-256]` refuses to fall back to MD5.
    pub digest: Vec<DigestAlgorithm>,
    /// The carrier's digest realm: when set, only challenges naming this realm are
    /// answered (a 401/407 for another realm gets no credentials).
    pub realm: Option<String>,
}

impl std::fmt::Debug for TrunkRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkRegistration")
            .field("user", &self.user)
            .field("password", &"..")
            .field("expires", &self.expires)
            .field("digest", &self.digest)
            .field("realm", &self.realm)
            .finish()
    }
}

impl TrunkRegistration {
    /// Credentials answering any challenge we support, asking for `expires` seconds.
    pub fn new(user: &str, password: &str, expires: u32) -> Self {
        TrunkRegistration {
            user: user.to_owned(),
            password: password.to_owned(),
            expires,
            digest: Vec::new(),
            realm: None,
        }
    }
}

/// One trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// Name for logs and reports.
    pub name: String,
    /// Kind.
    pub kind: TrunkKind,
    /// Where to send requests.
    pub peer: Peer,
    /// Number prefixes it serves (`+1`, `00`, `""` for all).
    pub prefixes: Vec<String>,
    /// Registration, when the carrier needs it.
    pub registration: Option<TrunkRegistration>,
    /// OPTIONS keep-alive interval (`None`: no probing).
    pub keepalive: Option<Duration>,
    /// Caller id presented on calls through this trunk (the user part of `From`,
    /// e.g. the center's main number); `None`: the caller id the call asks for.
    pub caller_id: Option<String>,
    /// IP authentication: inbound INVITEs from these addresses are trusted as this
    /// trunk (empty: none are).
    pub trusted_sources: Vec<IpAddr>,
    /// Over TLS: the host name the trunk's certificate must carry (sent as SNI too);
    /// `None` checks the certificate against the IP address of `peer`.
    pub tls_server_name: Option<String>,
    /// SRTP (SDES) on this trunk's calls, both ways (default off).
    pub srtp: crate::session::SrtpPolicy,
}

impl Trunk {
    /// A UDP trunk serving `prefixes`, probed every 30 s.
    pub fn new(name: &str, kind: TrunkKind, addr: SocketAddr, prefixes: &[&str]) -> Self {
        Trunk {
            name: name.to_owned(),
            kind,
            peer: Peer::udp(addr),
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            registration: None,
            keepalive: Some(Duration::from_secs(30)),
            caller_id: None,
            trusted_sources: Vec::new(),
            tls_server_name: None,
            srtp: crate::session::SrtpPolicy::Off,
        }
    }

    /// The Request-URI for dialing `number` through this trunk (`;transport=tcp`
    /// or `tls` when the trunk is reached over a stream).
    pub fn request_uri(&self, number: &str) -> String {
        match self.peer.transport {
            TransportKind::Udp => format!("sip:{number}@{}", self.peer.addr),
            TransportKind::Tcp => format!("sip:{number}@{};transport=tcp", self.peer.addr),
            TransportKind::Tls => format!("sip:{number}@{};transport=tls", self.peer.addr),
        }
    }

    fn match_len(&self, number: &str) -> Option<usize> {
        self.prefixes
            .iter()
            .filter(|p| number.starts_with(p.as_str()))
            .map(String::len)
            .max()
    }
}

/// The result of an attempt through a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The call was answered (or the probe got any response).
    Answered,
    /// A final failure status.
    Status(u16),
    /// No final response in time (Timer B / 408).
    Timeout,
    /// The request could not be sent (a refused or lost TCP/TLS connection);
    /// counts as a 503 (RFC 3261 §8.1.3.1).
    TransportFailed,
}

/// Whether a failed attempt through a trunk should move on to the next trunk:
/// timeouts (408), 5xx (503 among them) and transport failures are the trunk's
/// fault and do; 4xx/6xx are the callee's answer (busy, declined, unknown number)
/// and do not; an answered call never does.
///
/// ```
/// use callcore_sip::trunk::{CallOutcome, should_failover};
/// assert!(should_failover(CallOutcome::Status(503)));
/// assert!(should_failover(CallOutcome::Status(408)));
/// assert!(should_failover(CallOutcome::TransportFailed));
/// assert!(!should_failover(CallOutcome::Status(486)));
/// ```
pub fn should_failover(outcome: CallOutcome) -> bool {
    match outcome {
        CallOutcome::Answered => false,
        CallOutcome::Timeout | CallOutcome::TransportFailed => true,
        CallOutcome::Status(s) => (500..600).contains(&s) || s == 408,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Health {
    consecutive_failures: u32,
    probe_due: Option<Duration>,
}

/// Routes numbers over trunks and tracks trunk health.
#[derive(Debug, Clone)]
pub struct TrunkRouter {
    trunks: Vec<Trunk>,
    health: HashMap<String, Health>,
    /// Consecutive failures after which a trunk counts as down (tried last).
    pub down_after: u32,
}

impl TrunkRouter {
    /// A router over `trunks` (their order breaks prefix-length ties).
    pub fn new(trunks: Vec<Trunk>) -> Self {
        TrunkRouter {
            trunks,
            health: HashMap::new(),
            down_after: 3,
        }
    }

    /// All trunks.
    pub fn trunks(&self) -> &[Trunk] {
        &self.trunks
    }

    /// True when the trunk has not failed `down_after` times in a row.
    pub fn is_up(&self, name: &str) -> bool {
        self.health
            .get(name)
            .is_none_or(|h| h.consecutive_failures < self.down_after)
    }

    /// The failover plan for `number`: matching trunks, longest prefix first, healthy
    /// ones before down ones (a down trunk is still tried last rather than failing).
    pub fn route(&self, number: &str) -> Vec<&Trunk> {
        let mut plan: Vec<(usize, bool, usize, &Trunk)> = self
            .trunks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.match_len(number).map(|l| (l, self.is_up(&t.name), i, t)))
            .collect();
        plan.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)).then(a.2.cmp(&b.2)));
        plan.into_iter().map(|(_, _, _, t)| t).collect()
    }

    /// Whether a failed attempt should move on to the next trunk: timeouts and 5xx
    /// (the trunk's fault) do; 4xx/6xx (the callee's answer: busy, declined, unknown
    /// number) do not.
    pub fn should_failover(&self, outcome: CallOutcome) -> bool {
        should_failover(outcome)
    }

    /// Records the outcome of a call or probe through `trunk`.
    pub fn record(&mut self, trunk: &str, outcome: CallOutcome) {
        let failover = self.should_failover(outcome);
        let h = self.health.entry(trunk.to_owned()).or_default();
        if failover {
            h.consecutive_failures += 1;
        } else {
            h.consecutive_failures = 0;
        }
    }

    /// Trunks whose OPTIONS probe is due at `now`; schedules their next probe.
    pub fn probes_due(&mut self, now: Duration) -> Vec<Trunk> {
        let mut due = Vec::new();
        for t in &self.trunks {
            let Some(every) = t.keepalive else { continue };
            let h = self.health.entry(t.name.clone()).or_default();
            if h.probe_due.is_none_or(|d| d <= now) {
                h.probe_due = Some(now + every);
                due.push(t.clone());
            }
        }
        due
    }

    /// The next probe deadline.
    pub fn next_probe(&self) -> Option<Duration> {
        self.health.values().filter_map(|h| h.probe_due).min()
    }

    /// The trunk that trusts inbound INVITEs from `source` by IP authentication
    /// ([`Trunk::trusted_sources`]).
    pub fn trusted_source(&self, source: IpAddr) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.trusted_sources.contains(&source))
    }

    /// A trunk by name.
    pub fn trunk(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// The trunk an inbound request came from: same source address, or a Request-URI
    /// host equal to the trunk's address.
    pub fn match_inbound(&self, source: SocketAddr, request_uri_host: &str) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.peer.addr == source)
            .or_else(|| self.trunks.iter().find(|t| t.peer.addr.ip() == source.ip()))
            .or_else(|| {
                self.trunks
                    .iter()
                    .find(|t| t.peer.addr.ip().to_string() == request_uri_host)
            })
    }
}

/// The caller's number in a `P-Asserted-Identity` value (RFC 3325: `"Name"
/// <sip:+4930123@carrier>` or `<tel:+4930123>`; the first of several): the user part
/// of a SIP URI, the number of a tel URI. Believe it only from a trusted trunk.
pub fn asserted_caller(value: &str) -> Option<String> {
    let first = value.split(',').next()?.trim();
    let uri = match (first.find('<'), first.rfind('>')) {
        (Some(a), Some(b)) if a < b => &first[a + 1..b],
        _ => first,
    };
    let number = if let Some(tel) = uri.strip_prefix("tel:") {
        tel.split(';').next().unwrap_or("")
    } else {
        let rest = uri
            .strip_prefix("sip:")
            .or_else(|| uri.strip_prefix("sips:"))?;
        rest.split_once('@')?.0.split(';').next().unwrap_or("")
    };
    let number = number.trim();
    (!number.is_empty()).then(|| number.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> TrunkRouter {
        TrunkRouter::new(vec![
            Trunk::new(
                "intl",
                TrunkKind::Carrier,
                "127.0.0.1:5071".parse().unwrap(),
                &["+"],
            ),
            Trunk::new(
                "us",
                TrunkKind::Carrier,
                "127.0.0.1:5072".parse().unwrap(),
                &["+1"],
            ),
            Trunk::new(
                "local",
                TrunkKind::Dedicated,
                "127.0.0.2:5060".parse().unwrap(),
                &["+1555"],
            ),
            Trunk::new(
                "pbx",
                TrunkKind::Virtual,
                "127.0.0.3:5060".parse().unwrap(),
                &["2"],
            ),
        ])
    }

    #[test]
    fn longest_prefix_first_then_failover_order() {
        let r = router();
        let names = |n: &str| {
            r.route(n)
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("+15551234"), ["local", "us", "intl"]);
        assert_eq!(names("+4420"), ["intl"]);
        assert_eq!(names("2001"), ["pbx"]);
        assert!(names("999").is_empty());
    }

    #[test]
    fn failing_trunks_are_tried_last_until_they_recover() {
        let mut r = router();
        for _ in 0..3 {
            r.record("local", CallOutcome::Timeout);
        }
        assert!(!r.is_up("local"));
        let plan: Vec<_> = r
            .route("+15551234")
            .iter()
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(plan, ["us", "intl", "local"]);
        r.record("local", CallOutcome::Status(486)); // the callee answered: trunk is fine
        assert!(r.is_up("local"));
        r.record("us", CallOutcome::Status(503));
        assert!(r.is_up("us"), "one failure is not enough");
    }

    #[test]
    fn probes_and_inbound_matching() {
        let mut r = router();
        assert_eq!(r.probes_due(Duration::ZERO).len(), 4);
        assert!(r.probes_due(Duration::from_secs(10)).is_empty());
        assert_eq!(r.next_probe(), Some(Duration::from_secs(30)));
        assert_eq!(r.probes_due(Duration::from_secs(30)).len(), 4);
        let t = r
            .match_inbound("127.0.0.2:41234".parse().unwrap(), "cc.example.com")
            .unwrap();
        assert_eq!(t.name, "local");
        assert!(
            r.match_inbound("10.0.0.1:5060".parse().unwrap(), "cc.example.com")
                .is_none()
        );
    }

    #[test]
    fn the_asserted_caller_number() {
        use super::asserted_caller;
        assert_eq!(
            asserted_caller("\"Caller\" <sip:+4930123@carrier.example;user=phone>").as_deref(),
            Some("+4930123")
        );
        assert_eq!(
            asserted_caller("<tel:+4930123;cpc=ordinary>, <sip:+4930123@c>").as_deref(),
            Some("+4930123")
        );
        assert_eq!(asserted_caller("sip:carrier.example"), None);
        assert_eq!(asserted_caller("<mailto:x@y>"), None);
    }
}
