//! Helpers of the trunk and agent-transport tests: peers present, free ports in
//! this suite's ranges (SIP 34000-34499, RTP 34500-34999), SIPp runners.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Debian's speech pcap (package `sip-tester`).
pub const SPEECH: &str = "/usr/share/sip-tester/g711a.pcap";

/// Whether sipp, its pcaps and root (raw sockets for `play_pcap_audio`) are here;
/// a notice and false otherwise, a failure under `CALLCORE_REQUIRE_PEERS=1`.
pub fn peers_ready() -> bool {
    let sipp = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let pcap = Path::new(SPEECH).exists();
    // SAFETY-free check of root: /proc/self/status's Uid line
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    let why = match (sipp, pcap, root) {
        (false, ..) => "sipp is not installed (apt-get install -y sip-tester)",
        (_, false, _) => "the sip-tester pcaps are missing",
        (_, _, false) => "SIPp needs root to play pcaps",
        _ => return true,
    };
    assert!(
        std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "peers required (CALLCORE_REQUIRE_PEERS=1): {why}"
    );
    eprintln!("NOTICE: skipping: {why}");
    false
}

/// A port of `lo..hi` free for UDP and TCP (and its next two neighbours for UDP,
/// for SIPp's RTCP and video sockets), starting where the process id says.
pub fn port_in(lo: u16, hi: u16, salt: u16) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(13)
        .wrapping_add(salt.wrapping_mul(97))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .filter(|p| *p + 2 < hi)
        .find(|&p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && TcpListener::bind(("127.0.0.1", p)).is_ok()
                && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
                && UdpSocket::bind(("127.0.0.1", p + 2)).is_ok()
        })
        .expect("a free port")
}

/// `tests/sipp/<name>` (or, for `../…`, a path from this crate's folder) with
/// `@PCAP@` filled in, written to `dir`.
pub fn scenario(name: &str, dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = if name.starts_with("../") {
        root.join(name)
    } else {
        root.join("tests/sipp").join(name)
    };
    let name = src
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("scenario.xml");
    let text = std::fs::read_to_string(&src)
        .unwrap()
        .replace("@PCAP@", SPEECH);
    let out = dir.join(name);
    std::fs::write(&out, text).unwrap();
    out
}

/// A SIPp running `name` once on 127.0.0.1:`port` (UDP unless `extra` says `-t`),
/// media and control ports from this suite's ranges.
pub fn sipp_uas(name: &str, port: u16, dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf")
        .arg(scenario(name, dir))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(port_in(34700, 35000, port).to_string())
        .args(["-cp"])
        .arg(port_in(34400, 34500, port).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}
