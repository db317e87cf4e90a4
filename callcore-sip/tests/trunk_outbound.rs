//! Outbound registration to a carrier that wants digest auth (with refresh), and
//! OPTIONS keep-alives that mark a silent trunk down — two sans-IO user agents in
//! virtual time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use callcore_sip::auth::{DigestAlgorithm, DigestConfig};
use callcore_sip::message::Message;
use callcore_sip::transaction::Peer;
use callcore_sip::trunk::{Trunk, TrunkKind, TrunkRegistration, TrunkRouter};
use callcore_sip::ua::{UaConfig, UaEvent, UaOutput, UserAgent};

const CENTER: &str = "127.0.0.1:5080";
const CARRIER: &str = "127.0.0.1:5071";
const DEAD: &str = "127.0.0.1:5999";

struct Pair {
    center: UserAgent,
    carrier: UserAgent,
    now: Duration,
    center_events: Vec<UaEvent>,
    carrier_events: Vec<UaEvent>,
    registers_seen: usize,
    /// `algorithm=` of each REGISTER's Authorization (`None`: no credentials).
    register_algorithms: Vec<Option<String>>,
}

impl Pair {
    fn new() -> Self {
        Self::challenging(&[DigestAlgorithm::Sha256, DigestAlgorithm::Md5])
    }

