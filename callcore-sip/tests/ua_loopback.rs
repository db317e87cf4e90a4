//! Two sans-IO user agents talking to each other in virtual time: call set-up, hold and
//! resume, BYE, CANCEL, rejects, redirects, malformed input, lost packets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::time::Duration;

use callcore_sip::message::Message;
use callcore_sip::session::{AudioCodec, Direction, LocalMedia};
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{CallRef, UaConfig, UaEvent, UaOutput, UserAgent};

const A: &str = "127.0.0.1:5070";
const B: &str = "127.0.0.1:5080";

struct Net {
    a: UserAgent,
    b: UserAgent,
    now: Duration,
    a_events: Vec<UaEvent>,
    b_events: Vec<UaEvent>,
    /// Drop the n-th message sent by B (1-based), to exercise retransmission.
    drop_b: Option<usize>,
    b_sent: usize,
    wire: Vec<(char, String)>,
}

impl Net {
    fn new() -> Self {
        Net {
            a: UserAgent::new(UaConfig::new(A.parse().unwrap()), 1),
            b: UserAgent::new(UaConfig::new(B.parse().unwrap()), 2),
            now: Duration::ZERO,
            a_events: Vec::new(),
            b_events: Vec::new(),
            drop_b: None,
            b_sent: 0,
            wire: Vec::new(),
        }
    }

    /// Delivers messages until both sides are quiet (no timers run).
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.a.poll_output() {
                moved = true;
                match o {
                    UaOutput::Transmit { data, .. } => {
                        self.wire.push(('a', first_line(&data)));
                        self.b
                            .handle_datagram(data, Peer::udp(A.parse().unwrap()), self.now);
                    }
                    UaOutput::Event(e) => self.a_events.push(e),
                }
            }
            while let Some(o) = self.b.poll_output() {
                moved = true;
                match o {
                    UaOutput::Transmit { data, .. } => {
                        self.b_sent += 1;
                        self.wire.push(('b', first_line(&data)));
                        if self.drop_b == Some(self.b_sent) {
                            continue;
                        }
                        self.a
                            .handle_datagram(data, Peer::udp(B.parse().unwrap()), self.now);
                    }
                    UaOutput::Event(e) => self.b_events.push(e),
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances virtual time, firing timers on both sides.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn incoming(&self) -> CallRef {
        self.b_events
            .iter()
            .find_map(|e| match e {
                UaEvent::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("B saw no call")
    }
}

fn first_line(data: &Bytes) -> String {
    String::from_utf8_lossy(data)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn media(port: u16) -> LocalMedia {
    LocalMedia::g711(
        format!("127.0.0.1:{port}").parse().unwrap(),
        u64::from(port),
    )
}

fn place(net: &mut Net) -> CallRef {
    let peer = Peer::udp(B.parse().unwrap());
    let call = net
        .a
        .place_call(
            "sip:agent@127.0.0.1:5080",
            peer,
            "sip:cc@127.0.0.1:5070",
            media(30000),
            net.now,
        )
        .unwrap();
    net.settle();
    call
}

#[test]
fn call_setup_hold_resume_and_bye() {
    let mut net = Net::new();
    let a_call = place(&mut net);
    let b_call = net.incoming();
    net.b.ring(b_call, net.now).unwrap();
    net.settle();
    assert!(
        net.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::Ringing { status: 180, .. }))
    );
    let neg = net
        .b
        .answer(b_call, media(40000), net.now)
        .unwrap()
        .unwrap();
    assert_eq!(neg.codec, AudioCodec::Pcmu);
    assert_eq!(neg.remote_rtp, Some("127.0.0.1:30000".parse().unwrap()));
    net.settle();
    let answered = net.a_events.iter().find_map(|e| match e {
        UaEvent::Answered { call, audio } if *call == a_call => *audio,
        _ => None,
    });
    assert_eq!(
        answered.unwrap().remote_rtp,
        Some("127.0.0.1:40000".parse().unwrap())
    );
    assert!(
        net.b_events
            .iter()
            .any(|e| matches!(e, UaEvent::Confirmed { call } if *call == b_call))
    );
    let lines: Vec<&str> = net.wire.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "INVITE sip:agent@127.0.0.1:5080 SIP/2.0",
            "SIP/2.0 100 Trying",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK",
            "ACK sip:callcore@127.0.0.1:5080 SIP/2.0"
        ]
    );

    // A holds B: B answers recvonly.
    net.a.set_hold(a_call, true, net.now).unwrap();
    net.settle();
    let held = net.b_events.iter().rev().find_map(|e| match e {
        UaEvent::MediaChanged { audio, .. } => Some(audio.direction),
        _ => None,
    });
    assert_eq!(held, Some(Direction::RecvOnly));
    net.a.set_hold(a_call, false, net.now).unwrap();
    net.settle();
    let resumed = net.b_events.iter().rev().find_map(|e| match e {
        UaEvent::MediaChanged { audio, .. } => Some(audio.direction),
        _ => None,
    });
    assert_eq!(resumed, Some(Direction::SendRecv));

    net.b.hangup(b_call, net.now).unwrap();
    net.settle();
    assert!(net.a_events.iter().any(|e| matches!(
        e,
        UaEvent::Ended {
            by_remote: true,
            ..
        }
    )));
    assert!(net.b_events.iter().any(|e| matches!(
        e,
        UaEvent::Ended {
            by_remote: false,
            ..
        }
    )));
    assert_eq!(net.a.active_calls() + net.b.active_calls(), 0);
}

#[test]
fn cancel_before_answer() {
    let mut net = Net::new();
    let a_call = place(&mut net);
    let b_call = net.incoming();
    net.b.ring(b_call, net.now).unwrap();
    net.settle();
    net.a.hangup(a_call, net.now).unwrap();
    net.settle();
    assert!(
        net.b_events
            .iter()
            .any(|e| matches!(e, UaEvent::Cancelled { call } if *call == b_call))
    );
    assert!(
        net.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::Failed { status: 487, .. }))
    );
    assert!(
        net.wire
            .iter()
            .any(|(s, l)| *s == 'a' && l.starts_with("CANCEL"))
    );
    assert!(
        net.wire
            .iter()
            .any(|(s, l)| *s == 'a' && l.starts_with("ACK")),
        "487 is ACKed"
    );
}

