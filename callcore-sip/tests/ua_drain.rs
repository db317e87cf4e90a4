//! A draining user agent (sans-IO, virtual time): new INVITEs get 503 with
//! Retry-After and no incoming call, established calls go on, `hangup_all` ends
//! them with BYE; the traffic counters see every message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{UaConfig, UaEvent, UaOutput, UserAgent};

const A: &str = "127.0.0.1:5070";
const B: &str = "127.0.0.1:5080";

/// Delivers messages between `a` and `b` until both are quiet; returns what each
/// side reported and the messages B sent.
fn settle(a: &mut UserAgent, b: &mut UserAgent) -> (Vec<UaEvent>, Vec<UaEvent>, Vec<String>) {
    let (mut ea, mut eb, mut from_b) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let mut moved = false;
        while let Some(o) = a.poll_output() {
            moved = true;
            match o {
                UaOutput::Transmit { data, .. } => {
                    b.handle_datagram(data, Peer::udp(A.parse().unwrap()), Duration::ZERO);
                }
                UaOutput::Event(e) => ea.push(e),
            }
        }
        while let Some(o) = b.poll_output() {
            moved = true;
            match o {
                UaOutput::Transmit { data, .. } => {
                    from_b.push(String::from_utf8_lossy(&data).into_owned());
                    a.handle_datagram(data, Peer::udp(B.parse().unwrap()), Duration::ZERO);
                }
                UaOutput::Event(e) => eb.push(e),
            }
        }
        if !moved {
            return (ea, eb, from_b);
        }
    }
}

fn invite(a: &mut UserAgent, port: u16) {
    let media = LocalMedia::g711(format!("127.0.0.1:{port}").parse().unwrap(), 1);
    a.place_call(
        "sip:agent@127.0.0.1:5080",
        Peer::udp(B.parse().unwrap()),
        "sip:cc@127.0.0.1:5070",
        media,
        Duration::ZERO,
    )
    .unwrap();
}

#[test]
fn a_draining_agent_refuses_new_invites_and_hangs_up_live_calls() {
    let mut a = UserAgent::new(UaConfig::new(A.parse().unwrap()), 1);
    let mut b = UserAgent::new(UaConfig::new(B.parse().unwrap()), 2);

    // a call established before the drain
    invite(&mut a, 30000);
    let (_, eb, _) = settle(&mut a, &mut b);
    let Some(UaEvent::IncomingCall { call, .. }) = eb.first() else {
        panic!("{eb:?}")
    };
    let media = LocalMedia::g711("127.0.0.1:31000".parse().unwrap(), 2);
    b.answer(*call, media, Duration::ZERO).unwrap();
    let (ea, _, _) = settle(&mut a, &mut b);
    assert!(
        ea.iter().any(|e| matches!(e, UaEvent::Answered { .. })),
        "{ea:?}"
    );

    b.set_draining(Some(30));
    invite(&mut a, 30002);
    let (ea, eb, from_b) = settle(&mut a, &mut b);
    assert!(
        !eb.iter().any(|e| matches!(e, UaEvent::IncomingCall { .. })),
        "no new call while draining: {eb:?}"
    );
    let refusal = from_b
        .iter()
        .find(|m| m.starts_with("SIP/2.0 503"))
        .expect("503 sent");
    assert!(refusal.contains("\r\nRetry-After: 30\r\n"), "{refusal}");
    assert!(
        ea.iter()
            .any(|e| matches!(e, UaEvent::Failed { status: 503, .. })),
        "{ea:?}"
    );

    // the established call goes on until the drain's deadline ends it with BYE
    assert_eq!(b.active_calls(), 1);
    b.hangup_all(Duration::ZERO);
    let (ea, eb, from_b) = settle(&mut a, &mut b);
    assert!(from_b.iter().any(|m| m.starts_with("BYE ")), "{from_b:?}");
    assert!(
        ea.iter().any(|e| matches!(
            e,
            UaEvent::Ended {
                by_remote: true,
                ..
            }
        )),
        "{ea:?}"
    );
    assert!(
        eb.iter().any(|e| matches!(e, UaEvent::Ended { .. })),
        "{eb:?}"
    );
    assert_eq!(b.active_calls(), 0);

    let s = b.stats().snapshot();
    assert_eq!(s.received.requests_of("INVITE"), 2);
    assert_eq!(s.sent.requests_of("BYE"), 1);
    assert_eq!(s.sent.responses[4], 1, "one 5xx");
    assert_eq!(s.calls, 0);

    // taking calls again
    b.set_draining(None);
    invite(&mut a, 30004);
    let (_, eb, _) = settle(&mut a, &mut b);
    assert!(
        eb.iter().any(|e| matches!(e, UaEvent::IncomingCall { .. })),
        "{eb:?}"
    );
}
