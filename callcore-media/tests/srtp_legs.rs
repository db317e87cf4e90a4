//! SRTP on `LegMedia` legs, at home (the leg's own session) and bridged through the
//! relay pool: two phones over 127.0.0.1 speak SRTP with their legs' keys; one of
//! them also sends tampered packets from its own (latched) address. Every packet a
//! phone receives must authenticate under its key, each hears the other's tone
//! while bridged, and the tampered packets are refused and counted, never relayed.
//! Every wait is bounded.
#![cfg(feature = "callcore-control")]
#![allow(clippy::unwrap_used)]
// Real sockets in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callcore_media::g711::Law;
use callcore_media::rtp::RtpPacket;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::srtp::{SrtpParams, SrtpProfile, SrtpSession};
use callcore_media::udp::PortAllocator;
use tokio::task::JoinHandle;

/// What a phone received: packets that authenticated (with sound), and failures.
#[derive(Debug, Default)]
struct Heard {
    authentic: u32,
    sound: u32,
    failed: u32,
}

struct Phone {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Heard>,
}

impl Phone {
    /// Sends a tone protected with `keys` every 20 ms (and, with `tamper`, every
    /// 5th packet a second time with a flipped payload bit).
    async fn start(ports: &PortAllocator, keys: SrtpParams, hz: f64, tamper: bool) -> Phone {
        let (rtp, rtcp) = ports.bind_pair().await.unwrap();
        let addr = rtp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let _rtcp = rtcp;
            let mut srtp = SrtpSession::new(&keys).unwrap();
            let mut heard = Heard::default();
            let (mut buf, mut plain, mut wire, mut sealed) =
                (vec![0u8; 2048], Vec::new(), Vec::new(), Vec::new());
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut leg: Option<SocketAddr> = None;
            for k in 0..500u32 {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                tick.tick().await;
                while let Ok((n, from)) = rtp.try_recv_from(&mut buf) {
                    leg = Some(from);
                    match srtp.unprotect_rtp(&buf[..n], &mut plain) {
                        Ok(()) => {
                            heard.authentic += 1;
                            let p = RtpPacket::parse(&plain).unwrap();
                            if p.payload.iter().any(|&c| c != Law::Ulaw.silence()) {
                                heard.sound += 1;
                            }
                        }
                        Err(_) => heard.failed += 1,
                    }
                }
                let Some(to) = leg else { continue };
                let payload: Vec<u8> = (0..160)
                    .map(|i| {
                        let t = f64::from(k * 160 + i) / 8000.0;
                        Law::Ulaw
                            .encode((6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)
                    })
                    .collect();
                wire.clear();
                RtpPacket::new(0, k as u16, k * 160, 0x5000 + hz as u32, &payload)
                    .write_to(&mut wire)
                    .unwrap();
                srtp.protect_rtp(&wire, &mut sealed).unwrap();
                let _ = rtp.send_to(&sealed, to).await;
                if tamper && k % 5 == 0 {
                    // a forged copy from the same address: new sequence, broken tag
                    let mut forged = sealed.clone();
                    forged[3] ^= 0x40;
                    forged[20] ^= 1;
                    let _ = rtp.send_to(&forged, to).await;
                }
            }
            heard
        });
        Phone { addr, stop, task }
    }

    async fn finish(self) -> Heard {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

fn keys(send: u8, receive: u8) -> SrtpParams {
    SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, [send; 30], [receive; 30])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_legs_at_home_and_bridged_refuse_forgeries_and_carry_audio() {
    let ports = PortAllocator::new([127, 0, 0, 1].into(), 22040..=22079);
    let config = |ssrc| LegMediaConfig {
        ssrc,
        ..LegMediaConfig::default()
    };
    let caller_leg = LegMedia::reserve(&ports, config(0xA)).await.unwrap();
    let agent_leg = LegMedia::reserve(&ports, config(0xB)).await.unwrap();
    // the caller's phone also forges packets from its own address
    let caller = Phone::start(&ports, keys(1, 2), 440.0, true).await;
    let agent = Phone::start(&ports, keys(3, 4), 1000.0, false).await;
    let far = |phone: &Phone, srtp| Negotiated {
        remote: Some(phone.addr),
        law: Law::Ulaw,
        telephone_event: Some(101),
        send: true,
        srtp: Some(srtp),
    };
    let _caller_media = caller_leg.start_session(far(&caller, keys(2, 1))).unwrap();
    let _agent_media = agent_leg.start_session(far(&agent, keys(4, 3))).unwrap();
    // at home: the legs' sessions send (silence) and receive SRTP
    tokio::time::sleep(Duration::from_millis(500)).await;
    caller_leg.bridge(&agent_leg, None).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    caller_leg.unbridge();
    let report = tokio::time::timeout(Duration::from_secs(5), caller_leg.bridge_ended())
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (c, a) = (caller.finish().await, agent.finish().await);
    let stats = caller_leg.stats();
    assert_eq!(
        (c.failed, a.failed),
        (0, 0),
        "every packet the phones got authenticated: {c:?} {a:?}"
    );
    assert!(c.authentic > 60 && a.authentic > 60, "{c:?} {a:?}");
    assert!(
        c.sound > 30 && a.sound > 30,
        "each heard the other's tone: {c:?} {a:?}"
    );
    assert!(
        report.srtp_rejected[0] >= 10,
        "the bridge refused the forgeries: {report:?}"
    );
    assert_eq!(report.srtp_rejected[1], 0, "{report:?}");
    assert!(
        stats.srtp_rejected >= report.srtp_rejected[0] + 3,
        "and so did the leg's own session: {stats:?}"
    );
    assert_eq!(agent_leg.stats().srtp_rejected, 0);
    // forgeries are not relayed: the agent got only the caller's real packets
    assert!(
        report.forwarded[0] <= u64::from(a.authentic),
        "{report:?} {a:?}"
    );
    caller_leg.close();
    agent_leg.close();
}
