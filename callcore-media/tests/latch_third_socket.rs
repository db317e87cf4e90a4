//! RTP and RTCP BYE from a third socket change nothing in a live leg: the leg keeps
//! sending to the real far end, the stranger receives nothing, its audio is not
//! heard, and its BYE does not end the session, while the real far end's BYE does.
//! Real UDP sockets on 127.0.0.1.
#![cfg(feature = "udp")]
#![allow(clippy::unwrap_used)]
// Real sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Duration;

use callcore_media::endpoint::EndpointEvent;
use callcore_media::g711::Law;
use callcore_media::rtp::RtpPacket;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::udp::{PortAllocator, SessionEvent};
use tokio::net::UdpSocket;

fn rtp(seq: u16, ssrc: u32, loud: bool) -> Vec<u8> {
    let sample = if loud {
        Law::Ulaw.encode(12_000)
    } else {
        Law::Ulaw.silence()
    };
    let mut wire = Vec::new();
    RtpPacket::new(0, seq, u32::from(seq) * 160, ssrc, &[sample; 160])
        .write_to(&mut wire)
        .unwrap();
    wire
}

/// A compound RTCP packet: an empty receiver report, then BYE for `ssrc`
/// (RFC 3550 §6.1, §6.6).
fn bye(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x81, 203, 0, 1]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Datagrams waiting on `sock` within `wait`.
async fn count(sock: &UdpSocket, wait: Duration) -> usize {
    let mut buf = vec![0u8; 2048];
    let mut n = 0;
    let end = tokio::time::Instant::now() + wait;
    while let Ok(Ok(_)) = tokio::time::timeout_at(end, sock.recv_from(&mut buf)).await {
        n += 1;
    }
    n
}

/// Whether a remote BYE arrives within `wait` (audio events are skipped).
async fn remote_bye(session: &mut callcore_media::udp::MediaSession, wait: Duration) -> bool {
    let end = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(end, session.next_event()).await {
            Ok(Some(SessionEvent::Endpoint(EndpointEvent::RemoteBye))) => return true,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_and_rtcp_bye_from_a_third_socket_change_nothing() {
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 36500..=36599);
    let leg = LegMedia::reserve(&ports, LegMediaConfig::default())
        .await
        .unwrap();
    let (phone, phone_rtcp) = ports.bind_pair().await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_addr: SocketAddr = phone.local_addr().unwrap();
    let mut session = leg
        .start_session(Negotiated {
            remote: Some(phone_addr),
            law: Law::Ulaw,
            telephone_event: Some(101),
            send: true,
            srtp: None,
        })
        .unwrap()
        .expect("first start gives the session");
    let to = leg.local_rtp();

    // The phone talks for 200 ms; the leg sends to it.
    for seq in 0..10u16 {
        phone.send_to(&rtp(seq, 0xAAAA, false), to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        count(&phone, Duration::from_millis(200)).await > 0,
        "the leg sends to the phone"
    );

    // A stranger sprays 100 RTP packets (loud, to be heard if accepted) and a BYE at
    // the leg's RTCP port, while the phone goes on talking.
    let rtcp_port = SocketAddr::new(to.ip(), to.port() + 1);
    for seq in 0..100u16 {
        stranger.send_to(&rtp(seq, 0xBBBB, true), to).await.unwrap();
        if seq % 4 == 0 {
            phone
                .send_to(&rtp(10 + seq / 4, 0xAAAA, false), to)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stranger.send_to(&bye(0xBBBB), rtcp_port).await.unwrap();
    stranger.send_to(&bye(0xAAAA), rtcp_port).await.unwrap();
    assert!(
        !remote_bye(&mut session, Duration::from_millis(400)).await,
        "a stranger's BYE ends nothing"
    );
    assert_eq!(
        count(&stranger, Duration::from_millis(300)).await,
        0,
        "the stranger hears nothing"
    );
    assert!(
        count(&phone, Duration::from_millis(300)).await > 5,
        "the phone still gets the media"
    );

    // The phone's own BYE, from its RTCP socket, is heard.
    phone_rtcp.send_to(&bye(0xAAAA), rtcp_port).await.unwrap();
    assert!(
        remote_bye(&mut session, Duration::from_secs(2)).await,
        "the peer's BYE is heard"
    );
    leg.close();
}
