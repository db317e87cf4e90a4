//! callcore-media benches (group `media`), each beside a baseline measured in the
//! same run:
//! - G.711 encode/decode per sample: table coder vs the ITU reference formula;
//! - Goertzel DTMF detection per 20 ms frame vs direct correlation (sin/cos per
//!   sample) at the same eight frequencies;
//! - jitter-buffer push+pop per packet vs a plain FIFO (no reordering, no figures);
//! - a 3-party conference frame: mix-minus mixer vs a naive per-listener sum;
//! - the relay's user-space work on one bridged packet (parse, statistics, header
//!   rewrite, µ↔A transcoding or not) vs copying the datagram: what the bridge adds
//!   to the kernel's send and receive;
//! - one packet through a bridged call the way the center bridges SIP legs
//!   (`LegMedia::bridge`: two legs' sockets in the relay pool; phone → leg A → pool
//!   worker → leg B → phone, over 127.0.0.1), without and with the call being
//!   recorded, vs a bare relay thread (blocking `recv_from` then `send_to`, no
//!   parsing: the same two loopback hops and thread wake-ups, nothing else) and vs the
//!   phone sending straight to the other phone (one hop, no wake-up).
//!
//! `cargo bench --bench media`

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use callcore_media::bridge::{Bridge, LegConfig, Side};
use callcore_media::dtmf::inband::{DetectorConfig, DtmfDetector};
use callcore_media::dtmf::{COL_FREQS, DtmfGenerator, ROW_FREQS};
use callcore_media::g711::{self, Law, reference};
use callcore_media::jitter::{JitterBuffer, JitterConfig};
use callcore_media::level::Noise;
use callcore_media::mixer::{Conference, Role};
use callcore_media::rtp::RtpPacket;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::udp::PortAllocator;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn speechish(n: usize) -> Vec<i16> {
    let mut noise = Noise::new(42);
    (0..n)
        .map(|i| ((i as f64 * 0.07).sin() * 8000.0 + noise.next_f64() * 3000.0) as i16)
        .collect()
}

fn g711_benches(c: &mut Criterion) {
    let pcm = speechish(160);
    let codes: Vec<u8> = pcm.iter().map(|&s| g711::ulaw_encode(s)).collect();
    let mut g = c.benchmark_group("media");
    g.throughput(Throughput::Elements(160));
    g.bench_function("g711_ulaw_encode/table", |b| {
        b.iter(|| {
            black_box(&pcm)
                .iter()
                .map(|&s| g711::ulaw_encode(s))
                .fold(0u32, |a, c| a + u32::from(c))
        })
    });
    g.bench_function("g711_ulaw_encode/formula_baseline", |b| {
        b.iter(|| {
            black_box(&pcm)
                .iter()
                .map(|&s| reference::ulaw_encode(s))
                .fold(0u32, |a, c| a + u32::from(c))
        })
    });
    g.bench_function("g711_ulaw_decode/table", |b| {
        b.iter(|| {
            black_box(&codes)
                .iter()
                .map(|&c| i32::from(g711::ulaw_decode(c)))
                .sum::<i32>()
        })
    });
    g.bench_function("g711_ulaw_decode/formula_baseline", |b| {
        b.iter(|| {
            black_box(&codes)
                .iter()
                .map(|&c| i32::from(reference::ulaw_decode(c)))
                .sum::<i32>()
        })
    });
    g.bench_function("g711_alaw_encode/table", |b| {
        b.iter(|| {
            black_box(&pcm)
                .iter()
                .map(|&s| g711::alaw_encode(s))
                .fold(0u32, |a, c| a + u32::from(c))
        })
    });
    g.bench_function("g711_alaw_encode/formula_baseline", |b| {
        b.iter(|| {
            black_box(&pcm)
                .iter()
                .map(|&s| reference::alaw_encode(s))
                .fold(0u32, |a, c| a + u32::from(c))
        })
    });
    g.bench_function("g711_alaw_decode/table", |b| {
        b.iter(|| {
            black_box(&codes)
                .iter()
                .map(|&c| i32::from(g711::alaw_decode(c)))
                .sum::<i32>()
        })
    });
    g.bench_function("g711_alaw_decode/formula_baseline", |b| {
        b.iter(|| {
            black_box(&codes)
                .iter()
                .map(|&c| i32::from(reference::alaw_decode(c)))
                .sum::<i32>()
        })
    });
    g.finish();
}

