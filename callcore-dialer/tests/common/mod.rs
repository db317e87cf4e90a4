//! Helpers shared by the dialer's integration tests: finding a real peer,
//! picking a free port, and synthesising a telephone line with speech on it.
#![allow(dead_code, clippy::unwrap_used)]

use callcore_media::g711::Law;
use callcore_media::resample::{resample, to_i16};
use callcore_media::wav::read_wav;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether `bin` runs (`bin version_arg`). When it does not, prints a notice
/// naming the apt `package` and the test that is skipped (`what`), or fails
/// when `CALLCORE_REQUIRE_PEERS=1`.
pub fn peer_available(bin: &str, version_arg: &str, package: &str, what: &str) -> bool {
    let found = Command::new(bin)
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

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `text` spoken by espeak-ng on a quiet 8 kHz telephone line — `lead_ms` of
/// line noise before, `tail_ms` after — encoded as G.711 µ-law, as a phone
/// line carries it.
pub fn spoken_line_ulaw(text: &str, lead_ms: usize, tail_ms: usize) -> Vec<u8> {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "callcore-dialer-speech-{}-{}.wav",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .unwrap();
    assert!(status.success());
    let wav = read_wav(&std::fs::read(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(wav.channels, 1);
    let float: Vec<f32> = wav
        .samples
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let speech = to_i16(&resample(&float, wav.sample_rate, 8000));
    // A quiet line: a little noise rather than digital silence.
    let mut noise = 12345u32;
    let mut hiss = |n: usize| -> Vec<i16> {
        (0..n)
            .map(|_| {
                noise = noise.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((noise >> 16) % 41) as i16 - 20
            })
            .collect()
    };
    let mut line = hiss(lead_ms * 8);
    line.extend(speech);
    line.extend(hiss(tail_ms * 8));
    let mut ulaw = Vec::new();
    Law::Ulaw.encode_into(&line, &mut ulaw);
    ulaw
}
