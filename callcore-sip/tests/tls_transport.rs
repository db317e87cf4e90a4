//! SIP over TLS (sips:, transport=tls) between our own UAC and UAS through the tokio
//! driver, with a self-signed certificate made at test time (rcgen); and a raw rustls
//! client that checks Content-Length framing over TLS (shared with TCP).

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use callcore_sip::message::{Message, StreamFramer};
use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::ua::tls::TlsOptions;
use callcore_sip::ua::{UaConfig, UaEvent, driver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

/// A self-signed certificate for 127.0.0.1: (certificate PEM, private key PEM).
fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}

async fn next_event(rx: &mut UnboundedReceiver<UaEvent>, what: &str) -> UaEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("endpoint stopped")
}

async fn tls_uas(cert: &str, key: &str) -> (driver::SipHandle, UnboundedReceiver<UaEvent>) {
    let tls = TlsOptions::new(
        Some("127.0.0.1:0".parse().unwrap()),
        Some((cert, key)),
        cert,
    )
    .unwrap();
    driver::start_with(
        UaConfig::new("127.0.0.1:0".parse().unwrap()),
        41,
        driver::DriverOptions {
            tcp: false,
            tls: Some(tls),
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_uac_calls_our_uas_over_tls() {
    let (cert, key) = self_signed();
    let (uas, mut uas_events) = tls_uas(&cert, &key).await;
    let tls_addr = uas.tls_addr().expect("TLS listener bound");

    // The caller trusts the callee's self-signed certificate and speaks TLS.
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.transport = callcore_sip::transaction::TransportKind::Tls;
    let client_tls = TlsOptions::new(None, None, &cert).unwrap();
    let (uac, mut uac_events) = driver::start_with(
        cfg,
        42,
        driver::DriverOptions {
            tcp: false,
            tls: Some(client_tls),
        },
    )
    .await
    .unwrap();

    let target = format!("sips:queue@{tls_addr}");
    let call = uac
        .place_call(
            &target,
            Peer::tls(tls_addr),
            "sips:caller@127.0.0.1",
            LocalMedia::g711("127.0.0.1:41000".parse().unwrap(), 1),
        )
        .await
        .unwrap();

    let incoming = loop {
        if let UaEvent::IncomingCall {
            call,
            request_uri,
            from,
            offer,
            ..
        } = next_event(&mut uas_events, "INVITE over TLS").await
        {
            assert_eq!(request_uri, target);
            assert_eq!(from, "sips:caller@127.0.0.1");
            assert!(offer.is_some(), "the INVITE carried our SDP offer");
            break call;
        }
    };
    uas.ring(incoming);
    let audio = uas
        .answer(
            incoming,
            LocalMedia::g711("127.0.0.1:42000".parse().unwrap(), 2),
        )
        .await
        .unwrap();
    assert_eq!(audio.unwrap().codec.name(), "PCMU");

    let mut rang = false;
    loop {
        match next_event(&mut uac_events, "answer over TLS").await {
            UaEvent::Ringing { call: c, status } => {
                assert_eq!((c, status), (call, 180));
                rang = true;
            }
            UaEvent::Answered { call: c, audio } => {
                assert_eq!(c, call);
                assert_eq!(audio.unwrap().remote_rtp.unwrap().port(), 42000);
                break;
            }
            UaEvent::Failed { status, .. } => panic!("call failed with {status}"),
            _ => {}
        }
    }
    assert!(rang, "180 Ringing arrived before the 200 OK");

    // Our ACK confirms the call at the callee; our BYE ends it there.
    loop {
        if let UaEvent::Confirmed { call: c } = next_event(&mut uas_events, "ACK over TLS").await {
            assert_eq!(c, incoming);
            break;
        }
    }
    uac.hangup(call);
    loop {
        if let UaEvent::Ended { call: c, by_remote } =
            next_event(&mut uas_events, "BYE over TLS").await
        {
            assert_eq!((c, by_remote), (incoming, true));
            break;
        }
    }
    loop {
        if let UaEvent::Ended { call: c, by_remote } =
            next_event(&mut uac_events, "200 to BYE over TLS").await
        {
            assert_eq!((c, by_remote), (call, false));
            break;
        }
    }
}

fn options(n: u32, tls_port: u16) -> String {
    format!(
        "OPTIONS sips:queue@127.0.0.1:{tls_port} SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bKtls{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sips:probe@127.0.0.1>;tag=p{n}\r\n\
         To: <sips:queue@127.0.0.1>\r\nCall-ID: tls-options-{n}\r\nCSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_stream_is_framed_by_content_length() {
    let (cert, key) = self_signed();
    let (uas, _events) = tls_uas(&cert, &key).await;
    let tls_addr = uas.tls_addr().unwrap();

    let client = TlsOptions::new(None, None, &cert).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&client.client));
    let tcp = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(tls_addr.ip().into());
    let mut stream = connector.connect(name, tcp).await.unwrap();

    // Two requests in one write, then one split across two writes with a CRLF
    // keep-alive in front: three responses must come back, in order.
    let two = format!(
        "{}{}",
        options(1, tls_addr.port()),
        options(2, tls_addr.port())
    );
    stream.write_all(two.as_bytes()).await.unwrap();
    let third = format!("\r\n\r\n{}", options(3, tls_addr.port()));
    let (a, b) = third.split_at(third.len() / 2);
    stream.write_all(a.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();

    let mut framer = StreamFramer::default();
    let mut answers: Vec<Message> = Vec::new();
    let mut buf = vec![0u8; 8192];
    while answers.len() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("responses over TLS")
            .unwrap();
        assert!(n > 0, "connection closed early");
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame().unwrap() {
            answers.push(
                Message::parse_with(
                    Bytes::clone(&frame),
                    callcore_sip::message::ParseOptions {
                        datagram: false,
                        ..Default::default()
                    },
                )
                .unwrap(),
            );
        }
    }
    for (i, resp) in answers.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(resp.status(), Some(200));
        assert_eq!(resp.cseq().unwrap().seq, n);
        let via = resp.top_via().unwrap();
        assert_eq!(via.transport(), "TLS");
        assert_eq!(via.branch(), Some(format!("z9hG4bKtls{n}").as_str()));
    }
}
