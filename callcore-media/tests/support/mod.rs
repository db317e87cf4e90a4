//! Shared helpers for tests that need real peers (sox, lame, espeak-ng, sipp).
#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;
use std::process::Command;

/// True if `bin` runs. When it is missing: print a notice and return false, or
/// panic when CALLCORE_REQUIRE_PEERS=1.
pub fn have(bin: &str, why: &str) -> bool {
    let ok = Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "{bin} is required ({why}) but not installed; apt-get install -y sip-tester espeak-ng sox lame"
            );
        }
        eprintln!(
            "SKIPPED: {bin} not installed ({why}); apt-get install -y sip-tester espeak-ng sox lame"
        );
    }
    ok
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("callcore-media-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Runs a command, panicking with its output on failure.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
pub mod sipp;

/// Waits `ms` of wall time (through the media glue's clock, as the crate's tasks do).
#[cfg(feature = "udp")]
pub async fn pause(ms: u64) {
    let clock = callcore_media::udp::GlueClock::start();
    clock
        .sleep_until(std::time::Duration::from_millis(ms))
        .await;
}
