//! The two-sided espeak-ng conversation of `tests/live_transcription.rs` and
//! `examples/transcription_capacity.rs`: its lines laid out on one schedule,
//! each side's track, the SIPp scenarios that set up its call, the sender of
//! both sides' RTP, and the measures (gaps, talk-over, word errors).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use callcore::Speaker;

use crate::support::rtp_block;

/// The conversation: who says what, and the pause before it (negative: it
/// starts that long before the previous line ends).
pub const LINES: [(Speaker, &str, i64); 6] = [
    (
        Speaker::Agent,
        "Thank you for calling Example Telecom my name is Alex how can I help you today",
        300,
    ),
    (
        Speaker::Customer,
        "Hi I would like to know why my last bill was so high",
        1200,
    ),
    (Speaker::Agent, "Let me check your account for you", 2500),
    (
        Speaker::Customer,
        "I was charged twice for the same month",
        -900,
    ),
    (
        Speaker::Agent,
        "I can see the double charge and I will refund it today",
        1000,
    ),
    (Speaker::Customer, "Thank you very much goodbye", 1500),
];

/// Whether `program` runs.
pub fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// espeak-ng's speech of `text` as raw µ-law at 8 kHz, trimmed by sox to its
/// first and last sound (so its length is the line's speech).
pub fn line_ulaw(dir: &Path, n: usize, speaker: Speaker, text: &str) -> Vec<u8> {
    let wav = dir.join(format!("line-{n}.wav"));
    let ul = dir.join(format!("line-{n}.ul"));
    let pitch = if speaker == Speaker::Agent {
        "40"
    } else {
        "75"
    };
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-p", pitch, "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .unwrap()
        .success();
    assert!(ok, "espeak-ng failed");
    let ok = Command::new("sox")
        .arg(&wav)
        .args(["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&ul)
        .args([
            "silence", "1", "0.01", "1%", "reverse", "silence", "1", "0.01", "1%", "reverse",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "sox failed");
    std::fs::read(&ul).unwrap()
}

/// One line as laid out: who, words, and its span on the conversation's
/// schedule (ms from its start).
#[derive(Debug, Clone)]
pub struct Laid {
    pub speaker: Speaker,
    pub text: &'static str,
    pub start: i64,
    pub end: i64,
}

/// Lays the lines out on one schedule and makes each side's track of it (raw
/// µ-law from the schedule's start, silence where the side does not speak).
pub fn tracks(dir: &Path) -> (Vec<Laid>, [Vec<u8>; 2]) {
    let mut laid = Vec::new();
    let mut t = 0i64;
    let mut audio = Vec::new();
    for (n, (speaker, text, pause)) in LINES.iter().enumerate() {
        let clip = line_ulaw(dir, n, *speaker, text);
        let start = t + pause;
        let end = start + i64::try_from(clip.len() / 8).unwrap();
        laid.push(Laid {
            speaker: *speaker,
            text,
            start,
            end,
        });
        audio.push(clip);
        t = end;
    }
    let track = |who: Speaker| {
        let mut track: Vec<u8> = Vec::new();
        for (l, clip) in laid.iter().zip(&audio).filter(|(l, _)| l.speaker == who) {
            track.resize(usize::try_from(l.start * 8).unwrap(), 0xFF); // µ-law silence
            track.extend_from_slice(clip);
        }
        track
    };
    let (mut agent, mut caller) = (track(Speaker::Agent), track(Speaker::Customer));
    // both end together, on a whole packet
    let len = agent.len().max(caller.len()).div_ceil(160) * 160;
    agent.resize(len, 0xFF);
    caller.resize(len, 0xFF);
    (laid, [agent, caller])
}

/// A 12-byte RTP header (PCMU).
pub fn rtp_header(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut h = vec![0x80, 0];
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&ts.to_be_bytes());
    h.extend_from_slice(&ssrc.to_be_bytes());
    h
}

/// The center's media port a SIPp wrote (waits up to 5 s).
pub fn media_port(file: &Path) -> u16 {
    for _ in 0..100 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(port) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{file:?}: no media port");
}

/// Sends both sides' tracks, 20 ms packets, from one schedule starting at
/// `t0`: packet `k` of each side leaves when its audio is over (`t0` + 20·(k+1)
/// ms) or, if the thread was held up, at once (catching up, as a phone or SIPp
/// does), so the two sides keep the designed timing whatever the machine's
/// load. Returns the longest the sender was held up (ms).
pub fn converse(
    sides: [(std::net::UdpSocket, std::path::PathBuf, Vec<u8>); 2],
    t0: std::time::Instant,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let sides: Vec<_> = sides
            .into_iter()
            .enumerate()
            .map(|(i, (sock, log, track))| {
                let to = std::net::SocketAddr::from(([127, 0, 0, 1], media_port(&log)));
                (sock, to, track, 0x5EED_0000 + u32::try_from(i).unwrap())
            })
            .collect();
        let packets = sides[0].2.len() / 160;
        let mut held = 0u64;
        for k in 0..packets {
            let due = t0 + Duration::from_millis(20 * (k as u64 + 1));
            let now = std::time::Instant::now();
            if now < due {
                std::thread::sleep(due - now);
            } else {
                held = held.max(u64::try_from((now - due).as_millis()).unwrap());
            }
            for (sock, to, track, ssrc) in &sides {
                let ts = u32::try_from(k * 160).unwrap().wrapping_add(*ssrc);
                let mut packet = rtp_header(u16::try_from(k % 65536).unwrap(), ts, *ssrc);
                packet.extend_from_slice(&track[k * 160..(k + 1) * 160]);
                sock.send_to(&packet, to).unwrap();
            }
        }
        held
    })
}

/// `scenario` with its placeholders filled in, written to `dir`.
pub fn scenario(dir: &Path, name: &str, values: &[(&str, String)]) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(name),
    )
    .unwrap();
    for (k, v) in values {
        text = text.replace(k, v);
    }
    let out = dir.join(name);
    std::fs::write(&out, text).unwrap();
    out
}

pub fn sipp(dir: &Path, scenario: &Path, port: u16, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &rtp_block(4).to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "120s"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

/// Gaps between speech, and both speaking, of `spans` (who, start, end).
pub fn truth(spans: &[(Speaker, i64, i64)]) -> (Vec<(i64, i64)>, i64) {
    let mut s: Vec<(i64, i64)> = spans.iter().map(|&(_, a, b)| (a, b)).collect();
    s.sort_unstable();
    let mut gaps = Vec::new();
    let mut reach = s[0].1;
    for &(a, b) in &s[1..] {
        if a > reach {
            gaps.push((reach, a));
        }
        reach = reach.max(b);
    }
    let side = |w: Speaker| spans.iter().filter(move |x| x.0 == w).map(|x| (x.1, x.2));
    let mut over = 0;
    for (a0, a1) in side(Speaker::Agent) {
        for (c0, c1) in side(Speaker::Customer) {
            over += (a1.min(c1) - a0.max(c0)).max(0);
        }
    }
    (gaps, over)
}

pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Word edit distance.
pub fn edits(reference: &[String], hypothesis: &[String]) -> usize {
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(r != h)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[hypothesis.len()]
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // the fields after the command's closing parenthesis: utime is the 12th, stime the 13th
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux
    ticks / 100.0
}
