//! Agent assist and live quality alerts in a real browser: the call of
//! `live_quality.rs` (a SIPp caller through the IVR to agent `alex`, a phone at
//! a fixed contact; each side's audio a test RTP phone, transcribed by the
//! scripted recognizer of `quality_support/mod.rs`) while headless Chromium
//! (playwright-core, `tests/webrtc/page_driver.js`) shows alex's agent desktop
//! (`/desktop`) and supervisor boss's wallboard (`/wallboard`).
//!
//! Asserted in the pages' DOM: the customer's question ("what are your opening
//! hours on saturday") puts the knowledge-base article ("Branches open …") and
//! the intent (`opening_hours`) in the desktop's Assist panel
//! (`assist-article`, `assist-intent` in `assist-list`), and the recording
//! notice's reminder before its deadline; the wallboard's alert panel
//! (`alerts`, `alert-list`) lists the live `quality_alert`s of the call with its
//! agent — the agent's forbidden word, the customer's falling sentiment, the
//! missed notice — and, once the call ends, its score (60).
//!
//! No WebRTC (the agent's phone is SIP): no network namespace. Skipped with a
//! notice without sipp, chromium, node or playwright-core, failing instead
//! when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "quality_support/mod.rs"]
mod quality;
#[path = "call_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::PageDriver;
use callcore::{EventKind, Speaker};
use callcore_premise::Premise;
use quality::{INTENTS, KB, LINES, Recognizer, Scripted, tone};
use serde_json::json;
use support::{Caller, Desk, config, data_dir};

/// The text of element `testid` on `page` ("" when hidden or absent).
async fn dom_text(pages: &mut PageDriver, page: &str, testid: &str) -> String {
    let js = format!(
        "(function () {{ var e = document.querySelector('[data-testid=\"{testid}\"]'); \
         return e && !e.closest('[hidden]') ? e.textContent : ''; }})()"
    );
    pages
        .cmd(json!({"op": "eval", "page": page, "js": js}))
        .await["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until `page`'s element `testid` shows `want`, up to `secs`.
async fn shows(pages: &mut PageDriver, page: &str, testid: &str, want: &str, secs: u64) -> String {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = dom_text(pages, page, testid).await;
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < until,
            "{page}'s {testid} did not show {want:?} within {secs} s: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assist_and_quality_alerts_show_in_the_desktop_and_the_wallboard() {
    if !support::sipp_ready("the assist and alerts browser test")
        || !browser::browser_ready("the assist and alerts browser test")
    {
        return;
    }
    let dir = data_dir("assist-alerts-browser");
    std::fs::write(dir.join("intents.json"), INTENTS).unwrap();
    std::fs::write(dir.join("faq.json"), KB).unwrap();
    let desk = Desk::start("alex", 0.0, 1).await;
    let extra = format!(
        "[[agents]]\nid = \"alex\"\nname = \"Alex\"\npassword = \"alex-secret\"\ncontact = \"{}\"\n\
         skills = [\"support\"]\n\
         [[users]]\nid = \"boss\"\npassword = \"boss-password\"\nrole = \"supervisor\"\n\
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
    let premise = Premise::builder(cfg)
        .transcriber(Arc::new(Recognizer(scripted.clone())))
        .start()
        .await
        .unwrap();
    let http = premise.http_addr().expect("the web listener");
    let mut events = premise.center().subscribe();

    // alex's desktop and boss's wallboard, one headless Chromium
    let mut pages = PageDriver::start();
    for (page, path, user, password) in [
        ("agent", "/desktop", "alex", "alex-secret"),
        ("board", "/wallboard", "boss", "boss-password"),
    ] {
        pages
            .cmd(json!({"op": "open", "page": page, "shared": true,
                "url": format!("http://{http}{path}")}))
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
    pages
        .cmd(json!({"op": "log", "page": "agent", "entry": "logged-in"}))
        .await;
    pages
        .send(
            json!({"op": "wait", "page": "board", "timeout_ms": 30_000,
                "js": "!!(window.wallboard && window.wallboard.log.includes('feed-open'))"}),
            Duration::from_secs(40),
        )
        .await;
    assert_eq!(
        dom_text(&mut pages, "agent", "assist").await,
        "",
        "no assist before a call"
    );

    // the caller chooses support (key 2) once the IVR speaks
    let caller = Caller::silent(premise.sip_addr()).await;
    caller.phone.press_after_audio(2);
    let (id, agent) = support::connected(&mut events).await;
    assert_eq!(agent.as_str(), "alex");
    let connected = Instant::now();
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
    pages
        .cmd(json!({"op": "log", "page": "agent", "entry": "call"}))
        .await;

    // the desktop's Assist panel: the reminder, then the article and the intent
    // for the customer's question (said 2.8 s in)
    let assist = shows(
        &mut pages,
        "agent",
        "assist-list",
        "Branches open 9:00-17:00",
        30,
    )
    .await;
    eprintln!("assist panel: {assist}");
    let article = dom_text(&mut pages, "agent", "assist-article").await;
    assert!(
        article.starts_with("Article: ") && article.contains("Branches open 9:00-17:00"),
        "{article:?}"
    );
    let intent = dom_text(&mut pages, "agent", "assist-intent").await;
    assert!(intent.starts_with("Intent: opening_hours"), "{intent:?}");
    let reminder = shows(
        &mut pages,
        "agent",
        "assist-reminder",
        "required_phrase",
        10,
    )
    .await;
    assert!(reminder.starts_with("Reminder: "), "{reminder:?}");

    // the wallboard's alerts: each live alert of the call, with its agent
    let mut board = String::new();
    for rule in ["required_phrase", "customer_unhappy", "forbidden_words"] {
        board = shows(&mut pages, "board", "alert-list", rule, 30).await;
    }
    eprintln!("wallboard alerts: {board}");
    assert!(board.contains("agent alex"), "{board:?}");
    let live = pages
        .cmd(json!({"op": "eval", "page": "board",
            "js": "document.querySelectorAll('[data-testid=\"alert-live\"]').length"}))
        .await["value"]
        .as_u64()
        .unwrap();
    assert!(live >= 3, "{live} live alerts listed");

    // the notice's deadline (8 s) gone and every line said: hang up; the
    // evaluation reaches the board
    let rest = Duration::from_millis(12_500).saturating_sub(connected.elapsed());
    tokio::time::sleep(rest).await;
    premise.center().hang_up(&id).await.unwrap();
    let scored = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::QualityScored { interaction, .. } = &e.kind
                && *interaction == id
            {
                return;
            }
        }
    })
    .await;
    assert!(scored.is_ok(), "no quality_scored within 60 s");
    let score = shows(&mut pages, "board", "alert-score", "score 60", 20).await;
    assert!(score.contains("findings:"), "{score:?}");
    script.await.unwrap();
    eprintln!("heard: {:?}", scripted.heard.lock().unwrap());
    pages.close().await;
    premise.shutdown().await;
    drop((caller, desk));
    let _ = std::fs::remove_dir_all(&dir);
}
