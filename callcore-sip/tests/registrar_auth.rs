//! Registrar and digest authentication through the user agent: challenges (MD5 and
//! SHA-256), bindings with expiry, several contacts, un-register, nonce expiry, replay
//! protection, rate limiting of wrong passwords.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use callcore_sip::auth::{DigestConfig, authorization_for};
use callcore_sip::message::{HeaderName, Message};
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{UaConfig, UaEvent, UaOutput, UserAgent};

fn ua() -> UserAgent {
    let mut cfg = UaConfig::new("127.0.0.1:5080".parse().unwrap());
    cfg.registrar = true;
    let store: HashMap<String, String> = [("1001".to_owned(), "s3cret".to_owned())].into();
    cfg.auth = Some((DigestConfig::new("callcore"), Arc::new(store)));
    UserAgent::new(cfg, 5)
}

fn register(branch: &str, cseq: u32, contact: &str, extra: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=ph\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// Sends a request from `ip`; returns the response and any events.
fn send(ua: &mut UserAgent, raw: &str, ip: &str, now: Duration) -> (Message, Vec<UaEvent>) {
    let peer = Peer::udp(format!("{ip}:5099").parse().unwrap());
    ua.handle_datagram(Bytes::from(raw.to_owned()), peer, now);
    let mut resp = None;
    let mut events = Vec::new();
    while let Some(o) = ua.poll_output() {
        match o {
            UaOutput::Transmit { data, .. } => resp = Some(Message::parse(data).unwrap()),
            UaOutput::Event(e) => events.push(e),
        }
    }
    (resp.expect("no response"), events)
}

fn authorize(challenge_resp: &Message, algo: &str, password: &str, nc: u32) -> String {
    let challenges = challenge_resp.www_authenticate().unwrap();
    let ch = challenges
        .iter()
        .find(|c| c.param("algorithm").as_deref() == Some(algo))
        .unwrap();
    authorization_for(
        ch,
        "1001",
        password,
        "REGISTER",
        "sip:127.0.0.1:5080",
        "cn0nce",
        nc,
    )
    .unwrap()
}

#[test]
fn challenge_offers_sha256_and_md5_and_both_register() {
    let mut ua = ua();
    let (r, _) = send(
        &mut ua,
        &register("a1", 1, "<sip:1001@127.0.0.1:5099>", ""),
        "127.0.0.1",
        Duration::ZERO,
    );
    assert_eq!(r.status(), Some(401));
    let algos: Vec<String> = r
        .www_authenticate()
        .unwrap()
        .iter()
        .map(|c| c.param("algorithm").unwrap().into_owned())
        .collect();
    assert_eq!(algos, ["SHA-256", "MD5"]);
    for (i, algo) in ["SHA-256", "MD5"].into_iter().enumerate() {
        let auth = authorize(&r, algo, "s3cret", 1 + u32::try_from(i).unwrap());
        let (ok, ev) = send(
            &mut ua,
            &register(
                &format!("a2{i}"),
                2 + u32::try_from(i).unwrap(),
                "<sip:1001@127.0.0.1:5099>;expires=120",
                &format!("Authorization: {auth}\r\n"),
            ),
            "127.0.0.1",
            Duration::from_secs(1),
        );
        assert_eq!(ok.status(), Some(200), "{algo}");
        assert_eq!(
            ok.header(&HeaderName::Contact),
            Some("<sip:1001@127.0.0.1:5099>;expires=120")
        );
        assert!(
            matches!(&ev[0], UaEvent::Registered { user: Some(u), contacts, .. } if u == "1001" && contacts.len() == 1)
        );
    }
    assert_eq!(
        ua.registrar()
            .lookup("sip:1001@127.0.0.1", Duration::from_secs(100))
            .len(),
        1
    );
    assert!(
        ua.registrar()
            .lookup("sip:1001@127.0.0.1", Duration::from_secs(122))
            .is_empty(),
        "binding expires"
    );
}

#[test]
fn several_contacts_unregister_and_min_expires() {
    let mut ua = ua();
    let (ch, _) = send(
        &mut ua,
        &register("b1", 1, "<sip:1001@127.0.0.1:5099>", ""),
        "127.0.0.1",
        Duration::ZERO,
    );
    let mut nc = 0;
    let mut next = |ua: &mut UserAgent, branch: &str, cseq: u32, contact: &str, extra: &str| {
        nc += 1;
        let auth = authorize(&ch, "MD5", "s3cret", nc);
        send(
            ua,
            &register(
                branch,
                cseq,
                contact,
                &format!("{extra}Authorization: {auth}\r\n"),
            ),
            "127.0.0.1",
            Duration::from_secs(2),
        )
        .0
    };
    let r = next(
        &mut ua,
        "b2",
        2,
        "<sip:1001@10.0.0.1>;q=0.5, <sip:1001@10.0.0.2>;q=0.9",
        "Expires: 300\r\n",
    );
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.header_lines(&HeaderName::Contact).count(), 2);
    assert_eq!(
        ua.registrar()
            .lookup("sip:1001@127.0.0.1", Duration::from_secs(3)),
        ["sip:1001@10.0.0.2", "sip:1001@10.0.0.1"]
    );
    let r = next(&mut ua, "b3", 3, "<sip:1001@10.0.0.2>;expires=0", "");
    assert_eq!(r.status(), Some(200));
    assert_eq!(
        ua.registrar()
            .lookup("sip:1001@127.0.0.1", Duration::from_secs(3)),
        ["sip:1001@10.0.0.1"]
    );
    let r = next(&mut ua, "b4", 4, "<sip:1001@10.0.0.3>;expires=10", "");
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.header(&HeaderName::MinExpires), Some("60"));
    let r = next(&mut ua, "b5", 2, "<sip:1001@10.0.0.1>", "");
    assert_eq!(r.status(), Some(500), "older CSeq of the same Call-ID");
    let r = next(&mut ua, "b6", 6, "*", "Expires: 0\r\n");
    assert_eq!(r.status(), Some(200));
    assert!(
        ua.registrar()
            .lookup("sip:1001@127.0.0.1", Duration::from_secs(3))
            .is_empty()
    );
}

