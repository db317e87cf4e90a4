//! The wallboard's coaching panel in a real browser, through the running
//! premise center: two real SIPp calls from the IVR to agents at fixed
//! contacts (`alex`, `bea`), each side's audio an RTP phone of the test,
//! transcribed by a scripted recognizer (each line a one-second tone of its
//! own frequency, as in `coaching.rs`). The first call's agent never says
//! the recording notice; the second call's first agent says it and
//! transfers the call to the other agent, so it counts for both (its
//! record's `agents`) and is flagged for review for both
//! (`new_agent_reviews = 2`).
//!
//! Headless Chromium (playwright-core, `tests/webrtc/page_driver.js`) shows
//! supervisor boss's wallboard (`/wallboard`). Asserted in its DOM against
//! the API's answers for the same period (the panel's `data-from` /
//! `data-to`): each agent's scorecard row (calls, mean score, team mean,
//! rank, percentile, silence, talk-over, talk ratio, findings by rule), the
//! coaching items with their calls, the review queue (the transferred call
//! flagged for both agents); a review completed from the page (a note
//! typed, the button pressed) is done in the API with that note. A
//! supervisor limited to `sales` sees no scorecard and no review in the
//! same panel; alex's desktop shows his own scorecard.
//!
//! Ports: the call_support blocks (`CALLCORE_TEST_PORTS` moves them).
//! Skipped with a notice without sipp, chromium, node or playwright-core,
//! failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "quality_support/mod.rs"]
mod quality;
#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::PageDriver;
use callcore::{AgentId, EventKind, InteractionId};
use callcore_premise::Premise;
use callcore_runtime::{CallTarget, EventSubscriber};
use quality::{ToneLines, tone};
use serde_json::{Value, json};
use support::{Caller, Desk, config, data_dir};
use web::{Session as WebSession, http, login};

const NOTICE: (f64, &str) = (500.0, "hello this call is recorded how can I help");
const PLAIN: (f64, &str) = (700.0, "hello how can I help");
const QUESTION: (f64, &str) = (900.0, "I have a question about my bill");
const LINES: [(f64, &str); 3] = [NOTICE, PLAIN, QUESTION];

/// Evaluates `js` on `page`.
async fn eval(pages: &mut PageDriver, page: &str, js: &str) -> Value {
    pages
        .cmd(json!({"op": "eval", "page": page, "js": js}))
        .await["value"]
        .clone()
}

/// Element `testid`'s `[text, data-value]` on `page` (nulls when absent).
async fn shown(pages: &mut PageDriver, page: &str, testid: &str) -> (String, String) {
    let js = format!(
        "(function () {{ var e = document.querySelector('[data-testid=\"{testid}\"]'); \
         return e ? [e.textContent, e.getAttribute('data-value')] : [null, null]; }})()"
    );
    let v = eval(pages, page, &js).await;
    (
        v[0].as_str().unwrap_or_default().to_owned(),
        v[1].as_str().unwrap_or_default().to_owned(),
    )
}

/// Waits until `js` is true on `page`, up to `secs`.
async fn until(pages: &mut PageDriver, page: &str, js: &str, secs: u64) {
    pages
        .send(
            json!({"op": "wait", "page": page, "timeout_ms": secs * 1000, "js": js}),
            Duration::from_secs(secs + 10),
        )
        .await;
}

/// A figure of the API as the page writes it in `data-value` ("" for null).
fn raw(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Number(n) => {
            // JavaScript's String(number): integers without a fraction
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", f as i64)
            } else {
                format!("{f}")
            }
        }
        other => other.to_string(),
    }
}

/// Waits for the call to be scored; returns the agents flagged for review
/// with their ordinals.
async fn scored(
    events: &mut EventSubscriber,
    id: &InteractionId,
    flags: usize,
) -> Vec<(String, u32)> {
    let mut got = Vec::new();
    let mut done = false;
    tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            let e = events.recv().await.unwrap();
            match &e.kind {
                EventKind::QualityScored { interaction, .. } if interaction == id => done = true,
                EventKind::ReviewFlagged {
                    interaction,
                    agent,
                    ordinal,
                } if interaction == id => got.push((agent.to_string(), *ordinal)),
                _ => {}
            }
            if done && got.len() >= flags {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} scored and flagged {flags} times within 40 s: {got:?}"));
    got
}