#[test]
fn reject_and_redirect() {
    let mut net = Net::new();
    place(&mut net);
    let b_call = net.incoming();
    net.b.reject(b_call, 486, net.now).unwrap();
    net.settle();
    assert!(
        net.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::Failed { status: 486, .. }))
    );

    let mut net = Net::new();
    place(&mut net);
    let b_call = net.incoming();
    net.b
        .redirect(b_call, &["sip:overflow@127.0.0.1:5090"], net.now)
        .unwrap();
    net.settle();
    let redirect = net.a_events.iter().find_map(|e| match e {
        UaEvent::Failed {
            status: 302,
            redirect,
            ..
        } => redirect.clone(),
        _ => None,
    });
    assert_eq!(redirect.as_deref(), Some("sip:overflow@127.0.0.1:5090"));
}

#[test]
fn lost_200_ok_is_retransmitted_until_acked() {
    let mut net = Net::new();
    place(&mut net);
    let b_call = net.incoming();
    // B's messages so far: 100 Trying (1). The 200 OK will be the 2nd: drop it.
    net.drop_b = Some(2);
    net.b.answer(b_call, media(40000), net.now).unwrap();
    net.settle();
    assert!(
        !net.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::Answered { .. }))
    );
    net.advance(Duration::from_millis(600));
    assert!(
        net.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::Answered { .. }))
    );
    assert!(
        net.b_events
            .iter()
            .any(|e| matches!(e, UaEvent::Confirmed { .. }))
    );
}