/// Baseline: the eight tone powers by direct correlation with sin/cos.
fn correlate(frame: &[i16]) -> [f64; 8] {
    let mut out = [0.0; 8];
    for (k, f) in ROW_FREQS.iter().chain(COL_FREQS.iter()).enumerate() {
        let w = 2.0 * std::f64::consts::PI * f / 8000.0;
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &x) in frame.iter().enumerate() {
            let x = f64::from(x);
            re += x * (w * n as f64).cos();
            im += x * (w * n as f64).sin();
        }
        out[k] = re * re + im * im;
    }
    out
}

fn goertzel_benches(c: &mut Criterion) {
    let mut audio = DtmfGenerator::default().digits("1593").unwrap_or_default();
    audio.extend(speechish(8000));
    let frames: Vec<&[i16]> = audio.chunks_exact(160).collect();
    let mut g = c.benchmark_group("media");
    g.throughput(Throughput::Elements(1));
    let mut det = DtmfDetector::new(DetectorConfig::default());
    let mut events = Vec::new();
    let mut i = 0;
    g.bench_function("goertzel_dtmf_per_20ms_frame/detector", |b| {
        b.iter(|| {
            events.clear();
            det.process_into(black_box(frames[i % frames.len()]), &mut events);
            i += 1;
            events.len()
        })
    });
    let mut j = 0;
    g.bench_function("goertzel_dtmf_per_20ms_frame/correlation_baseline", |b| {
        b.iter(|| {
            let p = correlate(black_box(frames[j % frames.len()]));
            j += 1;
            p
        })
    });
    g.finish();
}

fn jitter_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("media");
    g.throughput(Throughput::Elements(1));
    // packets arrive with a swap every 7th pair and a loss every 50th
    let order: Vec<u16> = (0..1000u16)
        .map(|s| {
            if s % 7 == 3 {
                s + 1
            } else if s % 7 == 4 {
                s - 1
            } else {
                s
            }
        })
        .filter(|s| s % 50 != 25)
        .collect();
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::with_capacity(160);
    let mut k = 0usize;
    let mut seq_base = 0u16;
    let mut t = 0u64;
    g.bench_function("jitter_buffer_push_pop/adaptive", |b| {
        b.iter(|| {
            let s = order[k % order.len()].wrapping_add(seq_base);
            k += 1;
            if k.is_multiple_of(order.len()) {
                seq_base = seq_base.wrapping_add(1000);
            }
            t += 20;
            let mut frame = jb.take_buffer();
            frame.resize(160, 7);
            jb.push(s, u32::from(s) * 160, frame, Duration::from_millis(t));
            jb.pop(&mut out, Duration::from_millis(t + 1))
        })
    });
    let mut fifo: VecDeque<Vec<i16>> = VecDeque::new();
    let mut pool: Vec<Vec<i16>> = Vec::new();
    g.bench_function("jitter_buffer_push_pop/fifo_baseline", |b| {
        b.iter(|| {
            let mut frame = pool.pop().unwrap_or_default();
            frame.clear();
            frame.resize(160, 7);
            fifo.push_back(frame);
            if fifo.len() > 2
                && let Some(f) = fifo.pop_front()
            {
                out.clear();
                out.extend_from_slice(&f);
                pool.push(f);
            }
            out.len()
        })
    });
    g.finish();
}

