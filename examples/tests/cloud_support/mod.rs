//! What the cloud tests share (`cloud_kamailio.rs`, `cloud_elastic.rs`): whether
//! the peers are there, the `cloud` binary, free ports for the proxy and the
//! SIPps, stopping the cloud, and the calls of SIPp's `-trace_logs` file.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn has(cmd: &str, arg: &str) -> bool {
    std::process::Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The database URL when PostgreSQL, Redis, Kamailio and SIPp are all there;
/// otherwise a notice naming `what` (a failure under `CALLCORE_REQUIRE_PEERS=1`).
pub fn ready(what: &str) -> Option<String> {
    let db = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let redis = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    let why = match (db, redis, has("kamailio", "-v"), has("sipp", "-v")) {
        (Some(d), Some(_), true, true) => return Some(d),
        (None, ..) => "DATABASE_URL is not set",
        (_, None, ..) => "REDIS_URL is not set",
        (_, _, false, _) => "kamailio is not installed (apt-get install -y kamailio)",
        _ => "sipp is not installed (apt-get install -y sip-tester)",
    };
    assert!(
        std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "peers required (CALLCORE_REQUIRE_PEERS=1): {why}"
    );
    eprintln!("NOTICE: skipping {what}: {why}");
    None
}

/// The `cloud` example of this test's profile (`cargo build -p examples
/// --example cloud` makes it); built by the cargo running this test when it
/// is missing or older than its sources; `CLOUD_BIN` overrides it.
pub fn cloud_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("CLOUD_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let bin = profile_dir.join("examples").join("cloud");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fresh = modified(&bin).is_some_and(|built| {
        ["cloud.rs", "cloud_demo.rs", "cloud_proxy.rs", "cli.rs"]
            .iter()
            .all(|f| modified(&here.join(f)).is_some_and(|m| m <= built))
    });
    if fresh {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "-p", "examples", "--example", "cloud"]);
    // cargo's variables for this test would change build scripts' inputs
    // (and make both builds redo their dependencies); CARGO_INCREMENTAL stays:
    // without it every workspace crate would be built again
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_")
            && !["CARGO_TARGET_DIR", "CARGO_HOME", "CARGO_INCREMENTAL"].contains(&k.as_str())
        {
            build.env_remove(k);
        }
    }
    if release {
        build.arg("--release");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = build.current_dir(root).status().unwrap();
    assert!(status.success(), "cargo build --example cloud failed");
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// A free UDP port for the proxy and the SIPps, from blocks of four in 27000-28999:
/// below the kernel's ephemeral range and clear of the nodes' ports (RTP from 25100,
/// SIP and HTTP from 30000), so no port-0 bind can take it before its owner binds it
/// (SIPp's media port needs the next three free too: RTCP, video RTP and RTCP).
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    const LO: u16 = 27_000;
    const SPAN: u16 = 2_000;
    let salt = (std::process::id() % u32::from(SPAN)) as u16 & !3;
    for _ in 0..SPAN / 4 {
        let port = LO
            + NEXT
                .fetch_add(4, std::sync::atomic::Ordering::Relaxed)
                .wrapping_add(salt)
                % SPAN;
        if (0..4).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
    panic!("no free port in {LO}..{}", LO + SPAN);
}

/// Stops the cloud with SIGTERM (it stops Kamailio and the nodes) when the
/// test ends, also on a failed assertion.
pub struct StopCloud(pub u32);

impl Drop for StopCloud {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.to_string()])
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(1500));
    }
}

pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One SIPp call: its number, when it started (epoch seconds), whether its
/// BYE was answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub number: u32,
    pub start: f64,
    pub ok: bool,
    /// When its BYE was answered (epoch seconds).
    pub ok_at: f64,
}

/// The calls of SIPp's `-trace_logs` file (`<call_id> start|ok <date> <time> <epoch>`).
pub fn calls_of(log: &str) -> BTreeMap<u32, Call> {
    let mut calls = BTreeMap::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(id), Some(what), Some(epoch)) = (f.first(), f.get(1), f.last()) else {
            continue;
        };
        let Some(number) = id.split('-').next().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(at) = epoch.parse::<f64>() else {
            continue;
        };
        match *what {
            "start" => {
                calls.insert(
                    number,
                    Call {
                        number,
                        start: at,
                        ok: false,
                        ok_at: 0.0,
                    },
                );
            }
            "ok" => {
                if let Some(c) = calls.get_mut(&number) {
                    c.ok = true;
                    c.ok_at = at;
                }
            }
            _ => {}
        }
    }
    calls
}
