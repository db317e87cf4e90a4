//! Several sans-IO user agents on a virtual network: B2BUA bridging with trunk
//! failover, and blind transfer by REFER with NOTIFY sipfrag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use callcore_sip::b2bua::{B2bua, BridgeEvent, Destination};
use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::trunk::{Trunk, TrunkKind, TrunkRouter};
use callcore_sip::ua::{CallRef, UaConfig, UaEvent, UaOutput, UserAgent};

const CALLER: &str = "127.0.0.1:5070";
const CENTER: &str = "127.0.0.1:5080";
const AGENT: &str = "127.0.0.1:5090";
const BAD_TRUNK: &str = "127.0.0.1:5091";

struct Net {
    nodes: Vec<(SocketAddr, UserAgent, Vec<UaEvent>)>,
    now: Duration,
}

impl Net {
    fn new(addrs: &[&str]) -> Self {
        let nodes = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let addr: SocketAddr = a.parse().unwrap();
                (
                    addr,
                    UserAgent::new(UaConfig::new(addr), 100 + i as u64),
                    Vec::new(),
                )
            })
            .collect();
        Net {
            nodes,
            now: Duration::ZERO,
        }
    }

    fn idx(&self, a: &str) -> usize {
        let addr: SocketAddr = a.parse().unwrap();
        self.nodes.iter().position(|n| n.0 == addr).unwrap()
    }

    fn ua(&mut self, a: &str) -> &mut UserAgent {
        let i = self.idx(a);
        &mut self.nodes[i].1
    }

    /// Delivers all messages; returns new events per node (also kept in the log).
    fn settle(&mut self) -> Vec<(usize, UaEvent)> {
        let mut fresh = Vec::new();
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(o) = self.nodes[i].1.poll_output() {
                    moved = true;
                    match o {
                        UaOutput::Transmit { peer, data } => {
                            let from = Peer::udp(self.nodes[i].0);
                            if let Some(j) = self.nodes.iter().position(|n| n.0 == peer.addr) {
                                let now = self.now;
                                self.nodes[j].1.handle_datagram(data, from, now);
                            }
                        }
                        UaOutput::Event(e) => {
                            self.nodes[i].2.push(e.clone());
                            fresh.push((i, e));
                        }
                    }
                }
            }
            if !moved {
                return fresh;
            }
        }
    }

    fn advance(&mut self, by: Duration) -> Vec<(usize, UaEvent)> {
        let end = self.now + by;
        let mut fresh = Vec::new();
        loop {
            let next = self
                .nodes
                .iter_mut()
                .filter_map(|n| n.1.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for n in &mut self.nodes {
                        n.1.handle_timeout(now);
                    }
                    fresh.extend(self.settle());
                }
                _ => break,
            }
        }
        self.now = end;
        fresh
    }
}

fn media(port: u16) -> LocalMedia {
    LocalMedia::g711(
        format!("127.0.0.1:{port}").parse().unwrap(),
        u64::from(port),
    )
}

fn find_incoming(events: &[(usize, UaEvent)], node: usize) -> Option<CallRef> {
    events.iter().find_map(|(i, e)| match e {
        UaEvent::IncomingCall { call, .. } if *i == node => Some(*call),
        _ => None,
    })
}

/// Runs the center's B2BUA over the events it receives until the network is quiet.
fn drive_center(
    net: &mut Net,
    b2b: &mut B2bua,
    router: Option<&mut TrunkRouter>,
    events: Vec<(usize, UaEvent)>,
    agent_answers: bool,
) -> Vec<BridgeEvent> {
    let agent_addr: SocketAddr = AGENT.parse().unwrap();
    let agent = net
        .nodes
        .iter()
        .position(|n| n.0 == agent_addr)
        .unwrap_or(usize::MAX);
    let answering = if agent_answers {
        vec![agent]
    } else {
        Vec::new()
    };
    drive_center_with(net, b2b, router, events, &answering)
}

fn drive_center_with(
    net: &mut Net,
    b2b: &mut B2bua,
    mut router: Option<&mut TrunkRouter>,
    events: Vec<(usize, UaEvent)>,
    answering: &[usize],
) -> Vec<BridgeEvent> {
    let center = net.idx(CENTER);
    let mut out = Vec::new();
    let mut queue = events;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (i, e) in queue {
            if i == center {
                let now = net.now;
                let ua = &mut net.nodes[center].1;
                if let Some(be) = b2b.on_event(ua, &e, now, router.as_deref_mut()) {
                    out.push(be);
                }
            }
            if answering.contains(&i)
                && let UaEvent::IncomingCall { call, .. } = e
            {
                let now = net.now;
                net.nodes[i].1.ring(call, now).unwrap();
                net.nodes[i].1.answer(call, media(43000), now).unwrap();
            }
        }
        next.extend(net.settle());
        queue = next;
    }
    out
}

