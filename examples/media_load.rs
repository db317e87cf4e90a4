//! Load test of callcore-media's RTP relay: N bridged G.711 calls over loopback.
//!
//! Each call has a caller and an agent (a sender and a receiver per leg, 20 ms
//! packets both ways) and the callcore-media relay in between. The relay runs on its
//! own thread, the load generator on another, so the relay's CPU is measured alone.
//!
//! ```text
//! cargo run --release --example media_load -- --calls 1000 --secs 20 [--transcode] [--json]
//! ```
//!
//! Delay is measured end to end (sender → relay → receiver, from a send timestamp
//! carried in an RTP header extension), so it includes two loopback hops and the
//! generator's own scheduling: an upper bound of the delay the relay adds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use callcore_media::bridge::{Bridge, LegConfig};
use callcore_media::g711::Law;
use callcore_media::rtp::{RtpExtension, RtpPacket};
use callcore_media::udp::{PortAllocator, RelayLeg, RelayOptions, run_relay};
use tokio::net::UdpSocket;

struct Args {
    calls: usize,
    secs: u64,
    transcode: bool,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        calls: 100,
        secs: 10,
        transcode: false,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--calls" => {
                a.calls = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--calls needs a number")?
            }
            "--secs" => {
                a.secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--secs needs a number")?
            }
            "--transcode" => a.transcode = true,
            "--json" => a.json = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: --calls N --secs S [--transcode] [--json]"
                ));
            }
        }
    }
    if a.calls == 0 || a.secs == 0 {
        return Err("--calls and --secs must be positive".into());
    }
    Ok(a)
}

/// CPU time of the calling thread, from /proc (Linux).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time of the whole process (utime + stime, clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let Some(after) = stat.rsplit_once(')').map(|x| x.1) else {
        return Duration::ZERO;
    };
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // fields after the command: state is not numeric, so utime/stime are at 10/11 here
    f.get(10)
        .zip(f.get(11))
        .map_or(Duration::ZERO, |(u, s)| Duration::from_millis((u + s) * 10))
}

#[allow(clippy::disallowed_methods)] // a load generator measures wall-clock delay
fn wall() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)] // ...and waits on the wall clock
fn sleep_until(at: Instant) -> tokio::time::Sleep {
    tokio::time::sleep_until(at.into())
}

struct Hist {
    us: Vec<u64>, // 10 µs buckets up to 2 s
    over: u64,
    n: u64,
}

impl Hist {
    fn new() -> Self {
        Hist {
            us: vec![0; 200_000],
            over: 0,
            n: 0,
        }
    }
    fn add(&mut self, d: Duration) {
        self.n += 1;
        match self.us.get_mut((d.as_micros() / 10) as usize) {
            Some(b) => *b += 1,
            None => self.over += 1,
        }
    }
    fn quantile_ms(&self, q: f64) -> f64 {
        let target = (self.n as f64 * q).ceil() as u64;
        let mut acc = 0;
        for (i, c) in self.us.iter().enumerate() {
            acc += c;
            if acc >= target.max(1) {
                return (i + 1) as f64 / 100.0; // bucket upper bound
            }
        }
        2000.0
    }
}

