//! Trunks on the premise center's path: `[[trunks]]` (carriers reached with
//! digest registration or IP authentication), the outbound `[[dial_plan]]`
//! (number patterns → trunks in failover order) and inbound `[[dids]]` (called
//! numbers → flows), checked with errors naming the field and turned into
//! callcore-sip's [`Trunk`]s and [`DialPlan`].
//!
//! ```
//! use callcore_premise::PremiseConfig;
//! let cfg = PremiseConfig::from_toml(r#"
//! [[trunks]]
//! name = "carrier-a"
//! host = "192.0.2.10:5060"
//! username = "centre42"
//! password = "s3cret-trunk"
//! [[trunks]]
//! name = "carrier-b"
//! host = "198.51.100.7:5060"
//! transport = "tcp"
//! [[dial_plan]]
//! pattern = "+49*"
//! trunks = ["carrier-a", "carrier-b"]
//! [[dids]]
//! number = "+4930123456"
//! queue = "billing"
//! [[agents]]
//! id = "2001"
//! password = "s3cret-2001"
//! "#).unwrap();
//! let trunks = callcore_premise::trunks::sip_trunks(&cfg.trunks);
//! assert_eq!(trunks[1].trusted_sources, ["198.51.100.7".parse::<std::net::IpAddr>().unwrap()]);
//! let plan = callcore_premise::trunks::dial_plan(&cfg.dial_plan);
//! assert_eq!(plan.trunks_for("+4930999").unwrap(), ["carrier-a", "carrier-b"]);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use callcore_ivr::flow::{FlowBuilder, IvrFlow};
use callcore_sip::dial_plan::{DialPlan, DialRule, NumberPattern};
use callcore_sip::transaction::{Peer, TransportKind};
use callcore_sip::trunk::{Trunk, TrunkKind, TrunkRegistration};
use serde::Deserialize;

use crate::PremiseError;

/// `[[trunks]]`: one carrier.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSection {
    /// Name the dial plan, logs and records use.
    pub name: String,
    /// The carrier's address, `IP:port`; a domain without a port, found by DNS
    /// (RFC 3263, [`crate::trunk_dns`]); over TLS also `name:port` (looked up once
    /// at start, A/AAAA only, and the name the certificate is checked against).
    pub host: String,
    /// `udp` (default), `tcp` or `tls`; for a domain found by DNS, the transport
    /// tried first when the domain has no NAPTR records.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// TLS: the host name the carrier's certificate must carry (also sent as SNI);
    /// default: the name in `host`, or, for an `IP:port` host, the IP address.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// TLS: the CA bundle (PEM) the carrier's certificate is checked with; required
    /// for a TLS trunk (the bundles of all TLS trunks are trusted together, each
    /// trunk still checked against its own name).
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Registration: the user name the carrier gave (with `password`). Without
    /// it the trunk is IP-authenticated.
    #[serde(default)]
    pub username: Option<String>,
    /// Registration: the digest password.
    #[serde(default)]
    pub password: Option<String>,
    /// Registration: the carrier's digest realm; when given, only challenges for
    /// this realm are answered.
    #[serde(default)]
    pub realm: Option<String>,
    /// Registration: the expiry asked for, in seconds (refreshed at half what the
    /// carrier grants).
    #[serde(default = "default_expires")]
    pub expires: u32,
    /// IP authentication: inbound INVITEs from these addresses are trusted as this
    /// trunk. Default: the `host`'s address for a trunk without registration.
    #[serde(default)]
    pub ip_auth: Option<Vec<IpAddr>>,
    /// Caller id presented on calls out through this trunk (the `From` user,
    /// e.g. the center's main number); default: the caller id of the call.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// OPTIONS probe interval in seconds; 0 turns probing off. A trunk whose
    /// probes fail three times in a row is passed over until it answers again.
    #[serde(default = "default_probe")]
    pub options_interval_secs: u32,
    /// SRTP (SDES) on this trunk's calls: `"off"` (default), `"offer"` or
    /// `"require"`; see [`crate::srtp`].
    #[serde(default)]
    pub srtp: Option<String>,
}

impl std::fmt::Debug for TrunkSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkSection")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("transport", &self.transport)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("realm", &self.realm)
            .field("expires", &self.expires)
            .field("ip_auth", &self.ip_auth)
            .field("caller_id", &self.caller_id)
            .field("options_interval_secs", &self.options_interval_secs)
            .field("srtp", &self.srtp)
            .finish()
    }
}

fn default_transport() -> String {
    "udp".into()
}

fn default_expires() -> u32 {
    600
}

fn default_probe() -> u32 {
    30
}

