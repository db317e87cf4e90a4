//! Registrar and digest authentication through the user agent: challenges (MD5 and
//! SHA-256, per account), bindings with expiry, several contacts, un-register, nonce
//! expiry, replay and forgery protection, rate limiting of wrong passwords, an
//! account binding only its own address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use callcore_sip::auth::{Accounts, DigestAlgorithm, DigestConfig, authorization_for};
use callcore_sip::message::{AuthValue, HeaderName, Message};
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
    // ...while another source is unaffected (the lockout is per account and source).
    // A nonce is good only from the address it was issued to: 10.9.9.9's is refused
    // there with a fresh challenge (and counts as no failure).
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
    assert_eq!(r.status(), Some(401));
    let (r, _) = send(
        &mut ua,
        &register(
            "e2",
            22,
            "<sip:1001@127.0.0.1:5099>",
            &format!("Authorization: {}\r\n", authorize(&r, "MD5", "s3cret", 1)),
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

/// A registrar challenging MD5 by default, with 1002's phone on SHA-256 then MD5.
fn ua_with_accounts() -> UserAgent {
    let mut cfg = UaConfig::new("127.0.0.1:5080".parse().unwrap());
    cfg.registrar = true;
    let mut digest = DigestConfig::new("callcore");
    digest.algorithms = vec![DigestAlgorithm::Md5];
    let accounts = Accounts::default().with("1001", "s3cret", &[]).with(
        "1002",
        "b0bs3cret",
        &[DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
    );
    cfg.auth = Some((digest, Arc::new(accounts)));
    UserAgent::new(cfg, 5)
}

/// A REGISTER by `from` for `to`'s address of record.
fn register_for(from: &str, to: &str, branch: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\nFrom: <sip:{from}@127.0.0.1>;tag=ph{from}\r\nTo: <sip:{to}@127.0.0.1>\r\nCall-ID: reg-{from}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{from}@127.0.0.1:5099>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn algorithms_of(challenge: &Message) -> Vec<String> {
    challenge
        .www_authenticate()
        .unwrap()
        .iter()
        .map(|c| c.param("algorithm").unwrap().into_owned())
        .collect()
}

fn nonce_of(challenge: &Message) -> String {
    challenge.www_authenticate().unwrap()[0]
        .param("nonce")
        .unwrap()
        .into_owned()
}

/// Credentials of `user` answering `nonce` with `algo` (whether or not offered).
fn credentials(user: &str, password: &str, nonce: &str, algo: &str, nc: u32) -> String {
    let ch =
        format!("Digest realm=\"callcore\", nonce=\"{nonce}\", algorithm={algo}, qop=\"auth\"");
    let ch = AuthValue::parse(&ch).unwrap();
    let v = authorization_for(
        &ch,
        user,
        password,
        "REGISTER",
        "sip:127.0.0.1:5080",
        "cn0nce",
        nc,
    );
    format!("Authorization: {}\r\n", v.unwrap())
}

#[test]
fn each_account_is_challenged_with_its_own_algorithms() {
    let mut ua = ua_with_accounts();
    let t0 = Duration::ZERO;
    let (md5_only, _) = send(
        &mut ua,
        &register_for("1001", "1001", "g1", 1, ""),
        "127.0.0.1",
        t0,
    );
    assert_eq!(md5_only.status(), Some(401));
    assert_eq!(algorithms_of(&md5_only), ["MD5"], "the default for phones");
    let (both, _) = send(
        &mut ua,
        &register_for("1002", "1002", "g2", 1, ""),
        "127.0.0.1",
        t0,
    );
    assert_eq!(algorithms_of(&both), ["SHA-256", "MD5"], "1002's own list");
    let (unknown, _) = send(
        &mut ua,
        &register_for("9999", "9999", "g3", 1, ""),
        "127.0.0.1",
        t0,
    );
    assert_eq!(
        algorithms_of(&unknown),
        ["MD5"],
        "unknown users look like known ones"
    );
    // every challenge has its own nonce, even within the same millisecond
    let nonces = [nonce_of(&md5_only), nonce_of(&both), nonce_of(&unknown)];
    assert!(nonces[0] != nonces[1] && nonces[1] != nonces[2] && nonces[0] != nonces[2]);

    // 1001 may not answer with an algorithm it was not challenged with...
    let t1 = Duration::from_secs(1);
    let sha = credentials("1001", "s3cret", &nonces[0], "SHA-256", 1);
    let (r, _) = send(
        &mut ua,
        &register_for("1001", "1001", "g4", 2, &sha),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(401), "SHA-256 is not 1001's algorithm");
    assert_eq!(algorithms_of(&r), ["MD5"]);
    // ...and registers with MD5
    let md5 = credentials("1001", "s3cret", &nonces[0], "MD5", 2);
    let (r, _) = send(
        &mut ua,
        &register_for("1001", "1001", "g5", 3, &md5),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(200));
    // 1002 registers with SHA-256 (or MD5, its fallback)
    let sha = credentials("1002", "b0bs3cret", &nonces[1], "SHA-256", 1);
    let (r, ev) = send(
        &mut ua,
        &register_for("1002", "1002", "g6", 2, &sha),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(200));
    assert!(matches!(&ev[0], UaEvent::Registered { user: Some(u), .. } if u == "1002"));
    let md5 = credentials("1002", "b0bs3cret", &nonces[1], "MD5", 2);
    let (r, _) = send(
        &mut ua,
        &register_for("1002", "1002", "g7", 3, &md5),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(200));
}

#[test]
fn a_sha256_account_still_refuses_replays_and_stale_nonces() {
    let mut ua = ua_with_accounts();
    let (ch, _) = send(
        &mut ua,
        &register_for("1002", "1002", "h1", 1, ""),
        "127.0.0.1",
        Duration::ZERO,
    );
    let nonce = nonce_of(&ch);
    let sha = credentials("1002", "b0bs3cret", &nonce, "SHA-256", 1);
    let t1 = Duration::from_secs(1);
    let (r, _) = send(
        &mut ua,
        &register_for("1002", "1002", "h2", 2, &sha),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(200));
    let (r, _) = send(
        &mut ua,
        &register_for("1002", "1002", "h3", 3, &sha),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(403));
    assert_eq!(r.reason_phrase(), Some("Replayed nonce count"));
    // a forged nonce (ours with another time stamp) is not accepted
    let (stamp, sig) = nonce.split_once('.').unwrap();
    let forged = format!("{}.{sig}", stamp.replacen('0', "1", 1));
    let bad = credentials("1002", "b0bs3cret", &forged, "SHA-256", 1);
    let (r, _) = send(
        &mut ua,
        &register_for("1002", "1002", "h4", 4, &bad),
        "127.0.0.1",
        t1,
    );
    assert_eq!(r.status(), Some(401));
    assert!(
        r.www_authenticate()
            .unwrap()
            .iter()
            .all(|c| c.param("stale").is_none())
    );
    // after the nonce lifetime: stale, re-challenged with the account's algorithms
    let sha = credentials("1002", "b0bs3cret", &nonce, "SHA-256", 2);
    let (r, _) = send(
        &mut ua,
        &register_for("1002", "1002", "h5", 5, &sha),
        "127.0.0.1",
        Duration::from_secs(301),
    );
    assert_eq!(r.status(), Some(401));
    assert_eq!(algorithms_of(&r), ["SHA-256", "MD5"]);
    assert!(
        r.www_authenticate()
            .unwrap()
            .iter()
            .all(|c| c.param("stale").as_deref() == Some("true"))
    );
}

#[test]
fn an_account_registers_only_its_own_address() {
    let mut ua = ua_with_accounts();
    let (ch, _) = send(
        &mut ua,
        &register_for("1002", "1001", "k1", 1, ""),
        "127.0.0.1",
        Duration::ZERO,
    );
    let md5 = credentials("1002", "b0bs3cret", &nonce_of(&ch), "MD5", 1);
    let (r, ev) = send(
        &mut ua,
        &register_for("1002", "1001", "k2", 2, &md5),
        "127.0.0.1",
        Duration::from_secs(1),
    );
    assert_eq!(r.status(), Some(403), "1002's password does not bind 1001");
    assert!(ev.is_empty());
    assert!(
        ua.registrar()
            .lookup("sip:1001@127.0.0.1", Duration::from_secs(2))
            .is_empty()
    );
}