fn mix_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("media");
    g.throughput(Throughput::Elements(1));
    let inputs: Vec<Vec<i16>> = (0..3).map(|i| speechish(160 + i).split_off(i)).collect();
    let mut conf = Conference::new(160);
    let ids: Vec<_> = (0..3).map(|_| conf.join(Role::Party)).collect();
    g.bench_function("mix_3_party_frame/mix_minus", |b| {
        b.iter(|| {
            for (id, f) in ids.iter().zip(&inputs) {
                conf.set_input(*id, black_box(f));
            }
            conf.mix();
            conf.output(ids[0])[0]
        })
    });
    g.bench_function("mix_3_party_frame/naive_baseline", |b| {
        b.iter(|| {
            let outs: Vec<Vec<i16>> = (0..3)
                .map(|me| {
                    (0..160)
                        .map(|k| {
                            let v: i32 = (0..3)
                                .filter(|&o| o != me)
                                .map(|o| i32::from(black_box(&inputs)[o][k]))
                                .sum();
                            v.clamp(-32768, 32767) as i16
                        })
                        .collect()
                })
                .collect();
            outs[0][0]
        })
    });
    g.finish();
}

fn relay_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("media");
    g.throughput(Throughput::Elements(1));
    let payload: Vec<u8> = speechish(160)
        .iter()
        .map(|&x| g711::ulaw_encode(x))
        .collect();
    let packets: Vec<Vec<u8>> = (0..64u16)
        .map(|seq| {
            let mut wire = Vec::new();
            RtpPacket::new(0, seq, u32::from(seq) * 160, 0x1234, &payload)
                .write_to(&mut wire)
                .expect("packet");
            wire
        })
        .collect();
    for (name, law_b) in [("passthrough", Law::Ulaw), ("transcode", Law::Alaw)] {
        let mut bridge = Bridge::new(LegConfig::new(Law::Ulaw, 1), LegConfig::new(law_b, 2));
        let mut out = Vec::with_capacity(2048);
        let mut i = 0usize;
        g.bench_function(format!("bridge_relay_packet/{name}"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let now = Duration::from_millis(20 * i as u64);
                let _ = bridge.relay(Side::A, black_box(&packets[i % 64]), now, &mut out);
                out.len()
            })
        });
    }
    let mut out = Vec::with_capacity(2048);
    let mut i = 0usize;
    g.bench_function("bridge_relay_packet/copy_baseline", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            out.clear();
            out.extend_from_slice(black_box(&packets[i % 64]));
            out.len()
        })
    });
    g.finish();
}

/// Two test phones and, unless `direct`, two bridged legs between them: the phone
/// sockets (blocking, 1 s read timeout) and where the caller phone sends.
struct BridgedPair {
    caller: std::net::UdpSocket,
    agent: std::net::UdpSocket,
    to: std::net::SocketAddr,
    _legs: Option<[LegMedia; 2]>,
    /// The phones' RTCP ports, kept bound.
    _rtcp: [tokio::net::UdpSocket; 2],
    rt: tokio::runtime::Runtime,
    seq: u16,
}

