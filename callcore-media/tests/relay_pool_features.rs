//! What a bridged SIP call needs from the relay pool, over 127.0.0.1 with test
//! phones: RFC 4733 telephone-events re-typed between the legs' payload types,
//! µ-law⇄A-law, hold and resume (one continuous stream), a re-INVITE's new address,
//! stereo recording of both sides (tones in A-law and µ-law), RTCP reports both ways,
//! a silent leg reported. Every wait is bounded.
#![cfg(feature = "udp")]
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callcore_media::bridge::{Bridge, LegConfig, Side};
use callcore_media::g711::Law;
use callcore_media::relay_pool::{
    CallHandle, CallSetup, LegCounters, LegUpdate, PoolLeg, RelayPool,
};
use callcore_media::rtcp::{self, RtcpPacket};
use callcore_media::rtp::RtpPacket;
use callcore_media::udp::{PortAllocator, RelayOptions, RelayReport};
use callcore_media::wav::{ChannelLayout, WavRecorder, read_wav};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::timeout;

/// A test phone: RTP on an even port, RTCP on the next.
struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Phone {
    async fn new(ports: &PortAllocator) -> Phone {
        let (rtp, rtcp) = ports.bind_pair().await.unwrap();
        Phone { rtp, rtcp }
    }

    fn addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }

    /// The next RTP packet (seq, ts, pt, marker, payload), or `None` after `ms`.
    async fn recv(&self, ms: u64) -> Option<(u16, u32, u8, bool, Vec<u8>)> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = timeout(Duration::from_millis(ms), self.rtp.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let p = RtpPacket::parse(&buf[..n]).ok()?;
        Some((
            p.sequence,
            p.timestamp,
            p.payload_type,
            p.marker,
            p.payload.to_vec(),
        ))
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = RtpPacket::new(pt, seq, ts, ssrc, payload);
    p.marker = marker;
    let mut wire = Vec::new();
    p.write_to(&mut wire).unwrap();
    wire
}

/// 20 ms of a tone at `hz`, frame `k`, in `law`.
fn tone(law: Law, hz: f64, k: u32) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = f64::from(k * 160 + i) / 8000.0;
            law.encode((8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)
        })
        .collect()
}

/// Goertzel power of `hz` in `x`, relative to the signal's energy.
fn share_at(x: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let p = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let e: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    if e == 0.0 {
        0.0
    } else {
        2.0 * p / (e * x.len() as f64)
    }
}

struct Call {
    handle: CallHandle,
    report: oneshot::Receiver<RelayReport>,
    counters: [Arc<LegCounters>; 2],
    relay: [SocketAddr; 2],
    relay_rtcp: [SocketAddr; 2],
}

impl Call {
    async fn end(self) -> RelayReport {
        self.handle.stop();
        timeout(Duration::from_secs(3), self.report)
            .await
            .expect("report after stop")
            .unwrap()
    }
}

/// A call between `phones` through `pool`: leg A µ-law, leg B `law_b`, telephone-event
/// 101 on A and `te_b` on B.
async fn call(
    pool: &RelayPool,
    ports: &PortAllocator,
    phones: [&Phone; 2],
    law_b: Law,
    te_b: Option<u8>,
    recording: Option<WavRecorder<std::io::BufWriter<std::fs::File>>>,
    media_timeout: Duration,
) -> Call {
    let mut legs = Vec::new();
    let mut relay = Vec::new();
    let mut relay_rtcp = Vec::new();
    let counters = [
        Arc::new(LegCounters::default()),
        Arc::new(LegCounters::default()),
    ];
    for (i, phone) in phones.iter().enumerate() {
        let (rtp, rtcp) = ports.bind_pair().await.unwrap();
        relay.push(rtp.local_addr().unwrap());
        relay_rtcp.push(rtcp.local_addr().unwrap());
        legs.push(PoolLeg {
            rtp: rtp.into_std().unwrap(),
            rtcp: Some(rtcp.into_std().unwrap()),
            remote: Some(phone.addr()),
            send: true,
            latch: true,
            counters: Some(counters[i].clone()),
            srtp: None,
        });
    }
    let b = LegConfig {
        law: law_b,
        ssrc: 0xB0B,
        telephone_event_pt: te_b,
    };
    let setup = CallSetup {
        bridge: Bridge::new(LegConfig::new(Law::Ulaw, 0xA0A), b),
        legs: legs.try_into().unwrap(),
        recording,
        media_timeout,
        end_on_media_timeout: false,
    };
    let (tx, report) = oneshot::channel();
    let handle = pool
        .add(setup, move |end| {
            let _ = tx.send(end.report);
        })
        .unwrap();
    Call {
        handle,
        report,
        counters,
        relay: relay.try_into().unwrap(),
        relay_rtcp: relay_rtcp.try_into().unwrap(),
    }
}

