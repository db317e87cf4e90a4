//! The agent desktop's consultation and conference, and the slots of the IVR
//! in its screen pop, in real browsers against a real SIP caller: two
//! headless Chromiums (`tests/webrtc/page_driver.js`, agent 1001's fake
//! microphone a 900 Hz tone, agent 1002's 1,300 Hz) and a SIPp caller whose
//! RTP is the test's phone (`call_support`: it presses the keys and sends a
//! 500 Hz tone once the IVR is done).
//!
//! The premise routes every call to a flow of the test's own: it asks for an
//! account number and a card number (keyed in, `#` ends each; the card is
//! marked sensitive) and queues the caller for support. The offer's screen
//! pop on agent 1001's page shows the account number, the card masked to its
//! last four digits (and never in clear, in the pop nor in any event), and
//! what the IVR asked.
//!
//! Call 1, consult then transfer: 1001 accepts (audio both ways), consults
//! 1002 (the customer waits with music and hears neither agent; the agents
//! hear each other), 1002's page shows the call (consulted) and the same
//! slots; 1001 completes the transfer: the caller and 1002 hear each other,
//! 1001 is in wrap-up; 1002 hangs up and the record names both agents.
//!
//! Call 2, conference: 1001 takes the call, consults 1002 and makes it a
//! conference: the caller hears both agents, each page hears the call; 1001
//! leaves, the caller keeps 1002 only; 1002 hangs up and the call ends. Both
//! recordings carry the caller and the agents' side.
//!
//! Re-runs itself inside a private network namespace (as desktop_browser.rs).
//! Needs root, sipp, chromium, node and playwright-core in `.cache/node`:
//! skipped with a notice otherwise, failing under `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "call_support/mod.rs"]
mod call;
#[path = "web_support/mod.rs"]
mod web;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::{PageDriver, channel_levels, in_private_network, tone_wav};
use call::{Caller, amplitude, rms, window};
use callcore::{AgentId, AgentState, EventKind, InteractionId};
use callcore_ivr::flow::{FlowBuilder, IvrFlow, Node, Retries};
use callcore_premise::{Premise, PremiseConfig};
use serde_json::{Value, json};

/// Agent 1001's microphone.
const TONE_A: f64 = 900.0;
/// Agent 1002's microphone.
const TONE_B: f64 = 1300.0;
/// The caller's tone, once the IVR is done.
const TONE_C: f64 = 500.0;
/// What the caller keys in.
const ACCOUNT: &str = "4711";
const CARD: &str = "4111111111111111";
/// The card as the agent may see it.
const CARD_MASKED: &str = "••••••••••••1111";

