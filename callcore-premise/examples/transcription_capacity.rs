//! Transcription capacity on the premise path: how many concurrent two-sided
//! calls this machine measures and transcribes in real time (`[quality] enabled,
//! transcribe`, feature `asr-whisper`, the model `CALLCORE_WHISPER_MODEL` names).
//!
//! Each round starts a premise center with N agents (SIPp phones at fixed
//! contacts) and N callers (SIPp, each dialling its own number routed to the
//! queue), and once each call is connected sends the conversation of
//! `tests/live_transcription.rs` (six espeak-ng lines, two voices, gaps and an
//! overlap, 20 ms µ-law packets on one schedule) on both its legs. For N = each
//! of `--calls` it runs the calls with transcription off (the baseline: media,
//! recording, the talk meter) and on, and prints per round: the center's CPU
//! seconds per call-second of conversation (this process, `/proc/self/stat`;
//! the SIPps are other processes and the test sender is negligible), the
//! transcripts' lag behind the speech (each segment's emission less its line's
//! end, p50/p95/max), the segments heard of those said, and the word error
//! rate; then the ratio of transcribing to the baseline, and the figures a
//! capacity plan needs, all derived from the transcribing round's CPU figure:
//!
//! - *calls/core*: 1 / (CPU s per call-second), the concurrent calls one core
//!   carries in real time, were the CPU the only limit;
//! - *calls/machine*: that times the cores this process may use;
//! - *RTF/side*: the recognizer's real-time factor per side in CPU terms,
//!   (transcribing − baseline) / 2, CPU seconds per second of one side's audio;
//! - *lag growth*: per call, the last segment's lag less the first's (mean over
//!   the calls): about 0 while the recognizer keeps up, growing with the
//!   conversation's length when it falls behind (the lag then has no bound).
//!
//! The transcription queue (`[quality] transcription_workers`,
//! `max_transcription_lag_secs`) is the center's default unless `--workers N`
//! or `--max-lag SECS` set it (`--max-lag 0`: never shed, the unbounded lag of
//! a center without the limit); the *shed* column counts the utterances the
//! queue shed instead of transcribing (the calls' `AudioMeasured`).
//!
//! The model is `--model DIR` (a CTranslate2 Whisper folder; it becomes the
//! center's `[ivr] asr_model`), else the folder `CALLCORE_WHISPER_MODEL` names.
//! Multilingual models decode in English (`WhisperConfig`'s default language),
//! the conversation's language.
//!
//! ```text
//! CALLCORE_WHISPER_MODEL=$PWD/.cache/asr/whisper-tiny.en CALLCORE_TEST_PORTS=14500 \
//!   cargo run -p callcore-premise --features asr-whisper --example transcription_capacity \
//!   -- --calls 1,2,4
//! cargo run ... --example transcription_capacity -- --calls 4 --max-lag 0
//! cargo run ... --example transcription_capacity -- --calls 1,2 --model .cache/asr/whisper-base
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "../tests/conversation_support/mod.rs"]
mod conversation;
#[path = "../tests/call_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callcore::{EventKind, Speaker};
use callcore_premise::{Premise, PremiseConfig};
use conversation::{Laid, converse, cpu_seconds, edits, have, scenario, sipp, tracks, words};
use support::{config, data_dir, rtp_block, sip_port};

/// Each conversation starts this long after its agent is connected.
const LEAD_MS: u64 = 400;

const HELP: &str = "transcription_capacity: concurrent two-sided calls measured and \
transcribed in real time through the premise center (SIPp phones, espeak-ng speech).