#[test]
fn unanswered_invite_times_out_with_408() {
    let mut net = Net::new();
    let peer = Peer::udp("127.0.0.1:5999".parse().unwrap());
    net.a
        .place_call(
            "sip:nobody@127.0.0.1:5999",
            peer,
            "sip:cc@127.0.0.1",
            media(30000),
            net.now,
        )
        .unwrap();
    // Nothing answers: drain A's transmissions into the void.
    let mut failed = None;
    let mut sent = 0;
    for _ in 0..100 {
        while let Some(o) = net.a.poll_output() {
            match o {
                UaOutput::Transmit { .. } => sent += 1,
                UaOutput::Event(UaEvent::Failed { status, .. }) => failed = Some(status),
                UaOutput::Event(_) => {}
            }
        }
        match net.a.poll_timeout() {
            Some(t) => net.a.handle_timeout(t),
            None => break,
        }
    }
    assert_eq!(failed, Some(408));
    assert_eq!(sent, 7, "INVITE + 6 Timer A retransmissions");
}

#[test]
fn malformed_requests_get_the_right_answer() {
    let mut ua = UserAgent::new(UaConfig::new(B.parse().unwrap()), 3);
    let peer = Peer::udp(A.parse().unwrap());
    let cases: [(&str, u16); 4] = [
        (
            "OPTIONS sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m1\r\nCSeq: 1 OPTIONS\r\n\r\n",
            505,
        ),
        (
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m2\r\nCSeq: 1 INVITE\r\nRequire: foo\r\nContact: <sip:x@127.0.0.1>\r\n\r\n",
            420,
        ),
        (
            "INVITE mailto:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK3\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m3\r\nCSeq: 1 INVITE\r\n\r\n",
            416,
        ),
        (
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK4\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m4\r\nCSeq: 1 INVITE\r\nMax-Forwards: 0\r\nContact: <sip:x@127.0.0.1>\r\n\r\n",
            483,
        ),
    ];
    for (raw, code) in cases {
        ua.handle_datagram(Bytes::from_static(raw.as_bytes()), peer, Duration::ZERO);
        let Some(UaOutput::Transmit { data, .. }) = ua.poll_output() else {
            panic!("no answer for {code}")
        };
        let resp = Message::parse(data).unwrap();
        assert_eq!(resp.status(), Some(code));
        assert!(resp.to().unwrap().tag().is_some());
    }
    // Garbage and broken responses are dropped.
    ua.handle_datagram(Bytes::from_static(b"\x00\x01garbage"), peer, Duration::ZERO);
    ua.handle_datagram(
        Bytes::from_static(b"SIP/2.0 99999 x\r\n\r\n"),
        peer,
        Duration::ZERO,
    );
    assert!(ua.poll_output().is_none());
}

#[test]
fn reliable_provisional_is_pracked_once() {
    use callcore_sip::message::{HeaderName, ResponseSpec};
    let mut ua = UserAgent::new(UaConfig::new(A.parse().unwrap()), 9);
    let peer = Peer::udp(B.parse().unwrap());
    ua.place_call(
        "sip:agent@127.0.0.1:5080",
        peer,
        "sip:cc@127.0.0.1:5070",
        media(30000),
        Duration::ZERO,
    )
    .unwrap();
    let Some(UaOutput::Transmit { data, .. }) = ua.poll_output() else {
        panic!("no INVITE")
    };
    let invite = Message::parse(data).unwrap();
    assert!(invite.supported().contains(&"100rel"));
    let ringing = invite.build_response(
        ResponseSpec::code(180)
            .to_tag("uas1")
            .header(HeaderName::Contact, "<sip:agent@127.0.0.1:5080>")
            .header(HeaderName::Require, "100rel")
            .header(HeaderName::RSeq, "1"),
    );
    let mut pracks = Vec::new();
    for t in [10, 510] {
        ua.handle_datagram(ringing.to_bytes(), peer, Duration::from_millis(t));
        while let Some(o) = ua.poll_output() {
            if let UaOutput::Transmit { data, .. } = o {
                let m = Message::parse(data).unwrap();
                if m.method() == Some(&callcore_sip::message::Method::Prack) {
                    pracks.push(m);
                }
            }
        }
    }
    assert_eq!(
        pracks.len(),
        1,
        "the retransmitted 180 is not PRACKed again"
    );
    assert_eq!(pracks[0].rack(), Some((1, 1, "INVITE")));
    assert_eq!(pracks[0].to().unwrap().tag(), Some("uas1"));
    assert_eq!(
        pracks[0].request_uri_str(),
        Some("sip:agent@127.0.0.1:5080")
    );
}

