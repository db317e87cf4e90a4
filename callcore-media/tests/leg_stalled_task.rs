//! A leg whose task did not run for a while (a loaded machine) still plays out
//! every packet the caller sent in that time: the packets waiting on its socket
//! go into the jitter buffer before the missed 20 ms ticks take frames, so no
//! frame is made up in the middle of the caller's words and nothing is shifted.
//! Real UDP sockets on 127.0.0.1; the phone is an OS thread sending every 20 ms.
#![cfg(feature = "udp")]
#![allow(clippy::unwrap_used)]
// Real sockets and a stalled runtime run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use callcore_media::g711::Law;
use callcore_media::jitter::FrameKind;
use callcore_media::rtp::RtpPacket;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::udp::{PortAllocator, SessionEvent};

/// Packet `seq`: 160 samples of one level, the level saying which packet it is.
fn packet(seq: u16) -> Vec<u8> {
    let level = Law::Ulaw.encode(2000 + 100 * (seq % 100) as i16);
    let mut wire = Vec::new();
    RtpPacket::new(0, seq, u32::from(seq) * 160, 0xCA11, &[level; 160])
        .write_to(&mut wire)
        .unwrap();
    wire
}

// One thread: blocking it stalls the leg's task as a busy machine does.
#[tokio::test(flavor = "current_thread")]
async fn a_stalled_leg_task_conceals_no_frame_of_packets_already_received() {
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 14400..=14499);
    let leg = LegMedia::reserve(&ports, LegMediaConfig::default())
        .await
        .unwrap();
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut session = leg
        .start_session(Negotiated {
            remote: Some(phone.local_addr().unwrap()),
            law: Law::Ulaw,
            telephone_event: Some(101),
            send: true,
            srtp: None,
        })
        .unwrap()
        .expect("first start gives the session");
    let to = leg.local_rtp();
    const PACKETS: u16 = 150;
    let sender = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        for seq in 0..PACKETS {
            let due = start + Duration::from_millis(20 * u64::from(seq));
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
            phone.send_to(&packet(seq), to).unwrap();
        }
    });
    // frames from the first packet to the last; three stalls of 300 ms on the way
    let (mut played, mut concealed, mut frames) = (0, 0, 0u32);
    let mut started = false;
    while played < usize::from(PACKETS) {
        let ev = tokio::time::timeout(Duration::from_secs(5), session.next_event()).await;
        let Ok(Some(SessionEvent::Audio(_, kind))) = ev else {
            assert!(ev.is_ok(), "no frame for 5 s");
            continue;
        };
        match kind {
            FrameKind::Played => {
                started = true;
                played += 1;
            }
            FrameKind::Concealed if started => concealed += 1,
            _ => {}
        }
        frames += 1;
        if started && frames % 40 == 0 && frames <= 120 + 40 {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    sender.join().unwrap();
    assert_eq!(
        concealed, 0,
        "frames made up while the packets were waiting"
    );
    leg.close();
}
