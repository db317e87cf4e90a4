//! Limits on by default: a request with too many header lines or an over-long line
//! is refused with 513, floods of padded requests leave only compact records behind,
//! and server transactions and calls are capped per source with 503 + Retry-After.
//! Sans-IO user agent in virtual time; structures are counted, not memory measured
//! (the RSS figure comes from `scripts/sip-flood.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

use callcore_sip::message::{HeaderName, Message};
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{UaConfig, UaEvent, UaOutput, UserAgent};

fn request(method: &str, branch: &str, extra: &str) -> Bytes {
    let contact = if method == "INVITE" {
        "Contact: <sip:p@127.0.0.1:9>\r\n"
    } else {
        ""
    };
    Bytes::from(format!(
        "{method} sip:cc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p{branch}\r\nTo: <sip:cc@127.0.0.1>\r\nCall-ID: {branch}@probe\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{contact}{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn padding(lines: usize) -> String {
    (0..lines).map(|i| format!("X-Pad-{i}: a\r\n")).collect()
}

/// Feeds one datagram and returns the statuses of the responses sent, and events.
fn feed(
    ua: &mut UserAgent,
    data: Bytes,
    from: SocketAddr,
    now: Duration,
) -> (Vec<Message>, Vec<UaEvent>) {
    ua.handle_datagram(data, Peer::udp(from), now);
    let mut sent = Vec::new();
    let mut events = Vec::new();
    while let Some(o) = ua.poll_output() {
        match o {
            UaOutput::Transmit { data, .. } => sent.push(Message::parse(data).unwrap()),
            UaOutput::Event(e) => events.push(e),
        }
    }
    (sent, events)
}

fn ua() -> UserAgent {
    UserAgent::new(UaConfig::new("127.0.0.1:5060".parse().unwrap()), 3)
}

const PROBE: &str = "127.0.0.1:9";

#[test]
fn options_with_300_header_lines_gets_513_not_200() {
    let mut ua = ua();
    let now = Duration::ZERO;
    let (sent, _) = feed(
        &mut ua,
        request("OPTIONS", "ok", &padding(200)),
        PROBE.parse().unwrap(),
        now,
    );
    assert_eq!(
        sent[0].status(),
        Some(200),
        "200 lines are within the limit"
    );
    let (sent, _) = feed(
        &mut ua,
        request("OPTIONS", "h300", &padding(300)),
        PROBE.parse().unwrap(),
        now,
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), Some(513));
    assert_eq!(sent[0].reason_phrase(), Some("Too Many Header Lines"));
    // Refused before any state: no transaction holds it.
    assert_eq!(
        ua.transaction_counts().server,
        1,
        "only the first OPTIONS lingers"
    );
}

#[test]
fn an_over_long_header_line_gets_513() {
    let mut ua = ua();
    let long = format!("X-Long: {}\r\n", "b".repeat(9000));
    let (sent, _) = feed(
        &mut ua,
        request("OPTIONS", "long1", &long),
        PROBE.parse().unwrap(),
        Duration::ZERO,
    );
    assert_eq!(sent[0].status(), Some(513));
    assert_eq!(sent[0].reason_phrase(), Some("Header Line Too Long"));
}

#[test]
fn padded_options_flood_keeps_only_compact_records() {
    let mut ua = ua();
    let pad = padding(240); // within the 256-line limit with the usual headers
    // 4,000 OPTIONS padded to 248 header lines over 40 virtual seconds from one source.
    let mut max_server = 0;
    for i in 0..4_000u64 {
        let now = Duration::from_millis(10 * i);
        let (sent, _) = feed(
            &mut ua,
            request("OPTIONS", &format!("f{i}"), &pad),
            PROBE.parse().unwrap(),
            now,
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status(), Some(200));
        ua.handle_timeout(now);
        while ua.poll_output().is_some() {}
        if i % 200 == 0 {
            let c = ua.transaction_counts();
            // Answered transactions keep no request: only their response and timers.
            assert_eq!(c.holding_request, 0, "after {i} requests: {c:?}");
            assert_eq!(c.pending, 0);
            max_server = max_server.max(c.server);
        }
    }
    // Timer J (32 s) bounds the records to 32 s of requests (3,200 at 100/s).
    assert!(max_server <= 3_201, "{max_server}");
    assert!(max_server >= 3_000, "{max_server}");
    // After Timer J everything is gone.
    let later = Duration::from_secs(90);
    ua.handle_timeout(later);
    while ua.poll_output().is_some() {}
    assert_eq!(ua.transaction_counts().server, 0);
}

#[test]
fn calls_per_source_are_capped_with_503_and_retry_after() {
    let mut cfg = UaConfig::new("127.0.0.1:5060".parse().unwrap());
    cfg.limits.max_calls_per_source = 50;
    cfg.limits.max_calls = 80;
    let mut ua = UserAgent::new(cfg, 4);
    let now = Duration::ZERO;
    let flood: SocketAddr = PROBE.parse().unwrap();
    let mut incoming = 0;
    let mut refused = 0;
    for i in 0..200 {
        let (sent, events) = feed(&mut ua, request("INVITE", &format!("i{i}"), ""), flood, now);
        incoming += events
            .iter()
            .filter(|e| matches!(e, UaEvent::IncomingCall { .. }))
            .count();
        for r in sent.iter().filter(|r| r.status() == Some(503)) {
            refused += 1;
            assert_eq!(r.header(&HeaderName::RetryAfter), Some("5"));
        }
    }
    assert_eq!(incoming, 50);
    assert_eq!(refused, 150);
    assert_eq!(ua.calls_held(), 50, "refused INVITEs leave no call behind");
    assert_eq!(ua.transaction_counts().pending, 50);
    // Another source still gets through, up to the total.
    let other: SocketAddr = "127.0.0.2:9".parse().unwrap();
    let mut others = 0;
    for i in 0..40 {
        let (_, events) = feed(&mut ua, request("INVITE", &format!("o{i}"), ""), other, now);
        others += events
            .iter()
            .filter(|e| matches!(e, UaEvent::IncomingCall { .. }))
            .count();
    }
    assert_eq!(
        others, 30,
        "the total of 80 calls stops the second source at 30"
    );
}

#[test]
fn pending_server_transactions_per_source_are_capped() {
    let mut cfg = UaConfig::new("127.0.0.1:5060".parse().unwrap());
    cfg.limits.transactions.max_pending_per_source = 20;
    cfg.limits.transactions.retry_after_secs = 9;
    let mut ua = UserAgent::new(cfg, 5);
    let flood: SocketAddr = PROBE.parse().unwrap();
    let mut refused = 0;
    for i in 0..100 {
        let (sent, _) = feed(
            &mut ua,
            request("INVITE", &format!("p{i}"), ""),
            flood,
            Duration::ZERO,
        );
        for r in sent.iter().filter(|r| r.status() == Some(503)) {
            refused += 1;
            assert_eq!(r.header(&HeaderName::RetryAfter), Some("9"));
        }
    }
    assert_eq!(refused, 80);
    let c = ua.transaction_counts();
    assert_eq!((c.pending, c.server, c.refused), (20, 20, 80));
}
