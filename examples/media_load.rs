//! Load test of callcore-media's bridged-call media: N bridged G.711 calls over
//! loopback.
//!
//! ```text
//! cargo run --release --example media_load -- --calls 1000 --secs 20 [--transcode] [--json]
//!     [--path legs|pool|tasks] [--record DIR] [--relay-threads R] [--gen-threads G]
//! ```
//!
//! Each call has a caller phone and an agent phone (an RTP socket and its RTCP
//! companion each, a 20 ms G.711 packet both ways) and callcore-media in between,
//! µ-law on both legs or µ-law↔A-law with `--transcode`, latching on. What sits in
//! between is chosen with `--path`:
//!
//! - `legs` (default): what the center does for a bridged SIP call. Each side is a
//!   [`LegMedia`] (`reserve` binds its RTP/RTCP pair, `start_session` applies the
//!   "negotiated" far end, the phone) and the caller's leg is bridged to the agent's
//!   with [`LegMedia::bridge`] (with `--record DIR`, a stereo WAV per call in DIR).
//!   The legs' tasks run on a 2-thread tokio runtime, as in the center.
//! - `pool`: the calls are handed to a [`RelayPool`] directly ([`RelayPool::add_call`]
//!   with a port per leg), without the leg layer.
//! - `tasks`: the oldest baseline, one [`run_relay`] tokio task per call on one
//!   thread (`--task-per-call` is the same).
//!
//! The phones run on generator threads: each owns many phone sockets in one `epoll`
//! set and one 1 ms ticker that sends the packets of the calls whose 20 ms phase falls
//! in that millisecond (calls are spread evenly over the 20 ms period, as independent
//! phones would be).
//!
//! Measurement, per packet: the sender writes the time just before `sendto` into an
//! RTP header extension the relay forwards unchanged; the receiver reads the clock
//! right after `recvfrom`. Besides the relayed calls, a few *direct* calls (1 in 50,
//! at least 4) send phone to phone on the same generator threads, without the
//! relay: their median delay is the direct loopback path (one hop plus the
//! generator's own scheduling), measured in the same run under the same load. The
//! *added delay* of a relayed packet is its end-to-end delay minus that median, so
//! the generator's own scheduling beyond its median stays in the figure (an upper
//! bound of what the relay adds). The first second is warm-up and not counted.
//! Loss is counted per leg (RTP packets a phone sent against those of them the other
//! phone received, after a 300 ms drain); `loss` is the total and `worst_leg_loss`
//! the worst single leg. RTCP the phones receive on their RTCP sockets is counted
//! apart.
//!
//! CPU: `cpu_secs_per_call_minute` is the CPU of every thread of the process except
//! the generator threads (from `/proc/self/task/*/schedstat`: the legs' runtime, the
//! relay workers, the tasks' runtime) per call-minute; the generator's is reported
//! beside it.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callcore_media::bridge::{Bridge, LegConfig};
use callcore_media::g711::Law;
use callcore_media::relay_pool::{RelayCall, RelayPool};
use callcore_media::rtp::{RtpExtension, RtpPacket};
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::udp::{PortAllocator, RelayLeg, RelayOptions, run_relay};
use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Token};

#[path = "cli.rs"]
mod cli;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Legs,
    Pool,
    Tasks,
}

impl PathKind {
    fn name(self) -> &'static str {
        match self {
            PathKind::Legs => "legs",
            PathKind::Pool => "pool",
            PathKind::Tasks => "task_per_call",
        }
    }
}

use clap::Parser;