/// `[[dial_plan]]`: numbers matching `pattern` go out through `trunks`, tried in
/// order. Rules are tried in order; the first match wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialPlanSection {
    /// `+49*` (prefix), `+1??????????` (`?`: one digit), `*` (everything), or a
    /// whole number.
    pub pattern: String,
    /// Trunk names in failover order.
    pub trunks: Vec<String>,
}

/// `[[dids]]`: calls to `number` (the called number, the user part of the
/// INVITE's `To`) go to a flow: the IVR menu (`flow = "ivr"`, the default) or
/// straight to a queue (`queue = "billing"`). Other numbers reach the IVR.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidSection {
    /// The called number (`+4930123456`).
    pub number: String,
    /// `ivr` (the menu).
    #[serde(default)]
    pub flow: Option<String>,
    /// A queue the call enters directly.
    #[serde(default)]
    pub queue: Option<String>,
}

/// The name of the premise's menu flow.
pub const IVR_FLOW: &str = "ivr";

impl DidSection {
    /// The flow this DID is routed to (`ivr`, or `queue:<id>`).
    pub fn flow_name(&self) -> String {
        match &self.queue {
            Some(q) => queue_flow_name(q),
            None => self.flow.clone().unwrap_or_else(|| IVR_FLOW.into()),
        }
    }
}

/// The name of the flow that puts a call straight into `queue`.
pub fn queue_flow_name(queue: &str) -> String {
    format!("queue:{queue}")
}

/// The flow of a DID straight to `queue`: the caller enters the queue at once.
///
/// # Errors
/// [`PremiseError::Config`] when callcore-ivr's validation rejects it.
pub fn queue_flow(at: &str, queue: &str) -> Result<IvrFlow, PremiseError> {
    let spec = FlowBuilder::new(&queue_flow_name(queue), "enter")
        .queue("enter", queue)
        .build()
        .map_err(|e| field(at, e.to_string()))?;
    Ok(IvrFlow::new(spec))
}

fn field(field: impl Into<String>, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: field.into(),
        detail: detail.into(),
    }
}

/// The name and port of a `name:port` host (not an IP address).
pub(crate) fn host_name(host: &str) -> Option<(&str, u16)> {
    let (name, port) = host.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let ok = !name.is_empty()
        && name.parse::<IpAddr>().is_err()
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    ok.then_some((name, port))
}

