//! `LegMedia` legs bridged through the relay pool and back, with test phones over
//! 127.0.0.1: a caller in the IVR is bridged to agent 1, transferred to agent 2
//! (agent 1 back in its own session), put on hold and resumed by agent 2, and sent
//! back to the IVR. Each phone must see one continuous RTP stream throughout (one
//! SSRC, sequence numbers one apart, timestamps never going back, a marker at each
//! hand-over), hear who it should when, and each bridge's recording must hold both
//! sides. Every wait is bounded.
#![cfg(feature = "callcore-control")]
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callcore_media::g711::Law;
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::rtp::RtpPacket;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::udp::{GlueClock, PortAllocator};
use callcore_media::wav::read_wav;
use tokio::task::JoinHandle;

/// A packet a phone received: when (ms), sequence, timestamp, SSRC, marker, and
/// whether it carried sound (not G.711 silence).
#[derive(Debug, Clone, Copy)]
struct Heard {
    at: u64,
    seq: u16,
    ts: u32,
    ssrc: u32,
    marker: bool,
    sound: bool,
}

/// A phone: sends a tone every 20 ms to its leg and records what comes back.
struct Phone {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Heard>>,
}

impl Phone {
    async fn start(ports: &PortAllocator, law: Law, hz: f64, clock: GlueClock) -> Phone {
        // an RTP/RTCP pair, so the legs' RTCP goes to a socket of this phone
        let (rtp, _rtcp) = ports.bind_pair().await.unwrap();
        let addr = rtp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let _rtcp = _rtcp;
            let mut heard = Vec::new();
            let mut buf = vec![0u8; 2048];
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut leg: Option<SocketAddr> = None;
            let silence = law.silence();
            // bounded: at most 20 s of 20 ms ticks
            for k in 0..1000u32 {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                tick.tick().await;
                while let Ok((n, from)) = rtp.try_recv_from(&mut buf) {
                    leg = Some(from);
                    if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                        heard.push(Heard {
                            at: clock.now().as_millis() as u64,
                            seq: p.sequence,
                            ts: p.timestamp,
                            ssrc: p.ssrc,
                            marker: p.marker,
                            sound: p.payload.iter().any(|&c| c != silence),
                        });
                    }
                }
                if let Some(to) = leg {
                    let payload: Vec<u8> = (0..160)
                        .map(|i| {
                            let t = f64::from(k * 160 + i) / 8000.0;
                            law.encode(
                                (6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16,
                            )
                        })
                        .collect();
                    let mut wire = Vec::new();
                    RtpPacket::new(
                        law.payload_type(),
                        k as u16,
                        k * 160,
                        0x900 + hz as u32,
                        &payload,
                    )
                    .write_to(&mut wire)
                    .unwrap();
                    let _ = rtp.send_to(&wire, to).await;
                }
            }
            heard
        });
        Phone { addr, stop, task }
    }

    async fn finish(self) -> Vec<Heard> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

fn far(phone: &Phone, law: Law, send: bool) -> Negotiated {
    Negotiated {
        remote: Some(phone.addr),
        law,
        telephone_event: Some(101),
        send,
        srtp: None,
    }
}

/// One SSRC, sequence numbers one apart, timestamps only forward (at least one
/// packet's worth); returns the number of markers (talkspurts begun).
fn assert_one_stream(name: &str, heard: &[Heard]) -> usize {
    assert!(heard.len() > 50, "{name} heard {} packets", heard.len());
    for w in heard.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert_eq!(b.ssrc, a.ssrc, "{name}: one SSRC");
        assert_eq!(
            b.seq,
            a.seq.wrapping_add(1),
            "{name}: seq after {a:?}: {b:?}"
        );
        let step = b.ts.wrapping_sub(a.ts);
        assert!(
            (160..80_000).contains(&step),
            "{name}: ts after {a:?}: {b:?}"
        );
    }
    heard.iter().filter(|h| h.marker).count()
}

/// Whether the phone heard sound during (from, to) ms, checked on the packets
/// received in that window (with 60 ms of margin on each side).
fn sound_between(heard: &[Heard], from: u64, to: u64) -> (usize, usize) {
    let window: Vec<_> = heard
        .iter()
        .filter(|h| h.at > from + 60 && h.at + 60 < to)
        .collect();
    (window.iter().filter(|h| h.sound).count(), window.len())
}

