//! Session timers enforced both ways (RFC 4028), sans-IO in virtual time, against a
//! scripted peer: when the peer refreshes and stops, the session is ended with BYE at
//! the interval minus min(32 s, interval/3); when we refresh, a refresh goes out at half
//! the interval and keeps the call up; too small an interval gets 422 with Min-SE.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use callcore_sip::message::{Message, ResponseSpec};
use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{CallRef, UaConfig, UaEvent, UaOutput, UserAgent};

const US: &str = "127.0.0.1:5080";
const PEER: &str = "127.0.0.1:5062";

fn peer() -> Peer {
    Peer::udp(PEER.parse().unwrap())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// What the user agent put out: messages sent and events.
fn drain(ua: &mut UserAgent) -> (Vec<Message>, Vec<UaEvent>) {
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    while let Some(o) = ua.poll_output() {
        match o {
            UaOutput::Transmit { data, .. } => sent.push(Message::parse(data).unwrap()),
            UaOutput::Event(e) => events.push(e),
        }
    }
    (sent, events)
}

/// Runs the user agent's timers up to `until` (virtual time), collecting its output.
fn run_until(ua: &mut UserAgent, from: Duration, until: Duration) -> (Vec<Message>, Vec<UaEvent>) {
    let (mut sent, mut events) = drain(ua);
    let mut now = from;
    while let Some(t) = ua.poll_timeout() {
        if t > until {
            break;
        }
        now = t.max(now);
        ua.handle_timeout(now);
        let (s, e) = drain(ua);
        sent.extend(s);
        events.extend(e);
    }
    (sent, events)
}

fn invite(session_expires: &str, supported: &str, allow: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:cc@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKst1\r\n\
         From: <sip:caller@127.0.0.1>;tag=p1\r\nTo: <sip:cc@{US}>\r\nCall-ID: st-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@{PEER}>\r\nMax-Forwards: 70\r\n\
         {session_expires}{supported}{allow}Content-Length: 0\r\n\r\n"
    ))
}