fn dest(addr: &str, trunk: Option<&str>) -> Destination {
    Destination {
        uri: format!("sip:agent@{addr}"),
        peer: Peer::udp(addr.parse().unwrap()),
        trunk: trunk.map(str::to_owned),
    }
}

#[test]
fn bridges_caller_to_agent_and_mirrors_hangup() {
    let mut net = Net::new(&[CALLER, CENTER, AGENT]);
    let now = net.now;
    let a_call = net
        .ua(CALLER)
        .place_call(
            "sip:queue@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let inbound = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let mut b2b = B2bua::new();
    {
        let now = net.now;
        let ua = net.ua(CENTER);
        b2b.bridge(
            ua,
            inbound,
            vec![dest(AGENT, None)],
            "sip:cc@127.0.0.1:5080",
            media(40000),
            media(40002),
            now,
        )
        .unwrap();
    }
    let ev = net.settle();
    let bridge_events = drive_center(&mut net, &mut b2b, None, ev, true);
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::Connected { .. })),
        "{bridge_events:?}"
    );
    let caller = net.idx(CALLER);
    assert!(
        net.nodes[caller]
            .2
            .iter()
            .any(|e| matches!(e, UaEvent::Ringing { .. })),
        "ringing mirrored"
    );
    assert!(
        net.nodes[caller]
            .2
            .iter()
            .any(|e| matches!(e, UaEvent::Answered { call, .. } if *call == a_call))
    );
    // The caller hangs up: the agent's leg ends too.
    let now = net.now;
    net.ua(CALLER).hangup(a_call, now).unwrap();
    let ev = net.settle();
    let bridge_events = drive_center(&mut net, &mut b2b, None, ev, true);
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::Ended { .. }))
    );
    let agent = net.idx(AGENT);
    assert!(net.nodes[agent].2.iter().any(|e| matches!(
        e,
        UaEvent::Ended {
            by_remote: true,
            ..
        }
    )));
    assert!(b2b.is_empty());
}

#[test]
fn fails_over_from_a_503_trunk_to_the_next() {
    let mut net = Net::new(&[CALLER, CENTER, AGENT, BAD_TRUNK]);
    let mut router = TrunkRouter::new(vec![
        Trunk::new(
            "bad",
            TrunkKind::Carrier,
            BAD_TRUNK.parse().unwrap(),
            &["+1"],
        ),
        Trunk::new("good", TrunkKind::Carrier, AGENT.parse().unwrap(), &["+"]),
    ]);
    let now = net.now;
    net.ua(CALLER)
        .place_call(
            "sip:+15551234@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let inbound = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let mut b2b = B2bua::new();
    let dests = B2bua::trunk_destinations(&router, "+15551234");
    assert_eq!(dests.len(), 2);
    {
        let now = net.now;
        let ua = net.ua(CENTER);
        b2b.bridge(
            ua,
            inbound,
            dests,
            "sip:cc@127.0.0.1:5080",
            media(40000),
            media(40002),
            now,
        )
        .unwrap();
    }
    let mut ev = net.settle();
    // The bad trunk answers 503 Service Unavailable.
    let bad = net.idx(BAD_TRUNK);
    let bad_call = find_incoming(&ev, bad).unwrap();
    let now = net.now;
    net.nodes[bad].1.reject(bad_call, 503, now).unwrap();
    ev.extend(net.settle());
    let bridge_events = drive_center(&mut net, &mut b2b, Some(&mut router), ev, true);
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::FailedOver { status: 503, .. })),
        "{bridge_events:?}"
    );
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::Connected { .. })),
        "{bridge_events:?}"
    );
}

