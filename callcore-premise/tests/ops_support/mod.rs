//! Helpers of the premise's operations tests (agent states, analytics,
//! campaigns): finding SIPp, ports in this suite's ranges (SIP 35000-35499,
//! RTP 35500-35999 on 127.0.0.1), running SIPp and checking it passed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Whether `bin` runs; a notice naming `what` is skipped otherwise, or a
/// failure when `CALLCORE_REQUIRE_PEERS=1`.
pub fn peer_available(bin: &str, version_arg: &str, package: &str, what: &str) -> bool {
    let found = std::process::Command::new(bin)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{bin} is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!("NOTICE: {bin} not found; skipping {what} (apt-get install -y {package})");
    }
    found
}

/// A free UDP port in `lo..hi`, starting at a place that depends on the
/// process and `salt`.
pub fn port_in(lo: u16, hi: u16, salt: u16) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(13)
        .wrapping_add(salt.wrapping_mul(97))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .find(|p| UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

/// A SIP port of this suite.
pub fn sip_port(salt: u16) -> u16 {
    port_in(35000, 35499, salt)
}

/// An even RTP port of this suite with `width` free-ish ports above it.
pub fn rtp_port(salt: u16) -> u16 {
    port_in(35500, 35900, salt) & !1
}

/// SIPp on 127.0.0.1:`port`, media on `media`, one call, 60 s at most.
pub fn sipp(port: u16, media: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media.to_string()])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Waits for SIPp and asserts it passed.
pub async fn passed(child: tokio::process::Child, who: &str) {
    let out = tokio::time::timeout(Duration::from_secs(70), child.wait_with_output())
        .await
        .expect("sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "{who}: sipp failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scenario of `tests/sipp`.
pub fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh data folder for one test.
pub fn data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("callcore-premise-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
