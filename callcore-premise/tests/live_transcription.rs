//! Live transcription and quality inspection from the audio (`[quality]`, feature
//! `asr-whisper`): a two-sided espeak-ng conversation through the running premise
//! center, each side sent by its own SIPp (`rtp_stream` of raw µ-law): a caller
//! dialling a number routed to the support queue, and the agent's phone at a fixed
//! contact. The conversation's lines, its gaps (one long enough for a dead-air
//! alert) and an overlap are laid out on two tracks whose timings are known from
//! the generated files (each line trimmed by sox). When each side's stream
//! starts is up to SIPp (the time its start log names was 0-173 ms off what the
//! center received in 20 runs on a loaded machine), so the ground truth is what
//! the center received: each line is found, sample for sample, in the center's
//! stereo recording, which places a side's first packet at its arrival and the
//! rest by their RTP timestamps (a sender stalled at its first packet is placed
//! that much late, which the center's meter, stamping arrivals, is not).
//!
//! Asserted: the transcript segments come in order with the right speakers and
//! near the lines' starts; the word error rate is measured, printed and within a
//! sane bound; the interior silence, the longest silence and the talk-over the
//! center measured are within 100 ms of what the tracks contain; the dead-air and
//! talk-over alerts were raised; the record holds the figures.
//!
//! `CALLCORE_WHISPER_MODEL=$PWD/.cache/asr/whisper-tiny.en cargo test -p callcore-premise
//! --features asr-whisper --test live_transcription -- --nocapture`. Skipped with a
//! notice without sipp, sox, espeak-ng or the model, unless `CALLCORE_REQUIRE_PEERS=1`.

#![cfg(feature = "asr-whisper")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use callcore::{EventKind, Speaker};
use callcore_premise::{Premise, PremiseConfig};
use support::{config, data_dir, rtp_block, sip_port};

/// The conversation: who says what, and the pause before it (negative: it
/// starts that long before the previous line ends).
const LINES: [(Speaker, &str, i64); 6] = [
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

/// The caller starts streaming this long after its call is answered, by when
/// the agent's phone has answered too (its track starts at its answer).
const CALLER_LEAD_MS: i64 = 1000;
/// Where the caller's track is expected to start on the agent's timeline (the
/// lead less the time the center takes to reach the agent); the true offset is
/// measured, this only keeps the designed gaps and overlap in shape.
const CALLER_EXPECTED_AT: i64 = 700;

fn required() -> bool {
    std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1")
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// espeak-ng's speech of `text` as raw µ-law at 8 kHz, trimmed by sox to its
/// first and last sound (so its length is the line's speech).
fn line_ulaw(dir: &Path, n: usize, speaker: Speaker, text: &str) -> Vec<u8> {
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

/// One line as laid out: who, words, and its span on the agent's timeline (ms).
#[derive(Debug, Clone)]
struct Laid {
    speaker: Speaker,
    text: &'static str,
    start: i64,
}

/// Lays the lines out on the agent's timeline and writes each side's track
/// (the caller's starting at [`CALLER_EXPECTED_AT`]).
fn tracks(dir: &Path) -> (Vec<Laid>, u64) {
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
        });
        audio.push(clip);
        t = end;
    }
    let mut longest = 0;
    for (who, name, origin) in [
        (Speaker::Agent, "agent.ul", 0),
        (Speaker::Customer, "caller.ul", CALLER_EXPECTED_AT),
    ] {
        let mut track: Vec<u8> = Vec::new();
        for (l, clip) in laid.iter().zip(&audio).filter(|(l, _)| l.speaker == who) {
            let at = usize::try_from((l.start - origin) * 8).unwrap();
            track.resize(at, 0xFF); // µ-law silence
            track.extend_from_slice(clip);
        }
        track.extend(std::iter::repeat_n(0xFF, 4000));
        longest = longest.max(track.len() as u64 / 8);
        std::fs::write(dir.join(name), track).unwrap();
    }
    (laid, longest)
}

