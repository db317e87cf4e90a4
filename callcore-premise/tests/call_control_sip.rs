//! The call-control API of `CenterHandle` on real SIP calls through the
//! premise center, with the audio each party receives checked: hold and
//! mute, supervisors (listen, whisper, barge), click-to-dial. Transfers and
//! conferences are in `call_transfer_sip.rs`.
//!
//! SIPp does every party's signalling — a caller dialling the IVR (it presses
//! 2 for support), agents and a supervisor at fixed contacts answering — and
//! each party's audio is the test's own RTP phone (see `support`), sending a
//! tone of its own frequency; who hears whom is the Goertzel amplitude of
//! each tone in what a party receives. The actions are driven through
//! `premise.center()`.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;

use std::time::Duration;

use callcore::{AgentId, EventKind, MonitorMode};
use callcore_premise::Premise;
use support::{
    Caller, Desk, HEARD, UNHEARD, agent_toml, amplitude, config, connected, data_dir, ended_record,
    heard, rms, tones, wait_for, window,
};

/// Hold: the held caller hears music and not the agent, the agent hears
/// nothing of the caller; resume brings both back; the record has the hold.
/// Then mute: the caller no longer hears the agent, who still hears them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_caller_hears_music_resume_restores_the_conversation_mute_silences_the_agent() {
    if !support::sipp_ready("the SIP hold test") {
        return;
    }
    let dir = data_dir("hold");
    let agent = Desk::start("2001", tones::AGENT, 1).await;
    let agents = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\ncontact = \"{}\"\nskills = [\"support\"]\n",
        agent.contact
    );
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();
    let caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    assert_eq!(who, AgentId::new("2001"));

    let talk = window(1500, 2.0).await;
    let (c, a) = (
        caller.phone.heard(talk.0, talk.1),
        agent.phone.heard(talk.0, talk.1),
    );
    let talking = (amplitude(&c, tones::AGENT), amplitude(&a, tones::CALLER));
    assert!(
        talking.0 > HEARD && talking.1 > HEARD,
        "talking: {talking:?}"
    );

    center.hold(&id).await.unwrap();
    let held = window(1000, 2.5).await;
    let (c, a) = (
        caller.phone.heard(held.0, held.1),
        agent.phone.heard(held.0, held.1),
    );
    let on_hold = (
        rms(&c),
        amplitude(&c, tones::AGENT),
        amplitude(&a, tones::CALLER),
    );
    eprintln!(
        "on hold: caller rms {:.0}, agent tone at caller {:.0}, caller tone at agent {:.0}",
        on_hold.0, on_hold.1, on_hold.2
    );
    assert!(
        on_hold.0 > 300.0,
        "the held caller hears music: {on_hold:?}"
    );
    assert!(
        on_hold.1 < UNHEARD,
        "the held caller does not hear the agent: {on_hold:?}"
    );
    assert!(
        on_hold.2 < UNHEARD,
        "the agent does not hear the held caller: {on_hold:?}"
    );

    center.resume(&id).await.unwrap();
    let back = window(1000, 2.0).await;
    let (c, a) = (
        caller.phone.heard(back.0, back.1),
        agent.phone.heard(back.0, back.1),
    );
    let resumed = (amplitude(&c, tones::AGENT), amplitude(&a, tones::CALLER));
    assert!(
        resumed.0 > HEARD && resumed.1 > HEARD,
        "resumed: {resumed:?}"
    );

    // muted, the agent still hears the caller, who no longer hears them
    center.mute(&id, true).await.unwrap();
    let muted = window(1000, 2.0).await;
    let (c, a) = (
        caller.phone.heard(muted.0, muted.1),
        agent.phone.heard(muted.0, muted.1),
    );
    let muted = (amplitude(&c, tones::AGENT), amplitude(&a, tones::CALLER));
    eprintln!(
        "muted: agent tone at caller {:.0}, caller tone at agent {:.0}",
        muted.0, muted.1
    );
    assert!(muted.0 < UNHEARD && muted.1 > HEARD, "muted: {muted:?}");
    center.mute(&id, false).await.unwrap();
    let unmuted = window(1000, 2.0).await;
    let c = caller.phone.heard(unmuted.0, unmuted.1);
    assert!(amplitude(&c, tones::AGENT) > HEARD, "unmuted");

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    assert!(record.hold_ms >= 2000, "{record:?}");
    assert_eq!(record.agent, Some(AgentId::new("2001")));
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whisper, listen, barge: a supervisor monitoring a call is heard by the
/// agent only, by nobody, by both — and hears both all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_whispers_to_the_agent_listens_and_barges_in() {
    if !support::sipp_ready("the SIP supervision test") {
        return;
    }
    let dir = data_dir("monitor");
    let agent = Desk::start("2001", tones::AGENT, 1).await;
    let boss = Desk::start("3001", tones::SUPERVISOR, 1).await;
    // 2002 is no supervisor (never rung: its address answers nothing)
    let agents = agent_toml("2001", &agent, "\"support\"", false)
        + &agent_toml("3001", &boss, "", true)
        + "[[agents]]\nid = \"2002\"\ncontact = \"sip:2002@127.0.0.1:9\"\nskills = [\"sales\"]\n";
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();
    let caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    assert_eq!(who, AgentId::new("2001"));
    let supervisor = AgentId::new("3001");

    // the call's own agent may not monitor it
    let refused = center
        .monitor(&id, &AgentId::new("2001"), MonitorMode::Listen)
        .await;
    assert!(
        matches!(refused, Err(callcore::CoreError::InvalidState { .. })),
        "{refused:?}"
    );
    // nor may an agent who is no supervisor
    let refused = center
        .monitor(&id, &AgentId::new("2002"), MonitorMode::Listen)
        .await;
    assert!(
        matches!(refused, Err(callcore::CoreError::Forbidden(_))),
        "{refused:?}"
    );

    center
        .monitor(&id, &supervisor, MonitorMode::Whisper)
        .await
        .unwrap();
    wait_for(&mut events, 20, "monitor_started", |k| {
        matches!(k, EventKind::MonitorStarted { .. }).then_some(())
    })
    .await;
    assert!(
        boss.phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await,
        "the supervisor hears the call"
    );
    let all = [tones::CALLER, tones::AGENT, tones::SUPERVISOR];
    let w = window(500, 2.0).await;
    let (c, a, s) = (
        heard(&caller.phone, w, &all),
        heard(&agent.phone, w, &all),
        heard(&boss.phone, w, &all),
    );
    eprintln!("whisper: caller {c:?} agent {a:?} supervisor {s:?}");
    assert!(a[2] > HEARD, "the agent hears the whisper: {a:?}");
    assert!(c[2] < UNHEARD, "the caller does not: {c:?}");
    assert!(
        c[1] > HEARD && a[0] > HEARD,
        "caller and agent still talk: {c:?} {a:?}"
    );
    assert!(
        s[0] > HEARD && s[1] > HEARD,
        "the supervisor hears both: {s:?}"
    );

    center
        .set_monitor_mode(&id, &supervisor, MonitorMode::Listen)
        .await
        .unwrap();
    let w = window(800, 2.0).await;
    let (c, a, s) = (
        heard(&caller.phone, w, &all),
        heard(&agent.phone, w, &all),
        heard(&boss.phone, w, &all),
    );
    eprintln!("listen: caller {c:?} agent {a:?} supervisor {s:?}");
    assert!(
        a[2] < UNHEARD && c[2] < UNHEARD,
        "nobody hears a listener: {c:?} {a:?}"
    );
    assert!(
        c[1] > HEARD && a[0] > HEARD,
        "caller and agent still talk: {c:?} {a:?}"
    );
    assert!(
        s[0] > HEARD && s[1] > HEARD,
        "the supervisor hears both: {s:?}"
    );

    // the operator console's `monitor` changes the mode of a supervisor
    // already monitoring (it used to refuse: "monitors it already")
    let said =
        callcore_premise::console::command(&premise, &format!("monitor {id} 3001 barge")).await;
    assert_eq!(said, format!("{id}: 3001 now barge"));
    let w = window(800, 2.0).await;
    let (c, a, s) = (
        heard(&caller.phone, w, &all),
        heard(&agent.phone, w, &all),
        heard(&boss.phone, w, &all),
    );
    eprintln!("barge: caller {c:?} agent {a:?} supervisor {s:?}");
    assert!(
        a[2] > HEARD && c[2] > HEARD,
        "both hear a barging supervisor: {c:?} {a:?}"
    );
    assert!(
        c[1] > HEARD && a[0] > HEARD,
        "caller and agent still talk: {c:?} {a:?}"
    );
    assert!(
        s[0] > HEARD && s[1] > HEARD,
        "the supervisor hears both: {s:?}"
    );

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    assert_eq!(record.agent, Some(AgentId::new("2001")), "{record:?}");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Click-to-dial: the agent's phone rings first, then the customer — here a
/// SIP address the center reaches (a fixed contact; a trunk is not needed):
/// they talk, in an outbound interaction with its own record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_to_dial_rings_the_agent_then_the_customer() {
    if !support::sipp_ready("the SIP click-to-dial test") {
        return;
    }
    let dir = data_dir("dial");
    let agent = Desk::start("2001", tones::AGENT, 1).await;
    let customer = Desk::start("9001", tones::CALLER, 1).await;
    // the customer's phone is an address at a fixed contact (no skills: no
    // queue routes calls to it)
    let agents = agent_toml("2001", &agent, "\"support\"", false)
        + &agent_toml("9001", &customer, "", false);
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();

    let id = center
        .dial(&AgentId::new("2001"), "sip:9001@127.0.0.1")
        .await
        .unwrap();
    let (connected_id, who) = connected(&mut events).await;
    assert_eq!((connected_id, who), (id.clone(), AgentId::new("2001")));
    assert!(
        customer
            .phone
            .wait_hearing(tones::AGENT, Duration::from_secs(10))
            .await,
        "the customer hears the agent"
    );
    let all = [tones::CALLER, tones::AGENT];
    let w = window(300, 2.0).await;
    let (a, c) = (
        heard(&agent.phone, w, &all),
        heard(&customer.phone, w, &all),
    );
    eprintln!("dialled: agent {a:?} customer {c:?}");
    assert!(
        a[0] > HEARD && c[1] > HEARD,
        "agent and customer talk: {a:?} {c:?}"
    );

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    assert_eq!(
        record.direction,
        callcore::Direction::Outbound,
        "{record:?}"
    );
    assert_eq!(record.agent, Some(AgentId::new("2001")), "{record:?}");
    assert!(record.talk_ms >= 1500, "{record:?}");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
