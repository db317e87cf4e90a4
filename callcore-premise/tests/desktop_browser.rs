//! The agent desktop (`/desktop`, callcore-web) in real browsers against a real
//! SIP caller, on the premise center: two headless Chromiums driven by
//! `playwright-core` (`tests/webrtc/page_driver.js`), each with a fake
//! microphone playing its own tone from a WAV (agent 1001: 900 Hz, agent 1002:
//! 1,300 Hz), and a SIPp caller (signalling; its RTP is the test's phone,
//! `call_support`, sending the speech of sip-tester's `g711a.pcap` and the menu
//! digit, and keeping what it receives).
//!
//! Agent 1001 logs in on the page, goes not ready (a reason code) then ready;
//! the caller goes through the IVR (digit 2) to the support queue; the offer
//! appears with the screen pop (the customer's profile, a chat of theirs from
//! yesterday with its wrap-up code, the IVR's steps); the agent accepts and the
//! audio flows both ways over WebRTC (the page measures the caller's speech;
//! the caller hears the agent's tone, which is on the agent's side of the call's
//! recording); hold plays music to the caller; mute silences the agent; the
//! keypad's DTMF reaches the caller; a blind transfer to agent 1002, logged in
//! on the second browser, connects the caller to them; agent 1001's wrap-up
//! code and notes are stored (read back through the API); agent 1002 hangs up
//! and the caller gets the center's BYE.
//!
//! Re-runs itself inside a private network namespace (Chromium's ICE over
//! loopback, see webrtc_agent.rs). Needs root, sipp, chromium, node and
//! playwright-core in `.cache/node`: skipped with a notice otherwise, failing
//! under `CALLCORE_REQUIRE_PEERS=1`. With `CALLCORE_DESKTOP_SCREENSHOT=FILE`
//! it saves a screenshot of agent 1001's desktop on the call (docs/desktop.png).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "call_support/mod.rs"]
mod call;
#[path = "web_support/mod.rs"]
mod web;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use browser::{PageDriver, SPEECH, channel_levels, in_private_network, pcap_speech, tone_wav};
use call::{Caller, amplitude, rms, window};
use callcore::{
    AgentId, Channel, CustomerId, CustomerProfile, Direction, Disposition, Identity, IdentityKind,
    Interaction, InteractionId, InteractionRecord, Pii, TenantId, Timestamp,
};
use callcore_premise::{Premise, PremiseConfig};
use serde_json::json;

/// Agent 1001's microphone.
const TONE_A: f64 = 900.0;
/// Agent 1002's microphone.
const TONE_B: f64 = 1300.0;
/// The caller's number, which the seeded customer profile is known by.
const CALLER_NUMBER: &str = "+4930123456";

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
menu = [{{ key = "2", label = "support", queue = "support" }}]
default_queue = "support"
[[queues]]
id = "support"
skill = "support"
wrap_up_secs = 5
[agent_states]
reasons = ["break", "lunch"]
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

/// The caller's profile and a chat of theirs from yesterday, with its wrap-up.
async fn seed_customer(premise: &Premise) {
    let tenant = TenantId::new("default");
    let stores = premise.center().stores();
    let customer = CustomerId::new("cust-42");
    stores
        .customers
        .save(&CustomerProfile {
            id: customer.clone(),
            tenant: tenant.clone(),
            name: Some(Pii::new("Erika Mustermann".to_owned())),
            identities: vec![Identity {
                kind: IdentityKind::Phone,
                value: Pii::new(CALLER_NUMBER.to_owned()),
            }],
            vip: true,
            preferences: BTreeMap::from([("language".to_owned(), "de".to_owned())]),
            tags: vec!["fibre".to_owned()],
            last_agent: None,
            open_business: vec!["ticket 4711: router replacement".to_owned()],
            notes: None,
        })
        .await
        .unwrap();
    let yesterday = Timestamp::from_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
            - 86_400_000,
    );
    let chat = Interaction::new(
        InteractionId::new("chat-yesterday"),
        tenant,
        Channel::Chat,
        Direction::Inbound,
        "visitor-77",
        "web-chat",
        yesterday,
    );
    let mut record = InteractionRecord::new(&chat);
    record.customer = Some(customer);
    record.agent = Some(AgentId::new("1002"));
    record.disposition = Some(Disposition::Agent("follow_up".to_owned()));
    record.notes = Some(Pii::new("asked when the new router ships".to_owned()));
    record.ended_at = Some(yesterday);
    record.complete = true;
    stores.interactions.save(&record).await.unwrap();
}