fn is_number(n: &str) -> bool {
    let digits = n.strip_prefix('+').unwrap_or(n);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Checks `[[trunks]]`, `[[dial_plan]]` and `[[dids]]`; `queue_known` says
/// whether a queue id exists.
///
/// # Errors
/// [`PremiseError::Config`] naming the first wrong field (`trunks[1].host`,
/// `dial_plan[0].trunks`, `dids[2].queue`).
pub fn validate(
    trunks: &[TrunkSection],
    plan: &[DialPlanSection],
    dids: &[DidSection],
    queue_known: impl Fn(&str) -> bool,
) -> Result<(), PremiseError> {
    for (i, t) in trunks.iter().enumerate() {
        let at = |f: &str| format!("trunks[{i}].{f}");
        if t.name.trim().is_empty() || t.name.contains(char::is_whitespace) {
            return Err(field(at("name"), "a name without spaces"));
        }
        if trunks[..i].iter().any(|x| x.name == t.name) {
            return Err(field(at("name"), format!("duplicate trunk `{}`", t.name)));
        }
        let tls = t.transport.eq_ignore_ascii_case("tls");
        if t.host.parse::<SocketAddr>().is_err()
            && !(tls && host_name(&t.host).is_some())
            && crate::trunk_dns::dns_domain(&t.host).is_none()
        {
            return Err(field(
                at("host"),
                format!(
                    "`{}` is not IP:port, a domain found by DNS (no port) or, over TLS, name:port",
                    t.host
                ),
            ));
        }
        match t.transport.to_ascii_lowercase().as_str() {
            "udp" | "tcp" | "tls" => {}
            other => {
                return Err(field(
                    at("transport"),
                    format!("`{other}`: udp, tcp or tls"),
                ));
            }
        }
        crate::trunk_tls::validate(t, &at)?;
        match (&t.username, &t.password) {
            (Some(u), _) if u.trim().is_empty() => {
                return Err(field(at("username"), "must not be empty"));
            }
            (Some(_), None) => {
                return Err(field(
                    at("password"),
                    "a registering trunk needs a password",
                ));
            }
            (Some(_), Some(p)) if p.is_empty() => {
                return Err(field(at("password"), "must not be empty"));
            }
            (None, Some(_)) => {
                return Err(field(
                    at("username"),
                    "a password needs a username (or leave both out for IP authentication)",
                ));
            }
            _ => {}
        }
        if t.username.is_some() && t.expires < 60 {
            return Err(field(at("expires"), "60 seconds or more"));
        }
        if t.username.is_none() && t.ip_auth.as_ref().is_some_and(Vec::is_empty) {
            return Err(field(
                at("ip_auth"),
                "an IP-authenticated trunk needs at least one address",
            ));
        }
        if let Some(c) = &t.caller_id
            && !is_number(c)
        {
            return Err(field(at("caller_id"), "a number: digits, `+` first"));
        }
    }
    for (i, r) in plan.iter().enumerate() {
        NumberPattern::parse(&r.pattern)
            .map_err(|e| field(format!("dial_plan[{i}].pattern"), e.to_string()))?;
        if r.trunks.is_empty() {
            return Err(field(
                format!("dial_plan[{i}].trunks"),
                "name at least one trunk",
            ));
        }
        for (j, name) in r.trunks.iter().enumerate() {
            if !trunks.iter().any(|t| &t.name == name) {
                return Err(field(
                    format!("dial_plan[{i}].trunks"),
                    format!("no trunk `{name}` (entry {j})"),
                ));
            }
            if r.trunks[..j].contains(name) {
                return Err(field(
                    format!("dial_plan[{i}].trunks"),
                    format!("`{name}` is listed twice"),
                ));
            }
        }
    }
    for (i, d) in dids.iter().enumerate() {
        if !is_number(&d.number) {
            return Err(field(
                format!("dids[{i}].number"),
                "a number: digits, `+` first",
            ));
        }
        if dids[..i].iter().any(|x| x.number == d.number) {
            return Err(field(format!("dids[{i}].number"), "duplicate DID"));
        }
        match (&d.flow, &d.queue) {
            (Some(_), Some(_)) => {
                return Err(field(
                    format!("dids[{i}].queue"),
                    "give either `flow` or `queue`",
                ));
            }
            (Some(f), None) if f != IVR_FLOW => {
                return Err(field(
                    format!("dids[{i}].flow"),
                    format!("no flow `{f}`: \"ivr\" (or give a `queue`)"),
                ));
            }
            (None, Some(q)) if !queue_known(q) => {
                return Err(field(format!("dids[{i}].queue"), format!("no queue `{q}`")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// callcore-sip trunks for validated `[[trunks]]`.
pub fn sip_trunks(trunks: &[TrunkSection]) -> Vec<Trunk> {
    trunks
        .iter()
        .filter_map(|t| {
            let addr = crate::trunk_tls::resolve(t)?;
            let mut trunk = Trunk::new(&t.name, TrunkKind::Carrier, addr, &[]);
            let transport = match t.transport.to_ascii_lowercase().as_str() {
                "tcp" => TransportKind::Tcp,
                "tls" => TransportKind::Tls,
                _ => TransportKind::Udp,
            };
            trunk.peer = Peer { addr, transport };
            if transport == TransportKind::Tls {
                trunk.tls_server_name = crate::trunk_tls::server_name(t);
            }
            if let (Some(user), Some(password)) = (&t.username, &t.password) {
                let mut reg = TrunkRegistration::new(user, password, t.expires);
                reg.realm = t.realm.clone();
                trunk.registration = Some(reg);
            }
            trunk.trusted_sources = match (&t.ip_auth, &t.username) {
                (Some(list), _) => list.clone(),
                (None, None) => vec![addr.ip()],
                (None, Some(_)) => Vec::new(),
            };
            trunk.caller_id = t.caller_id.clone();
            trunk.srtp = crate::srtp::trunk_policy(t);
            trunk.keepalive = (t.options_interval_secs > 0)
                .then(|| Duration::from_secs(u64::from(t.options_interval_secs)));
            Some(trunk)
        })
        .collect()
}

/// The dial plan of validated `[[dial_plan]]` rules.
pub fn dial_plan(rules: &[DialPlanSection]) -> DialPlan {
    let mut plan = DialPlan::default();
    for r in rules {
        if let Ok(pattern) = NumberPattern::parse(&r.pattern) {
            plan.push(DialRule {
                pattern,
                trunks: r.trunks.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;

    fn error_of(toml: &str) -> Option<String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string())
    }

    const TWO: &str = "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\n\
                       [[trunks]]\nname = \"b\"\nhost = \"127.0.0.1:5072\"\n";

    #[test]
    fn trunks_dial_plan_and_dids_load() {
        // a config file lists its agents
        let toml = format!(
            "[[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5090\"\n\
             {TWO}username = \"centre\"\npassword = \"pw-b\"\nrealm = \"carrier\"\n\
             caller_id = \"+4930123456\"\noptions_interval_secs = 0\ntransport = \"tcp\"\n\
             [[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"a\", \"b\"]\n\
             [[dids]]\nnumber = \"+4930123456\"\nqueue = \"billing\"\n\
             [[dids]]\nnumber = \"+4930123457\"\n"
        );
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(&toml))
            .unwrap_or_else(|e| panic!("{e}"));
        let t = super::sip_trunks(&c.trunks);
        assert_eq!(t.len(), 2);
        assert!(t[0].registration.is_none());
        assert_eq!(
            t[0].trusted_sources,
            [t[0].peer.addr.ip()],
            "IP auth by host"
        );
        assert!(t[0].keepalive.is_some());
        let reg = t[1].registration.as_ref().unwrap_or_else(|| panic!());
        assert_eq!(reg.realm.as_deref(), Some("carrier"));
        assert!(
            t[1].trusted_sources.is_empty(),
            "a registering trunk is not IP-trusted"
        );
        assert_eq!(t[1].caller_id.as_deref(), Some("+4930123456"));
        assert!(t[1].keepalive.is_none());
        assert_eq!(
            t[1].peer.transport,
            callcore_sip::transaction::TransportKind::Tcp
        );
        assert!(
            !format!("{:?}", c.trunks[1]).contains("pw-b"),
            "no password in Debug"
        );
        assert_eq!(c.dids[0].flow_name(), "queue:billing");
        assert_eq!(c.dids[1].flow_name(), "ivr");
    }

    #[test]
    fn trunk_errors_name_the_field() {
        let cases = [
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\n[[trunks]]\nname = \"b\"\nhost = \"carrier.example.com:5060\"\n",
                "config field `trunks[1].host`: `carrier.example.com:5060` is not IP:port, a domain found by DNS (no port) or, over TLS, name:port",
            ),
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\n[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5072\"\n",
                "config field `trunks[1].name`: duplicate trunk `a`",
            ),
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\ntransport = \"sctp\"\n",
                "config field `trunks[0].transport`: `sctp`: udp, tcp or tls",
            ),
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\nusername = \"u\"\n",
                "config field `trunks[0].password`: a registering trunk needs a password",
            ),
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\npassword = \"p\"\n",
                "config field `trunks[0].username`: a password needs a username (or leave both out for IP authentication)",
            ),
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\nusername = \"u\"\npassword = \"p\"\nexpires = 10\n",
                "config field `trunks[0].expires`: 60 seconds or more",
            ),
            (
                "[[trunks]]\nname = \"a\"\nhost = \"127.0.0.1:5071\"\ncaller_id = \"sales\"\n",
                "config field `trunks[0].caller_id`: a number: digits, `+` first",
            ),
        ];
        for (toml, want) in cases {
            assert_eq!(error_of(toml).as_deref(), Some(want), "{toml}");
        }
    }

    #[test]
    fn dial_plan_and_did_errors_name_the_field() {
        let cases = [
            (
                format!("{TWO}[[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"a\", \"c\"]\n"),
                "config field `dial_plan[0].trunks`: no trunk `c` (entry 1)",
            ),
            (
                format!("{TWO}[[dial_plan]]\npattern = \"+49*\"\ntrunks = []\n"),
                "config field `dial_plan[0].trunks`: name at least one trunk",
            ),
            (
                format!(
                    "{TWO}[[dial_plan]]\npattern = \"*\"\ntrunks = [\"a\"]\n[[dial_plan]]\npattern = \"+4*9\"\ntrunks = [\"a\"]\n"
                ),
                "config field `dial_plan[1].pattern`: `*` is not allowed here: digits, `?` (one digit), `+` first, `*` last",
            ),
            (
                "[[dids]]\nnumber = \"+4930\"\nqueue = \"nowhere\"\n".to_owned(),
                "config field `dids[0].queue`: no queue `nowhere`",
            ),
            (
                "[[dids]]\nnumber = \"sales\"\n".to_owned(),
                "config field `dids[0].number`: a number: digits, `+` first",
            ),
            (
                "[[dids]]\nnumber = \"+4930\"\nflow = \"menu2\"\n".to_owned(),
                "config field `dids[0].flow`: no flow `menu2`: \"ivr\" (or give a `queue`)",
            ),
        ];
        for (toml, want) in cases {
            assert_eq!(error_of(&toml).as_deref(), Some(want), "{toml}");
        }
    }
}