#[test]
fn replayed_nonce_count_is_forbidden_and_stale_nonce_rechallenged() {
    let mut ua = ua();
    let (ch, _) = send(
        &mut ua,
        &register("c1", 1, "<sip:1001@127.0.0.1:5099>", ""),
        "127.0.0.1",
        Duration::ZERO,
    );
    let auth = authorize(&ch, "MD5", "s3cret", 1);
    let (r, _) = send(
        &mut ua,
        &register(
            "c2",
            2,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {auth}\r\n"),
        ),
        "127.0.0.1",
        Duration::from_secs(1),
    );
    assert_eq!(r.status(), Some(200));
    // Same credentials again (new transaction): the nonce count did not rise.
    let (r, _) = send(
        &mut ua,
        &register(
            "c3",
            3,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {auth}\r\n"),
        ),
        "127.0.0.1",
        Duration::from_secs(2),
    );
    assert_eq!(r.status(), Some(403));
    assert_eq!(r.reason_phrase(), Some("Replayed nonce count"));
    // After the nonce lifetime the same nonce is stale: a new challenge says so.
    let auth = authorize(&ch, "MD5", "s3cret", 2);
    let (r, _) = send(
        &mut ua,
        &register(
            "c4",
            4,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {auth}\r\n"),
        ),
        "127.0.0.1",
        Duration::from_secs(301),
    );
    assert_eq!(r.status(), Some(401));
    assert!(
        r.www_authenticate()
            .unwrap()
            .iter()
            .all(|c| c.param("stale").as_deref() == Some("true"))
    );
}

#[test]
fn wrong_passwords_are_rechallenged_then_rate_limited_per_source() {
    let mut ua = ua();
    let (ch, _) = send(
        &mut ua,
        &register("d0", 1, "<sip:1001@127.0.0.1:5099>", ""),
        "10.9.9.9",
        Duration::ZERO,
    );
    let mut codes = Vec::new();
    for i in 0..7u32 {
        let auth = authorize(&ch, "MD5", "guess", i + 1);
        let (r, _) = send(
            &mut ua,
            &register(
                &format!("d{}", i + 1),
                i + 2,
                "<sip:1001@127.0.0.1:5099>",
                &format!("Authorization: {auth}\r\n"),
            ),
            "10.9.9.9",
            Duration::from_secs(1),
        );
        codes.push(r.status().unwrap());
    }
    assert_eq!(codes, [401, 401, 401, 401, 403, 403, 403]);
    // Even the right password is refused from that source until the window passes...
    let auth = authorize(&ch, "MD5", "s3cret", 20);
    let (r, _) = send(
        &mut ua,
        &register(
            "d9",
            20,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {auth}\r\n"),
        ),
        "10.9.9.9",
        Duration::from_secs(2),
    );
    assert_eq!(r.status(), Some(403));
    // ...while another source is unaffected.
    let (r, _) = send(
        &mut ua,
        &register(
            "e1",
            21,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {}\r\n", authorize(&ch, "MD5", "s3cret", 21)),
        ),
        "10.1.1.1",
        Duration::from_secs(2),
    );
    assert_eq!(r.status(), Some(200));
    // After the window, the first source may try again.
    let (r, _) = send(
        &mut ua,
        &register(
            "d10",
            30,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {}\r\n", authorize(&ch, "MD5", "s3cret", 22)),
        ),
        "10.9.9.9",
        Duration::from_secs(62),
    );
    assert_eq!(r.status(), Some(200));
}

#[test]
fn unknown_scheme_gets_a_digest_challenge() {
    let mut ua = ua();
    let (r, _) = send(
        &mut ua,
        &register(
            "f1",
            1,
            "<sip:1001@127.0.0.1:5099>",
            "Authorization: NoOneKnowsThisScheme opaque-data=here\r\n",
        ),
        "127.0.0.1",
        Duration::ZERO,
    );
    assert_eq!(r.status(), Some(401));
}