/// The strongest 50 ms stretch of both DTMF tones of `low`/`high` in `pcm`.
fn dtmf_peak(pcm: &[i16], low: f64, high: f64) -> f64 {
    pcm.chunks(400)
        .map(|c| amplitude(c, low).min(amplitude(c, high)))
        .fold(0.0, f64::max)
}

/// Waits until the premise sees `agent` reachable in `state`.
async fn agent_is(premise: &Premise, agent: &str, state: callcore::AgentState) {
    let agent = AgentId::new(agent);
    for _ in 0..100 {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_a_sip_call_on_the_desktop_and_transfers_it() {
    if !browser::peers_ready("the agent desktop browser test")
        || !in_private_network("an_agent_takes_a_sip_call_on_the_desktop_and_transfers_it").await
    {
        return;
    }
    let dir = call::data_dir("desktop");
    let premise = Premise::start(premise_config(&dir)).await.unwrap();
    seed_customer(&premise).await;
    let http = premise.http_addr().expect("the HTTP listener");
    let url = format!("http://{http}/desktop");
    let (wav_a, wav_b) = (dir.join("alice.wav"), dir.join("bob.wav"));
    tone_wav(&wav_a, 60, TONE_A);
    tone_wav(&wav_b, 60, TONE_B);
    let mut events = premise.center().subscribe();
    let mut pages = PageDriver::start();

    // agent 1001 logs in, goes not ready (with a reason), then ready
    pages
        .cmd(json!({"op": "open", "page": "a", "url": url, "wav": wav_a}))
        .await;
    pages
        .cmd(json!({"op": "fill", "page": "a", "testid": "login-user", "value": "1001"}))
        .await;
    pages
        .cmd(json!({"op": "fill", "page": "a", "testid": "login-password", "value": "alice1001"}))
        .await;
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "login-submit"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "phone-online"}))
        .await;
    pages
        .cmd(json!({"op": "select", "page": "a", "testid": "agent-state", "value": "not_ready"}))
        .await;
    pages
        .cmd(json!({"op": "select", "page": "a", "testid": "agent-reason", "value": "lunch"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "state:not_ready"}))
        .await;
    agent_is(
        &premise,
        "1001",
        callcore::AgentState::NotReady("lunch".into()),
    )
    .await;
    pages
        .cmd(json!({"op": "select", "page": "a", "testid": "agent-state", "value": "ready"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "state:ready"}))
        .await;
    agent_is(&premise, "1001", callcore::AgentState::Available).await;

    // the caller: IVR, digit 2, speech
    let speech = pcap_speech(Path::new(SPEECH));
    assert!(speech.len() > 8000, "speech in the pcap: {}", speech.len());
    let caller = Caller::call_speaking(premise.sip_addr(), speech, 2).await;

    // the offer with the screen pop
    pages
        .send(
            json!({"op": "visible", "page": "a", "testid": "offer", "timeout_ms": 60000}),
            Duration::from_secs(70),
        )
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "screen-pop"}))
        .await;
    let pop = pages
        .cmd(json!({"op": "text", "page": "a", "testid": "screen-pop"}))
        .await["text"]
        .as_str()
        .unwrap()
        .to_owned();
    for shown in [
        "Erika Mustermann",
        "VIP",
        "ticket 4711",
        "language: de",
        CALLER_NUMBER,
        "queue support",
        "chat inbound",
        "follow_up",
        "asked when the new router ships",
        "Intent:",
    ] {
        assert!(pop.contains(shown), "the screen pop shows {shown:?}: {pop}");
    }
    assert!(!pop.contains("no IVR steps"), "the IVR's steps: {pop}");

    // accept: audio both ways
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "offer-accept"}))
        .await;
    pages
        .cmd(json!({"op": "visible", "page": "a", "testid": "call"}))
        .await;
    let (interaction, agent) = call::connected(&mut events).await;
    assert_eq!(agent, AgentId::new("1001"));
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "audio"}))
        .await;
    let heard_a = pages
        .cmd(json!({"op": "level", "page": "a", "ms": 3000}))
        .await["max"]
        .as_f64()
        .unwrap();
    let talk = window(0, 2.0).await;
    let at_caller = caller.phone.heard(talk.0, talk.1);
    let talking = amplitude(&at_caller, TONE_A);
    eprintln!(
        "talking: page heard the caller at RMS {heard_a:.3}; the caller hears agent 1001's tone at {talking:.0}"
    );
    assert!(
        heard_a > 0.01,
        "the page hears the caller's speech: {heard_a}"
    );
    assert!(talking > 300.0, "the caller hears agent 1001: {talking}");
    if let Ok(path) = std::env::var("CALLCORE_DESKTOP_SCREENSHOT") {
        pages
            .cmd(json!({"op": "screenshot", "page": "a", "path": path}))
            .await;
    }

    // hold: music for the caller, not the agent; then resume
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "call-hold"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "did:hold"}))
        .await;
    let held = window(1500, 2.0).await;
    let at_caller = caller.phone.heard(held.0, held.1);
    let (music, agent_on_hold) = (rms(&at_caller), amplitude(&at_caller, TONE_A));
    eprintln!("on hold: the caller hears RMS {music:.0}, agent 1001's tone at {agent_on_hold:.0}");
    assert!(music > 300.0, "the held caller hears music: {music}");
    assert!(
        agent_on_hold < talking / 4.0,
        "the held caller does not hear the agent: {agent_on_hold} (talking {talking})"
    );
    let text = pages
        .cmd(json!({"op": "text", "page": "a", "testid": "call-hold"}))
        .await;
    assert_eq!(text["text"], "Resume", "the hold button resumes now");
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "call-hold"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "did:resume"}))
        .await;

    // mute: the caller stops hearing the agent; unmute
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "call-mute"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "did:mute"}))
        .await;
    let muted = window(1000, 1.5).await;
    let agent_muted = amplitude(&caller.phone.heard(muted.0, muted.1), TONE_A);
    eprintln!("muted: the caller hears agent 1001's tone at {agent_muted:.0}");
    assert!(agent_muted < talking / 4.0, "muted: {agent_muted}");
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "call-mute"}))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // the keypad: DTMF 1 (697 + 1209 Hz) reaches the caller, in band
    let before = Instant::now();
    for _ in 0..3 {
        pages
            .cmd(json!({"op": "click", "page": "a", "testid": "keypad-1"}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let pcm = caller.phone.heard(before, Instant::now());
    let digit = dtmf_peak(&pcm, 697.0, 1209.0);
    let quiet = dtmf_peak(&caller.phone.heard(talk.0, talk.1), 697.0, 1209.0);
    eprintln!("keypad: DTMF 1 at the caller {digit:.0} (while talking, without it: {quiet:.0})");
    assert!(
        digit > 500.0 && digit > 4.0 * quiet,
        "the caller receives the keypad's digit: {digit} (without: {quiet})"
    );

    // blind transfer to agent 1002 on the second browser
    pages
        .cmd(json!({"op": "open", "page": "b", "url": url, "wav": wav_b}))
        .await;
    pages
        .cmd(json!({"op": "fill", "page": "b", "testid": "login-user", "value": "1002"}))
        .await;
    pages
        .cmd(json!({"op": "fill", "page": "b", "testid": "login-password", "value": "bob1002"}))
        .await;
    pages
        .cmd(json!({"op": "click", "page": "b", "testid": "login-submit"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "b", "entry": "phone-online"}))
        .await;
    pages
        .cmd(json!({"op": "select", "page": "b", "testid": "agent-state", "value": "ready"}))
        .await;
    agent_is(&premise, "1002", callcore::AgentState::Available).await;
    pages
        .cmd(json!({"op": "select", "page": "a", "testid": "transfer-kind", "value": "agent"}))
        .await;
    pages
        .cmd(json!({"op": "fill", "page": "a", "testid": "transfer-target", "value": "1002"}))
        .await;
    pages
        .cmd(json!({"op": "select", "page": "a", "testid": "transfer-mode", "value": "blind"}))
        .await;
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "call-transfer"}))
        .await;
    pages
        .cmd(json!({"op": "visible", "page": "b", "testid": "offer"}))
        .await;
    pages
        .cmd(json!({"op": "click", "page": "b", "testid": "offer-accept"}))
        .await;
    pages
        .cmd(json!({"op": "visible", "page": "b", "testid": "call"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "b", "entry": "audio"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "call-ended"}))
        .await;
    pages
        .cmd(json!({"op": "visible", "page": "a", "testid": "wrapup"}))
        .await;
    let heard_b = pages
        .cmd(json!({"op": "level", "page": "b", "ms": 3000}))
        .await["max"]
        .as_f64()
        .unwrap();
    let after = window(0, 2.0).await;
    let at_caller = caller.phone.heard(after.0, after.1);
    let (b_tone, a_tone) = (amplitude(&at_caller, TONE_B), amplitude(&at_caller, TONE_A));
    eprintln!(
        "transferred: page b heard the caller at RMS {heard_b:.3}; the caller hears 1002 at {b_tone:.0}, 1001 at {a_tone:.0}"
    );
    assert!(
        heard_b > 0.01,
        "agent 1002's page hears the caller: {heard_b}"
    );
    assert!(b_tone > 300.0, "the caller hears agent 1002: {b_tone}");
    assert!(a_tone < b_tone / 4.0, "and no longer agent 1001: {a_tone}");
    pages
        .cmd(json!({"op": "log", "page": "b", "entry": "screen-pop"}))
        .await;

    // agent 1001's wrap-up
    pages
        .cmd(json!({"op": "fill", "page": "a", "testid": "wrapup-code", "value": "resolved"}))
        .await;
    pages
        .cmd(json!({"op": "fill", "page": "a", "testid": "wrapup-notes", "value": "router replacement ordered"}))
        .await;
    pages
        .cmd(json!({"op": "click", "page": "a", "testid": "wrapup-submit"}))
        .await;
    pages
        .cmd(json!({"op": "log", "page": "a", "entry": "wrapup-saved"}))
        .await;

    // agent 1002 hangs up: the caller gets the center's BYE
    pages
        .cmd(json!({"op": "click", "page": "b", "testid": "call-hangup"}))
        .await;
    pages
        .cmd(json!({"op": "visible", "page": "b", "testid": "wrapup"}))
        .await;
    let record = call::ended_record(&premise, &interaction).await;
    eprintln!("record: {record:?}");
    assert_eq!(
        record.agents,
        vec![AgentId::new("1001"), AgentId::new("1002")],
        "{record:?}"
    );
    assert!(record.hold_ms >= 1500, "{record:?}");
    assert_eq!(
        record.disposition,
        Some(Disposition::Agent("resolved".to_owned()))
    );

    // the wrap-up read back through the API, as agent 1001
    let session = web::login(http, "1001", "alice1001").await;
    let stored = web::http(
        http,
        "GET",
        &format!("/api/v1/interactions/{interaction}"),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert!(
        stored.body.contains("resolved") && stored.body.contains("router replacement ordered"),
        "the wrap-up is stored: {}",
        stored.body
    );

    // agent 1001's microphone is on the agent's side of the recording
    let recordings = premise
        .recordings(std::slice::from_ref(&record))
        .await
        .unwrap();
    assert!(!recordings.is_empty(), "{recordings:?}");
    let levels: Vec<(f64, f64)> = recordings
        .iter()
        .map(|r| channel_levels(&std::fs::read(&r.path).unwrap()))
        .collect();
    eprintln!("recording levels (caller, agent): {levels:?}");
    assert!(
        levels
            .iter()
            .any(|(caller, agent)| *caller > 100.0 && *agent > 100.0),
        "the caller and the browser agent are both in the recording: {levels:?}"
    );

    pages.close().await;
    drop(caller);
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