/// Load test of callcore-media: N bridged G.711 calls over loopback, with added delay,
/// loss and CPU per call-minute.
#[derive(Debug, Parser)]
#[command(
    name = "media_load",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --release --example media_load -- --calls 1000 --secs 20 --json"
)]
struct Cmd {
    /// bridged calls
    #[arg(long, value_name = "N", default_value = "100", value_parser = cli::positive_usize)]
    calls: usize,
    /// seconds of media (after 1 s of warm-up)
    #[arg(long, value_name = "S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    secs: u64,
    /// µ-law on the caller's leg, A-law on the agent's [default: off]
    #[arg(long)]
    transcode: bool,
    /// print the figures as one JSON object [default: off]
    #[arg(long)]
    json: bool,
    /// what relays the media (see the source's top doc)
    #[arg(long, value_name = "legs|pool|tasks", default_value = "legs", value_parser = ["legs", "pool", "tasks"], overrides_with = "task_per_call")]
    path: String,
    /// the same as --path tasks [default: off]
    #[arg(long, overrides_with = "path")]
    task_per_call: bool,
    /// a stereo WAV per call in DIR (needs --path legs) [default: off]
    #[arg(long, value_name = "DIR")]
    record: Option<std::path::PathBuf>,
    /// relay-pool threads (--path pool) [default: the number of CPUs]
    #[arg(long, value_name = "R", value_parser = cli::positive_usize)]
    relay_threads: Option<usize>,
    /// threads of the phone generator
    #[arg(long, value_name = "G", default_value = "1", value_parser = cli::positive_usize)]
    gen_threads: usize,
}

struct Args {
    calls: usize,
    secs: u64,
    transcode: bool,
    json: bool,
    relay_threads: usize,
    gen_threads: usize,
    path: PathKind,
    record: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let cmd = Cmd::parse();
    let path = if cmd.task_per_call {
        PathKind::Tasks
    } else {
        match cmd.path.as_str() {
            "pool" => PathKind::Pool,
            "tasks" => PathKind::Tasks,
            _ => PathKind::Legs,
        }
    };
    if cmd.record.is_some() && path != PathKind::Legs {
        return Err("--record needs --path legs".into());
    }
    Ok(Args {
        calls: cmd.calls,
        secs: cmd.secs,
        transcode: cmd.transcode,
        json: cmd.json,
        relay_threads: cmd
            .relay_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        gen_threads: cmd.gen_threads,
        path,
        record: cmd.record,
    })
}

/// CPU time of the calling thread (Linux schedstat: ns on CPU).
fn thread_cpu() -> Duration {
    schedstat("/proc/thread-self/schedstat")
}

fn schedstat(path: &str) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time of every thread of the process but the load generator's (the media
/// path under test, whatever threads it uses).
fn media_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    dir.flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| !c.starts_with("loadgen"))
        })
        .map(|t| schedstat(&t.path().join("schedstat").to_string_lossy()))
        .sum()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[allow(clippy::disallowed_methods)] // a load generator measures wall-clock delay
fn wall() -> Instant {
    Instant::now()
}

/// Delays in 1 µs buckets up to 200 ms; longer ones kept exactly.
struct Hist {
    us: Vec<u32>,
    over: Vec<u64>,
    n: u64,
}

impl Hist {
    const BUCKETS: usize = 200_000;
    fn new() -> Self {
        Hist {
            us: vec![0; Self::BUCKETS],
            over: Vec::new(),
            n: 0,
        }
    }
    fn add(&mut self, d: Duration) {
        self.n += 1;
        let us = d.as_micros() as u64;
        match self.us.get_mut(us as usize) {
            Some(b) => *b += 1,
            None => self.over.push(us),
        }
    }
    fn merge(&mut self, o: &Hist) {
        self.n += o.n;
        for (a, b) in self.us.iter_mut().zip(&o.us) {
            *a += b;
        }
        self.over.extend_from_slice(&o.over);
    }
    /// The `q` quantile in ms (0 with no samples).
    fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let target = ((self.n as f64 * q).ceil() as u64).max(1);
        let mut acc = 0u64;
        for (i, c) in self.us.iter().enumerate() {
            acc += u64::from(*c);
            if acc >= target {
                return i as f64 / 1000.0;
            }
        }
        self.over.sort_unstable();
        let k = (target - acc).saturating_sub(1) as usize;
        self.over
            .get(k)
            .or(self.over.last())
            .map_or(0.0, |&us| us as f64 / 1000.0)
    }
}

