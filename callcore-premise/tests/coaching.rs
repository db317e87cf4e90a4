//! Coaching through the running premise center (`[quality]`, `[coaching]`,
//! a supervisor limited to queues): four real SIPp calls from the IVR to two
//! agents at fixed contacts (`alex`, `bea`), each side's audio an RTP phone
//! of the test, transcribed by a scripted recognizer (each line a one-second
//! tone of its own frequency, as in `live_quality.rs`). alex never says the
//! recording notice and once says a forbidden word; bea says the notice.
//!
//! Asserted against the stored records: the scorecards' calls, mean scores,
//! rule findings and the team's mean (`/api/v1/agents/{id}/scorecard`); the
//! coaching items name alex's calls (`/api/v1/coaching`); each agent's first
//! scored call is flagged for review (`review_flagged`, `/api/v1/reviews`), a
//! supervisor marks one done with a note, which survives a restart; an agent
//! reads their own scorecard only; a supervisor limited to `sales` sees
//! neither agent's scorecard nor their items (403, empty list).
//!
//! Ports: the call_support blocks (SIP 40000-40499, RTP 40500-40999).
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "quality_support/mod.rs"]
mod quality;
#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callcore::{AgentId, EventKind, InteractionId, InteractionRecord, Speaker, TenantId};
use callcore_premise::Premise;
use quality::{ToneLines, tone};
use serde_json::Value;
use support::{Caller, Desk, config, data_dir};
use web::{http, login};

/// What is said (a tone of that frequency), by whom.
const NOTICE: (f64, &str) = (500.0, "hello this call is recorded how can I help");
const PLAIN: (f64, &str) = (700.0, "hello how can I help");
const QUESTION: (f64, &str) = (900.0, "I have a question about my bill");
const RUDE: (f64, &str) = (1100.0, "that is a stupid question");
const LINES: [(f64, &str); 4] = [NOTICE, PLAIN, QUESTION, RUDE];