impl BridgedPair {
    fn new(direct: bool, record: Option<&std::path::Path>) -> BridgedPair {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 24000..=24999);
        let (caller, agent, legs, rtcp) = rt.block_on(async {
            // phones on RTP/RTCP pairs, so the legs' RTCP lands on a phone's own port
            let phone = || async {
                let (rtp, _rtcp) = ports.bind_pair().await.expect("phone ports");
                (rtp.into_std().expect("std"), _rtcp)
            };
            let (caller, caller_rtcp) = phone().await;
            let (agent, agent_rtcp) = phone().await;
            let rtcp = [caller_rtcp, agent_rtcp];
            if direct {
                return (caller, agent, None, rtcp);
            }
            let leg = |ssrc| {
                LegMedia::reserve(
                    &ports,
                    LegMediaConfig {
                        ssrc,
                        ..LegMediaConfig::default()
                    },
                )
            };
            let legs = [leg(1).await.expect("leg"), leg(2).await.expect("leg")];
            for (leg, phone) in legs.iter().zip([&caller, &agent]) {
                let far = Negotiated {
                    remote: Some(phone.local_addr().expect("addr")),
                    law: Law::Ulaw,
                    telephone_event: Some(101),
                    send: true,
                    srtp: None,
                };
                drop(leg.start_session(far).expect("start"));
            }
            legs[0].bridge(&legs[1], record).expect("bridge");
            (caller, agent, Some(legs), rtcp)
        });
        let to = match &legs {
            Some([a, _]) => a.local_rtp(),
            None => agent.local_addr().expect("addr"),
        };
        for s in [&caller, &agent] {
            s.set_nonblocking(false).expect("blocking");
            s.set_read_timeout(Some(Duration::from_secs(1)))
                .expect("timeout");
        }
        let pair = BridgedPair {
            caller,
            agent,
            to,
            _legs: legs,
            _rtcp: rtcp,
            rt,
            seq: 0,
        };
        // let the legs' tasks hand their sockets to the pool (on this thread's
        // runtime), then drop what their sessions sent before
        pair.rt.block_on(async {
            let clock = callcore_media::udp::GlueClock::start();
            clock.sleep_until(Duration::from_millis(300)).await;
        });
        pair.agent.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 2048];
        while pair.agent.recv_from(&mut buf).is_ok() {}
        pair.agent.set_nonblocking(false).expect("blocking");
        pair
    }

    /// Sends one 20 ms µ-law packet from the caller phone and waits for it at the
    /// agent phone; the datagram's length.
    fn one_packet(&mut self, payload: &[u8], buf: &mut [u8]) -> usize {
        self.seq = self.seq.wrapping_add(1);
        let mut wire = Vec::with_capacity(200);
        let _ = RtpPacket::new(0, self.seq, u32::from(self.seq) * 160, 0x77, payload)
            .write_to(&mut wire);
        let _ = self.caller.send_to(&wire, self.to);
        self.agent.recv_from(buf).map_or(0, |(n, _)| n)
    }
}

fn leg_bridge_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("media");
    g.throughput(Throughput::Elements(1));
    let payload: Vec<u8> = speechish(160)
        .iter()
        .map(|&x| g711::ulaw_encode(x))
        .collect();
    let mut buf = vec![0u8; 2048];
    let rec = std::env::temp_dir().join(format!("callcore-bench-{}.wav", std::process::id()));
    {
        // the bare relay: a thread forwarding whatever reaches its socket to the agent
        let mut pair = BridgedPair::new(true, None);
        let relay = std::net::UdpSocket::bind("127.0.0.1:0").expect("relay socket");
        let agent = pair.agent.local_addr().expect("addr");
        pair.to = relay.local_addr().expect("addr");
        let _ = relay.set_read_timeout(Some(Duration::from_millis(200)));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !halt.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, _)) = relay.recv_from(&mut buf) {
                    let _ = relay.send_to(&buf[..n], agent);
                }
            }
        });
        g.bench_function("leg_bridge_packet/bare_thread_baseline", |b| {
            b.iter(|| pair.one_packet(black_box(&payload), &mut buf))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = thread.join();
    }
    for (name, direct, record) in [
        ("leg_bridge_packet/pool", false, None),
        (
            "leg_bridge_packet/pool_recorded",
            false,
            Some(rec.as_path()),
        ),
        ("leg_bridge_packet/direct_baseline", true, None),
    ] {
        let mut pair = BridgedPair::new(direct, record);
        g.bench_function(name, |b| {
            b.iter(|| pair.one_packet(black_box(&payload), &mut buf))
        });
    }
    let _ = std::fs::remove_file(&rec);
    g.finish();
}

criterion_group!(
    benches,
    g711_benches,
    goertzel_benches,
    jitter_benches,
    mix_benches,
    relay_benches,
    leg_bridge_benches
);
criterion_main!(benches);