/// What the relay reported at the end of the run.
#[derive(Default)]
struct Finished {
    /// Datagrams the relay dropped.
    dropped: u64,
    /// Recordings finished, and their total length.
    recordings: u64,
    recorded_secs: f64,
}

/// The relay under test: bridged legs, the pool, or one `run_relay` task per call.
enum Relay {
    Legs(tokio::runtime::Runtime, Vec<[LegMedia; 2]>),
    Pool(tokio::runtime::Runtime, Vec<RelayCall>),
    Tasks(
        tokio::sync::watch::Sender<bool>,
        std::thread::JoinHandle<u64>,
    ),
}

impl Relay {
    /// Stops every call; what the relay reported.
    fn finish(self) -> Finished {
        match self {
            Relay::Legs(rt, calls) => rt.block_on(async {
                for [caller, _] in &calls {
                    caller.unbridge();
                }
                // each bridge's report comes once its recording is finished
                let mut done = Finished::default();
                for [caller, agent] in &calls {
                    let ended = tokio::time::timeout(Duration::from_secs(5), caller.bridge_ended());
                    if let Ok(Some(r)) = ended.await {
                        done.dropped += r.dropped;
                        if let Some(info) = r.recording {
                            done.recordings += 1;
                            done.recorded_secs += info.duration_ms as f64 / 1000.0;
                        }
                    }
                    caller.close();
                    agent.close();
                }
                done
            }),
            Relay::Pool(rt, calls) => rt.block_on(async {
                let mut done = Finished::default();
                for c in calls {
                    c.stop();
                    done.dropped += c.finished().await.dropped;
                }
                done
            }),
            Relay::Tasks(stop, thread) => {
                let _ = stop.send(true);
                Finished {
                    dropped: thread.join().unwrap_or(0),
                    ..Finished::default()
                }
            }
        }
    }
}

/// One phone: its socket, where it sends, its packet (patched in place per send).
struct Phone {
    sock: MioUdp,
    /// The RTCP companion (port + 1) where a leg sends its reports.
    rtcp: MioUdp,
    rtcp_received: u64,
    dst: SocketAddr,
    wire: Vec<u8>,
    seq: u16,
    ts: u32,
    sent: u64,
    received: u64,
}

// Offsets in the phone's packet: 12-byte header, 4-byte extension header, 8-byte stamp.
const SEQ_AT: usize = 2;
const TS_AT: usize = 4;
const STAMP_AT: usize = 16;

impl Phone {
    fn new(
        [sock, rtcp]: [std::net::UdpSocket; 2],
        dst: SocketAddr,
        pt: u8,
        ssrc: u32,
        byte: u8,
    ) -> Self {
        sock.set_nonblocking(true).expect("nonblocking");
        rtcp.set_nonblocking(true).expect("nonblocking");
        let payload = [byte; 160];
        let stamp = [0u8; 8];
        let mut p = RtpPacket::new(pt, 0, 0, ssrc, &payload);
        p.extension = Some(RtpExtension {
            profile: 0x1000,
            data: &stamp,
        });
        let mut wire = Vec::with_capacity(200);
        p.write_to(&mut wire).expect("packet");
        assert_eq!(wire.len(), STAMP_AT + 8 + 160);
        Phone {
            sock: MioUdp::from_std(sock),
            rtcp: MioUdp::from_std(rtcp),
            rtcp_received: 0,
            dst,
            wire,
            seq: ssrc as u16,
            ts: ssrc.wrapping_mul(1000),
            sent: 0,
            received: 0,
        }
    }

    fn send(&mut self, origin: Instant) {
        self.wire[SEQ_AT..SEQ_AT + 2].copy_from_slice(&self.seq.to_be_bytes());
        self.wire[TS_AT..TS_AT + 4].copy_from_slice(&self.ts.to_be_bytes());
        let stamp = wall().duration_since(origin).as_nanos() as u64;
        self.wire[STAMP_AT..STAMP_AT + 8].copy_from_slice(&stamp.to_be_bytes());
        if self.sock.send_to(&self.wire, self.dst).is_ok() {
            self.sent += 1;
        }
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
    }
}

