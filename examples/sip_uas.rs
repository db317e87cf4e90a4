//! A SIP UAS built on callcore-sip: answers OPTIONS with 200, every INVITE with 180 then
//! 200 OK and a PCMU SDP answer (or with `--reply CODE`), accepts ACK and BYE, logs one
//! line per call. Used by the SIPp tests and load runs.
//!
//! `cargo run --release --example sip_uas -- --bind 127.0.0.1:5080 [--reply 486] [--quiet]`
//!
//! The log goes through a buffer flushed every 200 ms, so a load run does not pay one
//! `write` system call per log line.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore_sip::session::LocalMedia;
use callcore_sip::ua::{IdSeed, UaConfig, UaEvent, driver};

#[path = "cli.rs"]
mod cli;

use clap::Parser;

/// A SIP UAS on callcore-sip: OPTIONS get 200, every INVITE 180 then 200 OK with a PCMU
/// answer (or a final error with --reply), one log line per call.
#[derive(Debug, Parser)]
#[command(
    name = "sip_uas",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --release --example sip_uas -- --bind 127.0.0.1:5080 --reply 486"
)]
struct Args {
    /// UDP address to listen on
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5080")]
    bind: SocketAddr,
    /// answer every INVITE with this 300-699 code [default: off: answer with 200]
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(300..700))]
    reply: Option<u16>,
    /// no log line per call [default: off]
    #[arg(long)]
    quiet: bool,
}

/// Log lines are collected here and written out by the flush tick (and when full).
#[derive(Clone)]
struct LogBuffer(Arc<Mutex<std::io::BufWriter<std::io::Stdout>>>);

impl LogBuffer {
    fn new() -> Self {
        LogBuffer(Arc::new(Mutex::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ))))
    }

    fn flush_now(&self) {
        if let Ok(mut w) = self.0.lock() {
            let _ = w.flush();
        }
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut w) => w.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Flushed by the tick, not after every line.
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let log = LogBuffer::new();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let mut config = UaConfig::new(args.bind);
    // A load generator (SIPp) is one source, like a trunk: per-source limits go up to
    // the totals, which stay on (503 + Retry-After above them).
    config.limits.max_calls_per_source = config.limits.max_calls;
    config.limits.transactions.max_pending_per_source = config.limits.transactions.max_pending;
    let (sip, mut events) = match driver::start(config, IdSeed::Os, true).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("sip_uas: cannot bind {}: {e}", args.bind);
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %sip.local_addr(), "sip_uas listening on UDP and TCP");
    log.flush_now();
    let rtp: SocketAddr = SocketAddr::new(args.bind.ip(), 40_000);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let ev = tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
            _ = tick.tick() => {
                log.flush_now();
                continue;
            }
        };
        // One log line per call: when it is answered, rejected or cancelled.
        match ev {
            UaEvent::IncomingCall { call, from, .. } => {
                sip.ring(call);
                match args.reply {
                    Some(code) => {
                        sip.reject(call, code);
                        if !args.quiet {
                            tracing::info!(call = call.0, %from, code, "call rejected");
                        }
                    }
                    None => match sip.answer(call, LocalMedia::g711(rtp, call.0)).await {
                        Ok(audio) => {
                            if !args.quiet {
                                let codec = audio.map(|a| a.codec.name()).unwrap_or("none");
                                tracing::info!(call = call.0, %from, codec, "call answered");
                            }
                        }
                        Err(e) => {
                            tracing::info!(call = call.0, %from, error = %e, "call not answered")
                        }
                    },
                }
            }
            UaEvent::Ended { call, by_remote } => {
                tracing::debug!(call = call.0, by_remote, "call ended")
            }
            UaEvent::Cancelled { call } if !args.quiet => {
                tracing::info!(call = call.0, "call cancelled")
            }
            _ => {}
        }
    }
    log.flush_now();
}
