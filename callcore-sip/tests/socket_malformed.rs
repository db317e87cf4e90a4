//! Malformed and valid messages over real UDP and TCP sockets on 127.0.0.1: every
//! faulty request gets the right 4xx/5xx, garbage is dropped, the endpoint stays up.

#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use callcore_sip::message::{Message, StreamFramer};
use callcore_sip::ua::{UaConfig, driver};

fn req(method: &str, uri: &str, version: &str, branch: &str, extra: &str) -> String {
    format!(
        "{method} {uri} {version}\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:cc@127.0.0.1>\r\nCall-ID: {branch}@probe\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn exchange(sock: &UdpSocket, data: &[u8]) -> Option<Message> {
    sock.send(data).unwrap();
    let mut buf = vec![0u8; 65_536];
    match sock.recv(&mut buf) {
        Ok(n) => Some(Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_udp_requests_get_the_right_status() {
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.max_size = 4096;
    let (sip, _events) = driver::start(cfg, 11, false).await.unwrap();
    let addr = sip.local_addr();
    let result = tokio::task::spawn_blocking(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let cases: Vec<(String, Option<u16>)> = vec![
            (
                req("OPTIONS", "sip:cc@127.0.0.1", "SIP/2.0", "ok1", ""),
                Some(200),
            ),
            (
                req("OPTIONS", "sip:cc@127.0.0.1", "SIP/7.0", "v1", ""),
                Some(505),
            ),
            (
                req(
                    "OPTIONS",
                    "nobodyKnowsThisScheme:opaque",
                    "SIP/2.0",
                    "s1",
                    "",
                ),
                Some(416),
            ),
            (
                req(
                    "OPTIONS",
                    "sip:cc@127.0.0.1",
                    "SIP/2.0",
                    "r1",
                    "Require: nothingSupportsThis\r\n",
                ),
                Some(420),
            ),
            (
                req(
                    "INVITE",
                    "sip:cc@127.0.0.1",
                    "SIP/2.0",
                    "h1",
                    "Contact: <sip:p@127.0.0.1:9>\r\nMax-Forwards: 0\r\n",
                )
                .replace("Max-Forwards: 70\r\n", ""),
                Some(483),
            ),
            (
                req("OPTIONS", "<sip:cc@127.0.0.1>", "SIP/2.0", "b1", ""),
                Some(400),
            ),
            (
                req("OPTIONS", "sip:cc@127.0.0.1", "SIP/2.0", "c1", "")
                    .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
                Some(400),
            ),
            (
                req(
                    "MESSAGE",
                    "sip:cc@127.0.0.1",
                    "SIP/2.0",
                    "big",
                    &format!("X-Pad: {}\r\n", "a".repeat(5000)),
                ),
                Some(513),
            ),
            ("\u{1}\u{2}garbage that is not SIP".to_owned(), None),
            ("SIP/2.0 200 OK\r\nVia: broken\r\n\r\n".to_owned(), None),
            (
                req("OPTIONS", "sip:cc@127.0.0.1", "SIP/2.0", "ok2", ""),
                Some(200),
            ),
        ];
        let mut got = Vec::new();
        for (raw, want) in cases {
            let resp = exchange(&sock, raw.as_bytes());
            let status = resp.as_ref().and_then(Message::status);
            if let Some(r) = &resp {
                // The response goes back with received/rport stamped in the Via.
                assert!(r.top_via().unwrap().received().is_some());
                if status != Some(200) {
                    let phrase = r.reason_phrase().unwrap_or("");
                    assert!(!phrase.is_empty(), "reason phrase names the fault");
                }
            }
            got.push((status, want));
        }
        got
    })
    .await
    .unwrap();
    for (got, want) in result {
        assert_eq!(got, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_framing_answers_pipelined_requests_and_faults() {
    let (sip, _events) = driver::start(UaConfig::new("127.0.0.1:0".parse().unwrap()), 12, true)
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(sip.local_addr())
        .await
        .unwrap();
    let mut batch = String::from("\r\n\r\n"); // keep-alive first
    batch += &req("OPTIONS", "sip:cc@127.0.0.1", "SIP/2.0", "t1", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    batch += &req("OPTIONS", "sip:cc@127.0.0.1", "SIP/3.0", "t2", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    s.write_all(batch.as_bytes()).await.unwrap();
    let mut framer = StreamFramer::default();
    let mut codes = Vec::new();
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while codes.len() < 2 && tokio::time::Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early");
        framer.push(&buf[..n]);
        while let Some(f) = framer.next_frame().unwrap() {
            codes.push(Message::parse(f).unwrap().status().unwrap());
        }
    }
    assert_eq!(codes, vec![200, 505]);
}