#[test]
fn unanswered_destinations_time_out_and_the_caller_gets_480() {
    let mut net = Net::new(&[CALLER, CENTER]);
    let now = net.now;
    net.ua(CALLER)
        .place_call(
            "sip:queue@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let inbound = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let mut b2b = B2bua::new();
    {
        let now = net.now;
        let ua = net.ua(CENTER);
        // Nobody listens on the agent address: Timer B fires after 32 s.
        b2b.bridge(
            ua,
            inbound,
            vec![dest(AGENT, None)],
            "sip:cc@127.0.0.1:5080",
            media(40000),
            media(40002),
            now,
        )
        .unwrap();
    }
    net.settle();
    let ev = net.advance(Duration::from_secs(33));
    let bridge_events = drive_center(&mut net, &mut b2b, None, ev, false);
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::Unanswered { status: 480, .. })),
        "{bridge_events:?}"
    );
    let caller = net.idx(CALLER);
    assert!(
        net.nodes[caller]
            .2
            .iter()
            .any(|e| matches!(e, UaEvent::Failed { status: 480, .. }))
    );
}

#[test]
fn blind_transfer_by_refer_with_notify_progress() {
    let mut net = Net::new(&[CALLER, CENTER, AGENT]);
    let now = net.now;
    let a_call = net
        .ua(CALLER)
        .place_call(
            "sip:queue@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let c_call = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let now = net.now;
    net.ua(CENTER).answer(c_call, media(40000), now).unwrap();
    net.settle();
    // The center transfers the caller to the agent.
    let now = net.now;
    net.ua(CENTER)
        .refer(c_call, "sip:agent@127.0.0.1:5090", now)
        .unwrap();
    let ev = net.settle();
    let caller = net.idx(CALLER);
    let target = ev.iter().find_map(|(i, e)| match e {
        UaEvent::TransferRequested { call, target } if *i == caller && *call == a_call => {
            Some(target.clone())
        }
        _ => None,
    });
    assert_eq!(target.as_deref(), Some("sip:agent@127.0.0.1:5090"));
    // The caller's application accepts the REFER (the UA waits for it to decide).
    let now = net.now;
    net.ua(CALLER).answer_refer(a_call, 202, None, now).unwrap();
    net.settle();
    // The caller places the new call, then reports its outcome.
    let now = net.now;
    net.ua(CALLER)
        .place_call(
            "sip:agent@127.0.0.1:5090",
            Peer::udp(AGENT.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30002),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let agent_call = find_incoming(&ev, net.idx(AGENT)).unwrap();
    let now = net.now;
    net.ua(AGENT).answer(agent_call, media(43000), now).unwrap();
    net.settle();
    let now = net.now;
    net.ua(CALLER).notify_transfer(a_call, 200, now).unwrap();
    net.settle();
    let center = net.idx(CENTER);
    let progress: Vec<u16> = net.nodes[center]
        .2
        .iter()
        .filter_map(|e| match e {
            UaEvent::TransferProgress { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(progress, [202, 200]);
}

#[test]
fn ring_timeout_cancels_and_moves_to_the_next_agent() {
    const AGENT2: &str = "127.0.0.1:5092";
    let mut net = Net::new(&[CALLER, CENTER, AGENT, AGENT2]);
    let now = net.now;
    net.ua(CALLER)
        .place_call(
            "sip:queue@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let inbound = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let mut b2b = B2bua::new();
    b2b.ring_timeout = Duration::from_secs(10);
    {
        let now = net.now;
        let ua = net.ua(CENTER);
        b2b.bridge(
            ua,
            inbound,
            vec![dest(AGENT, None), dest(AGENT2, None)],
            "sip:cc@127.0.0.1:5080",
            media(40000),
            media(40002),
            now,
        )
        .unwrap();
    }
    let ev = net.settle();
    // AGENT rings (its app never answers); nothing happens before the ring timeout.
    let agent = net.idx(AGENT);
    let agent_call = find_incoming(&ev, agent).unwrap();
    let now = net.now;
    net.nodes[agent].1.ring(agent_call, now).unwrap();
    net.settle();
    assert_eq!(b2b.poll_timeout(), Some(Duration::from_secs(10)));
    let mut events = net.advance(Duration::from_secs(9));
    net.now = Duration::from_secs(10);
    let center = net.idx(CENTER);
    b2b.handle_timeout(&mut net.nodes[center].1, Duration::from_secs(10));
    events.extend(net.settle());
    let agent2 = net.idx(AGENT2);
    let bridge_events = drive_center_with(&mut net, &mut b2b, None, events, &[agent2]);
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::FailedOver { status: 408, .. })),
        "{bridge_events:?}"
    );
    assert!(
        bridge_events
            .iter()
            .any(|e| matches!(e, BridgeEvent::Connected { .. })),
        "{bridge_events:?}"
    );
    assert!(
        net.nodes[agent]
            .2
            .iter()
            .any(|e| matches!(e, UaEvent::Cancelled { .. })),
        "the ringing agent was cancelled"
    );
}

#[test]
fn attended_transfer_with_replaces_hands_the_caller_to_the_agent() {
    let mut net = Net::new(&[CALLER, CENTER, AGENT]);
    // Caller ↔ center.
    let now = net.now;
    let a_call = net
        .ua(CALLER)
        .place_call(
            "sip:queue@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let c_in = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let now = net.now;
    net.ua(CENTER).answer(c_in, media(40000), now).unwrap();
    net.settle();
    // Center consults the agent.
    let now = net.now;
    let c_out = net
        .ua(CENTER)
        .place_call(
            "sip:agent@127.0.0.1:5090",
            Peer::udp(AGENT.parse().unwrap()),
            "sip:cc@127.0.0.1:5080",
            media(40002),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let agent = net.idx(AGENT);
    let g_consult = find_incoming(&ev, agent).unwrap();
    let now = net.now;
    net.nodes[agent]
        .1
        .answer(g_consult, media(43000), now)
        .unwrap();
    net.settle();
    // Attended transfer: the caller is asked to call the agent replacing the consultation.
    let now = net.now;
    net.ua(CENTER).refer_replacing(c_in, c_out, now).unwrap();
    let ev = net.settle();
    let caller = net.idx(CALLER);
    let target = ev
        .iter()
        .find_map(|(i, e)| match e {
            UaEvent::TransferRequested { call, target } if *i == caller && *call == a_call => {
                Some(target.clone())
            }
            _ => None,
        })
        .expect("caller got the REFER");
    assert!(target.contains("?Replaces="), "{target}");
    let now = net.now;
    net.ua(CALLER).answer_refer(a_call, 202, None, now).unwrap();
    net.settle();
    let now = net.now;
    net.ua(CALLER)
        .place_call(
            &target,
            Peer::udp(AGENT.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30002),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let (g_new, replaced) = ev
        .iter()
        .find_map(|(i, e)| match e {
            UaEvent::IncomingCall { call, replaces, .. } if *i == agent => Some((*call, *replaces)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        replaced,
        Some(g_consult),
        "the INVITE's Replaces names the consultation dialog"
    );
    let now = net.now;
    net.nodes[agent].1.answer(g_new, media(43002), now).unwrap();
    net.settle();
    // The agent ended the consultation call with BYE; the center sees it end.
    let center = net.idx(CENTER);
    assert!(
        net.nodes[center]
            .2
            .iter()
            .any(|e| matches!(e, UaEvent::Ended { call, by_remote: true } if *call == c_out))
    );
    assert!(
        net.nodes[caller]
            .2
            .iter()
            .filter(|e| matches!(e, UaEvent::Answered { .. }))
            .count()
            == 2
    );
}

#[test]
fn a_refer_nobody_answers_is_refused_and_one_meanwhile_gets_491() {
    let mut net = Net::new(&[CALLER, CENTER]);
    let now = net.now;
    let a_call = net
        .ua(CALLER)
        .place_call(
            "sip:queue@127.0.0.1:5080",
            Peer::udp(CENTER.parse().unwrap()),
            "sip:alice@127.0.0.1",
            media(30000),
            now,
        )
        .unwrap();
    let ev = net.settle();
    let c_call = find_incoming(&ev, net.idx(CENTER)).unwrap();
    let now = net.now;
    net.ua(CENTER).answer(c_call, media(40000), now).unwrap();
    net.settle();
    // The caller's side asks twice; its application never answers.
    let now = net.now;
    net.ua(CENTER)
        .refer(c_call, "sip:agent@127.0.0.1:5090", now)
        .unwrap();
    net.settle();
    let now = net.now;
    net.ua(CENTER)
        .refer(c_call, "sip:other@127.0.0.1:5090", now)
        .unwrap();
    net.settle();
    net.advance(callcore_sip::ua::REFER_ANSWER_WITHIN + Duration::from_secs(1));
    let center = net.idx(CENTER);
    let progress: Vec<u16> = net.nodes[center]
        .2
        .iter()
        .filter_map(|e| match e {
            UaEvent::TransferProgress { call, status } if *call == c_call => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress,
        [491, 480],
        "second REFER 491, the first refused in time"
    );
    let caller = net.idx(CALLER);
    let requested = net.nodes[caller]
        .2
        .iter()
        .filter(|e| matches!(e, UaEvent::TransferRequested { call, .. } if *call == a_call))
        .count();
    assert_eq!(requested, 1);
}
