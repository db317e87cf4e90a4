//! The 49 RFC 4475 torture messages sent to a running user agent over UDP and over
//! TCP (127.0.0.1), each answer compared with what the RFC expects a UAS to do; the
//! count of expected answers must reach 47 on each transport, and the agent must still
//! answer an OPTIONS at the end. The messages are in `support/torture.rs`.

#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "support/torture.rs"]
mod torture;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use callcore_sip::message::StreamFramer;
use callcore_sip::ua::{UaConfig, UaEvent, driver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use torture::{Expect, REFUSALS, Torture};

/// How long a message may take to be answered; silence for this long means none.
const WAIT: Duration = Duration::from_millis(600);

/// The first final status (or the last provisional one when no final came).
fn final_of(statuses: &[u16]) -> Option<u16> {
    statuses
        .iter()
        .copied()
        .find(|s| *s >= 200)
        .or(statuses.last().copied())
}

/// The status of a response, read from its status line only: an error response copies
/// the faulty request's headers, so it need not parse as a whole.
fn status_of(data: &[u8]) -> Option<u16> {
    let rest = data.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

fn judge(t: &Torture, answer: Option<u16>, stream: bool) -> bool {
    match (t.expect, answer) {
        (Expect::Silent, None) => true,
        (Expect::Status(_), None) => stream && torture::STREAM_MAY_WAIT.contains(&t.name),
        (Expect::Status(want), Some(s)) => want.contains(&s),
        (Expect::Accepted, Some(s)) => s >= 200 && !REFUSALS.contains(&s),
        _ => false,
    }
}

fn udp_answer(to: SocketAddr, data: &[u8]) -> Option<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    sock.send_to(data, to).unwrap();
    let mut statuses = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && let Some(s) = status_of(&buf[..n])
        {
            statuses.push(s);
            if s >= 200 {
                break;
            }
        }
    }
    final_of(&statuses)
}

async fn tcp_answer(to: SocketAddr, data: &[u8]) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(to).await.unwrap();
    s.write_all(data).await.unwrap();
    let mut framer = StreamFramer::default();
    let mut statuses = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let end = tokio::time::Instant::now() + WAIT;
    'read: while let Ok(Ok(n)) = tokio::time::timeout_at(end, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        framer.push(&buf[..n]);
        while let Ok(Some(f)) = framer.next_frame() {
            if let Some(st) = status_of(&f) {
                statuses.push(st);
                if st >= 200 {
                    break 'read;
                }
            }
        }
    }
    final_of(&statuses)
}

const PROBE: &str = "OPTIONS sip:cc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKalive;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:cc@127.0.0.1>\r\nCall-ID: alive@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

/// Sends one message over UDP or TCP; `None` when nothing came back in time.
async fn answer(addr: SocketAddr, data: &[u8], tcp: bool) -> Option<u16> {
    if tcp {
        tcp_answer(addr, data).await
    } else {
        let data = data.to_vec();
        tokio::task::spawn_blocking(move || udp_answer(addr, &data))
            .await
            .unwrap()
    }
}

/// A registrar agent on UDP and TCP at a free port (the TCP side of a free UDP port
/// may be taken: then another port).
async fn start_agent(
    seed: u64,
) -> (
    driver::SipHandle,
    tokio::sync::mpsc::UnboundedReceiver<UaEvent>,
) {
    let mut tries = 0;
    loop {
        let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.registrar = true;
        match driver::start(cfg, seed, true).await {
            Ok(started) => return started,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => tries += 1,
            Err(e) => panic!("agent not started: {e}"),
        }
    }
}

/// Each message goes to a fresh agent: several of the RFC's messages share a branch
/// and sent-by, and one agent would (rightly) take the later ones for retransmissions.
async fn run(tcp: bool) -> (usize, Vec<String>) {
    let mut passed = 0;
    let mut misses = Vec::new();
    for (i, t) in torture::messages().into_iter().enumerate() {
        let (sip, mut events) = start_agent(4475 + i as u64).await;
        let addr = sip.local_addr();
        // The application behind the agent turns every call away (Busy Here).
        let app = sip.clone();
        let refuser = tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let UaEvent::IncomingCall { call, .. } = ev {
                    app.reject(call, 486);
                }
            }
        });
        let got = answer(addr, &t.bytes, tcp).await;
        if judge(&t, got, tcp) {
            passed += 1;
        } else {
            misses.push(format!("{}: {:?}, expected {:?}", t.name, got, t.expect));
        }
        let alive = answer(addr, PROBE.as_bytes(), tcp).await;
        assert_eq!(alive, Some(200), "the agent still answers after {}", t.name);
        refuser.abort();
    }
    (passed, misses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_messages_over_udp_get_the_rfc_answers() {
    let (passed, misses) = run(false).await;
    eprintln!("RFC 4475 over UDP: {passed}/49 as expected; misses: {misses:#?}");
    assert_eq!(torture::messages().len(), 49);
    assert!(passed >= 47, "{passed}/49 over UDP; misses: {misses:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_messages_over_tcp_get_the_rfc_answers() {
    let (passed, misses) = run(true).await;
    eprintln!("RFC 4475 over TCP: {passed}/49 as expected; misses: {misses:#?}");
    assert!(passed >= 47, "{passed}/49 over TCP; misses: {misses:#?}");
}

/// An RFC 2543 caller without Contact (RFC 4475 §3.4.1) can be answered, and hanging
/// up sends the BYE to its From address (sans-IO).
#[test]
fn an_rfc2543_invite_without_contact_is_answered_and_hung_up() {
    use callcore_sip::session::LocalMedia;
    use callcore_sip::transaction::Peer;
    use callcore_sip::ua::{UaOutput, UserAgent};
    let inv2543 = torture::messages()
        .into_iter()
        .find(|t| t.name == "inv2543")
        .unwrap();
    let mut ua = UserAgent::new(UaConfig::new("127.0.0.1:5080".parse().unwrap()), 9);
    let peer = Peer::udp("127.0.0.1:5062".parse().unwrap());
    let now = Duration::ZERO;
    ua.handle_datagram(bytes::Bytes::from(inv2543.bytes), peer, now);
    let mut call = None;
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Event(UaEvent::IncomingCall { call: c, .. }) = o {
            call = Some(c);
        }
    }
    let call = call.expect("the call is offered to the application");
    let audio = ua
        .answer(
            call,
            LocalMedia::g711("127.0.0.1:40000".parse().unwrap(), 1),
            now,
        )
        .unwrap();
    assert!(audio.is_some(), "PCMU agreed from the RFC's offer");
    let mut sent = Vec::new();
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Transmit { data, .. } = o {
            sent.push(String::from_utf8_lossy(&data).into_owned());
        }
    }
    assert!(
        sent.iter().any(|m| m.starts_with("SIP/2.0 200 ")),
        "{sent:?}"
    );
    ua.hangup(call, now).unwrap();
    let mut bye = None;
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Transmit { data, .. } = o
            && data.starts_with(b"BYE ")
        {
            bye = Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
    let bye = bye.expect("a BYE");
    assert!(
        bye.starts_with("BYE sip:UserA@example.com SIP/2.0"),
        "{bye}"
    );
}