/// `scenario` with its placeholders filled in, written to `dir`.
fn scenario(dir: &Path, name: &str, values: &[(&str, String)]) -> std::path::PathBuf {
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

fn sipp(dir: &Path, scenario: &Path, port: u16, args: &[&str]) -> tokio::process::Child {
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

/// Milliseconds since the epoch a SIPp wrote (`date +%s%N`).
fn started_ms(file: &Path) -> i64 {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let ns: i128 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{file:?}: {text:?}"));
    i64::try_from(ns / 1_000_000).unwrap()
}

/// The call's stereo recording once it is filed (waits up to 10 s).
async fn stereo_recording(
    premise: &Premise,
    record: &callcore::InteractionRecord,
) -> callcore::RecordingMeta {
    for _ in 0..50 {
        let filed = premise
            .recordings(std::slice::from_ref(record))
            .await
            .unwrap();
        if let Some(m) = filed.into_iter().find(|m| m.channels == 2) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no stereo recording of {}", record.id);
}

/// Which channel of the center's stereo recording holds `speaker`: the caller
/// left, the agent right.
fn channel_of(speaker: Speaker) -> usize {
    usize::from(speaker != Speaker::Customer)
}

/// Each line's span as the center received it, in ms since the epoch: the
/// line's generated audio is found in its side's channel of the recording
/// (`wav`, which starts at `started_ms`) where it matches sample for sample,
/// after the previous line of that side.
fn received_spans(
    dir: &Path,
    laid: &[Laid],
    wav: &callcore_media::wav::WavAudio,
    started_ms: i64,
) -> Vec<(Speaker, i64, i64)> {
    assert_eq!(
        (wav.channels, wav.sample_rate),
        (2, 8000),
        "a stereo 8 kHz recording"
    );
    let channel =
        |c: usize| -> Vec<i16> { wav.samples.iter().skip(c).step_by(2).copied().collect() };
    let sides = [channel(0), channel(1)];
    let mut cursor = [0usize; 2];
    let mut spans = Vec::new();
    for (n, l) in laid.iter().enumerate() {
        let clip: Vec<i16> = std::fs::read(dir.join(format!("line-{n}.ul")))
            .unwrap()
            .into_iter()
            .map(callcore_media::g711::ulaw_decode)
            .collect();
        let c = channel_of(l.speaker);
        let side = &sides[c];
        // the first sound of the clip, and the first sound on the channel after
        // the side's previous line (its silence is µ-law's zero)
        let lead = clip.iter().position(|&x| x != 0).unwrap();
        let heard = side[cursor[c]..]
            .iter()
            .position(|&x| x != 0)
            .map(|i| i + cursor[c])
            .unwrap_or_else(|| panic!("line {n} ({:?}) is not in the recording", l.text));
        let at = heard.checked_sub(lead).unwrap();
        let got = side.get(at..at + clip.len()).unwrap_or(&side[at..]);
        let same = got.iter().zip(&clip).filter(|(a, b)| a == b).count();
        // a packet the recorder found too late leaves 20 ms of silence
        assert!(
            same * 100 >= clip.len() * 95,
            "line {n} ({:?}): {same} of {} samples match the recording at {at}",
            l.text,
            clip.len()
        );
        cursor[c] = at + clip.len();
        let ms = |pos: usize| started_ms + i64::try_from(pos / 8).unwrap();
        spans.push((l.speaker, ms(at), ms(at + clip.len())));
    }
    spans
}

/// Gaps between speech, and both speaking, of `spans` (who, start, end).
fn truth(spans: &[(Speaker, i64, i64)]) -> (Vec<(i64, i64)>, i64) {
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

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Word edit distance.
fn edits(reference: &[String], hypothesis: &[String]) -> usize {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_are_transcribed_and_measured_from_their_audio() {
    let missing = [
        ("sipp", "-v"),
        ("sox", "--version"),
        ("espeak-ng", "--version"),
    ]
    .into_iter()
    .find(|(p, a)| !have(p, a));
    let why = match missing {
        Some((p, _)) => Some(format!("{p} is not installed")),
        None if std::env::var_os("CALLCORE_WHISPER_MODEL").is_none() => {
            Some("CALLCORE_WHISPER_MODEL is not set (scripts/fetch-asr-model.sh)".into())
        }
        None => None,
    };
    if let Some(why) = why {
        assert!(!required(), "{why} (CALLCORE_REQUIRE_PEERS=1)");
        eprintln!("NOTICE: {why}; skipping the live transcription test");
        return;
    }
    let dir = data_dir("live-transcription");
    let (laid, longest_track) = tracks(&dir);
    let agent_port = sip_port();
    let agent = format!(
        "[[agents]]\nid = \"alex\"\nname = \"Alex\"\ncontact = \"sip:alex@127.0.0.1:{agent_port}\"\n\
         skills = [\"support\"]\n\
         [[dids]]\nnumber = \"7000\"\nqueue = \"support\"\n\
         [quality]\nenabled = true\ntranscribe = true\nsilence_alert_secs = 2.0\n\
         talk_over_alert_secs = 0.5\n"
    );
    let cfg: PremiseConfig = config(&dir, &agent);
    let premise = Premise::start(cfg).await.unwrap();
    assert!(
        premise
            .banner()
            .contains("measured from their audio and transcribed"),
        "{}",
        premise.banner()
    );
    let mut events = premise.center().subscribe();

    let agent_log = dir.join("agent.start");
    let caller_log = dir.join("caller.start");
    let agent_sf = scenario(
        &dir,
        "agent_talk.xml",
        &[
            ("@START_LOG@", agent_log.display().to_string()),
            ("@TRACK@", dir.join("agent.ul").display().to_string()),
        ],
    );
    let caller_sf = scenario(
        &dir,
        "caller_talk.xml",
        &[
            ("@START_LOG@", caller_log.display().to_string()),
            ("@TRACK@", dir.join("caller.ul").display().to_string()),
            ("@LEAD_MS@", CALLER_LEAD_MS.to_string()),
            ("@HANGUP_MS@", (longest_track + 1000).to_string()),
        ],
    );
    let _agent = sipp(&dir, &agent_sf, agent_port, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let center = premise.sip_addr().to_string();
    let _caller = sipp(&dir, &caller_sf, sip_port(), &["-s", "7000", &center]);

    // everything the center says about the call, until its figures
    let mut created = None;
    let mut segments = Vec::new();
    let mut alerts = Vec::new();
    let audio = tokio::time::timeout(Duration::from_secs(240), async {
        loop {
            let e = events.recv().await.unwrap();
            match &e.kind {
                EventKind::InteractionCreated { interaction } => {
                    created = Some((interaction.id.clone(), interaction.created_at));
                }
                EventKind::TranscriptSegment {
                    speaker,
                    text,
                    offset_ms,
                    ..
                } => {
                    eprintln!(
                        "segment at {offset_ms} ms, {speaker:?}: {:?}",
                        text.expose()
                    );
                    segments.push((*speaker, text.expose().clone(), *offset_ms));
                }
                EventKind::QualityAlert { rule, detail, .. } => {
                    eprintln!("alert {rule}: {detail}");
                    alerts.push(rule.clone());
                }
                EventKind::AudioMeasured { audio, .. } => return audio.clone(),
                _ => {}
            }
        }
    })
    .await
    .expect("no AudioMeasured within 240 s");

    let (id, created_at) = created.expect("the call was created");
    let record = support::ended_record(&premise, &id).await;

    // the ground truth: where each line reached the center, found in the
    // center's stereo recording (each side placed by its first packet's arrival,
    // then by RTP timestamps) by matching the generated audio sample for sample
    let meta = stereo_recording(&premise, &record).await;
    let wav = callcore_media::wav::read_wav(&std::fs::read(&meta.path).unwrap()).unwrap();
    let spans = received_spans(&dir, &laid, &wav, meta.started_at.as_millis());
    // what the SIPps wrote when they started, beside what the center received
    let sipp_lead = started_ms(&caller_log) - started_ms(&agent_log);
    // where each side's track started (its first line less its place on the track)
    let origin = |who: Speaker| {
        let i = laid.iter().position(|l| l.speaker == who).unwrap();
        spans[i].1 - laid[i].start
    };
    let (agent_origin, caller_origin) = (origin(Speaker::Agent), origin(Speaker::Customer));
    eprintln!(
        "the caller's track reached the center {} ms after the agent's ({} ms by the \
         SIPps' start logs)",
        caller_origin - agent_origin + CALLER_EXPECTED_AT,
        sipp_lead
    );
    let (gaps, over) = truth(&spans);
    let interior: i64 = gaps.iter().map(|(a, b)| b - a).sum();
    let longest = gaps.iter().map(|(a, b)| b - a).max().unwrap();
    eprintln!(
        "truth: gaps {:?} ms (interior silence {interior}, longest {longest}), talk-over {over} ms",
        gaps.iter().map(|(a, b)| b - a).collect::<Vec<_>>()
    );
    eprintln!("measured: {audio:?}");

    // segments: in order, one per line, the right speaker, near the line's start
    let offsets: Vec<u64> = segments.iter().map(|s| s.2).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {offsets:?}"
    );
    assert_eq!(segments.len(), laid.len(), "{segments:?}");
    let mut errors = 0;
    let mut reference = 0;
    for ((speaker, text, offset), (truth_speaker, truth_start, _)) in segments.iter().zip(&spans) {
        assert_eq!(speaker, truth_speaker, "{text:?}");
        let at = created_at.as_millis() + i64::try_from(*offset).unwrap();
        assert!(
            (at - truth_start).abs() <= 150,
            "{text:?} at {at}, the line at {truth_start}"
        );
    }
    for who in [Speaker::Agent, Speaker::Customer] {
        let r: Vec<String> = laid
            .iter()
            .filter(|l| l.speaker == who)
            .flat_map(|l| words(l.text))
            .collect();
        let h: Vec<String> = segments
            .iter()
            .filter(|s| s.0 == who)
            .flat_map(|s| words(&s.1))
            .collect();
        let e = edits(&r, &h);
        eprintln!(
            "{who:?}: WER {:.3} ({e} edits / {} words)",
            e as f64 / r.len() as f64,
            r.len()
        );
        errors += e;
        reference += r.len();
    }
    let wer = errors as f64 / reference as f64;
    eprintln!("word error rate: {wer:.3} ({errors} edits over {reference} words)");
    assert!(wer <= 0.35, "word error rate {wer:.3}");

    // the figures, within 100 ms of the tracks
    let close = |what: &str, got: u64, want: i64| {
        let diff = i64::try_from(got).unwrap() - want;
        eprintln!("{what}: measured {got} ms, truth {want} ms ({diff:+} ms)");
        assert!(
            diff.abs() <= 100,
            "{what}: measured {got} ms, truth {want} ms"
        );
    };
    close("interior silence", audio.interior_silence_ms, interior);
    close("longest silence", audio.longest_silence_ms, longest);
    close("talk-over", audio.talk_over_ms, over);
    assert_eq!(audio.talk_overs, 1);
    assert!(alerts.iter().any(|r| r == "long_silence"), "{alerts:?}");
    assert!(alerts.iter().any(|r| r == "talk_over"), "{alerts:?}");

    // recognition speed: each line's audio through the same model, one at a time
    let model = callcore_ivr::speech::whisper::WhisperRecognizer::from_env().unwrap();
    let (mut audio_s, mut busy_s) = (0.0, 0.0);
    for n in 0..LINES.len() {
        let ul = std::fs::read(dir.join(format!("line-{n}.ul"))).unwrap();
        let pcm: Vec<i16> = ul
            .iter()
            .map(|&c| callcore_media::g711::ulaw_decode(c))
            .collect();
        let t = std::time::Instant::now();
        model.transcribe(&pcm, 8000, &[]).unwrap();
        busy_s += t.elapsed().as_secs_f64();
        audio_s += pcm.len() as f64 / 8000.0;
    }
    eprintln!(
        "recognition: {audio_s:.1} s of speech in {busy_s:.2} s, real-time factor {:.3}",
        busy_s / audio_s
    );

    assert_eq!(
        record.audio.as_ref(),
        Some(&audio),
        "the record holds the figures"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
