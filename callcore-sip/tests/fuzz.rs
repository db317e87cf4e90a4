//! Fuzz targets for what the open network reaches first: the message parser, the TCP
//! framer, SDP, digest credentials and a whole request through the user agent (sans-IO,
//! no sockets). Written with `bolero`: under `cargo test` each target replays its corpus
//! and runs random inputs for a short time (1 s, or `BOLERO_RANDOM_TEST_TIME_MS`);
//! `scripts/fuzz.sh` runs each for a fixed time (50 s in CI). See `docs/fuzzing.md`.
//!
//! Random bytes rarely get past a SIP start line, so every target also runs the input
//! as a *mutation script* over a seed message (the RFC 4475 torture messages and the
//! messages below): the first byte picks the seed, the rest edits it (flip, insert,
//! delete, duplicate a line, splice a token). Whatever the engine, inputs start near
//! valid SIP. The properties checked: nothing panics, and what parses round-trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The run counters measure wall-clock time (reported, never asserted).
#![allow(clippy::disallowed_methods)]

#[path = "support/torture.rs"]
mod torture;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bolero::check;
use bytes::Bytes;
use callcore_sip::auth::{
    Accounts, AuthOutcome, Authenticator, DigestAlgorithm, DigestConfig, authorization_for,
};
use callcore_sip::message::{
    AdmissionPolicy, AuthValue, HeaderName, Message, ParseOptions, StreamFramer, error_response,
};
use callcore_sip::session::{LocalMedia, SessionDescription, answer_offer};
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{UaConfig, UserAgent};

/// Counts inputs run by a target and prints the rate when the target ends (read by
/// `scripts/fuzz.sh`).
struct Runs {
    name: &'static str,
    count: AtomicU64,
    start: Instant,
}

impl Runs {
    fn new(name: &'static str) -> Runs {
        Runs {
            name,
            count: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    fn one(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        let n = self.count.load(Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64();
        eprintln!(
            "fuzz target {}: {n} inputs in {secs:.1} s ({:.0}/s)",
            self.name,
            n as f64 / secs.max(1e-9)
        );
    }
}

/// Tokens spliced into seeds: the places parsers go wrong.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n ",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b"\"",
    b"\\",
    b"<",
    b">",
    b"%",
    b"%00",
    b"=",
    b"@",
    b"[",
    b"]",
    b"[::1]",
    b" ",
    b"\t",
    b"Content-Length: 99999\r\n",
    b"l: 0\r\n",
    b"Content-Length: -1\r\n",
    b"4294967296",
    b"18446744073709551616",
    b"0",
    b"sip:",
    b"sips:",
    b"tel:",
    b"z9hG4bK",
    b";tag=",
    b";branch=",
    b";rport",
    b";received=",
    b";expires=",
    b";q=",
    b"Digest ",
    b"algorithm=SHA-256",
    b"qop=auth",
    b"nc=ffffffff",
    b"Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n",
    b"Contact: *\r\n",
    b"Content-Type: application/sdp\r\n",
    b"Content-Type: multipart/mixed;boundary=b\r\n",
    b"Require: 100rel\r\n",
    b"Session-Expires: 1\r\n",
    b"Replaces: a;to-tag=b;from-tag=c\r\n",
    b"m=audio 0 RTP/AVP 0 8 101\r\n",
    b"a=rtpmap:101 telephone-event/8000\r\n",
    b"c=IN IP6 ::1\r\n",
    b"a=sendonly\r\n",
    b"\xff\xfe",
    b"\xc3\xa9",
];

const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKreg1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=r1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg1@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5062>;expires=60\r\nContent-Length: 0\r\n\r\n";

const INVITE: &str = "INVITE sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKinv1;rport\r\nMax-Forwards: 70\r\nFrom: \"Caller\" <sip:+15551234@127.0.0.1>;tag=c1\r\nTo: <sip:support@127.0.0.1>\r\nCall-ID: inv1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:5062>\r\nSupported: timer, 100rel\r\nSession-Expires: 1800;refresher=uac\r\nContent-Type: application/sdp\r\nContent-Length: 213\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n";

const RESPONSE: &str = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKout1\r\nFrom: <sip:cc@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>;tag=b\r\nCall-ID: out1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:5062>\r\nRSeq: 1\r\nRequire: 100rel\r\nContent-Length: 0\r\n\r\n";

/// The digest realm, account and password of the digest and request targets.
const REALM: &str = "callcore";
const USER: &str = "1001";
const PASSWORD: &str = "s3cret-1001";

/// A REGISTER carrying valid credentials for [`USER`], answering a challenge of an
/// authenticator keyed with `secret` at time zero.
fn authorized_register(secret: &[u8]) -> String {
    let mut auth = Authenticator::new(digest_config(), secret);
    let challenge = auth.challenge(IpAddr::V4(Ipv4Addr::LOCALHOST), Duration::ZERO, false);
    let ch = AuthValue::parse(&challenge[0]).unwrap();
    let cred = authorization_for(
        &ch,
        USER,
        PASSWORD,
        "REGISTER",
        "sip:127.0.0.1",
        "c0ffee",
        1,
    )
    .unwrap();
    REGISTER.replace(
        "Content-Length: 0\r\n",
        &format!("Authorization: {cred}\r\nContent-Length: 0\r\n"),
    )
}

fn digest_config() -> DigestConfig {
    let mut c = DigestConfig::new(REALM);
    c.algorithms = vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5];
    c
}

fn accounts() -> Accounts {
    Accounts::default().with(USER, PASSWORD, &[])
}

const SECRET: &[u8] = b"fuzz-secret-0123456789abcdefghij";

/// Every seed: the RFC 4475 messages, then ours.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut s: Vec<Vec<u8>> = torture::messages().into_iter().map(|t| t.bytes).collect();
        s.push(REGISTER.as_bytes().to_vec());
        s.push(INVITE.as_bytes().to_vec());
        s.push(RESPONSE.as_bytes().to_vec());
        s.push(authorized_register(SECRET).into_bytes());
        s
    })
}