fn premise_config(dir: &Path) -> PremiseConfig {
    let rtp = call::rtp_block(40);
    let toml = format!(
        r#"[http]
bind = "127.0.0.1:0"
[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{}"
record_calls = true
[ivr]
greeting = "Hello."
menu = [{{ key = "1", label = "support", queue = "support" }}]
default_queue = "support"
[[queues]]
id = "support"
skill = "support"
wrap_up_secs = 60
[[agents]]
id = "1001"
name = "Alice"
password = "alice1001"
contact = "webrtc"
skills = ["support"]
[[agents]]
id = "1002"
name = "Bob"
password = "bob1002"
contact = "webrtc"
skills = ["support"]
"#,
        call::sip_port(),
        rtp + 39,
        dir.display()
    );
    PremiseConfig::from_toml(&toml).unwrap()
}

fn collect(prompt: &str, var: &str, len: u32, next: &str) -> Node {
    Node::CollectDigits {
        prompt: prompt.into(),
        var: var.into(),
        min: len,
        max: len,
        terminator: Some('#'),
        first_digit_timeout_ms: 15_000,
        inter_digit_timeout_ms: 5_000,
        retries: Retries::default(),
        next: next.into(),
        on_failure: "to_support".into(),
    }
}

/// Account number, card number (sensitive), the support queue.
fn account_flow() -> IvrFlow {
    let spec = FlowBuilder::new("account_ivr", "account")
        .node(
            "account",
            collect("Please key in your account number.", "account", 4, "card"),
        )
        .node(
            "card",
            collect("And your card number.", "card_number", 16, "to_support"),
        )
        .queue("to_support", "support")
        .sensitive("card_number")
        .build()
        .unwrap();
    IvrFlow::new(spec)
}

/// Keys `digits` (then `#`) in once the IVR's prompt has ended (half a second
/// of quiet after its first audio).
async fn key_in(caller: &Caller, digits: &str) {
    let start = Instant::now();
    let mut spoke: Option<Instant> = None;
    while start.elapsed() < Duration::from_secs(30) {
        let now = Instant::now();
        let last = rms(&caller.phone.heard(now - Duration::from_millis(500), now));
        if spoke.is_none() && last > 300.0 {
            spoke = Some(now);
        }
        // quiet again, or the prompt has had time enough to end
        if spoke.is_some_and(|at| last < 100.0 || at.elapsed() > Duration::from_secs(5)) {
            eprintln!(
                "keying in after {:?} (last 500 ms at RMS {last:.0})",
                start.elapsed()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for d in digits.chars() {
        let code = match d {
            '#' => 11,
            '*' => 10,
            _ => u8::try_from(d.to_digit(10).unwrap()).unwrap(),
        };
        caller.phone.press(code);
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
}

async fn agent_is(premise: &Premise, agent: &str, state: AgentState) {
    let agent = AgentId::new(agent);
    for _ in 0..150 {
        let snap = premise.center().snapshot().await.unwrap();
        if snap
            .agents
            .iter()
            .any(|a| a.agent == agent && a.reachable && a.state == state)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("agent {agent} never reachable in {state:?}");
}

async fn log_in(pages: &mut PageDriver, page: &str, url: &str, wav: &Path, user: &str, pw: &str) {
    pages
        .cmd(json!({"op": "open", "page": page, "url": url, "wav": wav}))
        .await;
    for (testid, value) in [("login-user", user), ("login-password", pw)] {
        pages
            .cmd(json!({"op": "fill", "page": page, "testid": testid, "value": value}))
            .await;
    }
    pages
        .cmd(json!({"op": "click", "page": page, "testid": "login-submit"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": page, "entry": "phone-online"}))
        .await;
}

async fn set_state(
    pages: &mut PageDriver,
    premise: &Premise,
    page: &str,
    agent: &str,
    ready: bool,
) {
    let value = if ready { "ready" } else { "not_ready" };
    pages
        .cmd(json!({"op": "select", "page": page, "testid": "agent-state", "value": value}))
        .await;
    if ready {
        agent_is(premise, agent, AgentState::Available).await;
    }
}

async fn click(pages: &mut PageDriver, page: &str, testid: &str) {
    pages
        .cmd(json!({"op": "click", "page": page, "testid": testid}))
        .await;
}

async fn visible(pages: &mut PageDriver, page: &str, testid: &str, secs: u64) {
    pages
        .send(
            json!({"op": "visible", "page": page, "testid": testid, "timeout_ms": secs * 1000}),
            Duration::from_secs(secs + 10),
        )
        .await;
}

async fn text(pages: &mut PageDriver, page: &str, testid: &str) -> String {
    pages
        .cmd(json!({"op": "text", "page": page, "testid": testid}))
        .await["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The highest level of the call's audio in `page` over 3 s.
async fn level(pages: &mut PageDriver, page: &str) -> f64 {
    pages
        .cmd(json!({"op": "level", "page": page, "ms": 3000}))
        .await["max"]
        .as_f64()
        .unwrap()
}

/// Each tone's amplitude in what the caller heard over the next 2 s.
async fn caller_hears(caller: &Caller, settle_ms: u64) -> (f64, f64, f64) {
    let w = window(settle_ms, 2.0).await;
    let pcm = caller.phone.heard(w.0, w.1);
    (amplitude(&pcm, TONE_A), amplitude(&pcm, TONE_B), rms(&pcm))
}

/// A caller through the account IVR, offered to agent 1001 (page `a`), whose
/// pop shows the slots; 1001 accepts and audio flows both ways.
async fn call_taken_by_1001(
    premise: &Premise,
    pages: &mut PageDriver,
    events: &mut callcore_runtime::EventSubscriber,
    earlier: Option<&InteractionId>,
) -> (Caller, InteractionId) {
    let caller = Caller::quiet(premise.sip_addr(), TONE_C).await;
    key_in(&caller, &format!("{ACCOUNT}#")).await;
    key_in(&caller, &format!("{CARD}#")).await;
    visible(pages, "a", "offer", 60).await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "screen-pop"}))
        .await;
    let slots = text(pages, "a", "pop-slots").await;
    let talk = text(pages, "a", "pop-conversation").await;
    eprintln!("screen pop: slots {slots:?}; conversation {talk:?}");
    assert!(
        slots.contains("account") && slots.contains(ACCOUNT),
        "the pop shows the account number: {slots}"
    );
    assert!(
        slots.contains("card_number") && slots.contains(CARD_MASKED),
        "the pop shows the card masked: {slots}"
    );
    let pop = text(pages, "a", "screen-pop").await;
    assert!(!pop.contains(CARD), "never the card in clear: {pop}");
    assert!(
        talk.contains("Asked: Please key in your account number.")
            && talk.contains("Asked: And your card number."),
        "the pop shows what the IVR asked: {talk}"
    );
    click(pages, "a", "offer-accept").await;
    visible(pages, "a", "call", 30).await;
    // (the events of an earlier call are skipped)
    let interaction = loop {
        let (interaction, agent) = call::connected(events).await;
        if Some(&interaction) != earlier {
            assert_eq!(agent, AgentId::new("1001"));
            break interaction;
        }
    };
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "audio"}))
        .await;
    caller.phone.speak(true);
    let heard = level(pages, "a").await;
    let (a, _, _) = caller_hears(&caller, 0).await;
    eprintln!("talking: page a hears the caller at {heard:.3}; the caller hears 1001 at {a:.0}");
    assert!(heard > 0.01, "page a hears the caller: {heard}");
    assert!(a > 300.0, "the caller hears 1001: {a}");
    (caller, interaction)
}

/// A script telling whether the element `testid` is disabled.
fn disabled(testid: &str) -> String {
    format!("document.querySelector('[data-testid=\"{testid}\"]').disabled")
}

/// Agent 1001 consults 1002, who answers on page `b`.
async fn consult_1002(pages: &mut PageDriver) {
    for (testid, value) in [("transfer-kind", "agent"), ("transfer-mode", "consult")] {
        pages
            .cmd(json!({"op": "select", "page": "a", "testid": testid, "value": value}))
            .await;
    }
    pages
        .cmd(json!({"op": "fill", "page": "a", "testid": "transfer-target", "value": "1002"}))
        .await;
    click(pages, "a", "call-transfer").await;
    visible(pages, "b", "offer", 30).await;
    // 1002 has not answered: the consultation's buttons are there but disabled
    // (the center would answer 409 "no consulted party is on the line")
    visible(pages, "a", "consult-complete", 30).await;
    for testid in ["consult-complete", "call-conference", "consult-swap"] {
        assert_eq!(
            pages
                .cmd(json!({"op": "eval", "page": "a", "js": disabled(testid)}))
                .await["value"],
            true,
            "{testid} is disabled before the consulted party answers"
        );
    }
    click(pages, "b", "offer-accept").await;
    visible(pages, "b", "call", 30).await;
    pages
        .cmd(json!({"op": "log", "page": "b", "entry": "audio"}))
        .await;
    // the center's `consult_answered` enables them: no 409 to retry
    pages
        .send(
            json!({"op": "wait", "page": "a", "timeout_ms": 30_000,
                "js": format!("!({})", disabled("consult-complete"))}),
            Duration::from_secs(40),
        )
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "consult-answered"}))
        .await;
    for testid in ["call-conference", "consult-swap"] {
        assert_eq!(
            pages
                .cmd(json!({"op": "eval", "page": "a", "js": disabled(testid)}))
                .await["value"],
            false,
            "{testid} is enabled once the consulted party answered"
        );
    }
    // 1001 hears 1002: the center has bridged them
    let mut heard = 0.0;
    for _ in 0..15 {
        heard = pages
            .cmd(json!({"op": "level", "page": "a", "ms": 1000}))
            .await["max"]
            .as_f64()
            .unwrap();
        if heard > 0.01 {
            break;
        }
    }
    assert!(heard > 0.01, "1001 hears the consulted 1002: {heard}");
}

/// Wraps up on `page` (ends after-call work).
async fn wrap_up(pages: &mut PageDriver, page: &str, code: &str) {
    visible(pages, page, "wrapup", 30).await;
    pages
        .cmd(json!({"op": "fill", "page": page, "testid": "wrapup-code", "value": code}))
        .await;
    click(pages, page, "wrapup-submit").await;
    pages
        .cmd(json!({"op": "log", "page": page, "entry": "wrapup-saved"}))
        .await;
}

/// Both sides of the call's recordings carry audio.
async fn recorded_both_sides(premise: &Premise, record: &callcore::InteractionRecord) {
    let recordings = premise
        .recordings(std::slice::from_ref(record))
        .await
        .unwrap();
    let levels: Vec<(f64, f64)> = recordings
        .iter()
        .map(|r| channel_levels(&std::fs::read(&r.path).unwrap()))
        .collect();
    eprintln!("recording levels (caller, agent): {levels:?}");
    assert!(
        levels.iter().any(|(c, a)| *c > 100.0 && *a > 100.0),
        "the caller and the agents are in the recording: {levels:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_consult_transfer_and_conference_in_browsers_with_the_ivr_slots_popped() {
    const NAME: &str =
        "agents_consult_transfer_and_conference_in_browsers_with_the_ivr_slots_popped";
    if !browser::peers_ready("the desktop consult/conference browser test")
        || !in_private_network(NAME).await
    {
        return;
    }
    let dir = call::data_dir("desktop-consult");
    let premise = Premise::builder(premise_config(&dir))
        .flow("account_ivr", Arc::new(account_flow()))
        .route("*", "account_ivr")
        .start()
        .await
        .unwrap();
    let http = premise.http_addr().expect("the HTTP listener");
    let url = format!("http://{http}/desktop");
    let (wav_a, wav_b) = (dir.join("alice.wav"), dir.join("bob.wav"));
    tone_wav(&wav_a, 120, TONE_A);
    tone_wav(&wav_b, 120, TONE_B);
    let mut events = premise.center().subscribe();
    // every event, to look for the card number in clear
    let mut journal = premise.center().subscribe();
    let seen: Arc<std::sync::Mutex<(Vec<String>, usize)>> = Arc::default();
    let collector = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                match journal.recv().await {
                    Ok(e) => {
                        let json = serde_json::to_string(&*e).unwrap();
                        let mut s = seen.lock().unwrap();
                        if json.contains(CARD) {
                            s.0.push(json);
                        }
                        s.1 += usize::from(matches!(e.kind, EventKind::ContextShared { .. }));
                    }
                    Err(callcore_runtime::BusError::Lagged(n)) => {
                        panic!("the test lagged {n} events")
                    }
                    Err(_) => return,
                }
            }
        })
    };
    let mut pages = PageDriver::start();
    log_in(&mut pages, "a", &url, &wav_a, "1001", "alice1001").await;
    log_in(&mut pages, "b", &url, &wav_b, "1002", "bob1002").await;
    set_state(&mut pages, &premise, "b", "1002", false).await;
    set_state(&mut pages, &premise, "a", "1001", true).await;

    // ----- call 1: consult, then complete the transfer
    let (caller, first) = call_taken_by_1001(&premise, &mut pages, &mut events, None).await;
    let pop_api = web::http(
        http,
        "GET",
        &format!("/api/v1/calls/{first}/screen-pop"),
        Some(&web::login(http, "1001", "alice1001").await),
        None,
    )
    .await;
    assert_eq!(pop_api.status, 200, "{}", pop_api.body);
    let pop: Value = serde_json::from_str(&pop_api.body).unwrap();
    let card = pop["ivr"]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "card_number")
        .cloned()
        .unwrap();
    assert_eq!(card["value"], CARD_MASKED, "{pop}");
    assert_eq!(card["sensitive"], true, "{pop}");
    set_state(&mut pages, &premise, "b", "1002", true).await;
    consult_1002(&mut pages).await;
    let heard_b = level(&mut pages, "b").await;
    let heard_a = level(&mut pages, "a").await;
    let (a, b, music) = caller_hears(&caller, 500).await;
    eprintln!(
        "consulting: page b hears 1001 at {heard_b:.3}, page a hears 1002 at {heard_a:.3}; \
         the caller hears music at RMS {music:.0}, 1001 at {a:.0}, 1002 at {b:.0}"
    );
    assert!(heard_b > 0.01, "1002 hears 1001: {heard_b}");
    assert!(heard_a > 0.01, "1001 hears 1002: {heard_a}");
    assert!(music > 300.0, "the waiting caller hears music: {music}");
    assert!(a < 300.0 && b < 300.0, "but neither agent: {a} {b}");
    assert_eq!(text(&mut pages, "b", "call-state").await, "consulted");
    let slots_b = text(&mut pages, "b", "pop-slots").await;
    assert!(
        slots_b.contains(ACCOUNT) && slots_b.contains(CARD_MASKED),
        "the consulted agent sees the slots too: {slots_b}"
    );
    click(&mut pages, "a", "consult-complete").await;
    wrap_up(&mut pages, "a", "transferred").await;
    let heard_b = level(&mut pages, "b").await;
    let (a, b, _) = caller_hears(&caller, 500).await;
    eprintln!(
        "transferred: page b hears the caller at {heard_b:.3}; the caller hears 1002 at {b:.0}, 1001 at {a:.0}"
    );
    assert!(heard_b > 0.01, "1002 hears the caller: {heard_b}");
    assert!(b > 300.0, "the caller hears 1002: {b}");
    assert!(a < b / 4.0, "and no longer 1001: {a}");
    assert_eq!(text(&mut pages, "b", "call-state").await, "talking");
    click(&mut pages, "b", "call-hangup").await;
    let record = call::ended_record(&premise, &first).await;
    assert_eq!(
        record.agents,
        vec![AgentId::new("1001"), AgentId::new("1002")],
        "{record:?}"
    );
    recorded_both_sides(&premise, &record).await;
    drop(caller);
    wrap_up(&mut pages, "b", "resolved").await;

    // ----- call 2: consult, then a conference of the three
    set_state(&mut pages, &premise, "b", "1002", false).await;
    set_state(&mut pages, &premise, "a", "1001", true).await;
    let (caller, second) =
        call_taken_by_1001(&premise, &mut pages, &mut events, Some(&first)).await;
    set_state(&mut pages, &premise, "b", "1002", true).await;
    consult_1002(&mut pages).await;
    click(&mut pages, "a", "call-conference").await;
    visible(&mut pages, "a", "conference-leave", 30).await;
    pages
        .cmd(json!({"op": "wait", "page": "b", "js": "document.querySelector('[data-testid=call-state]').textContent === 'conference'"}))
        .await;
    let heard_a = level(&mut pages, "a").await;
    let heard_b = level(&mut pages, "b").await;
    let (a, b, _) = caller_hears(&caller, 500).await;
    eprintln!(
        "conference: page a hears {heard_a:.3}, page b {heard_b:.3}; the caller hears 1001 at {a:.0}, 1002 at {b:.0}"
    );
    assert!(heard_a > 0.01 && heard_b > 0.01, "{heard_a} {heard_b}");
    assert!(
        a > 300.0 && b > 300.0,
        "the caller hears both agents: {a} {b}"
    );
    click(&mut pages, "a", "conference-leave").await;
    wrap_up(&mut pages, "a", "conference").await;
    let (a, b, _) = caller_hears(&caller, 800).await;
    eprintln!("1001 left: the caller hears 1001 at {a:.0}, 1002 at {b:.0}");
    assert!(b > 300.0 && a < b / 4.0, "1002 only: {a} {b}");
    click(&mut pages, "b", "call-hangup").await;
    let record = call::ended_record(&premise, &second).await;
    assert!(record.agents.contains(&AgentId::new("1002")), "{record:?}");
    recorded_both_sides(&premise, &record).await;

    // the card number never travelled in clear on the event stream
    assert!(
        !collector.is_finished(),
        "the event collector stopped early"
    );
    collector.abort();
    let (clear, shared) = seen.lock().unwrap().clone();
    assert!(clear.is_empty(), "events hold the card: {clear:?}");
    assert_eq!(shared, 2, "one context per call");

    pages.close().await;
    drop(caller);
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
