//! Responses are accepted only from the address their request went to: an attacker
//! on another socket who knows (or guessed) the branch of our INVITE cannot fail it
//! with 486, answer it with 200, or fish for credentials with a 401. Real UDP sockets
//! on 127.0.0.1.

#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

use callcore_sip::message::{HeaderName, Message, ResponseSpec};
use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{UaConfig, UaEvent, driver};

async fn recv_msg(sock: &UdpSocket, wait: Duration) -> Option<Message> {
    let mut buf = vec![0u8; 65_536];
    let n = timeout(wait, sock.recv(&mut buf)).await.ok()?.ok()?;
    Some(Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_401_486_and_200_from_another_socket_are_ignored() {
    let (sip, mut events) = driver::start(UaConfig::new("127.0.0.1:0".parse().unwrap()), 41, false)
        .await
        .unwrap();
    let center = sip.local_addr();
    let trunk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let forger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let trunk_addr = trunk.local_addr().unwrap();

    let call = sip
        .place_call(
            &format!("sip:5551234@{trunk_addr}"),
            Peer::udp(trunk_addr),
            &format!("sip:cc@{center}"),
            LocalMedia::g711("127.0.0.1:36500".parse().unwrap(), 1),
        )
        .await
        .unwrap();
    let invite = recv_msg(&trunk, Duration::from_secs(2))
        .await
        .expect("the trunk gets the INVITE");

    // The attacker knows the INVITE's branch, Call-ID and tags (worst case: it saw
    // them), and answers from its own socket.
    let forged = [
        invite.build_response(ResponseSpec::code(401).to_tag("forged").header(
            HeaderName::WwwAuthenticate,
            r#"Digest realm="evil", nonce="n1", algorithm=MD5"#,
        )),
        invite.build_response(ResponseSpec::code(486).to_tag("forged")),
        invite.build_response(ResponseSpec::code(200).to_tag("forged").header(
            HeaderName::Contact,
            &format!("<sip:evil@{}>", forger.local_addr().unwrap()),
        )),
    ];
    for resp in &forged {
        forger.send_to(&resp.to_bytes(), center).await.unwrap();
        let ev = timeout(Duration::from_millis(300), events.recv()).await;
        assert!(
            ev.is_err(),
            "a forged {:?} changed the call: {ev:?}",
            resp.status()
        );
    }
    // No ACK (nor anything else) went to the forger.
    assert!(
        recv_msg(&forger, Duration::from_millis(200))
            .await
            .is_none()
    );
    // The trunk saw no new INVITE (no credentials were offered to the forged 401);
    // retransmissions of the original INVITE (same CSeq, no Authorization) are fine.
    while let Some(m) = recv_msg(&trunk, Duration::from_millis(50)).await {
        assert!(m.header(&HeaderName::Authorization).is_none());
        assert_eq!(m.cseq().unwrap().seq, invite.cseq().unwrap().seq);
    }

    // The real far end's 486 ends the call.
    let busy = invite.build_response(ResponseSpec::code(486).to_tag("real"));
    trunk.send_to(&busy.to_bytes(), center).await.unwrap();
    let ev = timeout(Duration::from_secs(2), events.recv())
        .await
        .expect("the genuine 486 is reported")
        .unwrap();
    assert_eq!(
        ev,
        UaEvent::Failed {
            call,
            status: 486,
            redirect: None
        }
    );
    let ack = recv_msg(&trunk, Duration::from_secs(2)).await.expect("ACK");
    assert_eq!(ack.method().map(|m| m.to_string()).as_deref(), Some("ACK"));
}
