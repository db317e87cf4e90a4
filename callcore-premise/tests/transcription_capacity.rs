//! Transcription capacity per core (feature `asr-whisper`, ignored by default: a
//! figure, not a check): how many live calls one CPU core can transcribe in real
//! time with the model `CALLCORE_WHISPER_MODEL` names.
//!
//! The conversation is the one of `tests/live_transcription.rs` (six espeak-ng
//! lines, two voices, its pauses and overlap), each line through the telephone
//! line's µ-law at 8 kHz, transcribed the way the center's quality inspection
//! does it (one utterance at a time, beam 5) on one CTranslate2 thread. The
//! figure is the conversation's length over the CPU time (the process's, read
//! from `/proc/self/stat`) its two sides' transcription took.
//!
//! `CALLCORE_WHISPER_MODEL=$PWD/.cache/asr/whisper-base cargo test --release -p
//! callcore-premise --features asr-whisper --test transcription_capacity --
//! --ignored --nocapture`

#![cfg(feature = "asr-whisper")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::process::Command;

use callcore_ivr::speech::whisper::{WhisperConfig, WhisperRecognizer};

/// The conversation of `tests/live_transcription.rs`: agent (low voice) or not,
/// the words, and the pause before the line in ms (negative: it starts that long
/// before the previous line ends).
const LINES: [(bool, &str, i64); 6] = [
    (
        true,
        "Thank you for calling Example Telecom my name is Alex how can I help you today",
        300,
    ),
    (
        false,
        "Hi I would like to know why my last bill was so high",
        1200,
    ),
    (true, "Let me check your account for you", 2500),
    (false, "I was charged twice for the same month", -900),
    (
        true,
        "I can see the double charge and I will refund it today",
        1000,
    ),
    (false, "Thank you very much goodbye", 1500),
];

/// Rounds through the line: espeak-ng at 22,050 Hz, resampled to 8 kHz, µ-law.
fn line_pcm(agent: bool, text: &str) -> Option<Vec<i16>> {
    let pitch = if agent { "40" } else { "75" };
    let out = Command::new("espeak-ng")
        .args(["--stdout", "-v", "en-us", "-s", "160", "-p", pitch, text])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let clip = callcore_media::wav::read_wav(&out.stdout).ok()?;
    let pcm = callcore_media::resample::resample_i16(&clip.to_mono(), clip.sample_rate, 8000);
    Some(
        pcm.iter()
            .map(|&x| callcore_media::g711::ulaw_decode(callcore_media::g711::ulaw_encode(x)))
            .collect(),
    )
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // the fields after the command's closing parenthesis: utime is the 12th, stime the 13th
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux
    ticks / 100.0
}

#[test]
#[ignore = "a figure: transcription capacity per core (run with --ignored --release)"]
fn live_calls_one_core_transcribes_in_real_time() {
    let Some(mut config) = WhisperConfig::from_env() else {
        eprintln!("NOTICE: CALLCORE_WHISPER_MODEL is not set; no figure");
        return;
    };
    let Some(lines) = LINES
        .iter()
        .map(|(agent, text, _)| line_pcm(*agent, text))
        .collect::<Option<Vec<_>>>()
    else {
        eprintln!("NOTICE: espeak-ng is not installed; no figure");
        return;
    };
    config.threads = 1;
    let model_dir = config.model_dir.clone();
    let model = WhisperRecognizer::load(config).unwrap();
    // the conversation's length: its lines and pauses, the overlap taken back
    let mut end = 0i64;
    for ((_, _, pause), pcm) in LINES.iter().zip(&lines) {
        end = end + pause + i64::try_from(pcm.len() / 8).unwrap();
    }
    let speech_s: f64 = lines.iter().map(|p| p.len() as f64 / 8000.0).sum();
    let call_s = end as f64 / 1000.0;
    // one warm-up pass, then timed passes
    for pcm in &lines {
        model.transcribe(pcm, 8000, &[]).unwrap();
    }
    let passes = 3;
    let wall = std::time::Instant::now();
    let cpu = cpu_seconds();
    for _ in 0..passes {
        for pcm in &lines {
            model.transcribe(pcm, 8000, &[]).unwrap();
        }
    }
    let cpu_s = (cpu_seconds() - cpu) / f64::from(passes);
    let wall_s = wall.elapsed().as_secs_f64() / f64::from(passes);
    eprintln!(
        "model {}: a {call_s:.1} s call ({speech_s:.1} s of speech on its two sides) \
         takes {cpu_s:.2} CPU s to transcribe ({wall_s:.2} s wall) on one thread: \
         real-time factor {:.3} per second of speech, {:.1} concurrent calls per core",
        model_dir.display(),
        cpu_s / speech_s,
        call_s / cpu_s
    );
    assert!(cpu_s > 0.0, "no CPU time measured");
}