/// A call as the generator sees it: caller and agent phones.
struct GenCall {
    phones: [Phone; 2],
    direct: bool,
}

struct GenResult {
    relayed: Hist,
    direct: Hist,
    /// Per leg (relayed calls only): (sent by one phone, received by the other).
    legs: Vec<(u64, u64)>,
    /// RTCP datagrams the relayed calls' phones received.
    rtcp: u64,
    cpu: Duration,
}

const SLOT: Duration = Duration::from_millis(1);
const SLOTS: usize = 20;

/// Runs one generator thread's phones from `origin` for `run_for`, then drains.
fn generate(
    mut calls: Vec<GenCall>,
    origin: Instant,
    warmup: Duration,
    run_for: Duration,
) -> GenResult {
    let mut poll = mio::Poll::new().expect("poll");
    let mut slots: Vec<Vec<usize>> = vec![Vec::new(); SLOTS];
    for (i, c) in calls.iter_mut().enumerate() {
        slots[i % SLOTS].push(i);
        for (leg, p) in c.phones.iter_mut().enumerate() {
            poll.registry()
                .register(&mut p.sock, Token(i * 4 + leg), Interest::READABLE)
                .expect("register");
            poll.registry()
                .register(&mut p.rtcp, Token(i * 4 + 2 + leg), Interest::READABLE)
                .expect("register");
        }
    }
    let mut relayed = Hist::new();
    let mut direct = Hist::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 2048];
    let cpu0 = thread_cpu();
    let mut tick = 0u32;
    let mut sending = true;
    let mut drain_end = origin + run_for + Duration::from_millis(300);
    loop {
        let now = wall();
        let until = if sending {
            origin + SLOT * tick
        } else {
            drain_end
        };
        if !sending && now >= drain_end {
            break;
        }
        poll.poll(&mut events, Some(until.saturating_duration_since(now)))
            .expect("poll");
        for ev in events.iter() {
            let (i, k) = (ev.token().0 / 4, ev.token().0 % 4);
            let call = &mut calls[i];
            let phone = &mut call.phones[k % 2];
            if k >= 2 {
                while phone.rtcp.recv_from(&mut buf).is_ok() {
                    phone.rtcp_received += 1;
                }
                continue;
            }
            loop {
                let n = match phone.sock.recv_from(&mut buf) {
                    Ok((n, _)) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                };
                let at = wall().duration_since(origin);
                let Ok(p) = RtpPacket::parse(&buf[..n]) else {
                    continue;
                };
                // only the other phone's packets count (not what a leg's own session
                // sent before the bridge took over)
                let Some(stamp) = p.extension.and_then(|e| <[u8; 8]>::try_from(e.data).ok()) else {
                    continue;
                };
                phone.received += 1;
                let sent_at = Duration::from_nanos(u64::from_be_bytes(stamp));
                if sent_at >= warmup {
                    let d = at.saturating_sub(sent_at);
                    if call.direct {
                        direct.add(d)
                    } else {
                        relayed.add(d)
                    }
                }
            }
        }
        let now = wall();
        while sending && now >= origin + SLOT * tick {
            if SLOT * tick >= run_for {
                sending = false;
                drain_end = now + Duration::from_millis(300);
                break;
            }
            for &i in &slots[tick as usize % SLOTS] {
                for p in &mut calls[i].phones {
                    p.send(origin);
                }
            }
            tick += 1;
        }
    }
    let legs = calls
        .iter()
        .filter(|c| !c.direct)
        .flat_map(|c| {
            let [a, b] = &c.phones;
            [(a.sent, b.received), (b.sent, a.received)]
        })
        .collect();
    let rtcp = calls
        .iter()
        .filter(|c| !c.direct)
        .flat_map(|c| c.phones.iter().map(|p| p.rtcp_received))
        .sum();
    GenResult {
        relayed,
        direct,
        legs,
        rtcp,
        cpu: thread_cpu().saturating_sub(cpu0),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("media_load: {e}");
            std::process::exit(2);
        }
    };
    let load_before = load_average();
    let warmup = Duration::from_secs(1);
    let run_for = warmup + Duration::from_secs(args.secs);
    let n_direct = (args.calls / 50).max(4);

    // ---- the phones (bound first: their addresses go into "signalling") ----
    let mut next_port = 40000u16;
    let mut bind_pair = || -> [std::net::UdpSocket; 2] {
        // an even RTP port and its RTCP companion, as a phone's SDP implies
        while next_port < 59998 {
            let p = next_port;
            next_port += 2;
            let Ok(rtp) = std::net::UdpSocket::bind(("127.0.0.1", p)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind(("127.0.0.1", p + 1)) else {
                continue;
            };
            return [rtp, rtcp];
        }
        panic!("no free phone ports in 40000-59999");
    };
    let phone_socks: Vec<[[std::net::UdpSocket; 2]; 2]> = (0..args.calls + n_direct)
        .map(|_| [bind_pair(), bind_pair()])
        .collect();
    let phone_addrs: Vec<[SocketAddr; 2]> = phone_socks
        .iter()
        .map(|[c, a]| {
            [
                c[0].local_addr().expect("addr"),
                a[0].local_addr().expect("addr"),
            ]
        })
        .collect();

    // ---- the relay: callcore-media under test ----
    let opts = RelayOptions {
        latch: true,
        media_timeout: Duration::from_secs(5),
    };
    let law_b = if args.transcode { Law::Alaw } else { Law::Ulaw };
    let bridge = move |i: usize| {
        Bridge::new(
            LegConfig::new(Law::Ulaw, 0x1000 + i as u32),
            LegConfig::new(law_b, 0x2000 + i as u32),
        )
    };
    let leg = |socket, remote| RelayLeg {
        socket,
        remote: Some(remote),
    };
    let relayed_phones: Vec<[SocketAddr; 2]> = phone_addrs[..args.calls].to_vec();
    let (relay, relay_addrs) = if args.path == PathKind::Legs {
        // what the center does: a LegMedia per SIP leg, bridged
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("legs-rt")
            .enable_all()
            .build()
            .expect("runtime");
        if let Some(dir) = &args.record {
            std::fs::create_dir_all(dir).expect("recordings folder");
        }
        let (calls, addrs) = rt.block_on(async {
            let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 20000..=39999);
            let mut calls = Vec::with_capacity(args.calls);
            let mut addrs = Vec::with_capacity(args.calls);
            for (i, phones) in relayed_phones.iter().enumerate() {
                let leg = |ssrc: u32| {
                    LegMedia::reserve(
                        &ports,
                        LegMediaConfig {
                            ssrc,
                            ..LegMediaConfig::default()
                        },
                    )
                };
                let caller = leg(0x1000 + i as u32).await.expect("reserve a leg");
                let agent = leg(0x2000 + i as u32).await.expect("reserve a leg");
                for (m, phone, law) in [(&caller, phones[0], Law::Ulaw), (&agent, phones[1], law_b)]
                {
                    let far = Negotiated {
                        remote: Some(phone),
                        law,
                        telephone_event: Some(101),
                        send: true,
                        srtp: None,
                    };
                    drop(m.start_session(far).expect("start a leg"));
                }
                let record = args
                    .record
                    .as_ref()
                    .map(|d| d.join(format!("call-{i}.wav")));
                caller.bridge(&agent, record.as_deref()).expect("bridge");
                addrs.push([caller.local_rtp(), agent.local_rtp()]);
                calls.push([caller, agent]);
            }
            (calls, addrs)
        });
        (Relay::Legs(rt, calls), addrs)
    } else if args.path == PathKind::Tasks {
        // the baseline: one `run_relay` task per call on one runtime thread
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("callcore-relay-tasks".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 20000..=39999);
                    let mut tasks = Vec::with_capacity(relayed_phones.len());
                    let mut addrs = Vec::with_capacity(relayed_phones.len());
                    for (i, phones) in relayed_phones.iter().enumerate() {
                        let a = ports.bind_one().await.expect("bind a relay port");
                        let b = ports.bind_one().await.expect("bind a relay port");
                        addrs.push([a.local_addr().expect("addr"), b.local_addr().expect("addr")]);
                        tasks.push(tokio::spawn(run_relay(
                            bridge(i),
                            leg(a, phones[0]),
                            leg(b, phones[1]),
                            opts.clone(),
                            stop_rx.clone(),
                        )));
                    }
                    let _ = addr_tx.send(addrs);
                    let mut dropped = 0;
                    for t in tasks {
                        dropped += t.await.map_or(0, |r| r.dropped);
                    }
                    dropped
                })
            })
            .expect("relay thread");
        let addrs = addr_rx.recv().expect("relay addresses");
        (Relay::Tasks(stop_tx, thread), addrs)
    } else {
        let pool = RelayPool::start(args.relay_threads, opts).expect("relay pool");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (calls, addrs) = rt.block_on(async {
            let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 20000..=39999);
            let mut calls = Vec::with_capacity(args.calls);
            let mut addrs = Vec::with_capacity(args.calls);
            for (i, phones) in relayed_phones.iter().enumerate() {
                let a = ports.bind_one().await.expect("bind a relay port");
                let b = ports.bind_one().await.expect("bind a relay port");
                addrs.push([a.local_addr().expect("addr"), b.local_addr().expect("addr")]);
                let call = pool
                    .add_call(bridge(i), leg(a, phones[0]), leg(b, phones[1]))
                    .expect("add call");
                calls.push(call);
            }
            (calls, addrs)
        });
        (Relay::Pool(rt, calls), addrs)
    };

    // ---- the generator: relayed calls then direct ones, dealt over the threads ----
    let agent_pt = if args.transcode { 8 } else { 0 };
    let agent_byte = if args.transcode { 0xD5 } else { 0xFF };
    let mut per_thread: Vec<Vec<GenCall>> = (0..args.gen_threads).map(|_| Vec::new()).collect();
    for (i, [c, a]) in phone_socks.into_iter().enumerate() {
        let direct = i >= args.calls;
        let (dst_c, dst_a) = if direct {
            (phone_addrs[i][1], phone_addrs[i][0])
        } else {
            (relay_addrs[i][0], relay_addrs[i][1])
        };
        let ssrc = 0xC000 + i as u32;
        let call = GenCall {
            phones: [
                Phone::new(c, dst_c, 0, ssrc, 0xFF),
                Phone::new(a, dst_a, agent_pt, ssrc + 0x10_0000, agent_byte),
            ],
            direct,
        };
        per_thread[i % args.gen_threads].push(call);
    }
    let origin = wall() + Duration::from_millis(200);
    let relay_cpu0 = media_cpu();
    let threads: Vec<_> = per_thread
        .into_iter()
        .enumerate()
        .map(|(t, calls)| {
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || generate(calls, origin, warmup, run_for))
                .expect("generator thread")
        })
        .collect();
    let mut relayed = Hist::new();
    let mut direct = Hist::new();
    let mut legs = Vec::new();
    let mut gen_cpu = Duration::ZERO;
    let mut rtcp = 0;
    for t in threads {
        let r = t.join().expect("generator");
        relayed.merge(&r.relayed);
        direct.merge(&r.direct);
        legs.extend(r.legs);
        rtcp += r.rtcp;
        gen_cpu += r.cpu;
    }
    let relay_cpu = media_cpu().saturating_sub(relay_cpu0);
    let load_after = load_average();
    let finished = relay.finish();
    let relay_dropped = finished.dropped;

    let sent: u64 = legs.iter().map(|l| l.0).sum();
    let received: u64 = legs.iter().map(|l| l.1).sum();
    let loss = if sent == 0 {
        1.0
    } else {
        sent.saturating_sub(received) as f64 / sent as f64
    };
    let worst_leg_loss = legs
        .iter()
        .map(|&(s, r)| {
            if s == 0 {
                1.0
            } else {
                s.saturating_sub(r) as f64 / s as f64
            }
        })
        .fold(0.0, f64::max);
    let base = direct.quantile_ms(0.5);
    let (e2e50, e2e99, e2emax) = (
        relayed.quantile_ms(0.5),
        relayed.quantile_ms(0.99),
        relayed.quantile_ms(1.0),
    );
    // whole microseconds (the histogram's resolution)
    let us = |ms: f64| (ms.max(0.0) * 1000.0).round() / 1000.0;
    let (p50, p99, pmax) = (us(e2e50 - base), us(e2e99 - base), us(e2emax - base));
    let direct99 = direct.quantile_ms(0.99);
    let call_minutes = args.calls as f64 * run_for.as_secs_f64() / 60.0;
    let per_call_minute = relay_cpu.as_secs_f64() / call_minutes;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "calls": args.calls,
                "secs": args.secs,
                "transcode": args.transcode,
                "relay": args.path.name(),
                "recording": args.record.is_some(),
                "relay_threads": if args.path == PathKind::Pool { args.relay_threads } else { 0 },
                "gen_threads": args.gen_threads,
                "packets_sent": sent,
                "packets_received": received,
                "loss": loss,
                "worst_leg_loss": worst_leg_loss,
                "relay_dropped": relay_dropped,
                "rtcp_received_by_phones": rtcp,
                "recordings": finished.recordings,
                "recorded_secs": finished.recorded_secs,
                "p50_added_delay_ms": p50,
                "p99_added_delay_ms": p99,
                "max_added_delay_ms": pmax,
                "e2e_p50_ms": e2e50,
                "e2e_p99_ms": e2e99,
                "direct_path_p50_ms": base,
                "direct_path_p99_ms": direct99,
                "direct_calls": n_direct,
                "cpu_secs_per_call_minute": per_call_minute,
                "media_cpu_secs": relay_cpu.as_secs_f64(),
                "generator_cpu_secs": gen_cpu.as_secs_f64(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            })
        );
    } else {
        let mode = if args.transcode {
            "transcode µ-law <-> A-law"
        } else {
            "passthrough µ-law"
        };
        println!(
            "calls                 {} ({mode}), {} direct calls for the baseline",
            args.calls, n_direct
        );
        println!(
            "packets sent/received {sent} / {received} (relay dropped {relay_dropped}); RTCP to phones {rtcp}"
        );
        println!(
            "loss                  {:.4}% (worst leg {:.4}%)",
            loss * 100.0,
            worst_leg_loss * 100.0
        );
        println!("added delay p50/p99   {p50:.3} / {p99:.3} ms (max {pmax:.3} ms)");
        println!(
            "end to end p50/p99    {e2e50:.3} / {e2e99:.3} ms; direct path p50/p99 {base:.3} / {direct99:.3} ms"
        );
        println!(
            "media CPU             {:.2} s over {:.1} s = {:.4} CPU s per call-minute ({}{})",
            relay_cpu.as_secs_f64(),
            run_for.as_secs_f64(),
            per_call_minute,
            match args.path {
                PathKind::Legs => "LegMedia::bridge, as the center".to_string(),
                PathKind::Tasks => "one task per call, 1 thread".to_string(),
                PathKind::Pool => format!("pool, {} threads", args.relay_threads),
            },
            if args.record.is_some() {
                ", recorded"
            } else {
                ""
            }
        );
        println!(
            "generator CPU         {:.2} s ({} threads)",
            gen_cpu.as_secs_f64(),
            args.gen_threads
        );
        if finished.recordings > 0 {
            println!(
                "recordings            {} finished, {:.0} s of stereo audio",
                finished.recordings, finished.recorded_secs
            );
        }
        println!("load average          {load_before} before, {load_after} after");
    }
}
