//! A SIP UAS built on callcore-sip: answers OPTIONS with 200, every INVITE with 180 then
//! 200 OK and a PCMU SDP answer (or with `--reply CODE`), accepts ACK and BYE, logs one
//! line per call. Used by the SIPp tests and load runs.
//!
//! `cargo run --release --example sip_uas -- --bind 127.0.0.1:5080 [--reply 486] [--quiet]`

use std::net::SocketAddr;

use callcore_sip::session::LocalMedia;
use callcore_sip::ua::{UaConfig, UaEvent, driver};

struct Args {
    bind: SocketAddr,
    reply: Option<u16>,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bind: "127.0.0.1:5080".parse().map_err(|e| format!("{e}"))?,
        reply: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bind" => {
                let v = it.next().ok_or("--bind needs ADDR:PORT")?;
                args.bind = v.parse().map_err(|e| format!("--bind {v}: {e}"))?;
            }
            "--reply" => {
                let v = it.next().ok_or("--reply needs a status code")?;
                let code: u16 = v.parse().map_err(|e| format!("--reply {v}: {e}"))?;
                if !(300..700).contains(&code) {
                    return Err(format!(
                        "--reply {code}: must be a final non-2xx code (300-699)"
                    ));
                }
                args.reply = Some(code);
            }
            "--quiet" => args.quiet = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sip_uas: {e}\nusage: sip_uas --bind ADDR:PORT [--reply CODE] [--quiet]");
            std::process::exit(2);
        }
    };
    let seed = u64::from(std::process::id());
    let (sip, mut events) = match driver::start(UaConfig::new(args.bind), seed, true).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("sip_uas: cannot bind {}: {e}", args.bind);
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %sip.local_addr(), "sip_uas listening on UDP and TCP");
    let rtp: SocketAddr = SocketAddr::new(args.bind.ip(), 40_000);
    while let Some(ev) = events.recv().await {
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
            UaEvent::Ended { call, by_remote } if !args.quiet => {
                tracing::info!(call = call.0, by_remote, "call ended")
            }
            UaEvent::Cancelled { call } if !args.quiet => {
                tracing::info!(call = call.0, "call cancelled")
            }
            _ => {}
        }
    }
}
