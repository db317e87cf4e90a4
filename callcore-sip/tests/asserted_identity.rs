//! `P-Asserted-Identity` (RFC 3325) reaches the application with the incoming call,
//! beside the source address that decides whether to believe it (the SIP center takes
//! the asserted number only from an IP-authenticated trunk).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use callcore_sip::transaction::Peer;
use callcore_sip::trunk::asserted_caller;
use callcore_sip::ua::{UaConfig, UaEvent, UaOutput, UserAgent};

fn incoming(extra: &str) -> UaEvent {
    let mut ua = UserAgent::new(UaConfig::new("127.0.0.1:5080".parse().unwrap()), 3);
    let invite = format!(
        "INVITE sip:+4930123456@127.0.0.1:5080 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKpai1\r\n\
         From: <sip:+88213000000@192.0.2.10>;tag=c1\r\nTo: <sip:+4930123456@127.0.0.1>\r\n\
         Call-ID: pai-1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@192.0.2.10>\r\n\
         Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    ua.handle_datagram(
        Bytes::from(invite),
        Peer::udp("192.0.2.10:5060".parse().unwrap()),
        Duration::ZERO,
    );
    std::iter::from_fn(|| ua.poll_output())
        .find_map(|o| match o {
            UaOutput::Event(e @ UaEvent::IncomingCall { .. }) => Some(e),
            _ => None,
        })
        .expect("an incoming call")
}

#[test]
fn the_asserted_identity_comes_with_the_call_and_its_source() {
    let UaEvent::IncomingCall {
        from,
        asserted,
        source,
        ..
    } = incoming("P-Asserted-Identity: \"Caller\" <sip:+4930999@carrier.example>\r\n")
    else {
        unreachable!()
    };
    assert_eq!(from, "sip:+88213000000@192.0.2.10");
    assert_eq!(source.to_string(), "192.0.2.10");
    let asserted = asserted.expect("P-Asserted-Identity passed on");
    assert_eq!(asserted_caller(&asserted).as_deref(), Some("+4930999"));

    let UaEvent::IncomingCall { asserted, .. } = incoming("") else {
        unreachable!()
    };
    assert_eq!(asserted, None);
}