struct CallAddrs {
    bridge_caller_side: std::net::SocketAddr,
    bridge_agent_side: std::net::SocketAddr,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("media_load: {e}");
            std::process::exit(2);
        }
    };
    let warmup = Duration::from_secs(1);
    let run_for = warmup + Duration::from_secs(args.secs);
    let cpu0 = process_cpu();

    // ---- the relay thread: callcore-media under test ----
    let (addr_tx, addr_rx) = std_mpsc::channel::<CallAddrs>();
    let (agent_tx, agent_rx) =
        std_mpsc::channel::<Vec<(std::net::SocketAddr, std::net::SocketAddr)>>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let calls = args.calls;
    let transcode = args.transcode;
    let relay_thread = std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 40000..=59999);
                let mut legs = Vec::with_capacity(calls);
                for _ in 0..calls {
                    let a = ports.bind_one().await.expect("bind");
                    let b = ports.bind_one().await.expect("bind");
                    let addrs = CallAddrs {
                        bridge_caller_side: a.local_addr().expect("addr"),
                        bridge_agent_side: b.local_addr().expect("addr"),
                    };
                    if addr_tx.send(addrs).is_err() {
                        return (Duration::ZERO, Duration::ZERO);
                    }
                    legs.push((a, b));
                }
                // the phones' addresses arrive from "signalling" (SDP); latching stays on
                let phones = agent_rx.recv().unwrap_or_default();
                let cpu_start = thread_cpu();
                let t0 = wall();
                let mut tasks = Vec::with_capacity(calls);
                for (i, (a, b)) in legs.into_iter().enumerate() {
                    let law_b = if transcode { Law::Alaw } else { Law::Ulaw };
                    let bridge = Bridge::new(
                        LegConfig::new(Law::Ulaw, 0x1000 + i as u32),
                        LegConfig::new(law_b, 0x2000 + i as u32),
                    );
                    let opts = RelayOptions {
                        latch: true,
                        media_timeout: Duration::from_secs(5),
                    };
                    tasks.push(tokio::spawn(run_relay(
                        bridge,
                        RelayLeg {
                            socket: a,
                            remote: phones.get(i).map(|p| p.0),
                        },
                        RelayLeg {
                            socket: b,
                            remote: phones.get(i).map(|p| p.1),
                        },
                        opts,
                        stop_rx.clone(),
                    )));
                }
                for t in tasks {
                    let _ = t.await;
                }
                (thread_cpu().saturating_sub(cpu_start), t0.elapsed())
            })
        })
        .expect("relay thread");

    // ---- the load generator thread ----
    let gen_thread = std::thread::Builder::new()
        .name("loadgen".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let mut calls_addrs = Vec::with_capacity(calls);
                for _ in 0..calls {
                    calls_addrs.push(addr_rx.recv().expect("relay addresses"));
                }
                let mut sockets = Vec::with_capacity(calls);
                let mut agent_addrs = Vec::with_capacity(calls);
                for _ in 0..calls {
                    let c = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
                    let g = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
                    agent_addrs.push((c.local_addr().expect("addr"), g.local_addr().expect("addr")));
                    sockets.push((c, g));
                }
                let _ = agent_tx.send(agent_addrs);
                let hist = Rc::new(RefCell::new(Hist::new()));
                let sent = Rc::new(Cell::new(0u64));
                let received = Rc::new(Cell::new(0u64));
                let stop = Rc::new(Cell::new(false));
                let origin = wall();
                let cpu_start = thread_cpu();
                let mut tasks = Vec::new();
                for (i, ((caller, agent), addrs)) in sockets.into_iter().zip(calls_addrs).enumerate() {
                    let (hist, sent, received, stop) = (hist.clone(), sent.clone(), received.clone(), stop.clone());
                    tasks.push(tokio::task::spawn_local(async move {
                        // spread the calls' packet clocks over the 20 ms period
                        let phase = Duration::from_micros((i as u64 * 7919) % 20_000);
                        let mut tick = tokio::time::interval_at((origin + phase).into(), Duration::from_millis(20));
                        let ulaw = vec![0xFFu8; 160];
                        let alaw = vec![0xD5u8; 160];
                        let agent_payload = if transcode { &alaw } else { &ulaw };
                        let (mut seq, mut ts) = (i as u16, (i as u32).wrapping_mul(1000));
                        let mut wire = Vec::with_capacity(200);
                        let (mut bc, mut bg) = (vec![0u8; 2048], vec![0u8; 2048]);
                        let record = |n: usize, buf: &[u8]| {
                            let Ok(p) = RtpPacket::parse(&buf[..n]) else { return };
                            received.set(received.get() + 1);
                            if let Some(e) = p.extension
                                && let Ok(b) = <[u8; 8]>::try_from(e.data)
                            {
                                let sent_at = Duration::from_nanos(u64::from_be_bytes(b));
                                let now = origin.elapsed();
                                if sent_at >= warmup {
                                    hist.borrow_mut().add(now.saturating_sub(sent_at));
                                }
                            }
                        };
                        enum Wake {
                            Tick,
                            Caller,
                            Agent,
                        }
                        loop {
                            // poll_tick/poll_recv_ready keep one waker each: cheaper than select! over readable() futures
                            let wake = std::future::poll_fn(|cx| {
                                use std::task::Poll;
                                if tick.poll_tick(cx).is_ready() {
                                    return Poll::Ready(Wake::Tick);
                                }
                                if caller.poll_recv_ready(cx).is_ready() {
                                    return Poll::Ready(Wake::Caller);
                                }
                                if agent.poll_recv_ready(cx).is_ready() {
                                    return Poll::Ready(Wake::Agent);
                                }
                                Poll::Pending
                            })
                            .await;
                            match wake {
                                Wake::Tick => {
                                    let now = origin.elapsed();
                                    if now >= run_for || stop.get() { break; }
                                    let stamp = (now.as_nanos() as u64).to_be_bytes();
                                    for (sock, dst, pt, payload) in [(&caller, addrs.bridge_caller_side, 0u8, &ulaw), (&agent, addrs.bridge_agent_side, if transcode { 8 } else { 0 }, agent_payload)] {
                                        let mut p = RtpPacket::new(pt, seq, ts, 0xC000 + i as u32, payload);
                                        p.extension = Some(RtpExtension { profile: 0x1000, data: &stamp });
                                        wire.clear();
                                        if p.write_to(&mut wire).is_ok() && sock.try_send_to(&wire, dst).is_ok() {
                                            sent.set(sent.get() + 1);
                                        }
                                    }
                                    seq = seq.wrapping_add(1);
                                    ts = ts.wrapping_add(160);
                                }
                                Wake::Caller => {
                                    while let Ok((n, _)) = caller.try_recv_from(&mut bc) {
                                        record(n, &bc)
                                    }
                                }
                                Wake::Agent => {
                                    while let Ok((n, _)) = agent.try_recv_from(&mut bg) {
                                        record(n, &bg)
                                    }
                                }
                            }
                        }
                        // drain what is still in flight
                        let drain_until = origin.elapsed() + Duration::from_millis(300);
                        while origin.elapsed() < drain_until {
                            tokio::select! {
                                _ = caller.readable() => while let Ok((n, _)) = caller.try_recv_from(&mut bc) { record(n, &bc) },
                                _ = agent.readable() => while let Ok((n, _)) = agent.try_recv_from(&mut bg) { record(n, &bg) },
                                _ = sleep_until(origin + drain_until) => break,
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
                let cpu = thread_cpu().saturating_sub(cpu_start);
                let h = hist.borrow();
                (sent.get(), received.get(), h.quantile_ms(0.5), h.quantile_ms(0.99), h.quantile_ms(1.0), cpu)
            })
        })
        .expect("generator thread");

    let (sent, received, p50, p99, pmax, gen_cpu) = gen_thread.join().expect("generator");
    let _ = stop_tx.send(true);
    let (relay_cpu, relay_wall) = relay_thread.join().expect("relay");
    let total_cpu = process_cpu().saturating_sub(cpu0);
    let loss = if sent == 0 {
        1.0
    } else {
        1.0 - received as f64 / sent as f64
    };
    let call_minutes = args.calls as f64 * relay_wall.as_secs_f64() / 60.0;
    let per_call_minute = relay_cpu.as_secs_f64() / call_minutes;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "calls": args.calls,
                "secs": args.secs,
                "transcode": args.transcode,
                "packets_sent": sent,
                "packets_received": received,
                "loss": loss,
                "p50_added_delay_ms": p50,
                "p99_added_delay_ms": p99,
                "max_added_delay_ms": pmax,
                "cpu_secs_per_call_minute": per_call_minute,
                "relay_cpu_secs": relay_cpu.as_secs_f64(),
                "generator_cpu_secs": gen_cpu.as_secs_f64(),
                "process_cpu_secs": total_cpu.as_secs_f64(),
            })
        );
    } else {
        println!("calls                 {}", args.calls);
        println!(
            "mode                  {}",
            if args.transcode {
                "transcode µ-law <-> A-law"
            } else {
                "passthrough µ-law"
            }
        );
        println!("packets sent/received {sent} / {received}");
        println!("loss                  {:.4}%", loss * 100.0);
        println!(
            "added delay p50/p99   {p50:.3} / {p99:.3} ms (max {pmax:.3} ms, end to end through the relay)"
        );
        println!(
            "relay CPU             {:.2} s over {:.1} s = {:.4} CPU s per call-minute",
            relay_cpu.as_secs_f64(),
            relay_wall.as_secs_f64(),
            per_call_minute
        );
        println!(
            "generator CPU         {:.2} s; whole process {:.2} s",
            gen_cpu.as_secs_f64(),
            total_cpu.as_secs_f64()
        );
    }
}
