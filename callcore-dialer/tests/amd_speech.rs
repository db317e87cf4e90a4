//! The energy/cadence AMD on real speech: espeak-ng says a short "Hello?"
//! (a person who answers and waits) and voicemail greetings (machines); the
//! audio goes to 8 kHz and through G.711 µ-law as on a phone line. Skipped
//! with a notice without `espeak-ng`, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use callcore_dialer::media::{AmdConfig, AmdVerdict, CadenceAmd};
use callcore_media::g711::Law;

mod common;

fn espeak_available() -> bool {
    common::peer_available("espeak-ng", "--version", "espeak-ng", "the AMD speech test")
}

/// `text` spoken by espeak-ng, as 8 kHz telephone audio after G.711 µ-law:
/// `lead_ms` of quiet line before, `tail_ms` after.
fn spoken(text: &str, lead_ms: usize, tail_ms: usize) -> Vec<i16> {
    let mut out = Vec::new();
    Law::Ulaw.decode_into(&common::spoken_line_ulaw(text, lead_ms, tail_ms), &mut out);
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