/// The seed picked by `script[0]`, edited by the rest of `script` (three bytes an edit:
/// what, where, with what).
fn mutate(script: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let Some((&pick, ops)) = script.split_first() else {
        return Vec::new();
    };
    let mut m = seeds[usize::from(pick) % seeds.len()].clone();
    for op in ops.chunks(3) {
        let [what, at, arg] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        // positions scale to the message, so a byte reaches anywhere in it
        let pos = if m.is_empty() {
            0
        } else {
            (usize::from(at) * 256 + usize::from(arg)) % (m.len() + 1)
        };
        match what % 8 {
            0 => {
                if let Some(b) = m.get_mut(pos) {
                    *b ^= 1 << (arg % 8);
                }
            }
            1 => m.insert(pos.min(m.len()), arg),
            2 => {
                let end = (pos + usize::from(arg % 16) + 1).min(m.len());
                m.drain(pos.min(m.len())..end);
            }
            3 | 4 => {
                let tok = TOKENS[usize::from(arg) % TOKENS.len()];
                let p = pos.min(m.len());
                m.splice(p..p, tok.iter().copied());
            }
            5 => {
                // duplicate the line around `pos`
                let p = pos.min(m.len());
                let start = m[..p]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = m[p..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(m.len(), |i| p + i + 1);
                let line = m[start..end].to_vec();
                m.splice(end..end, line);
            }
            6 => {
                // repeat a span (long values, many headers)
                let p = pos.min(m.len());
                let end = (p + 8).min(m.len());
                let span = m[p..end].to_vec();
                for _ in 0..usize::from(arg % 64) {
                    m.splice(end..end, span.iter().copied());
                }
            }
            _ => m.truncate(pos),
        }
    }
    m
}

/// The inputs a target runs on: the raw bytes, and the seed they edit.
fn inputs(input: &[u8]) -> [Vec<u8>; 2] {
    [input.to_vec(), mutate(input, seeds())]
}

/// Parses and reads every typed header; what parses must serialize and parse again
/// to the same start line and headers.
fn exercise_parser(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    for datagram in [true, false] {
        let opts = ParseOptions {
            max_size: callcore_sip::message::DEFAULT_MAX_SIZE,
            datagram,
            ..ParseOptions::default()
        };
        match Message::parse_with(bytes.clone(), opts) {
            Ok(m) => {
                let _ = (m.to(), m.from(), m.vias(), m.contacts(), m.routes());
                let _ = (m.cseq(), m.call_id(), m.max_forwards(), m.expires());
                let _ = (m.content_type(), m.authorization(), m.replaces());
                let _ = (m.request_uri().map(|u| (u.user(), u.host(), u.port())),);
                let _ = m.top_via().map(|v| (v.branch(), v.received(), v.rport()));
                if m.is_request() {
                    if let Err(e) = AdmissionPolicy::default().admit(&m) {
                        let _ = error_response(&bytes, &e, "t");
                    }
                    let _ = m.build_response(callcore_sip::message::ResponseSpec::code(200));
                }
                let again = Message::parse(m.to_bytes()).expect("a parsed message re-parses");
                assert_eq!(again.start_line(), m.start_line());
                // the writer adds Content-Length when the datagram had none
                let added = usize::from(m.header(&HeaderName::ContentLength).is_none());
                assert_eq!(again.header_count(), m.header_count() + added);
                assert_eq!(again.body(), m.body());
            }
            Err(e) => {
                let _ = error_response(&bytes, &e, "t");
            }
        }
    }
}

#[test]
fn fuzz_message_parser() {
    let runs = Runs::new("message_parser");
    check!().for_each(|input: &[u8]| {
        runs.one();
        for data in inputs(input) {
            exercise_parser(&data);
        }
    });
}

#[test]
fn fuzz_tcp_framer() {
    let runs = Runs::new("tcp_framer");
    check!().for_each(|input: &[u8]| {
        runs.one();
        for data in inputs(input) {
            // two messages back to back, fed in chunks whose sizes come from the input
            let mut stream = data.clone();
            stream.extend_from_slice(b"\r\n\r\n");
            stream.extend_from_slice(&data);
            let mut framer = StreamFramer::new(4096);
            let (mut fed, mut framed) = (0usize, 0usize);
            let mut sizes = input.iter().cycle().map(|b| usize::from(*b % 97) + 1);
            while fed < stream.len() {
                let n = sizes.next().unwrap_or(1).min(stream.len() - fed);
                framer.push(&stream[fed..fed + n]);
                fed += n;
                loop {
                    match framer.next_frame() {
                        Ok(Some(f)) => {
                            framed += f.len();
                            assert!(framed <= fed, "frames never exceed what was pushed");
                            let _ = Message::parse_with(
                                f,
                                ParseOptions {
                                    max_size: 4096,
                                    datagram: false,
                                    ..ParseOptions::default()
                                },
                            );
                        }
                        Ok(None) => break,
                        Err(_) => {
                            let pending = framer.take_pending();
                            assert!(pending.len() <= 4096);
                            break;
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn fuzz_sdp() {
    let runs = Runs::new("sdp");
    let sdp_seeds: Vec<Vec<u8>> = seeds()
        .iter()
        .filter_map(|s| {
            let m = Message::parse(Bytes::copy_from_slice(s)).ok()?;
            (!m.body().is_empty()).then(|| m.body().to_vec())
        })
        .collect();
    let local = LocalMedia::g711("127.0.0.1:40000".parse().unwrap(), 7);
    check!().for_each(|input: &[u8]| {
        runs.one();
        for data in [input.to_vec(), mutate(input, &sdp_seeds)] {
            if let Ok(sd) = SessionDescription::parse(&data) {
                for i in 0..sd.media.len() {
                    let _ = (sd.direction_of(i), sd.address_of(i));
                }
                let body = sd.to_body();
                let again = SessionDescription::parse(body.as_bytes())
                    .expect("a description we write parses");
                assert_eq!(again.media.len(), sd.media.len());
                let _ = answer_offer(&sd, &local, 2);
            }
        }
    });
}

#[test]
fn fuzz_digest() {
    let runs = Runs::new("digest");
    let store = accounts();
    let seeds = [authorized_register(SECRET).into_bytes()];
    check!().for_each(|input: &[u8]| {
        runs.one();
        let mut auth = Authenticator::new(digest_config(), SECRET);
        let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for (i, data) in [input.to_vec(), mutate(input, &seeds)].iter().enumerate() {
            let Ok(req) = Message::parse(Bytes::copy_from_slice(data)) else {
                continue;
            };
            for v in req.authorization().unwrap_or_default() {
                let _ = (v.scheme(), v.param("nonce"), v.param("response"));
            }
            let now = Duration::from_secs(i as u64);
            if let AuthOutcome::Authorized { user } = auth.check(&req, source, &store, now) {
                // only the account's own credentials pass: the response is a digest
                // of the password, which no edit of the seed can keep valid unless
                // it left the credentials alone
                assert_eq!(user, USER);
            }
        }
    });
}

/// The tests' seed is fixed: the nonce key comes from it (see `UserAgent::new`).
fn user_agent() -> UserAgent {
    let mut cfg = UaConfig::new("127.0.0.1:5080".parse().unwrap());
    cfg.registrar = true;
    let mut digest = digest_config();
    digest.nonce_key = Some(callcore_sip::auth::NonceKey([7; 32]));
    cfg.auth = Some((digest, Arc::new(accounts())));
    cfg.auth_invites = false;
    UserAgent::new(cfg, 1)
}

#[test]
fn fuzz_request_handler() {
    let runs = Runs::new("request_handler");
    check!().for_each(|input: &[u8]| {
        runs.one();
        let mut ua = user_agent();
        let peer = Peer::udp("127.0.0.1:5062".parse().unwrap());
        let mut now = Duration::ZERO;
        // the input as one message, then as up to four edited seeds in a row
        let mut batch = vec![input.to_vec()];
        batch.extend(input.chunks(24).take(4).map(|c| mutate(c, seeds())));
        for data in batch {
            ua.handle_datagram(Bytes::from(data), peer, now);
            while ua.poll_output().is_some() {}
            now += Duration::from_millis(700);
            ua.handle_timeout(now);
            while ua.poll_output().is_some() {}
        }
        // and the transactions run out
        now += Duration::from_secs(64);
        ua.handle_timeout(now);
        while ua.poll_output().is_some() {}
    });
}

/// Found by `fuzz_sdp`: a description without `o=` parsed with an empty origin
/// address, and was written back as an `o=` line no parser (ours included) accepts.
#[test]
fn regression_sdp_without_origin_is_written_back_readable() {
    let sd = SessionDescription::parse(
        b"v=0\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
    )
    .unwrap();
    let again = SessionDescription::parse(sd.to_body().as_bytes()).unwrap();
    assert_eq!(again.origin_addr, "0.0.0.0");
    assert_eq!(again.media.len(), 1);
}

/// Found by `fuzz_sdp` in CI: `c=IN IP4 /192.0.2.4` (an empty address before a
/// TTL) parsed with an empty address and was written back as `c=IN IP4 `, which
/// nothing parses. Such a line is refused as the bad `c=` it is.
#[test]
fn regression_sdp_with_an_empty_connection_address_is_refused() {
    let bad = b"v=0\r\no=- 1 1 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 /192.0.2.4\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n";
    assert!(SessionDescription::parse(bad).is_err());
    let good = b"v=0\r\no=- 1 1 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n";
    let sd = SessionDescription::parse(good).unwrap();
    let again = SessionDescription::parse(sd.to_body().as_bytes()).unwrap();
    assert_eq!(again.connection.as_deref(), Some("224.2.1.1"));
}
