//! Live quality inspection and agent assist through the running premise center
//! (`[quality]` rules, `[ivr] knowledge_bases` and `intents`): a real SIPp call
//! from the IVR to agent `alex` (a phone at a fixed contact), each side's audio
//! an RTP phone of the test, transcribed by a scripted recognizer plugged in
//! through callcore's `SpeechRecognizer` seam (`PremiseBuilder::transcriber`):
//! each line is a one-second tone of its own frequency, and the recognizer
//! "hears" the line whose tone the utterance carries. So the whole real path —
//! the media tap, the voice-activity segmentation per side, the order of the
//! segments, the rules, assist, the journal, the record, the store, the web
//! API — runs, without Whisper's variance.
//!
//! Asserted: the segments come with the right speakers; the agent's forbidden
//! word, the customer's falling sentiment and the missed recording notice are
//! `quality_alert`s while the call is on; the agent gets the knowledge-base
//! article and the intent for the customer's question, and a reminder of the
//! notice before its deadline; the evaluation at the end scores 100 − 20 − 5 −
//! 15, is kept in the record, served by `GET /api/v1/interactions/{id}/quality`
//! to the agent (not to another agent) and still there after a restart; the
//! center's transcription queue took every utterance (`/metrics`) and shed none.
//!
//! And a recording notice said in time counts when its transcription comes
//! back after the deadline (a recognizer taking 3 s): the deadline passes on
//! the transcript, not the clock.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "quality_support/mod.rs"]
mod quality;
#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use callcore::{AssistKind, EventKind, Speaker, TenantId};
use callcore_premise::Premise;
use quality::{INTENTS, KB, LINES, Recognizer, Scripted, SlowToneLines, tone};
use support::{Caller, Desk, config, data_dir};
use web::{http, login};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_assist_run_on_the_live_transcript_of_a_real_call() {
    if !support::sipp_ready("the live quality test") {
        return;
    }
    let dir = data_dir("live-quality");
    std::fs::write(dir.join("intents.json"), INTENTS).unwrap();
    std::fs::write(dir.join("faq.json"), KB).unwrap();
    let desk = Desk::start("alex", 0.0, 1).await;
    let extra = format!(
        "[[agents]]\nid = \"alex\"\nname = \"Alex\"\npassword = \"alex-secret\"\ncontact = \"{}\"\n\
         skills = [\"support\"]\n\
         [[agents]]\nid = \"bob\"\nname = \"Bob\"\npassword = \"bob-secret\"\nskills = [\"sales\"]\n\
         [quality]\nenabled = true\ntranscribe = true\nsilence_alert_secs = 0\n\
         talk_over_alert_secs = 0\nforbidden = [\"stupid\"]\n\
         required = [\"this call is recorded\"]\nrequired_within_secs = 8\n\
         remind_after_secs = 3\n\
         [[quality.rules]]\nrule = \"negative_sentiment\"\nname = \"customer_unhappy\"\n\
         speaker = \"customer\"\nthreshold = -0.3\nwindow = 2\npenalty = 5\n",
        desk.contact
    );
    let mut cfg = config(&dir, &extra);
    cfg.ivr.intents = Some(dir.join("intents.json"));
    cfg.ivr
        .knowledge_bases
        .insert("faq".into(), dir.join("faq.json"));
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let scripted = Arc::new(Scripted::default());
    let premise = Premise::builder(cfg.clone())
        .transcriber(Arc::new(Recognizer(scripted.clone())))
        .start()
        .await
        .unwrap();
    assert!(
        premise
            .banner()
            .contains("measured from their audio and transcribed"),
        "{}",
        premise.banner()
    );
    let mut events = premise.center().subscribe();

    // the caller chooses support (key 2) once the IVR speaks; silent otherwise
    let caller = Caller::silent(premise.sip_addr()).await;
    caller.phone.press_after_audio(2);
    let (id, agent) = support::connected(&mut events).await;
    assert_eq!(agent.as_str(), "alex");
    let connected = Instant::now();

    // the conversation, each line on its side's phone at its time
    let script = {
        let (agent_phone, caller_phone) = (desk.phone.clone(), caller.phone.clone());
        tokio::spawn(async move {
            for (speaker, hz, _, at) in LINES {
                tokio::time::sleep_until((connected + Duration::from_millis(at)).into()).await;
                match speaker {
                    Speaker::Agent => agent_phone.say(tone(hz)),
                    _ => caller_phone.say(tone(hz)),
                }
            }
        })
    };

    // everything said about the call until its evaluation
    let mut segments = Vec::new();
    let mut alerts = Vec::new();
    let mut assists = Vec::new();
    let mut hung_up = false;
    let evaluation = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let got = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
            // every line said and the notice's deadline (8 s) gone: hang up
            if !hung_up && connected.elapsed() > Duration::from_millis(12_500) {
                hung_up = true;
                premise.center().hang_up(&id).await.unwrap();
            }
            let Ok(e) = got else { continue };
            let e = e.unwrap();
            let since = connected.elapsed().as_millis();
            match &e.kind {
                EventKind::TranscriptSegment { speaker, text, .. } => {
                    eprintln!("{since} ms: segment {speaker:?}: {}", text.expose());
                    segments.push((*speaker, text.expose().clone()));
                }
                EventKind::QualityAlert { rule, detail, .. } => {
                    eprintln!("{since} ms: alert {rule}: {detail}");
                    alerts.push((rule.clone(), since, hung_up));
                }
                EventKind::AgentAssist {
                    agent, suggestion, ..
                } => {
                    eprintln!("{since} ms: assist for {agent}: {suggestion:?}");
                    assists.push((agent.clone(), suggestion.clone(), since));
                }
                EventKind::QualityScored {
                    interaction,
                    evaluation,
                } if *interaction == id => return evaluation.clone(),
                _ => {}
            }
        }
    })
    .await
    .expect("no quality_scored within 60 s");
    script.await.unwrap();
    eprintln!("evaluation: {evaluation:?}");

    // the segments: every line, its speaker
    let said: Vec<(Speaker, String)> = LINES
        .iter()
        .map(|(s, _, text, _)| (*s, (*text).to_owned()))
        .collect();
    assert_eq!(
        segments,
        said,
        "heard: {:?}",
        scripted.heard.lock().unwrap()
    );

    // live alerts, raised before the hang-up
    let rules: Vec<&str> = alerts.iter().map(|(r, _, _)| r.as_str()).collect();
    for rule in ["required_phrase", "customer_unhappy", "forbidden_words"] {
        let (_, at, after) = alerts
            .iter()
            .find(|(r, _, _)| r == rule)
            .unwrap_or_else(|| panic!("no {rule} alert in {rules:?}"));
        assert!(!after, "{rule} came after the hang-up");
        eprintln!("{rule} alert {at} ms after the connection");
    }
    let missed = alerts
        .iter()
        .find(|(r, _, _)| r == "required_phrase")
        .unwrap();
    // 8 s from the bridge, which comes a little before the `connected` event
    assert!(
        (7500..9500).contains(&missed.1),
        "the notice's deadline: {}",
        missed.1
    );

    // assist: only for alex; article, intent, reminder
    assert!(assists.iter().all(|(a, _, _)| a.as_str() == "alex"));
    let of = |k: AssistKind| assists.iter().filter(move |(_, s, _)| s.kind == k);
    let article = of(AssistKind::Article).next().expect("an article");
    assert_eq!(article.1.source.as_deref(), Some("faq/opening_hours"));
    assert!(article.1.text.starts_with("Branches open"));
    let intent = of(AssistKind::Intent).next().expect("an intent");
    assert_eq!(intent.1.title, "opening_hours");
    let reminder = of(AssistKind::Reminder).next().expect("a reminder");
    assert_eq!(reminder.1.title, "required_phrase");
    assert!(
        (2500..4500).contains(&reminder.2),
        "reminded at {} ms",
        reminder.2
    );
    // 3 s after the bridge, 5 s before the deadline (100 ms ticks)
    let ahead = missed.1 - reminder.2;
    assert!((4800..5200).contains(&ahead), "reminded {ahead} ms ahead");
    assert_eq!(of(AssistKind::Reminder).count(), 1);
    assert_eq!(of(AssistKind::Article).count(), 1, "{assists:?}");

    // the evaluation: 100 − 20 (forbidden) − 5 (sentiment) − 15 (notice)
    assert!((evaluation.score - 60.0).abs() < 1e-9, "{evaluation:?}");
    assert_eq!(evaluation.segments, 5);
    assert!(evaluation.silence_ratio.is_some_and(|s| s > 0.3 && s < 1.0));
    let record = support::ended_record(&premise, &id).await;
    assert_eq!(
        record.quality.as_ref(),
        Some(&evaluation),
        "the record holds it"
    );

    // the web API: the agent reads their call's evaluation, another agent cannot
    let addr = premise.http_addr().expect("the web listener");
    let path = format!("/api/v1/interactions/{id}/quality");
    let alex = login(addr, "alex", "alex-secret").await;
    let r = http(addr, "GET", &path, Some(&alex), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["score"], 60.0);
    assert_eq!(r.json()["findings"].as_array().map(Vec::len), Some(3));
    let bob = login(addr, "bob", "bob-secret").await;
    assert_eq!(http(addr, "GET", &path, Some(&bob), None).await.status, 404);
    let doc = http(addr, "GET", "/api/openapi.json", None, None).await;
    assert!(doc.json()["paths"]["/api/v1/interactions/{interaction}/quality"].is_object());
    // the center's transcription queue took every utterance and shed none
    // (on /metrics and in the call's audio figures)
    let metrics = http(addr, "GET", "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    let started: u64 = metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("callcore_transcriptions_started_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no transcription counter: {}", metrics.body));
    assert!(started >= 5, "{started} utterances transcribed");
    for reason in ["late", "full"] {
        let line = format!("callcore_transcriptions_shed_total{{reason=\"{reason}\"}} 0\n");
        assert!(metrics.body.contains(&line), "{}", metrics.body);
    }
    assert_eq!(record.audio.as_ref().map(|a| a.transcription_shed), Some(0));
    premise.shutdown().await;
    drop((caller, desk));

    // kept in the store across a restart (on fresh ports: the same data)
    cfg.sip.bind = format!("127.0.0.1:{}", support::sip_port())
        .parse()
        .unwrap();
    cfg.media.rtp_first = support::rtp_block(40);
    cfg.media.rtp_last = cfg.media.rtp_first + 39;
    let again = Premise::start(cfg).await.unwrap();
    let stored = again
        .center()
        .stores()
        .interactions
        .get(&TenantId::new(again.config().tenant.clone()), &id)
        .await
        .unwrap()
        .expect("the record is stored");
    assert_eq!(stored.quality, Some(evaluation));
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The agent says the notice 0.4 s into the call; the recognizer answers each
/// utterance 3 s after it ends, past the 3 s deadline: the notice counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_said_in_time_counts_though_transcribed_after_the_deadline() {
    const NOTICE: (f64, &str) = (500.0, "hello this call is recorded how can I help");
    if !support::sipp_ready("the slow transcription test") {
        return;
    }
    let dir = data_dir("live-quality-slow");
    let desk = Desk::start("alex", 0.0, 1).await;
    let extra = format!(
        "[[agents]]\nid = \"alex\"\nname = \"Alex\"\ncontact = \"{}\"\nskills = [\"support\"]\n\
         [quality]\nenabled = true\ntranscribe = true\nsilence_alert_secs = 0\n\
         talk_over_alert_secs = 0\nassist = false\n\
         required = [\"this call is recorded\"]\nrequired_within_secs = 3\n",
        desk.contact
    );
    let premise = Premise::builder(config(&dir, &extra))
        .transcriber(Arc::new(SlowToneLines(&[NOTICE], Duration::from_secs(3))))
        .start()
        .await
        .unwrap();
    let mut events = premise.center().subscribe();
    let caller = Caller::silent(premise.sip_addr()).await;
    caller.phone.press_after_audio(2);
    let (id, _) = support::connected(&mut events).await;
    let connected = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    desk.phone.say(tone(NOTICE.0));
    let mut hung_up = false;
    let mut said = None;
    let mut alerts = Vec::new();
    let evaluation = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let got = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
            if !hung_up && connected.elapsed() > Duration::from_millis(7500) {
                hung_up = true;
                premise.center().hang_up(&id).await.unwrap();
            }
            let Ok(e) = got else { continue };
            let e = e.unwrap();
            let since = connected.elapsed().as_millis();
            match &e.kind {
                EventKind::TranscriptSegment { text, .. } => {
                    eprintln!("{since} ms: segment {}", text.expose());
                    said = Some(since);
                }
                EventKind::QualityAlert { rule, detail, .. } => {
                    eprintln!("{since} ms: alert {rule}: {detail}");
                    alerts.push(rule.clone());
                }
                EventKind::QualityScored {
                    interaction,
                    evaluation,
                } if *interaction == id => return evaluation.clone(),
                _ => {}
            }
        }
    })
    .await
    .expect("no quality_scored within 60 s");
    eprintln!("evaluation: {evaluation:?}");
    // transcribed after the deadline (3 s from the bridge)…
    assert!(said.is_some_and(|ms| ms > 3000), "segment at {said:?}");
    // …yet said in time: no alert, no finding
    assert!(alerts.is_empty(), "{alerts:?}");
    assert!(evaluation.findings.is_empty(), "{evaluation:?}");
    assert_eq!(evaluation.score, 100.0);
    premise.shutdown().await;
    drop((caller, desk));
    let _ = std::fs::remove_dir_all(&dir);
}