async fn get(addr: std::net::SocketAddr, path: &str, who: &WebSession) -> Value {
    let r = http(addr, "GET", path, Some(who), None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coaching_panel_shows_the_apis_figures_and_completes_a_review() {
    if !support::sipp_ready("the coaching browser test")
        || !browser::browser_ready("the coaching browser test")
    {
        return;
    }
    let dir = data_dir("coaching-browser");
    let alex_desk = Desk::start_for("alex", 0.0, 3, 300).await;
    let bea_desk = Desk::start_for("bea", 0.0, 3, 300).await;
    let extra = format!(
        "[[agents]]\nid = \"alex\"\nname = \"Alex\"\npassword = \"alex-secret\"\ncontact = \"{}\"\n\
         skills = [\"support\"]\n\
         [[agents]]\nid = \"bea\"\nname = \"Bea\"\npassword = \"bea-secret\"\ncontact = \"{}\"\n\
         skills = [\"support\"]\n\
         [[users]]\nid = \"boss\"\nrole = \"supervisor\"\npassword = \"boss-secret\"\n\
         [[users]]\nid = \"lead\"\nrole = \"supervisor\"\npassword = \"lead-secret\"\nqueues = [\"sales\"]\n\
         [quality]\nenabled = true\ntranscribe = true\nsilence_alert_secs = 0\n\
         talk_over_alert_secs = 0\nassist = false\n\
         required = [\"this call is recorded\"]\nrequired_within_secs = 4\n\
         [coaching]\nmin_calls = 1\nnew_agent_reviews = 2\n",
        alex_desk.contact, bea_desk.contact
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::builder(cfg)
        .transcriber(Arc::new(ToneLines(&LINES)))
        .start()
        .await
        .unwrap();
    let addr = premise.http_addr().expect("the web listener");
    let mut events = premise.center().subscribe();
    let desk_of = |agent: &AgentId| {
        if agent.as_str() == "alex" {
            &alex_desk
        } else {
            &bea_desk
        }
    };
    let other = |agent: &AgentId| -> AgentId {
        if agent.as_str() == "alex" {
            "bea".into()
        } else {
            "alex".into()
        }
    };

    // call 1: one agent, who never says the recording notice
    let caller = Caller::silent(premise.sip_addr()).await;
    caller.phone.press_after_audio(2);
    let (first, first_agent) = support::connected(&mut events).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    desk_of(&first_agent).phone.say(tone(PLAIN.0));
    tokio::time::sleep_until((t0 + Duration::from_millis(1900)).into()).await;
    caller.phone.say(tone(QUESTION.0));
    tokio::time::sleep_until((t0 + Duration::from_millis(5500)).into()).await;
    premise.center().hang_up(&first).await.unwrap();
    let flags1 = scored(&mut events, &first, 1).await;
    assert_eq!(flags1, [(first_agent.to_string(), 1)]);
    drop(caller);

    // call 2: taken by one, who says the notice, transferred to the other,
    // whose words after the transfer are transcribed too
    let caller = Caller::silent(premise.sip_addr()).await;
    caller.phone.press_after_audio(2);
    let (second, took) = support::connected(&mut events).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    desk_of(&took).phone.say(tone(NOTICE.0));
    tokio::time::sleep_until((t0 + Duration::from_millis(1600)).into()).await;
    let target = other(&took);
    premise
        .center()
        .transfer(&second, CallTarget::Agent(target.clone()))
        .await
        .unwrap();
    let (again, to) = support::connected(&mut events).await;
    assert_eq!((&again, &to), (&second, &target));
    let t1 = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    desk_of(&target).phone.say(tone(PLAIN.0));
    tokio::time::sleep_until((t1 + Duration::from_millis(1900)).into()).await;
    caller.phone.say(tone(QUESTION.0));
    tokio::time::sleep_until((t1 + Duration::from_millis(4500)).into()).await;
    premise.center().hang_up(&second).await.unwrap();
    let mut flags2 = scored(&mut events, &second, 2).await;
    flags2.sort();
    let mut want: Vec<(String, u32)> = vec![
        (took.to_string(), if took == first_agent { 2 } else { 1 }),
        (
            target.to_string(),
            if target == first_agent { 2 } else { 1 },
        ),
    ];
    want.sort();
    assert_eq!(flags2, want, "the transferred call is flagged for both");
    drop(caller);
    let record = support::ended_record(&premise, &second).await;
    assert_eq!(record.agents, [took.clone(), target.clone()], "both agents");
    let missed = |r: &callcore::InteractionRecord| {
        r.quality
            .as_ref()
            .expect("scored")
            .findings
            .iter()
            .any(|f| f.rule == "required_phrase")
    };
    assert!(!missed(&record), "the notice said on call 2");
    // the notice (first agent), then the target's greeting and the caller's
    // question after the transfer: the inspection follows the new agent's leg
    assert_eq!(
        record.quality.as_ref().map(|q| q.segments),
        Some(3),
        "every party of the transferred call transcribed"
    );
    assert!(missed(&support::ended_record(&premise, &first).await));

    // boss's wallboard and lead's (limited to sales), one headless Chromium
    let mut pages = PageDriver::start();
    for (page, path, user, password) in [
        ("board", "/wallboard", "boss", "boss-secret"),
        ("lead", "/wallboard", "lead", "lead-secret"),
        ("agent", "/desktop", "alex", "alex-secret"),
    ] {
        pages
            .cmd(json!({"op": "open", "page": page, "shared": true,
                "url": format!("http://{addr}{path}")}))
            .await;
        for (testid, value) in [("login-user", user), ("login-password", password)] {
            pages
                .cmd(json!({"op": "fill", "page": page, "testid": testid, "value": value}))
                .await;
        }
        pages
            .cmd(json!({"op": "click", "page": page, "testid": "login-submit"}))
            .await;
    }
    let loaded = "!!(window.wallboardCoaching && window.wallboardCoaching.loads > 0)";
    until(&mut pages, "board", loaded, 30).await;
    until(&mut pages, "lead", loaded, 30).await;
    // the panel read after both calls were scored: the same period in the API
    let from = eval(
        &mut pages,
        "board",
        "document.getElementById('scorecards').getAttribute('data-from')",
    )
    .await;
    let to = eval(
        &mut pages,
        "board",
        "document.getElementById('scorecards').getAttribute('data-to')",
    )
    .await;
    let span = format!(
        "from={}&to={}",
        from.as_str().unwrap(),
        to.as_str().unwrap()
    );
    let boss = login(addr, "boss", "boss-secret").await;
    let coaching = get(addr, &format!("/api/v1/coaching?{span}"), &boss).await;
    eprintln!("coaching: {coaching}");
    let mut agents: Vec<String> = coaching["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap().to_owned())
        .collect();
    agents.sort();
    assert_eq!(agents, ["alex", "bea"]);
    for agent in &agents {
        let card = get(
            addr,
            &format!("/api/v1/agents/{agent}/scorecard?{span}"),
            &boss,
        )
        .await;
        let want_calls = if *agent == first_agent.as_str() { 2 } else { 1 };
        assert_eq!(card["calls"], want_calls, "{agent}: {card}");
        assert_eq!(card["team"]["calls"], 2, "each call once for the team");
        // call 1 lost points: its agent's mean is under the other's
        let want_rank = if *agent == first_agent.as_str() { 2 } else { 1 };
        assert_eq!(card["rank"], want_rank, "{agent}: {card}");
        let id = format!("scorecard-{agent}");
        for (cell, value) in [
            ("calls", &card["calls"]),
            ("mean", &card["mean_score"]),
            ("team-mean", &card["team"]["mean_score"]),
            ("rank", &card["rank"]),
            ("percentile", &card["percentile"]),
            ("silence", &card["figures"]["silence_share"]),
            ("talk-over", &card["figures"]["talk_over_share"]),
            ("talk-ratio", &card["figures"]["agent_talk_ratio"]),
            ("hold", &card["figures"]["mean_hold_ms"]),
        ] {
            let (text, shown_value) = shown(&mut pages, "board", &format!("{id}-{cell}")).await;
            assert_eq!(shown_value, raw(value), "{id}-{cell}: {text:?} vs {value}");
        }
        let (rank_text, _) = shown(&mut pages, "board", &format!("{id}-rank")).await;
        assert_eq!(
            rank_text,
            format!("{} of {}", card["rank"], card["team_agents"])
        );
        let (mean_text, _) = shown(&mut pages, "board", &format!("{id}-mean")).await;
        assert_eq!(
            mean_text,
            format!("{:.1}", card["mean_score"].as_f64().unwrap())
        );
        let misses = card["figures"]["rule_misses"].as_object().unwrap();
        for (rule, m) in misses {
            let (text, calls) = shown(&mut pages, "board", &format!("{id}-rule-{rule}")).await;
            assert_eq!(calls, raw(&m["calls"]), "{rule}: {text}");
        }
        let shown_rules = eval(
            &mut pages,
            "board",
            &format!("document.querySelectorAll('[data-testid^=\"{id}-rule-\"]').length"),
        )
        .await;
        assert_eq!(shown_rules.as_u64(), Some(misses.len() as u64));
    }
    // the first agent missed the notice on call 1 (half their calls): an
    // item naming that call
    let items = eval(
        &mut pages,
        "board",
        "Array.from(document.querySelectorAll('[data-testid=\"coaching-item\"]')).map(function (li) { \
         return [li.getAttribute('data-agent'), li.getAttribute('data-kind'), li.getAttribute('data-rule'), \
         Array.from(li.querySelectorAll('[data-testid=\"coaching-call\"]')).map(function (a) { \
         return a.getAttribute('data-interaction'); })]; })",
    )
    .await;
    let mut from_api: Vec<Value> = Vec::new();
    for a in coaching["agents"].as_array().unwrap() {
        for i in a["items"].as_array().unwrap() {
            from_api.push(json!([
                a["agent"],
                i["kind"],
                i["rule"].as_str().unwrap_or(""),
                i["interactions"]
            ]));
        }
    }
    assert_eq!(
        items,
        Value::Array(from_api.clone()),
        "the items as the API"
    );
    assert!(
        from_api.iter().any(|i| i[0] == first_agent.as_str()
            && i[2] == "required_phrase"
            && i[3] == json!([first.as_str()])),
        "{from_api:?}"
    );

    // the review queue: both calls, the transferred one for both agents
    let reviews = get(addr, "/api/v1/reviews?status=all", &boss).await;
    assert_eq!(reviews.as_array().map(Vec::len), Some(2), "{reviews}");
    for r in reviews.as_array().unwrap() {
        let id = format!("review-{}", r["interaction"].as_str().unwrap());
        let (agents_text, _) = shown(&mut pages, "board", &format!("{id}-agents")).await;
        for a in r["agents"].as_array().unwrap() {
            assert!(
                agents_text.contains(a["agent"].as_str().unwrap()),
                "{id}: {agents_text:?} vs {r}"
            );
        }
        let (_, status) = shown(&mut pages, "board", &format!("{id}-status")).await;
        assert_eq!(status, "pending");
    }
    let (both, _) = shown(&mut pages, "board", &format!("review-{second}-agents")).await;
    assert!(both.contains("alex") && both.contains("bea"), "{both:?}");

    // complete call 1's review from the page
    let note = "say the recording notice in the greeting";
    pages
        .cmd(json!({"op": "fill", "page": "board", "testid": format!("review-{first}-note"), "value": note}))
        .await;
    pages
        .cmd(json!({"op": "click", "page": "board", "testid": format!("review-{first}-complete")}))
        .await;
    until(
        &mut pages,
        "board",
        &format!(
            "(function () {{ var e = document.querySelector('[data-testid=\"review-{first}-status\"]'); \
             return !!e && e.getAttribute('data-value') === 'done'; }})()"
        ),
        20,
    )
    .await;
    let (status, _) = shown(&mut pages, "board", &format!("review-{first}-status")).await;
    assert_eq!(status, format!("done by boss: {note}"));
    let done = get(addr, "/api/v1/reviews?status=done", &boss).await;
    assert_eq!(done[0]["interaction"], first.as_str(), "{done}");
    assert_eq!(done[0]["note"], note);
    assert_eq!(done[0]["reviewer"], "boss");
    let pending = get(addr, "/api/v1/reviews", &boss).await;
    assert_eq!(pending[0]["interaction"], second.as_str(), "{pending}");

    // the supervisor of sales: no scorecard, no review of support's calls
    let lead_rows = eval(
        &mut pages,
        "lead",
        "[document.querySelectorAll('[data-testid^=\"scorecard-\"]').length, \
          document.querySelectorAll('[data-testid^=\"review-\"]').length, \
          document.querySelectorAll('[data-testid=\"coaching-item\"]').length]",
    )
    .await;
    assert_eq!(lead_rows, json!([0, 0, 0]));

    // alex's desktop: his own scorecard, as the API gives it to him
    until(
        &mut pages,
        "agent",
        "!!(window.desktop && window.desktop.scorecard && window.desktop.scorecard.loads > 0)",
        30,
    )
    .await;
    let (calls, _) = shown(&mut pages, "agent", "my-scorecard-calls").await;
    let alex_calls = if first_agent.as_str() == "alex" {
        "2"
    } else {
        "1"
    };
    assert_eq!(calls, alex_calls);
    let (_, rank) = shown(&mut pages, "agent", "my-scorecard-rank").await;
    let alex = login(addr, "alex", "alex-secret").await;
    let own = get(
        addr,
        &format!("/api/v1/agents/alex/scorecard?{span}"),
        &alex,
    )
    .await;
    assert_eq!(rank, raw(&own["rank"]));

    pages.close().await;
    premise.shutdown().await;
    drop((alex_desk, bea_desk));
    let _ = std::fs::remove_dir_all(&dir);
}