    /// A carrier challenging with `algorithms`, in this order.
    fn challenging(algorithms: &[DigestAlgorithm]) -> Self {
        let mut cfg = UaConfig::new(CARRIER.parse().unwrap());
        cfg.registrar = true;
        let store: HashMap<String, String> = [("trunk7".to_owned(), "pw7".to_owned())].into();
        let mut digest = DigestConfig::new("carrier.example.net");
        digest.algorithms = algorithms.to_vec();
        digest.strongest_first = false; // a carrier challenging in its own order
        digest.nonce_ttl = Duration::from_secs(3600);
        cfg.auth = Some((digest, Arc::new(store)));
        Pair {
            center: UserAgent::new(UaConfig::new(CENTER.parse().unwrap()), 1),
            carrier: UserAgent::new(cfg, 2),
            now: Duration::ZERO,
            center_events: Vec::new(),
            carrier_events: Vec::new(),
            registers_seen: 0,
            register_algorithms: Vec::new(),
        }
    }

    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.center.poll_output() {
                moved = true;
                match o {
                    UaOutput::Transmit { peer, data } if peer.addr == CARRIER.parse().unwrap() => {
                        if data.starts_with(b"REGISTER") {
                            self.registers_seen += 1;
                            let m = Message::parse(data.clone()).unwrap();
                            self.register_algorithms.push(
                                m.authorization()
                                    .unwrap()
                                    .first()
                                    .and_then(|c| c.param("algorithm"))
                                    .map(|a| a.into_owned()),
                            );
                        }
                        self.carrier.handle_datagram(
                            data,
                            Peer::udp(CENTER.parse().unwrap()),
                            self.now,
                        );
                    }
                    UaOutput::Transmit { .. } => {} // the dead trunk hears nothing
                    UaOutput::Event(e) => self.center_events.push(e),
                }
            }
            while let Some(o) = self.carrier.poll_output() {
                moved = true;
                match o {
                    UaOutput::Transmit { data, .. } => self.center.handle_datagram(
                        data,
                        Peer::udp(CARRIER.parse().unwrap()),
                        self.now,
                    ),
                    UaOutput::Event(e) => self.carrier_events.push(e),
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn advance_to(&mut self, end: Duration) {
        loop {
            let next = [self.center.poll_timeout(), self.carrier.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.center.handle_timeout(self.now);
                    self.carrier.handle_timeout(self.now);
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }
}

#[test]
fn registers_with_digest_auth_and_refreshes_at_half_expiry() {
    let mut p = Pair::new();
    let mut trunk = Trunk::new(
        "carrier",
        TrunkKind::Carrier,
        CARRIER.parse().unwrap(),
        &["+"],
    );
    trunk.keepalive = None;
    trunk.registration = Some(TrunkRegistration::new("trunk7", "pw7", 600));
    p.center.register_trunk(trunk, Duration::ZERO).unwrap();
    p.settle();
    assert_eq!(
        p.registers_seen, 2,
        "first REGISTER challenged, second authorized"
    );
    assert!(
        p.center_events.iter().any(
            |e| matches!(e, UaEvent::TrunkRegistered { trunk, expires: 600 } if trunk == "carrier")
        ),
        "{:?}",
        p.center_events
    );
    assert!(
        p.carrier_events
            .iter()
            .any(|e| matches!(e, UaEvent::Registered { user: Some(u), .. } if u == "trunk7"))
    );
    assert_eq!(
        p.carrier
            .registrar()
            .lookup("sip:trunk7@127.0.0.1", p.now)
            .len(),
        1
    );
    // Refresh at half the granted expiry (300 s), with a new challenge round.
    p.advance_to(Duration::from_secs(299));
    assert_eq!(p.registers_seen, 2);
    p.advance_to(Duration::from_secs(301));
    assert_eq!(p.registers_seen, 4);
    let registered = p
        .center_events
        .iter()
        .filter(|e| matches!(e, UaEvent::TrunkRegistered { .. }))
        .count();
    assert_eq!(registered, 2);
}

fn carrier_trunk(digest: &[DigestAlgorithm]) -> Trunk {
    let mut trunk = Trunk::new(
        "carrier",
        TrunkKind::Carrier,
        CARRIER.parse().unwrap(),
        &["+"],
    );
    trunk.keepalive = None;
    let mut account = TrunkRegistration::new("trunk7", "pw7", 600);
    account.digest = digest.to_vec();
    trunk.registration = Some(account);
    trunk
}

#[test]
fn the_trunk_answers_the_topmost_challenge_or_the_algorithm_it_prefers() {
    use DigestAlgorithm::{Md5, Sha256};
    // (carrier's challenges, trunk's policy, the algorithm answered)
    let cases: [(&[DigestAlgorithm], &[DigestAlgorithm], &str); 4] = [
        (&[Sha256, Md5], &[], "SHA-256"),
        (&[Md5, Sha256], &[], "MD5"),
        (&[Md5, Sha256], &[Sha256, Md5], "SHA-256"),
        (&[Sha256, Md5], &[Md5], "MD5"),
    ];
    for (carrier, policy, answered) in cases {
        let mut p = Pair::challenging(carrier);
        p.center
            .register_trunk(carrier_trunk(policy), Duration::ZERO)
            .unwrap();
        p.settle();
        assert_eq!(
            p.register_algorithms,
            [None, Some(answered.to_owned())],
            "{carrier:?} {policy:?}"
        );
        assert!(
            p.center_events
                .iter()
                .any(|e| matches!(e, UaEvent::TrunkRegistered { .. })),
            "{carrier:?} {policy:?}: {:?}",
            p.center_events
        );
    }
}

#[test]
fn a_sha256_only_trunk_does_not_fall_back_to_md5() {
    let mut p = Pair::challenging(&[DigestAlgorithm::Md5]);
    p.center
        .register_trunk(carrier_trunk(&[DigestAlgorithm::Sha256]), Duration::ZERO)
        .unwrap();
    p.settle();
    assert_eq!(p.register_algorithms, [None], "no MD5 answer sent");
    assert!(
        p.center_events
            .iter()
            .any(|e| matches!(e, UaEvent::TrunkRegistrationFailed { status: 401, .. })),
        "{:?}",
        p.center_events
    );
    p.advance_to(Duration::from_secs(61));
    assert_eq!(p.registers_seen, 2, "tried again after 60 s");
}

#[test]
fn wrong_trunk_password_fails_and_retries_later() {
    let mut p = Pair::new();
    let mut trunk = Trunk::new(
        "carrier",
        TrunkKind::Carrier,
        CARRIER.parse().unwrap(),
        &["+"],
    );
    trunk.keepalive = None;
    trunk.registration = Some(TrunkRegistration::new("trunk7", "nope", 600));
    p.center.register_trunk(trunk, Duration::ZERO).unwrap();
    p.settle();
    assert!(
        p.center_events
            .iter()
            .any(|e| matches!(e, UaEvent::TrunkRegistrationFailed { status: 401, .. })),
        "{:?}",
        p.center_events
    );
    p.advance_to(Duration::from_secs(61));
    assert_eq!(p.registers_seen, 4, "retried after 60 s");
}

#[test]
fn options_keepalive_marks_a_silent_trunk_down_and_a_live_one_up() {
    let mut p = Pair::new();
    let mut live = Trunk::new(
        "live",
        TrunkKind::Carrier,
        CARRIER.parse().unwrap(),
        &["+1"],
    );
    let mut dead = Trunk::new("dead", TrunkKind::Carrier, DEAD.parse().unwrap(), &["+"]);
    live.keepalive = Some(Duration::from_secs(30));
    dead.keepalive = Some(Duration::from_secs(30));
    p.center
        .set_trunks(TrunkRouter::new(vec![dead, live]), Duration::ZERO);
    p.settle();
    // Three probes of 32 s (Timer F) each go unanswered.
    p.advance_to(Duration::from_secs(200));
    let r = p.center.trunks().unwrap();
    assert!(r.is_up("live"));
    assert!(!r.is_up("dead"));
    let plan: Vec<_> = r
        .route("+15551234")
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(plan, ["live", "dead"], "the down trunk is tried last");
}

#[test]
fn credentials_go_only_to_the_carriers_realm_when_one_is_named() {
    for (realm, registered) in [("carrier.example.net", true), ("elsewhere.example", false)] {
        let mut p = Pair::new();
        let mut trunk = carrier_trunk(&[]);
        if let Some(r) = trunk.registration.as_mut() {
            r.realm = Some(realm.to_owned());
        }
        p.center.register_trunk(trunk, Duration::ZERO).unwrap();
        p.settle();
        let ok = p
            .center_events
            .iter()
            .any(|e| matches!(e, UaEvent::TrunkRegistered { .. }));
        assert_eq!(ok, registered, "{realm}: {:?}", p.center_events);
        if !registered {
            assert_eq!(p.registers_seen, 1, "no second REGISTER for another realm");
            assert!(
                p.center_events
                    .iter()
                    .any(|e| matches!(e, UaEvent::TrunkRegistrationFailed { status: 401, .. }))
            );
        }
    }
}