/// The mean of `v`.
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scorecards_coaching_items_and_reviews_come_from_real_scored_calls() {
    if !support::sipp_ready("the coaching test") {
        return;
    }
    let dir = data_dir("coaching");
    // four calls in a row take longer than a desk's default 120 s
    let alex_desk = Desk::start_for("alex", 0.0, 4, 400).await;
    let bea_desk = Desk::start_for("bea", 0.0, 4, 400).await;
    let extra = format!(
        "[[agents]]\nid = \"alex\"\nname = \"Alex\"\npassword = \"alex-secret\"\ncontact = \"{}\"\n\
         skills = [\"support\"]\n\
         [[agents]]\nid = \"bea\"\nname = \"Bea\"\npassword = \"bea-secret\"\ncontact = \"{}\"\n\
         skills = [\"support\"]\n\
         [[users]]\nid = \"boss\"\nrole = \"supervisor\"\npassword = \"boss-secret\"\n\
         [[users]]\nid = \"lead\"\nrole = \"supervisor\"\npassword = \"lead-secret\"\nqueues = [\"sales\"]\n\
         [quality]\nenabled = true\ntranscribe = true\nsilence_alert_secs = 0\n\
         talk_over_alert_secs = 0\nforbidden = [\"stupid\"]\nassist = false\n\
         required = [\"this call is recorded\"]\nrequired_within_secs = 4\n\
         [coaching]\nmin_calls = 1\nnew_agent_reviews = 1\n",
        alex_desk.contact, bea_desk.contact
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::builder(cfg.clone())
        .transcriber(Arc::new(ToneLines(&LINES)))
        .start()
        .await
        .unwrap();
    let mut events = premise.center().subscribe();

    // four calls, one after the other; each agent's script by who answers
    let mut calls: Vec<(InteractionId, AgentId)> = Vec::new();
    let mut flagged: BTreeMap<String, (String, u32)> = BTreeMap::new();
    for n in 0..4 {
        let caller = Caller::silent(premise.sip_addr()).await;
        caller.phone.press_after_audio(2);
        let (id, agent) = support::connected(&mut events).await;
        let connected = Instant::now();
        let desk = if agent.as_str() == "alex" {
            &alex_desk
        } else {
            &bea_desk
        };
        let mut script = vec![
            (
                Speaker::Agent,
                if agent.as_str() == "alex" {
                    PLAIN
                } else {
                    NOTICE
                },
                400,
            ),
            (Speaker::Customer, QUESTION, 1900),
        ];
        if agent.as_str() == "alex" && n >= 2 {
            script.push((Speaker::Agent, RUDE, 3400));
        }
        for (speaker, (hz, _), at) in script {
            tokio::time::sleep_until((connected + Duration::from_millis(at)).into()).await;
            match speaker {
                Speaker::Agent => desk.phone.say(tone(hz)),
                _ => caller.phone.say(tone(hz)),
            }
        }
        tokio::time::sleep_until((connected + Duration::from_millis(5500)).into()).await;
        premise.center().hang_up(&id).await.unwrap();
        // scored, and (each agent's first) flagged for review
        let first_of_agent = !calls.iter().any(|(_, a)| *a == agent);
        let mut scored = false;
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let e = events.recv().await.unwrap();
                match &e.kind {
                    EventKind::QualityScored { interaction, .. } if *interaction == id => {
                        scored = true;
                    }
                    EventKind::ReviewFlagged {
                        interaction,
                        agent,
                        ordinal,
                    } => {
                        flagged.insert(agent.to_string(), (interaction.to_string(), *ordinal));
                    }
                    _ => {}
                }
                if scored && (!first_of_agent || flagged.contains_key(agent.as_str())) {
                    return;
                }
            }
        })
        .await
        .expect("the call is scored (and flagged) within 30 s");
        eprintln!("call {n}: {id} by {agent}");
        calls.push((id, agent));
        drop(caller);
    }
    // a moment for the last records to be saved
    let mut records: Vec<InteractionRecord> = Vec::new();
    for (id, _) in &calls {
        records.push(support::ended_record(&premise, id).await);
    }
    for r in &records {
        assert!(r.quality.is_some(), "{} scored", r.id);
    }
    let agents: Vec<String> = {
        let mut a: Vec<String> = calls.iter().map(|(_, a)| a.to_string()).collect();
        a.sort();
        a.dedup();
        a
    };
    assert_eq!(agents, ["alex", "bea"], "both agents took calls: {calls:?}");

    let addr = premise.http_addr().expect("the web listener");
    let boss = login(addr, "boss", "boss-secret").await;
    let score = |r: &InteractionRecord| r.quality.as_ref().unwrap().score;
    let team_mean = mean(&records.iter().map(score).collect::<Vec<_>>());
    let of = |agent: &str| -> Vec<&InteractionRecord> {
        records
            .iter()
            .filter(|r| r.agent.as_ref().map(AgentId::as_str) == Some(agent))
            .collect()
    };
    // the period: the four calls
    let first = records
        .iter()
        .map(|r| r.created_at.as_millis())
        .min()
        .unwrap();
    let last = records
        .iter()
        .map(|r| r.created_at.as_millis())
        .max()
        .unwrap();
    let span = format!("from={first}&to={}", last + 1);
    for agent in ["alex", "bea"] {
        let mine = of(agent);
        let r = http(
            addr,
            "GET",
            &format!("/api/v1/agents/{agent}/scorecard?{span}"),
            Some(&boss),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let card = r.json();
        eprintln!("{agent}: {card}");
        assert_eq!(card["calls"], mine.len());
        let my_mean = mean(&mine.iter().map(|r| score(r)).collect::<Vec<_>>());
        assert!(close(&card["mean_score"], my_mean), "{card}");
        assert!(close(&card["team"]["mean_score"], team_mean), "{card}");
        assert_eq!(card["team"]["calls"], 4);
        // rule findings by rule, from the records
        let missed = mine
            .iter()
            .filter(|r| {
                r.quality
                    .as_ref()
                    .unwrap()
                    .findings
                    .iter()
                    .any(|f| f.rule == "required_phrase")
            })
            .count();
        let got = card["figures"]["rule_misses"]["required_phrase"]["calls"]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(got as usize, missed, "{card}");
        assert!(card["figures"]["silence_share"].as_f64().is_some());
    }
    // alex missed the notice on every call, bea on none
    let alex_calls: Vec<String> = of("alex").iter().map(|r| r.id.to_string()).collect();
    let r = http(
        addr,
        "GET",
        &format!("/api/v1/coaching?{span}"),
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let coaching = r.json();
    let items_of = |agent: &str| -> Vec<Value> {
        coaching["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == agent)
            .map(|a| a["items"].as_array().unwrap().clone())
            .unwrap_or_default()
    };
    let notice = items_of("alex")
        .into_iter()
        .find(|i| i["rule"] == "required_phrase")
        .unwrap_or_else(|| panic!("a notice item for alex: {coaching}"));
    let evidence: Vec<String> = notice["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(evidence, alex_calls);
    assert!(
        items_of("bea")
            .iter()
            .all(|i| i["rule"] != "required_phrase"),
        "{coaching}"
    );

    // reviews: each agent's first scored call
    let r = http(addr, "GET", "/api/v1/reviews", Some(&boss), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pending = r.json();
    assert_eq!(pending.as_array().map(Vec::len), Some(2), "{pending}");
    for (agent, (interaction, ordinal)) in &flagged {
        assert_eq!(*ordinal, 1);
        let first = calls.iter().find(|(_, a)| a.as_str() == agent).unwrap();
        assert_eq!(interaction, first.0.as_str());
        assert!(
            pending
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["interaction"] == interaction.as_str() && v["agent"] == agent.as_str())
        );
    }
    let (alex_first, _) = &flagged["alex"];
    let body = r#"{"note": "say the recording notice in the greeting"}"#;
    let path = format!("/api/v1/reviews/{alex_first}");
    let r = http(addr, "POST", &path, Some(&boss), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["reviewer"], "boss");
    assert_eq!(
        http(addr, "POST", &path, Some(&boss), Some(body))
            .await
            .status,
        409
    );
    let r = http(
        addr,
        "GET",
        "/api/v1/reviews?status=done",
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(
        r.json()[0]["interaction"],
        alex_first.as_str(),
        "{}",
        r.body
    );
    assert_eq!(
        http(addr, "GET", "/api/v1/reviews", Some(&boss), None)
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // an agent: their own scorecard only, no coaching list
    let alex = login(addr, "alex", "alex-secret").await;
    let own = format!("/api/v1/agents/alex/scorecard?{span}");
    assert_eq!(http(addr, "GET", &own, Some(&alex), None).await.status, 200);
    let other = format!("/api/v1/agents/bea/scorecard?{span}");
    assert_eq!(
        http(addr, "GET", &other, Some(&alex), None).await.status,
        403
    );
    assert_eq!(
        http(addr, "GET", "/api/v1/reviews", Some(&alex), None)
            .await
            .status,
        403
    );
    // a supervisor of `sales` sees none of the support team
    let lead = login(addr, "lead", "lead-secret").await;
    assert_eq!(http(addr, "GET", &own, Some(&lead), None).await.status, 403);
    let r = http(
        addr,
        "GET",
        &format!("/api/v1/coaching?{span}"),
        Some(&lead),
        None,
    )
    .await;
    assert_eq!(r.json()["agents"], serde_json::json!([]), "{}", r.body);
    let r = http(addr, "GET", "/api/v1/reviews?status=all", Some(&lead), None).await;
    assert_eq!(r.json(), serde_json::json!([]), "{}", r.body);
    let doc = http(addr, "GET", "/api/openapi.json", None, None)
        .await
        .json();
    for p in [
        "/api/v1/agents/{agent}/scorecard",
        "/api/v1/coaching",
        "/api/v1/reviews",
        "/api/v1/reviews/{interaction}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} in the document");
    }
    premise.shutdown().await;
    drop((alex_desk, bea_desk));

    // the review and its note are kept across a restart
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
        .get(
            &TenantId::new(again.config().tenant.clone()),
            &InteractionId::new(alex_first.as_str()),
        )
        .await
        .unwrap()
        .expect("the record is stored");
    let review = stored.review.expect("the review is kept");
    assert_eq!(review.ordinal, 1);
    assert_eq!(review.reviewer.as_deref(), Some("boss"));
    assert_eq!(
        review.note.as_deref(),
        Some("say the recording notice in the greeting")
    );
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