/// An answered, acknowledged inbound call; returns it, our To tag and the 2xx.
fn established(ua: &mut UserAgent, inv: Bytes) -> (CallRef, String, Message) {
    ua.handle_datagram(inv, peer(), Duration::ZERO);
    let (_, events) = drain(ua);
    let Some(UaEvent::IncomingCall { call, .. }) = events.first() else {
        panic!("{events:?}")
    };
    let call = *call;
    let media = LocalMedia::g711("127.0.0.1:31000".parse().unwrap(), 2);
    ua.answer(call, media, Duration::ZERO).unwrap();
    let (sent, _) = drain(ua);
    let ok = sent
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 OK");
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    let ack = format!(
        "ACK sip:cc@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKst1ack\r\n\
         From: <sip:caller@127.0.0.1>;tag=p1\r\nTo: <sip:cc@{US}>;tag={tag}\r\n\
         Call-ID: st-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    ua.handle_datagram(Bytes::from(ack), peer(), Duration::ZERO);
    drain(ua);
    (call, tag, ok)
}

fn ua(min_se: Option<u32>) -> UserAgent {
    let mut config = UaConfig::new(US.parse().unwrap());
    if let Some(m) = min_se {
        config.min_se = m;
    }
    UserAgent::new(config, 7)
}

#[test]
fn the_peer_refreshes_then_stops_and_the_session_ends_with_bye() {
    let mut ua = ua(None);
    let (call, tag, ok) = established(
        &mut ua,
        invite(
            "Session-Expires: 90;refresher=uac\r\n",
            "Supported: timer\r\n",
            "",
        ),
    );
    assert_eq!(ok.header_named("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(ok.header_named("Require"), Some("timer"));

    // The peer refreshes once at 40 s (UPDATE): the session lives on past 60 s.
    let update = format!(
        "UPDATE sip:cc@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKst1up\r\n\
         From: <sip:caller@127.0.0.1>;tag=p1\r\nTo: <sip:cc@{US}>;tag={tag}\r\n\
         Call-ID: st-1\r\nCSeq: 2 UPDATE\r\nContact: <sip:caller@{PEER}>\r\n\
         Supported: timer\r\nSession-Expires: 90;refresher=uac\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let (sent, _) = run_until(&mut ua, Duration::ZERO, secs(40));
    assert!(sent.iter().all(|m| m.method().is_none()), "{sent:?}");
    ua.handle_datagram(Bytes::from(update), peer(), secs(40));
    let (sent, _) = drain(&mut ua);
    let ok = sent.iter().find(|m| m.status() == Some(200)).unwrap();
    assert_eq!(ok.header_named("Session-Expires"), Some("90;refresher=uac"));

    // Then nothing: at 40 + 90 - 30 = 100 s we say BYE, not a moment before.
    let (sent, events) = run_until(&mut ua, secs(40), secs(99));
    assert!(
        !sent
            .iter()
            .any(|m| m.method().is_some_and(|x| x.as_str() == "BYE")),
        "BYE too early"
    );
    assert!(events.is_empty(), "{events:?}");
    let (sent, events) = run_until(&mut ua, secs(99), secs(101));
    let bye = sent
        .iter()
        .find(|m| m.method().is_some_and(|x| x.as_str() == "BYE"))
        .expect("BYE at expiry");
    assert_eq!(bye.call_id().unwrap(), "st-1");
    assert_eq!(events, vec![UaEvent::SessionExpired { call }]);
}

#[test]
fn we_refresh_at_half_the_interval_and_the_call_stays_up() {
    let mut ua = ua(None);
    // No `Supported: timer` at the caller: we are the refresher (RFC 4028 §9); its
    // Allow has no UPDATE, so the refresh is a re-INVITE.
    let (_call, _tag, ok) = established(
        &mut ua,
        invite(
            "Session-Expires: 120\r\n",
            "",
            "Allow: INVITE, ACK, BYE\r\n",
        ),
    );
    assert_eq!(
        ok.header_named("Session-Expires"),
        Some("120;refresher=uas")
    );
    let mut now = Duration::ZERO;
    for round in 1..=3u64 {
        let due = secs(60 * round);
        let (sent, events) = run_until(&mut ua, now, due - secs(1));
        assert!(
            sent.iter().all(|m| m.method().is_none()),
            "refresh too early"
        );
        assert!(events.is_empty(), "{events:?}");
        let (sent, _) = run_until(&mut ua, due - secs(1), due);
        let refresh = sent
            .iter()
            .find(|m| m.method().is_some_and(|x| x.as_str() == "INVITE"))
            .unwrap_or_else(|| panic!("re-INVITE at {due:?}: {sent:?}"));
        assert_eq!(
            refresh.header_named("Session-Expires"),
            Some("120;refresher=uac")
        );
        assert!(!refresh.body().is_empty(), "a re-INVITE refresh offers SDP");
        // The peer answers 200 (with the SDP it had): refreshed.
        let answer = refresh.build_response(ResponseSpec::code(200).to_tag("p1"));
        let mut answer = answer;
        answer.set_body(
            "application/sdp",
            Bytes::from_static(
                b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 32000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            ),
        );
        ua.handle_datagram(answer.to_bytes(), peer(), due);
        let (sent, events) = drain(&mut ua);
        assert!(
            sent.iter()
                .any(|m| m.method().is_some_and(|x| x.as_str() == "ACK")),
            "{sent:?}"
        );
        assert!(events.is_empty(), "{events:?}");
        now = due;
    }
    assert_eq!(ua.active_calls(), 1, "refreshed calls stay up");
}

#[test]
fn our_refresh_goes_unanswered_and_the_session_ends() {
    let mut ua = ua(None);
    let (call, _tag, _) = established(
        &mut ua,
        invite(
            "Session-Expires: 90;refresher=uas\r\n",
            "Supported: timer\r\n",
            "Allow: INVITE, ACK, BYE, UPDATE\r\n",
        ),
    );
    let (sent, _) = run_until(&mut ua, Duration::ZERO, secs(45));
    let update = sent
        .iter()
        .find(|m| m.method().is_some_and(|x| x.as_str() == "UPDATE"))
        .expect("UPDATE refresh at 45 s");
    assert!(update.body().is_empty());
    // No answer ever (the peer is gone): BYE by 60 s after the answer.
    let (sent, events) = run_until(&mut ua, secs(45), secs(61));
    assert!(
        sent.iter()
            .any(|m| m.method().is_some_and(|x| x.as_str() == "BYE")),
        "{sent:?}"
    );
    assert!(
        events.contains(&UaEvent::SessionExpired { call }),
        "{events:?}"
    );
}

#[test]
fn too_small_an_interval_gets_422_with_min_se() {
    let mut ua90 = ua(None);
    ua90.handle_datagram(
        invite("Session-Expires: 30\r\n", "Supported: timer\r\n", ""),
        peer(),
        Duration::ZERO,
    );
    let (sent, events) = drain(&mut ua90);
    let refused = sent.iter().find(|m| m.status() != Some(100)).unwrap();
    assert_eq!(refused.status(), Some(422));
    assert_eq!(refused.header_named("Min-SE"), Some("90"));
    assert!(events.is_empty());

    // A configured smaller Min-SE (tests) takes it.
    let mut ua20 = ua(Some(20));
    let (_, _, ok) = established(
        &mut ua20,
        invite(
            "Session-Expires: 30;refresher=uac\r\n",
            "Supported: timer\r\n",
            "",
        ),
    );
    assert_eq!(ok.header_named("Session-Expires"), Some("30;refresher=uac"));
    let (sent, _) = run_until(&mut ua20, Duration::ZERO, secs(21));
    assert!(
        sent.iter()
            .any(|m| m.method().is_some_and(|x| x.as_str() == "BYE")),
        "expired at 30 - 10 = 20 s"
    );
}