fn channel_levels(path: &std::path::Path) -> (f64, f64) {
    let wav = read_wav(&std::fs::read(path).unwrap()).unwrap();
    let left: Vec<i16> = wav.samples.chunks(2).map(|s| s[0]).collect();
    let right: Vec<i16> = wav.samples.chunks(2).map(|s| s[1]).collect();
    (
        power_to_dbm0(mean_power(&left)),
        power_to_dbm0(mean_power(&right)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_moves_between_ivr_agents_and_hold_on_one_continuous_stream() {
    let clock = GlueClock::start();
    let ms = |m: u64| Duration::from_millis(m);
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30500..=30699);
    let phone_ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30700..=30799);
    let dir = support::scratch("leg-bridge");
    let leg = |ssrc| {
        LegMedia::reserve(
            &ports,
            LegMediaConfig {
                ssrc,
                ..LegMediaConfig::default()
            },
        )
    };
    let (caller, agent1, agent2) = (
        leg(0xCA11).await.unwrap(),
        leg(0xA601).await.unwrap(),
        leg(0xA602).await.unwrap(),
    );
    let phone_c = Phone::start(&phone_ports, Law::Ulaw, 440.0, clock).await;
    let phone_1 = Phone::start(&phone_ports, Law::Alaw, 1000.0, clock).await;
    let phone_2 = Phone::start(&phone_ports, Law::Ulaw, 700.0, clock).await;
    let _ivr_c = caller
        .start_session(far(&phone_c, Law::Ulaw, true))
        .unwrap();
    let _ivr_1 = agent1
        .start_session(far(&phone_1, Law::Alaw, true))
        .unwrap();
    let _ivr_2 = agent2
        .start_session(far(&phone_2, Law::Ulaw, true))
        .unwrap();

    // 0-400 ms: everyone in their own session (the sessions send silence)
    clock.sleep_until(ms(400)).await;
    let t_bridge1 = clock.now().as_millis() as u64;
    let rec1 = dir.join("agent1.wav");
    caller.bridge(&agent1, Some(&rec1)).unwrap();
    clock.sleep_until(ms(1000)).await;
    // transfer: the caller to agent 2; agent 1 back to its session
    let t_bridge2 = clock.now().as_millis() as u64;
    let rec2 = dir.join("agent2.wav");
    caller.bridge(&agent2, Some(&rec2)).unwrap();
    clock.sleep_until(ms(1600)).await;
    // agent 2 holds the caller (its re-INVITE says recvonly: nothing to send it)
    let t_hold = clock.now().as_millis() as u64;
    agent2
        .start_session(far(&phone_2, Law::Ulaw, false))
        .unwrap();
    clock.sleep_until(ms(2000)).await;
    let t_resume = clock.now().as_millis() as u64;
    agent2
        .start_session(far(&phone_2, Law::Ulaw, true))
        .unwrap();
    clock.sleep_until(ms(2500)).await;
    // back to the IVR
    let t_unbridge = clock.now().as_millis() as u64;
    caller.unbridge();
    let report2 = tokio::time::timeout(ms(3000), caller.bridge_ended())
        .await
        .expect("the second bridge ends")
        .expect("its report");
    clock.sleep_until(ms(3000)).await;
    let t_end = clock.now().as_millis() as u64;

    let heard_c = phone_c.finish().await;
    let heard_1 = phone_1.finish().await;
    let heard_2 = phone_2.finish().await;
    // one continuous stream for each phone, a new talkspurt at each hand-over
    let markers = assert_one_stream("caller", &heard_c);
    assert!(markers >= 3, "caller: {markers} hand-overs marked");
    assert!(assert_one_stream("agent 1", &heard_1) >= 2);
    assert!(assert_one_stream("agent 2", &heard_2) >= 2);
    // who hears what, when
    let (s, n) = sound_between(&heard_c, 0, t_bridge1);
    assert_eq!(
        s, 0,
        "the caller hears the IVR's silence first ({n} packets)"
    );
    let (s, n) = sound_between(&heard_c, t_bridge1, t_bridge2);
    assert!(s == n && n > 15, "the caller hears agent 1: {s}/{n}");
    let (s, n) = sound_between(&heard_c, t_bridge2, t_unbridge);
    assert!(s == n && n > 30, "then agent 2: {s}/{n}");
    let (s, n) = sound_between(&heard_c, t_unbridge, t_end);
    assert!(s == 0 && n > 10, "then the IVR again: {s}/{n}");
    let (s, n) = sound_between(&heard_1, t_bridge2, t_end);
    assert!(
        s == 0 && n > 50,
        "agent 1 is back in its session after the transfer: {s}/{n}"
    );
    let (_, n) = sound_between(&heard_2, t_hold, t_resume);
    assert_eq!(n, 0, "nothing is sent to agent 2 while it holds");
    let (s, n) = sound_between(&heard_2, t_resume, t_unbridge);
    assert!(
        s == n && n > 15,
        "agent 2 hears the caller after resuming: {s}/{n}"
    );
    let resumed = heard_2
        .iter()
        .find(|h| h.at > t_resume)
        .expect("packets after the resume");
    assert!(resumed.marker, "resume is a new talkspurt");

    // each bridge's recording: both sides, finished when the bridge ended
    let report1 = agent1.bridge_report().expect("the first bridge ended");
    for (report, path, lasted) in [
        (&report1, &rec1, t_bridge2 - t_bridge1),
        (&report2, &rec2, t_unbridge - t_bridge2),
    ] {
        let info = report.recording.as_ref().expect("recording figures");
        assert_eq!(info.path.as_deref(), Some(path.as_path()));
        let d = info.duration_ms;
        assert!(
            d + 100 > lasted && d < lasted + 300,
            "{info:?} for {lasted} ms"
        );
        let (l, r) = channel_levels(path);
        assert!(
            l > -30.0 && r > -30.0,
            "{path:?}: caller {l:.1}, agent {r:.1} dBm0"
        );
    }
    assert!(report2.held[1] > 10, "{report2:?}");
    assert!(caller.stats().relayed > 40 && agent2.stats().sent > 30);
    for leg in [&caller, &agent1, &agent2] {
        leg.close();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
