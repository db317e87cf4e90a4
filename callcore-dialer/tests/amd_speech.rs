//! The energy/cadence AMD on real speech: espeak-ng says a short "Hello?"
//! (a person who answers and waits) and voicemail greetings (machines); the
//! audio goes to 8 kHz and through G.711 µ-law as on a phone line. Skipped
//! with a notice without `espeak-ng`, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use callcore_dialer::media::{AmdConfig, AmdVerdict, CadenceAmd};
use callcore_media::g711::Law;
use callcore_media::resample::{resample, to_i16};
use callcore_media::wav::read_wav;
use std::process::{Command, Stdio};

fn espeak_available() -> bool {
    let found = Command::new("espeak-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "espeak-ng is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!(
            "NOTICE: espeak-ng not found; skipping the AMD speech test (apt-get install -y espeak-ng)"
        );
    }
    found
}

/// `text` spoken by espeak-ng, as 8 kHz telephone audio: `lead_ms` of quiet
/// line before, `tail_ms` after.
fn spoken(text: &str, lead_ms: usize, tail_ms: usize) -> Vec<i16> {
    let path = std::env::temp_dir().join(format!(
        "callcore-dialer-amd-{}-{}.wav",
        std::process::id(),
        text.len()
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
    // Through the codec, as a phone line carries it.
    let mut ulaw = Vec::new();
    Law::Ulaw.encode_into(&line, &mut ulaw);
    let mut out = Vec::new();
    Law::Ulaw.decode_into(&ulaw, &mut out);
    out
}

fn verdict(audio: &[i16]) -> (Option<AmdVerdict>, u32, usize) {
    let mut amd = CadenceAmd::new(AmdConfig::default());
    for (i, frame) in audio.chunks(160).enumerate() {
        if let Some(v) = amd.process_frame(frame) {
            return (Some(v), amd.words(), (i + 1) * 20);
        }
    }
    (None, amd.words(), audio.len() / 8)
}

#[test]
fn a_short_hello_is_a_person() {
    if !espeak_available() {
        return;
    }
    for text in ["Hello?", "Hello", "Yes, hello?"] {
        let audio = spoken(text, 400, 4000);
        let (v, words, at_ms) = verdict(&audio);
        assert_eq!(
            v,
            Some(AmdVerdict::Person),
            "{text:?}: {words} words, {at_ms} ms"
        );
        eprintln!("{text:?}: person after {at_ms} ms ({words} words)");
    }
}

#[test]
fn a_voicemail_greeting_is_a_machine() {
    if !espeak_available() {
        return;
    }
    for text in [
        "Hi, you have reached the voicemail of John Smith. I cannot take your call right now. Please leave a message after the tone.",
        "Thank you for calling. Nobody is available to take your call. Please leave your name and number.",
    ] {
        let audio = spoken(text, 300, 1000);
        let (v, words, at_ms) = verdict(&audio);
        assert_eq!(
            v,
            Some(AmdVerdict::Machine),
            "{text:?}: {words} words, {at_ms} ms"
        );
        // Decided within the greeting, long before it ends.
        assert!(at_ms <= 2500, "{at_ms} ms");
        eprintln!("machine after {at_ms} ms ({words} words)");
    }
}
