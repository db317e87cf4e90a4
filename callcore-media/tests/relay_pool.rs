//! The relay pool over 127.0.0.1: many calls on two worker threads, passthrough and
//! transcoding side by side, latching, stop and media timeout. Every wait is bounded.
#![cfg(feature = "udp")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use callcore_media::bridge::{Bridge, LegConfig};
use callcore_media::g711::{Law, alaw_decode, ulaw_encode};
use callcore_media::relay_pool::RelayPool;
use callcore_media::rtp::RtpPacket;
use callcore_media::udp::{PortAllocator, RelayLeg, RelayOptions};
use tokio::net::UdpSocket;
use tokio::time::timeout;

fn packet(pt: u8, seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    RtpPacket::new(pt, seq, u32::from(seq) * 160, ssrc, payload)
        .write_to(&mut wire)
        .unwrap();
    wire
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_relays_many_calls_both_ways_on_two_workers() {
    const CALLS: usize = 24;
    const PACKETS: u16 = 5;
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 33000..=33999);
    let pool = RelayPool::start(2, RelayOptions::default()).unwrap();
    assert_eq!(pool.workers(), 2);
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to_caller = ports.bind_one().await.unwrap();
        let to_agent = ports.bind_one().await.unwrap();
        let addrs = (
            to_caller.local_addr().unwrap(),
            to_agent.local_addr().unwrap(),
        );
        // odd calls transcode; the caller's address is learnt by latching
        let agent_law = if i % 2 == 1 { Law::Alaw } else { Law::Ulaw };
        let bridge = Bridge::new(
            LegConfig::new(Law::Ulaw, 0xA00 + i as u32),
            LegConfig::new(agent_law, 0xB00 + i as u32),
        );
        let relay = pool
            .add_call(
                bridge,
                RelayLeg {
                    socket: to_caller,
                    remote: None,
                },
                RelayLeg {
                    socket: to_agent,
                    remote: Some(agent.local_addr().unwrap()),
                },
            )
            .unwrap();
        calls.push((caller, agent, addrs, agent_law, relay));
    }
    let payload: Vec<u8> = (0..160).map(|i| ulaw_encode((i - 80) * 300)).collect();
    let mut buf = vec![0u8; 2048];
    for seq in 0..PACKETS {
        for (i, (caller, agent, (to_caller, to_agent), law, _)) in calls.iter().enumerate() {
            caller
                .send_to(&packet(0, seq, 0x1234, &payload), to_caller)
                .await
                .unwrap();
            let (n, from) = timeout(Duration::from_secs(2), agent.recv_from(&mut buf))
                .await
                .expect("relayed to the agent")
                .unwrap();
            assert_eq!(from, *to_agent);
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            assert_eq!(p.ssrc, 0xB00 + i as u32);
            assert_eq!(p.payload_type, law.payload_type());
            if *law == Law::Alaw {
                assert!((i32::from(alaw_decode(p.payload[10])) - (-70 * 300)).abs() < 1500);
            } else {
                assert_eq!(p.payload, &payload[..]);
            }
            let back = packet(law.payload_type(), seq, 0x5678, p.payload);
            agent.send_to(&back, to_agent).await.unwrap();
            let (n, from) = timeout(Duration::from_secs(2), caller.recv_from(&mut buf))
                .await
                .expect("relayed back to the latched caller")
                .unwrap();
            assert_eq!(from, *to_caller);
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            assert_eq!((p.payload_type, p.ssrc), (0, 0xA00 + i as u32));
        }
    }
    for (_, _, _, _, relay) in calls {
        relay.stop();
        let report = timeout(Duration::from_secs(2), relay.finished())
            .await
            .expect("report after stop");
        assert_eq!(report.forwarded, [u64::from(PACKETS); 2]);
        assert_eq!(report.dropped, 0);
        assert!(!report.timed_out);
    }
}

#[tokio::test]
async fn silent_call_ends_by_media_timeout_and_garbage_is_dropped() {
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 34000..=34999);
    let pool = RelayPool::start(
        1,
        RelayOptions {
            latch: true,
            media_timeout: Duration::from_millis(300),
        },
    )
    .unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = ports.bind_one().await.unwrap();
    let to_a = a.local_addr().unwrap();
    let b = ports.bind_one().await.unwrap();
    let relay = pool
        .add_call(
            Bridge::new(LegConfig::new(Law::Ulaw, 1), LegConfig::new(Law::Ulaw, 2)),
            RelayLeg {
                socket: a,
                remote: None,
            },
            RelayLeg {
                socket: b,
                remote: None,
            },
        )
        .unwrap();
    // not RTP, and RTP with nowhere to go yet: both dropped, nothing forwarded
    phone.send_to(b"hello", to_a).await.unwrap();
    phone
        .send_to(&packet(0, 1, 9, &[0xFF; 160]), to_a)
        .await
        .unwrap();
    let report = timeout(Duration::from_secs(5), relay.finished())
        .await
        .expect("the call times out by itself");
    assert!(report.timed_out);
    assert_eq!(report.forwarded, [0, 0]);
    assert_eq!(report.dropped, 2);
}