#[test]
fn required_100rel_gets_reliable_ringing_until_prack() {
    use callcore_sip::message::HeaderName;
    let mut ua = UserAgent::new(UaConfig::new(B.parse().unwrap()), 10);
    let peer = Peer::udp(A.parse().unwrap());
    let invite = "INVITE sip:agent@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKrel1\r\nMax-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=c1\r\nTo: <sip:agent@127.0.0.1>\r\nCall-ID: rel1\r\nCSeq: 7 INVITE\r\nContact: <sip:c@127.0.0.1:5070>\r\nRequire: 100rel\r\nContent-Length: 0\r\n\r\n";
    ua.handle_datagram(Bytes::from_static(invite.as_bytes()), peer, Duration::ZERO);
    let mut call = None;
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Event(UaEvent::IncomingCall { call: c, .. }) = o {
            call = Some(c);
        }
    }
    let call = call.expect("Require: 100rel is supported, not 420");
    ua.ring(call, Duration::ZERO).unwrap();
    let sent = |ua: &mut UserAgent| {
        let mut v = Vec::new();
        while let Some(o) = ua.poll_output() {
            if let UaOutput::Transmit { data, .. } = o {
                v.push(Message::parse(data).unwrap());
            }
        }
        v
    };
    let first = sent(&mut ua);
    assert_eq!(first[0].status(), Some(180));
    assert_eq!(first[0].rseq(), Some(1));
    assert_eq!(first[0].header(&HeaderName::Require), Some("100rel"));
    let tag = first[0].to().unwrap().tag().unwrap().to_owned();
    // Not acknowledged: retransmitted after T1, then 2·T1.
    ua.handle_timeout(Duration::from_millis(500));
    assert_eq!(sent(&mut ua)[0].status(), Some(180));
    ua.handle_timeout(Duration::from_millis(1500));
    assert_eq!(sent(&mut ua).len(), 1);
    let prack = format!(
        "PRACK sip:callcore@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKrel2\r\nMax-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=c1\r\nTo: <sip:agent@127.0.0.1>;tag={tag}\r\nCall-ID: rel1\r\nCSeq: 8 PRACK\r\nRAck: 1 7 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    ua.handle_datagram(Bytes::from(prack), peer, Duration::from_millis(1600));
    let r = sent(&mut ua);
    assert_eq!(
        (r[0].status(), r[0].cseq().unwrap().method),
        (Some(200), callcore_sip::message::Method::Prack)
    );
    ua.handle_timeout(Duration::from_millis(3500));
    assert!(
        sent(&mut ua).iter().all(|m| m.status() != Some(180)),
        "no retransmission after PRACK"
    );
}

#[test]
fn flood_from_one_source_is_cut_to_the_configured_rate() {
    let mut cfg = UaConfig::new(B.parse().unwrap());
    cfg.rate_limit = Some(callcore_sip::ua::RateLimit {
        per_second: 20.0,
        burst: 10.0,
    });
    let mut ua = UserAgent::new(cfg, 11);
    let scanner = Peer::udp("10.6.6.6:5060".parse().unwrap());
    let phone = Peer::udp("10.1.1.1:5060".parse().unwrap());
    let options = |n: u32| {
        Bytes::from(format!(
            "OPTIONS sip:cc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.6.6.6;branch=z9hG4bKscan{n}\r\nFrom: <sip:x@y>;tag=s\r\nTo: <sip:cc@127.0.0.1>\r\nCall-ID: scan{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n"
        ))
    };
    let mut answered = 0;
    // 1,000 requests within one second from the scanner.
    for n in 0..1000u32 {
        ua.handle_datagram(options(n), scanner, Duration::from_millis(u64::from(n)));
        while let Some(o) = ua.poll_output() {
            if matches!(o, UaOutput::Transmit { .. }) {
                answered += 1;
            }
        }
    }
    assert!(
        (10..=31).contains(&answered),
        "burst 10 + 20/s over one second, got {answered}"
    );
    // A phone at another address is still served.
    ua.handle_datagram(options(5000), phone, Duration::from_millis(1000));
    assert!(matches!(ua.poll_output(), Some(UaOutput::Transmit { .. })));
}
