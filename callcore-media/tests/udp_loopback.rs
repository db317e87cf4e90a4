//! The tokio glue over 127.0.0.1: a relay between two phones, and two media
//! sessions exchanging audio and RFC 4733 digits. Every loop is bounded.
#![cfg(feature = "udp")]

use std::time::Duration;

use callcore_media::bridge::{Bridge, LegConfig};
use callcore_media::dtmf::rfc4733::DigitEvent;
use callcore_media::endpoint::{EndpointConfig, EndpointEvent};
use callcore_media::g711::{Law, alaw_decode, ulaw_encode};
use callcore_media::jitter::FrameKind;
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::rtp::RtpPacket;
use callcore_media::tones::{ToneGenerator, TonePlan, ToneSegment};
use callcore_media::udp::{
    MediaSession, MediaSessionConfig, PortAllocator, RelayLeg, RelayOptions, SessionCommand,
    SessionEvent, run_relay,
};
use tokio::net::UdpSocket;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_transcodes_and_latches_over_loopback() {
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 31000..=31999);
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to_caller = ports.bind_one().await.unwrap();
    let to_agent = ports.bind_one().await.unwrap();
    let (bridge_a, bridge_b) = (
        to_caller.local_addr().unwrap(),
        to_agent.local_addr().unwrap(),
    );
    let bridge = Bridge::new(
        LegConfig::new(Law::Ulaw, 0xA),
        LegConfig::new(Law::Alaw, 0xB),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // the agent's address is known from signalling; the caller's is learnt by latching
    let relay = tokio::spawn(run_relay(
        bridge,
        RelayLeg {
            socket: to_caller,
            remote: None,
        },
        RelayLeg {
            socket: to_agent,
            remote: Some(agent.local_addr().unwrap()),
        },
        RelayOptions::default(),
        stop_rx,
    ));
    let payload: Vec<u8> = (0..160).map(|i| ulaw_encode((i - 80) * 300)).collect();
    let mut buf = vec![0u8; 2048];
    let mut got = 0;
    for seq in 0..50u16 {
        let mut wire = Vec::new();
        RtpPacket::new(0, seq, u32::from(seq) * 160, 0x1234, &payload)
            .write_to(&mut wire)
            .unwrap();
        caller.send_to(&wire, bridge_a).await.unwrap();
        let (n, from) = timeout(Duration::from_secs(2), agent.recv_from(&mut buf))
            .await
            .expect("relayed")
            .unwrap();
        assert_eq!(from, bridge_b);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!((p.payload_type, p.ssrc), (8, 0xB));
        assert!((i32::from(alaw_decode(p.payload[10])) - (-70 * 300)).abs() < 1500);
        got += 1;
        // the agent answers; the relay sends it to where the caller's packets came from
        let mut back = Vec::new();
        RtpPacket::new(8, seq, u32::from(seq) * 160, 0x5678, p.payload)
            .write_to(&mut back)
            .unwrap();
        agent.send_to(&back, bridge_b).await.unwrap();
        let (n, _) = timeout(Duration::from_secs(2), caller.recv_from(&mut buf))
            .await
            .expect("relayed back")
            .unwrap();
        assert_eq!(RtpPacket::parse(&buf[..n]).unwrap().payload_type, 0);
    }
    stop_tx.send(true).unwrap();
    let report = timeout(Duration::from_secs(2), relay)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, 50);
    assert_eq!(report.forwarded, [50, 50]);
    assert!(!report.timed_out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_ends_on_dead_media() {
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 32000..=32999);
    let a = ports.bind_one().await.unwrap();
    let b = ports.bind_one().await.unwrap();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opts = RelayOptions {
        latch: true,
        media_timeout: Duration::from_millis(200),
    };
    let bridge = Bridge::new(LegConfig::new(Law::Ulaw, 1), LegConfig::new(Law::Ulaw, 2));
    let report = timeout(
        Duration::from_secs(3),
        run_relay(
            bridge,
            RelayLeg {
                socket: a,
                remote: None,
            },
            RelayLeg {
                socket: b,
                remote: None,
            },
            opts,
            stop_rx,
        ),
    )
    .await
    .expect("relay must end by itself");
    assert!(report.timed_out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_exchange_audio_and_digits() {
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 33000..=33999);
    let mut ivr = MediaSession::start(
        &ports,
        MediaSessionConfig {
            endpoint: EndpointConfig {
                ssrc: 1,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let phone_cfg = MediaSessionConfig {
        endpoint: EndpointConfig {
            law: Law::Alaw,
            ssrc: 2,
            ..Default::default()
        },
        remote: Some(ivr.local_rtp()),
        ..Default::default()
    };
    let phone = MediaSession::start(&ports, phone_cfg).await.unwrap();
    // the phone plays a 1 s tone, then sends 4 digits
    let plan = TonePlan {
        segments: vec![ToneSegment::tone(&[440.0], -12.0, 1000)],
        repeat: false,
    };
    phone.command(SessionCommand::Play(
        ToneGenerator::new(plan, 8000).take_ms(1000),
    ));
    let mut loud_frames = 0;
    let mut digits_sent = false;
    let mut digits = String::new();
    // bounded: at most 5 s worth of 20 ms events
    for _ in 0..250 {
        if digits.len() == 4 {
            break;
        }
        let Ok(Some(ev)) = timeout(Duration::from_secs(2), ivr.next_event()).await else {
            break;
        };
        match ev {
            SessionEvent::Audio(frame, FrameKind::Played)
                if power_to_dbm0(mean_power(&frame)) > -20.0 =>
            {
                loud_frames += 1;
                if loud_frames == 40 && !digits_sent {
                    // digits replace audio while they play, so send them after most of the tone
                    phone.command(SessionCommand::Digits("42#9".into()));
                    digits_sent = true;
                }
            }
            SessionEvent::Endpoint(EndpointEvent::Digit(DigitEvent::Ended {
                digit,
                duration_ms,
                ..
            })) => {
                assert_eq!(duration_ms, 100);
                digits.push(digit.to_char());
            }
            _ => {}
        }
    }
    assert_eq!(digits, "42#9");
    assert!(
        loud_frames >= 40,
        "heard {loud_frames} loud frames of the 50 played"
    );
    ivr.command(SessionCommand::Hangup);
    let mut ended = false;
    while let Ok(Some(ev)) = timeout(Duration::from_secs(2), ivr.next_event()).await {
        if let SessionEvent::Ended(stats) = ev {
            assert!(stats.rtp_received >= 50);
            ended = true;
            break;
        }
    }
    assert!(ended);
}
