//! The digest lockout cannot be turned against a user and stays bounded: failures
//! count per account and source address, only with a nonce issued to that address
//! (a spoofer never sees the 401), the failure table has a fixed capacity, and
//! SHA-256 is challenged before MD5 wherever the account allows both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::net::IpAddr;
use std::time::Duration;

use callcore_sip::auth::{
    Accounts, AuthOutcome, Authenticator, DigestAlgorithm, DigestConfig, authorization_for,
};
use callcore_sip::message::{AuthValue, Message};

const PHONE: &str = "198.51.100.7";
const ATTACKER: &str = "203.0.113.66";

fn register(auth: Option<&str>) -> Message {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "REGISTER sip:callcore.example SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKlk\r\nMax-Forwards: 70\r\nFrom: <sip:1001@callcore.example>;tag=ph\r\nTo: <sip:1001@callcore.example>\r\nCall-ID: lock-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@198.51.100.7>\r\n{auth}Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(raw)).unwrap()
}

fn accounts() -> Accounts {
    Accounts::default()
        .with(
            "1001",
            "alice1001",
            &[DigestAlgorithm::Md5, DigestAlgorithm::Sha256],
        )
        .with("1002", "bob1002", &[DigestAlgorithm::Md5])
}

fn authenticator() -> Authenticator {
    Authenticator::new(DigestConfig::new("callcore"), &[7; 32])
}

/// A challenge for `from` (as the authenticator would send it there).
fn challenge(
    auth: &mut Authenticator,
    store: &Accounts,
    from: IpAddr,
    now: Duration,
) -> Vec<String> {
    match auth.check(&register(None), from, store, now) {
        AuthOutcome::Challenge { www_authenticate } => www_authenticate,
        other => panic!("{other:?}"),
    }
}

fn answer(challenges: &[String], password: &str, nc: u32) -> String {
    let header = challenges
        .iter()
        .find(|c| c.contains("algorithm=MD5"))
        .unwrap()
        .clone();
    let parsed = AuthValue::parse(&header).unwrap();
    authorization_for(
        &parsed,
        "1001",
        password,
        "REGISTER",
        "sip:callcore.example",
        "cn",
        nc,
    )
    .unwrap()
}

#[test]
fn spoofed_failures_from_the_phones_address_do_not_lock_the_phone() {
    let store = accounts();
    let mut auth = authenticator();
    let phone: IpAddr = PHONE.parse().unwrap();
    let attacker: IpAddr = ATTACKER.parse().unwrap();
    let t = Duration::from_secs(1);
    // The attacker gets a nonce at its own address, then sends wrong passwords with
    // the phone's address as source (UDP spoofing): 20 tries.
    let theirs = challenge(&mut auth, &store, attacker, t);
    for i in 0..20 {
        let out = auth.check(
            &register(Some(&answer(&theirs, "guess", i + 1))),
            phone,
            &store,
            t,
        );
        assert!(matches!(out, AuthOutcome::Challenge { .. }), "{out:?}");
    }
    assert_eq!(auth.tracked_failures(), 0, "foreign nonces count nothing");
    // The phone still registers from its address.
    let mine = challenge(&mut auth, &store, phone, t);
    let out = auth.check(
        &register(Some(&answer(&mine, "alice1001", 1))),
        phone,
        &store,
        t,
    );
    assert_eq!(
        out,
        AuthOutcome::Authorized {
            user: "1001".into()
        }
    );
}

#[test]
fn a_guesser_locks_only_its_own_address() {
    let store = accounts();
    let mut auth = authenticator();
    let phone: IpAddr = PHONE.parse().unwrap();
    let attacker: IpAddr = ATTACKER.parse().unwrap();
    let t = Duration::from_secs(1);
    let theirs = challenge(&mut auth, &store, attacker, t);
    let mut outcomes = Vec::new();
    for i in 0..8 {
        let out = auth.check(
            &register(Some(&answer(&theirs, "guess", i + 1))),
            attacker,
            &store,
            t,
        );
        outcomes.push(matches!(out, AuthOutcome::Forbidden(_)));
    }
    assert_eq!(
        outcomes,
        [false, false, false, false, true, true, true, true]
    );
    // Even the right password is refused from the guesser's address in the window...
    let out = auth.check(
        &register(Some(&answer(&theirs, "alice1001", 30))),
        attacker,
        &store,
        t,
    );
    assert!(matches!(out, AuthOutcome::Forbidden(_)), "{out:?}");
    // ...while the phone, at its own address, is not locked out.
    let mine = challenge(&mut auth, &store, phone, t);
    let out = auth.check(
        &register(Some(&answer(&mine, "alice1001", 1))),
        phone,
        &store,
        t,
    );
    assert_eq!(
        out,
        AuthOutcome::Authorized {
            user: "1001".into()
        }
    );
}

#[test]
fn the_failure_table_stays_bounded() {
    let store = accounts();
    let mut cfg = DigestConfig::new("callcore");
    cfg.max_tracked_failures = 100;
    let mut auth = Authenticator::new(cfg, &[9; 32]);
    // 1,000 sources each fail once (a botnet, or a spoofer on TCP-less UDP).
    for i in 0..1_000u32 {
        let source = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let t = Duration::from_millis(u64::from(i));
        let ch = challenge(&mut auth, &store, source, t);
        let out = auth.check(&register(Some(&answer(&ch, "guess", 1))), source, &store, t);
        assert!(matches!(out, AuthOutcome::Challenge { .. }));
        assert!(
            auth.tracked_failures() <= 500,
            "{}",
            auth.tracked_failures()
        );
    }
    assert_eq!(auth.tracked_failures(), 100);
}

#[test]
fn sha256_is_challenged_before_md5_where_the_account_allows_it() {
    let store = accounts();
    let mut auth = authenticator();
    let t = Duration::from_secs(1);
    // 1001's account lists MD5 first; SHA-256 is still offered first.
    let ch = challenge(&mut auth, &store, PHONE.parse().unwrap(), t);
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=SHA-256"), "{ch:?}");
    assert!(ch[1].contains("algorithm=MD5"), "{ch:?}");
    // 1002's phone speaks MD5 only: it is offered MD5 only.
    let raw = String::from_utf8(register(None).to_bytes().to_vec())
        .unwrap()
        .replace("sip:1001@", "sip:1002@");
    let out = auth.check(
        &Message::parse(Bytes::from(raw)).unwrap(),
        PHONE.parse().unwrap(),
        &store,
        t,
    );
    match out {
        AuthOutcome::Challenge { www_authenticate } => {
            assert_eq!(www_authenticate.len(), 1);
            assert!(www_authenticate[0].contains("algorithm=MD5"));
        }
        other => panic!("{other:?}"),
    }
}