fn pool() -> RelayPool {
    RelayPool::start(2, RelayOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telephone_events_are_retyped_and_audio_transcoded_both_ways() {
    let pool = pool();
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30200..=30299);
    let (a, b) = (Phone::new(&ports).await, Phone::new(&ports).await);
    let c = call(
        &pool,
        &ports,
        [&a, &b],
        Law::Alaw,
        Some(96),
        None,
        Duration::from_secs(30),
    )
    .await;
    // A: µ-law audio then digit 5 (PT 101, three packets, the last an end)
    let ulaw = tone(Law::Ulaw, 1000.0, 0);
    a.rtp
        .send_to(&packet(0, 10, 1600, 0xAAAA, false, &ulaw), c.relay[0])
        .await
        .unwrap();
    let (_, _, pt, _, payload) = b.recv(2000).await.expect("audio to B");
    assert_eq!(pt, 8, "transcoded to A-law");
    for (x, y) in payload.iter().zip(&ulaw) {
        let (x, y) = (
            i32::from(Law::Alaw.decode(*x)),
            i32::from(Law::Ulaw.decode(*y)),
        );
        assert!((x - y).abs() <= y.abs() / 10 + 40, "{x} vs {y}");
    }
    for (k, dur) in [160u16, 320, 480].iter().enumerate() {
        let end = if k == 2 { 0x80 } else { 0 };
        let ev = [5, end | 10, (dur >> 8) as u8, *dur as u8];
        a.rtp
            .send_to(
                &packet(101, 11 + k as u16, 1760, 0xAAAA, k == 0, &ev),
                c.relay[0],
            )
            .await
            .unwrap();
        let (_, ts, pt, marker, payload) = b.recv(2000).await.expect("event to B");
        assert_eq!(
            (pt, payload.as_slice()),
            (96, &ev[..]),
            "re-typed 101 -> 96"
        );
        assert_eq!(marker, k == 0);
        let _ = ts;
    }
    // B answers with A-law audio and its own event type 96; A gets µ-law and 101
    let alaw = tone(Law::Alaw, 700.0, 0);
    b.rtp
        .send_to(&packet(8, 500, 0, 0xBBBB, false, &alaw), c.relay[1])
        .await
        .unwrap();
    let (_, _, pt, _, _) = a.recv(2000).await.expect("audio to A");
    assert_eq!(pt, 0);
    b.rtp
        .send_to(
            &packet(96, 501, 160, 0xBBBB, true, &[11, 10, 0, 160]),
            c.relay[1],
        )
        .await
        .unwrap();
    let (_, _, pt, _, payload) = a.recv(2000).await.expect("event to A");
    assert_eq!((pt, payload.as_slice()), (101, &[11u8, 10, 0, 160][..]));
    // an unknown payload type goes nowhere
    b.rtp
        .send_to(&packet(13, 502, 320, 0xBBBB, false, &[0; 2]), c.relay[1])
        .await
        .unwrap();
    assert!(a.recv(300).await.is_none());
    let r = c.end().await;
    assert_eq!(r.forwarded, [4, 2]);
    assert_eq!(r.events_forwarded, [3, 1]);
    assert_eq!(r.transcoded, [1, 1]);
    assert_eq!(r.dropped, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_sends_nothing_and_resume_continues_the_stream_at_a_new_address() {
    let pool = pool();
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30300..=30399);
    let (a, b) = (Phone::new(&ports).await, Phone::new(&ports).await);
    let b2 = Phone::new(&ports).await;
    let c = call(
        &pool,
        &ports,
        [&a, &b],
        Law::Ulaw,
        Some(101),
        None,
        Duration::from_secs(30),
    )
    .await;
    let mut seq = 100u16;
    let mut send = |n: usize| {
        let pkts: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                seq += 1;
                packet(0, seq, u32::from(seq) * 160, 0xAAAA, false, &[0x55; 160])
            })
            .collect();
        pkts
    };
    let mut got = Vec::new();
    for p in send(5) {
        a.rtp.send_to(&p, c.relay[0]).await.unwrap();
        got.push(b.recv(2000).await.expect("relayed"));
        support::pause(20).await;
    }
    // B's re-INVITE puts the call on hold (recvonly: we must not send to it)
    let update = |send, remote| LegUpdate {
        remote,
        send,
        law: Law::Ulaw,
        telephone_event: Some(101),
        srtp: None,
    };
    c.handle.update(Side::B, update(false, None));
    support::pause(100).await;
    for p in send(10) {
        a.rtp.send_to(&p, c.relay[0]).await.unwrap();
        support::pause(20).await;
    }
    assert!(b.recv(200).await.is_none(), "nothing sent to a held leg");
    // resumed, and moved to another address (latching is off for B's new phone
    // until it sends; the update says where)
    c.handle.update(Side::B, update(true, Some(b2.addr())));
    support::pause(100).await;
    for p in send(3) {
        a.rtp.send_to(&p, c.relay[0]).await.unwrap();
        got.push(b2.recv(2000).await.expect("relayed to the new address"));
        support::pause(20).await;
    }
    assert!(b.recv(100).await.is_none(), "the old address gets nothing");
    // one stream: sequence numbers without a gap, timestamps forward, marker at resume
    for w in got.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "{got:?}");
        assert!(w[1].1.wrapping_sub(w[0].1) >= 160, "{got:?}");
    }
    assert!(got[5].3, "resume is a new talkspurt");
    let paused = got[5].1.wrapping_sub(got[4].1);
    assert!(
        paused >= 8 * 300,
        "the timestamp jumped over the hold: {paused}"
    );
    assert_eq!(c.counters[0].relayed(), 8);
    assert_eq!(c.counters[1].sent(), 8);
    let r = c.end().await;
    assert_eq!(r.held, [0, 10]);
    assert_eq!(r.remotes[1], Some(b2.addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_are_recorded_in_stereo_with_rtcp_both_ways_and_a_silent_leg_reported() {
    let pool = pool();
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30400..=30499);
    let (a, b) = (Phone::new(&ports).await, Phone::new(&ports).await);
    let path = std::env::temp_dir().join(format!("callcore-pool-rec-{}.wav", std::process::id()));
    let wav = WavRecorder::create(&path, ChannelLayout::Stereo).unwrap();
    let c = call(
        &pool,
        &ports,
        [&a, &b],
        Law::Alaw,
        Some(101),
        Some(wav),
        Duration::from_millis(600),
    )
    .await;
    // 1.5 s: the caller (µ-law) says 440 Hz, the agent (A-law) 1000 Hz; then only the
    // caller goes on for a second, the agent silent
    let clock = callcore_media::udp::GlueClock::start();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut agent_stopped = Duration::ZERO;
    for k in 0..125u32 {
        tick.tick().await;
        let pa = packet(
            0,
            k as u16,
            k * 160,
            0xA1,
            false,
            &tone(Law::Ulaw, 440.0, k),
        );
        a.rtp.send_to(&pa, c.relay[0]).await.unwrap();
        if k < 75 {
            let pb = packet(
                8,
                k as u16,
                k * 160,
                0xB1,
                false,
                &tone(Law::Alaw, 1000.0, k),
            );
            b.rtp.send_to(&pb, c.relay[1]).await.unwrap();
            agent_stopped = clock.now();
        }
    }
    // (a loaded machine may have bunched the ticks: make sure the agent's silence
    // lasted longer than the media timeout)
    clock
        .sleep_until(agent_stopped + Duration::from_millis(900))
        .await;
    // the phones' own RTCP: a sender report from A and a BYE from B
    let sr = RtcpPacket::SenderReport(rtcp::SenderReport {
        ssrc: 0xA1,
        ntp_time: 5 << 32,
        rtp_time: 0,
        packet_count: 125,
        octet_count: 20000,
        reports: Vec::new(),
    });
    let mut wire = Vec::new();
    rtcp::write_compound(&[sr], &mut wire).unwrap();
    a.rtcp.send_to(&wire, c.relay_rtcp[0]).await.unwrap();
    let rr = RtcpPacket::ReceiverReport(rtcp::ReceiverReport {
        ssrc: 0xB1,
        reports: Vec::new(),
    });
    let bye = RtcpPacket::Goodbye {
        ssrcs: vec![0xB1],
        reason: None,
    };
    wire.clear();
    rtcp::write_compound(&[rr, bye], &mut wire).unwrap();
    b.rtcp.send_to(&wire, c.relay_rtcp[1]).await.unwrap();
    // our reports reached both phones' RTCP ports, as sender reports with our SSRCs
    for (phone, ssrc) in [(&a, 0xA0A), (&b, 0xB0B)] {
        let mut buf = vec![0u8; 1500];
        let mut found = false;
        for _ in 0..10 {
            let Ok(Ok((n, _))) =
                timeout(Duration::from_secs(6), phone.rtcp.recv_from(&mut buf)).await
            else {
                break;
            };
            let pkts = rtcp::parse_compound(&buf[..n]).unwrap();
            if let Some(RtcpPacket::SenderReport(sr)) = pkts.first() {
                assert_eq!(sr.ssrc, ssrc);
                assert!(sr.packet_count > 0);
                found = true;
                break;
            }
        }
        assert!(found, "a sender report to the phone with SSRC {ssrc:#x}");
    }
    support::pause(200).await;
    let r = c.end().await;
    assert_eq!(r.media_timeout, [false, true], "{r:?}");
    assert_eq!(r.remote_bye, [false, true]);
    assert_eq!(r.rtcp_received, [1, 1]);
    assert!(r.rtcp_sent[0] >= 1 && r.rtcp_sent[1] >= 1, "{r:?}");
    let info = r.recording.expect("the recording");
    assert_eq!(info.path.as_deref(), Some(path.as_path()));
    assert!(info.duration_ms >= 2400, "{info:?}");
    let wav = read_wav(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!((wav.channels, wav.sample_rate), (2, 8000));
    assert_eq!(
        wav.samples.len() as u64 / 2,
        info.frames,
        "header matches the data"
    );
    let left: Vec<i16> = wav.samples.chunks(2).map(|s| s[0]).collect();
    let right: Vec<i16> = wav.samples.chunks(2).map(|s| s[1]).collect();
    // both channels hold their own side's tone, each about where it was said
    let first = &left[800..8800];
    assert!(share_at(first, 440.0) > 0.8, "{}", share_at(first, 440.0));
    let agent = &right[800..8800];
    assert!(share_at(agent, 1000.0) > 0.8, "{}", share_at(agent, 1000.0));
    assert!(
        share_at(agent, 440.0) < 0.05,
        "no caller audio on the agent's channel"
    );
    assert!(
        right[16000..].iter().all(|&s| s == 0),
        "the agent fell silent"
    );
    assert!(
        share_at(&left[14000..19000], 440.0) > 0.8,
        "the caller went on"
    );
    let _ = std::fs::remove_file(&path);
}