Options:
  --calls LIST   concurrent calls per round, comma-separated (default: 1,2,4)
  --model DIR    the Whisper model folder (CTranslate2; default: CALLCORE_WHISPER_MODEL)
  --workers N    [quality] transcription_workers (default: the recognizer's own limit, 1 for Whisper)
  --max-lag SECS [quality] max_transcription_lag_secs (default 20; 0: never shed)
  --help         this text

Derived columns: calls/core = 1 / transcribing CPU s per call-second; calls/machine =
calls/core x cores; RTF/side = (transcribing - baseline) / 2, CPU s per second of one
side's audio; lag growth = last segment's lag - first's, mean over the calls.

Environment: CALLCORE_WHISPER_MODEL (the model folder, unless --model names one),
CALLCORE_TEST_PORTS (a block of 500 ports to use; default 40000-40999).";

fn epoch_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// One round's figures.
#[derive(Debug, Default)]
struct Round {
    cpu_per_call_second: f64,
    lags: Vec<i64>,
    /// Per call, the last matched segment's lag less the first's (ms).
    growth: Vec<i64>,
    segments: usize,
    said: usize,
    wer: f64,
    wall_s: f64,
    /// Utterances the transcription queue shed (not transcribed).
    shed: u32,
}

/// The transcription queue's settings from the command line.
#[derive(Debug, Clone, Copy, Default)]
struct Queue {
    workers: Option<usize>,
    max_lag_secs: Option<f64>,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `calls` concurrent conversations through a fresh center.
async fn round(
    calls: usize,
    transcribe: bool,
    queue: Queue,
    model: &std::path::Path,
    laid: &[Laid],
    tracks: &[Vec<u8>; 2],
) -> Round {
    let dir = data_dir(&format!(
        "capacity-{calls}-{}",
        if transcribe { "asr" } else { "base" }
    ));
    let conversation_ms = tracks[0].len() as u64 / 8;
    let agent_ports: Vec<u16> = (0..calls).map(|_| sip_port()).collect();
    let mut toml = String::new();
    for (i, port) in agent_ports.iter().enumerate() {
        toml.push_str(&format!(
            "[[agents]]\nid = \"agent{i}\"\nname = \"Agent {i}\"\n\
             contact = \"sip:agent{i}@127.0.0.1:{port}\"\nskills = [\"support\"]\n\
             [[dids]]\nnumber = \"{}\"\nqueue = \"support\"\n",
            7100 + i
        ));
    }
    toml.push_str(&format!(
        "[quality]\nenabled = true\ntranscribe = {transcribe}\nsilence_alert_secs = 2.0\n\
         talk_over_alert_secs = 0.5\n"
    ));
    if let Some(w) = queue.workers {
        toml.push_str(&format!("transcription_workers = {w}\n"));
    }
    if let Some(l) = queue.max_lag_secs {
        toml.push_str(&format!("max_transcription_lag_secs = {l}\n"));
    }
    let mut cfg: PremiseConfig = config(&dir, &toml);
    cfg.ivr.asr_model = Some(model.to_path_buf());
    let premise = Premise::start(cfg).await.unwrap();
    let mut events = premise.center().subscribe();
    let center = premise.sip_addr().to_string();

    // each phone's media socket (its port in the phone's SDP) and the file its
    // SIPp writes the center's media port to
    let media = |name: String| {
        let sock = std::net::UdpSocket::bind(("127.0.0.1", rtp_block(2))).unwrap();
        (sock, dir.join(name))
    };
    let mut agents: HashMap<String, _> = HashMap::new();
    let mut sipps = Vec::new();
    for (i, port) in agent_ports.iter().enumerate() {
        let (sock, log) = media(format!("agent{i}.media"));
        let sf = scenario(
            &dir,
            "agent_talk.xml",
            &[
                ("@MEDIA_LOG@", log.display().to_string()),
                (
                    "@MEDIA_PORT@",
                    sock.local_addr().unwrap().port().to_string(),
                ),
            ],
        );
        let sf = std::fs::rename(&sf, dir.join(format!("agent{i}.xml")))
            .map(|()| dir.join(format!("agent{i}.xml")))
            .unwrap();
        sipps.push(sipp(&dir, &sf, *port, &[]));
        agents.insert(format!("agent{i}"), (sock, log));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let mut callers: HashMap<String, _> = HashMap::new();
    for i in 0..calls {
        let (sock, log) = media(format!("caller{i}.media"));
        let sf = scenario(
            &dir,
            "caller_talk.xml",
            &[
                ("@MEDIA_LOG@", log.display().to_string()),
                (
                    "@MEDIA_PORT@",
                    sock.local_addr().unwrap().port().to_string(),
                ),
                (
                    "@HANGUP_MS@",
                    (conversation_ms + 4000 + 300 * calls as u64).to_string(),
                ),
            ],
        );
        let sf = std::fs::rename(&sf, dir.join(format!("caller{i}.xml")))
            .map(|()| dir.join(format!("caller{i}.xml")))
            .unwrap();
        let number = (7100 + i).to_string();
        sipps.push(sipp(&dir, &sf, sip_port(), &["-s", &number, &center]));
        callers.insert(number, (sock, log));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // each call: its caller (by the number dialled), its start, its segments
    let mut number_of = HashMap::new();
    let mut started: HashMap<callcore::InteractionId, i64> = HashMap::new();
    let mut heard: HashMap<callcore::InteractionId, Vec<(Speaker, String, i64)>> = HashMap::new();
    let mut senders = Vec::new();
    let mut measured = 0;
    let mut shed = 0;
    let deadline = Duration::from_secs(120 + 30 * calls as u64);
    tokio::time::timeout(deadline, async {
        while measured < calls {
            let e = events.recv().await.unwrap();
            match &e.kind {
                EventKind::InteractionCreated { interaction } => {
                    number_of.insert(interaction.id.clone(), interaction.to.clone());
                }
                EventKind::Connected {
                    interaction, agent, ..
                } => {
                    let number = number_of.get(interaction).cloned().unwrap_or_default();
                    let caller = callers
                        .iter()
                        .find(|(n, _)| number.contains(n.as_str()))
                        .map(|(n, _)| n.clone())
                        .and_then(|n| callers.remove(&n));
                    let (Some(caller), Some(agent)) = (caller, agents.remove(agent.as_str()))
                    else {
                        continue;
                    };
                    started.insert(interaction.clone(), epoch_ms() + LEAD_MS as i64);
                    let t0 = Instant::now() + Duration::from_millis(LEAD_MS);
                    senders.push(converse(
                        [
                            (agent.0, agent.1, tracks[0].clone()),
                            (caller.0, caller.1, tracks[1].clone()),
                        ],
                        t0,
                    ));
                }
                EventKind::TranscriptSegment {
                    interaction,
                    speaker,
                    text,
                    ..
                } => heard.entry(interaction.clone()).or_default().push((
                    *speaker,
                    text.expose().clone(),
                    epoch_ms(),
                )),
                EventKind::AudioMeasured { audio, .. } => {
                    measured += 1;
                    shed += audio.transcription_shed;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("every call measured in time");
    let cpu = cpu_seconds() - cpu0;
    let wall_s = wall0.elapsed().as_secs_f64();
    for s in senders {
        s.join().unwrap();
    }
    premise.shutdown().await;
    drop(sipps);
    let _ = std::fs::remove_dir_all(&dir);

    // lag: each segment against its line (in order, the same speaker)
    let mut r = Round {
        cpu_per_call_second: cpu / (calls as f64 * conversation_ms as f64 / 1000.0),
        wall_s,
        said: laid.len() * calls,
        shed,
        ..Round::default()
    };
    let (mut errors, mut reference) = (0, 0);
    for (id, t0) in &started {
        let segments = heard.get(id).cloned().unwrap_or_default();
        r.segments += segments.len();
        let mut next = 0;
        let mut lags = Vec::new();
        for (speaker, _, at) in &segments {
            if let Some(k) = (next..laid.len()).find(|&k| laid[k].speaker == *speaker) {
                lags.push(at - (t0 + laid[k].end));
                next = k + 1;
            }
        }
        if let (Some(first), Some(last)) = (lags.first(), lags.last()) {
            r.growth.push(last - first);
        }
        r.lags.extend(lags);
        let reference_words: Vec<String> = laid.iter().flat_map(|l| words(l.text)).collect();
        let hypothesis: Vec<String> = segments.iter().flat_map(|s| words(&s.1)).collect();
        errors += edits(&reference_words, &hypothesis);
        reference += reference_words.len();
    }
    r.wer = errors as f64 / reference.max(1) as f64;
    r.lags.sort_unstable();
    r
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return;
    }
    let calls: Vec<usize> = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || vec![1, 2, 4],
            |l| l.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        );
    let model = args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1))
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("CALLCORE_WHISPER_MODEL"));
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let queue = Queue {
        workers: value("--workers").and_then(|w| w.parse().ok()),
        max_lag_secs: value("--max-lag").and_then(|l| l.parse().ok()),
    };
    let Some(model) = model.map(std::path::PathBuf::from) else {
        eprintln!("no model: --model DIR or CALLCORE_WHISPER_MODEL (scripts/fetch-asr-model.sh)");
        std::process::exit(2);
    };
    if !model.join("model.bin").is_file() {
        eprintln!(
            "{}: no model.bin (a CTranslate2 Whisper folder)",
            model.display()
        );
        std::process::exit(2);
    }
    for (p, a) in [
        ("sipp", "-v"),
        ("sox", "--version"),
        ("espeak-ng", "--version"),
    ] {
        if !have(p, a) {
            eprintln!("{p} is not installed");
            std::process::exit(2);
        }
    }
    let dir = data_dir("capacity-lines");
    let (laid, tracks) = tracks(&dir);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "model {}; {cores} cores; a {:.1} s conversation per call; load average {}",
        model.display(),
        tracks[0].len() as f64 / 8000.0,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "calls | baseline CPU s/call-s | transcribing CPU s/call-s | ratio | calls/core | \
         calls/machine | RTF/side | lag p50/p95/max ms | lag growth ms | segments | shed | WER"
    );
    println!(
        "transcription queue: workers {}, max lag {}",
        queue.workers.map_or_else(
            || "the recognizer's own limit (Whisper: 1)".into(),
            |w| w.to_string()
        ),
        queue
            .max_lag_secs
            .map_or_else(|| "20 s (the default)".into(), |l| format!("{l} s"))
    );
    for n in calls {
        let base = round(n, false, queue, &model, &laid, &tracks).await;
        let load0 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let asr = round(n, true, queue, &model, &laid, &tracks).await;
        let per_core = 1.0 / asr.cpu_per_call_second.max(1e-9);
        let rtf = (asr.cpu_per_call_second - base.cpu_per_call_second) / 2.0;
        let growth = asr.growth.iter().sum::<i64>() / (asr.growth.len().max(1) as i64);
        println!(
            "{n:5} | {:21.3} | {:25.3} | {:5.1} | {per_core:10.2} | {:13.1} | {rtf:8.3} | \
             {:>5}/{:>5}/{:>5} | {growth:13} | {:>3}/{:<3} | {:4} | {:.3}",
            base.cpu_per_call_second,
            asr.cpu_per_call_second,
            asr.cpu_per_call_second / base.cpu_per_call_second.max(1e-9),
            per_core * cores as f64,
            percentile(&asr.lags, 0.5),
            percentile(&asr.lags, 0.95),
            asr.lags.last().copied().unwrap_or(0),
            asr.segments,
            asr.said,
            asr.shed,
            asr.wer,
        );
        let load1 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let first3 = |l: &str| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        eprintln!(
            "  (rounds took {:.1} s and {:.1} s of wall time; load average {} before the \
             transcribing round, {} after)",
            base.wall_s,
            asr.wall_s,
            first3(&load0),
            first3(&load1)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
