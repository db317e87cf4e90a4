//! Transfers and conferences of `CenterHandle` on real SIP calls through the
//! premise center, with the audio each party receives checked: blind
//! transfer to an agent and to an outside address, attended transfer
//! (consult, swap, cancel, complete), a conference of three then four with
//! kick and leave. The setting is that of `call_control_sip.rs`: SIPp
//! signalling, the test's own RTP phones, Goertzel amplitudes.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;

use std::time::Duration;

use callcore::{AgentId, EventKind};
use callcore_premise::Premise;
use callcore_runtime::CallTarget;
use support::{
    Caller, Desk, HEARD, UNHEARD, agent_toml, config, connected, data_dir, ended_record, heard,
    rms, tones, wait_for, window,
};

/// Blind transfer to another agent: the caller talks with the target, the
/// first agent is hung up, the record lists both agents.
///
/// A blind transfer to an agent takes them directly (whatever queues they
/// serve: see `callcore-runtime`'s call-control docs) and rings their phone;
/// the first agent stays with the caller until the target answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_transfer_to_an_agent_reaches_them() {
    if !support::sipp_ready("the SIP blind transfer test") {
        return;
    }
    let dir = data_dir("blind");
    let desks = [
        Desk::start("2001", tones::AGENT, 1).await,
        Desk::start("2002", tones::OTHER, 1).await,
    ];
    let agents = agent_toml("2001", &desks[0], "\"support\"", false)
        + &agent_toml("2002", &desks[1], "\"support\"", false);
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();
    let caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    // whoever took the call transfers it to the other
    let (f, t) = if who == AgentId::new("2001") {
        (0, 1)
    } else {
        (1, 0)
    };
    let (first, target) = (&desks[f], &desks[t]);
    let (first_tone, target_tone) = (
        [tones::AGENT, tones::OTHER][f],
        [tones::AGENT, tones::OTHER][t],
    );
    let target_id = AgentId::new(["2001", "2002"][t]);
    assert!(
        first
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await
    );

    center
        .transfer(&id, CallTarget::Agent(target_id.clone()))
        .await
        .unwrap();
    let (again, to) = connected(&mut events).await;
    assert_eq!((again, to), (id.clone(), target_id.clone()));
    assert!(
        target
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await,
        "the target hears the caller"
    );
    let all = [tones::CALLER, first_tone, target_tone];
    let w = window(300, 2.0).await;
    let (c, t, f) = (
        heard(&caller.phone, w, &all),
        heard(&target.phone, w, &all),
        heard(&first.phone, w, &all),
    );
    eprintln!("after the blind transfer: caller {c:?} target {t:?} first {f:?}");
    assert!(
        c[2] > HEARD && t[0] > HEARD,
        "caller and target talk: {c:?} {t:?}"
    );
    assert!(c[1] < UNHEARD, "the first agent is gone: {c:?}");
    assert!(f[0] < UNHEARD, "the first agent hears nothing more: {f:?}");

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    assert_eq!(record.agent, Some(target_id), "{record:?}");
    assert!(
        record.agents.contains(&AgentId::new("2001"))
            && record.agents.contains(&AgentId::new("2002")),
        "both agents: {:?}",
        record.agents
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Attended transfer: the agent consults a colleague (the caller hears music
/// meanwhile), swaps to the caller and back, cancels (back with the caller),
/// consults again and completes: the caller talks with the colleague; the
/// record lists both agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attended_transfer_is_cancelled_then_completed() {
    if !support::sipp_ready("the SIP attended transfer test") {
        return;
    }
    let dir = data_dir("attended");
    let first = Desk::start("2001", tones::AGENT, 1).await;
    let target = Desk::start("2002", tones::OTHER, 2).await;
    let agents = agent_toml("2001", &first, "\"support\"", false)
        + &agent_toml("2002", &target, "\"sales\"", false);
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();
    let caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    assert_eq!(who, AgentId::new("2001"));
    assert!(
        first
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await
    );
    let all = [tones::CALLER, tones::AGENT, tones::OTHER];
    let colleague = CallTarget::Agent(AgentId::new("2002"));

    center.consult(&id, colleague.clone()).await.unwrap();
    assert!(
        target
            .phone
            .wait_hearing(tones::AGENT, Duration::from_secs(15))
            .await,
        "the consulted agent hears the first one"
    );
    let w = window(300, 2.0).await;
    let (c, t, f) = (
        heard(&caller.phone, w, &all),
        heard(&target.phone, w, &all),
        heard(&first.phone, w, &all),
    );
    let music = rms(&caller.phone.heard(w.0, w.1));
    eprintln!("consulting: caller {c:?} (rms {music:.0}) target {t:?} first {f:?}");
    assert!(f[2] > HEARD && t[1] > HEARD, "the agents talk: {f:?} {t:?}");
    assert!(
        c[1] < UNHEARD && c[2] < UNHEARD,
        "the caller hears neither: {c:?}"
    );
    assert!(music > 300.0, "the caller hears music: {music}");
    assert!(
        f[0] < UNHEARD && t[0] < UNHEARD,
        "nobody hears the held caller: {f:?} {t:?}"
    );

    // swap: the agent is back with the caller, the colleague waits
    center.swap(&id).await.unwrap();
    let w = window(1000, 2.0).await;
    let (c, t, f) = (
        heard(&caller.phone, w, &all),
        heard(&target.phone, w, &all),
        heard(&first.phone, w, &all),
    );
    eprintln!("swapped: caller {c:?} target {t:?} first {f:?}");
    assert!(
        c[1] > HEARD && f[0] > HEARD,
        "agent and caller talk: {c:?} {f:?}"
    );
    assert!(
        t[0] < UNHEARD && t[1] < UNHEARD,
        "the colleague waits: {t:?}"
    );
    assert!(
        c[2] < UNHEARD && f[2] < UNHEARD,
        "nobody hears the colleague: {c:?} {f:?}"
    );
    center.swap(&id).await.unwrap();

    center.cancel_consult(&id).await.unwrap();
    let w = window(1000, 2.0).await;
    let (c, f) = (heard(&caller.phone, w, &all), heard(&first.phone, w, &all));
    eprintln!("cancelled: caller {c:?} first {f:?}");
    assert!(
        c[1] > HEARD && f[0] > HEARD,
        "back with the caller: {c:?} {f:?}"
    );
    assert!(f[2] < UNHEARD, "the colleague is gone: {f:?}");

    // the colleague is available again: consult and complete
    let mut consulted = false;
    for _ in 0..20 {
        if center.consult(&id, colleague.clone()).await.is_ok() {
            consulted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(consulted, "the colleague was freed by the cancel");
    let mut completed = false;
    for _ in 0..60 {
        if center.complete_transfer(&id).await.is_ok() {
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(completed, "the colleague answered the second consultation");
    let (again, to) = connected(&mut events).await;
    assert_eq!((again, to), (id.clone(), AgentId::new("2002")));
    assert!(
        target
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await
    );
    let w = window(300, 2.0).await;
    let (c, t) = (heard(&caller.phone, w, &all), heard(&target.phone, w, &all));
    eprintln!("completed: caller {c:?} target {t:?}");
    assert!(
        c[2] > HEARD && t[0] > HEARD,
        "caller and colleague talk: {c:?} {t:?}"
    );
    assert!(c[1] < UNHEARD, "the first agent is gone: {c:?}");

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    assert_eq!(record.agent, Some(AgentId::new("2002")), "{record:?}");
    assert!(
        record.agents.contains(&AgentId::new("2001"))
            && record.agents.contains(&AgentId::new("2002")),
        "both agents: {:?}",
        record.agents
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Conference: the agent consults a colleague and makes it a conference of
/// three, adds a third agent; all hear each other. The third is kicked, then
/// the first agent leaves: the caller and the colleague talk on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_of_three_then_four_all_hear_each_other_then_kick_and_leave() {
    if !support::sipp_ready("the SIP conference test") {
        return;
    }
    let dir = data_dir("conference");
    let first = Desk::start("2001", tones::AGENT, 1).await;
    let second = Desk::start("2002", tones::OTHER, 1).await;
    let third = Desk::start("2003", tones::SUPERVISOR, 1).await;
    let agents = agent_toml("2001", &first, "\"support\"", false)
        + &agent_toml("2002", &second, "\"sales\"", false)
        + &agent_toml("2003", &third, "\"sales\"", false);
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();
    let caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    assert_eq!(who, AgentId::new("2001"));
    assert!(
        first
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await
    );

    center
        .consult(&id, CallTarget::Agent(AgentId::new("2002")))
        .await
        .unwrap();
    assert!(
        second
            .phone
            .wait_hearing(tones::AGENT, Duration::from_secs(15))
            .await
    );
    center.conference(&id).await.unwrap();
    let mut joined = Vec::new();
    while joined.len() < 3 {
        joined.push(
            wait_for(&mut events, 10, "conference_joined", |k| match k {
                EventKind::ConferenceJoined { leg, party, .. } => {
                    Some((leg.clone(), party.clone()))
                }
                _ => None,
            })
            .await,
        );
    }
    let all = [tones::CALLER, tones::AGENT, tones::OTHER, tones::SUPERVISOR];
    let w = window(1000, 2.0).await;
    let (c, a, b) = (
        heard(&caller.phone, w, &all),
        heard(&first.phone, w, &all),
        heard(&second.phone, w, &all),
    );
    eprintln!("three: caller {c:?} first {a:?} second {b:?}");
    assert!(
        c[1] > HEARD && c[2] > HEARD,
        "the caller hears both agents: {c:?}"
    );
    assert!(
        a[0] > HEARD && a[2] > HEARD,
        "the first agent hears caller and colleague: {a:?}"
    );
    assert!(
        b[0] > HEARD && b[1] > HEARD,
        "the colleague hears caller and agent: {b:?}"
    );
    for (p, hears) in [(0, &c), (1, &a), (2, &b)] {
        assert!(hears[p] < UNHEARD, "nobody hears themselves: {hears:?}");
    }

    center
        .add_to_conference(&id, CallTarget::Agent(AgentId::new("2003")))
        .await
        .unwrap();
    let (third_leg, party) = wait_for(&mut events, 20, "the third agent joined", |k| match k {
        EventKind::ConferenceJoined { leg, party, .. } => Some((leg.clone(), party.clone())),
        _ => None,
    })
    .await;
    assert_eq!(party, "agent:2003");
    let w = window(1000, 2.0).await;
    let (c, t) = (heard(&caller.phone, w, &all), heard(&third.phone, w, &all));
    eprintln!("four: caller {c:?} third {t:?}");
    assert!(
        c[1] > HEARD && c[2] > HEARD && c[3] > HEARD,
        "the caller hears all three agents: {c:?}"
    );
    assert!(
        t[0] > HEARD && t[1] > HEARD && t[2] > HEARD,
        "the third hears all: {t:?}"
    );

    center.kick(&id, &third_leg).await.unwrap();
    let w = window(1000, 2.0).await;
    let (c, a, t) = (
        heard(&caller.phone, w, &all),
        heard(&first.phone, w, &all),
        heard(&third.phone, w, &all),
    );
    eprintln!("kicked: caller {c:?} first {a:?} third {t:?}");
    assert!(
        c[3] < UNHEARD && a[3] < UNHEARD,
        "the kicked agent is gone: {c:?} {a:?}"
    );
    assert!(t[0] < UNHEARD, "the kicked agent hears nothing more: {t:?}");
    assert!(c[1] > HEARD && c[2] > HEARD, "the rest talk on: {c:?}");

    center.leave_conference(&id).await.unwrap();
    let w = window(1000, 2.0).await;
    let (c, a, b) = (
        heard(&caller.phone, w, &all),
        heard(&first.phone, w, &all),
        heard(&second.phone, w, &all),
    );
    eprintln!("left: caller {c:?} first {a:?} second {b:?}");
    assert!(
        c[2] > HEARD && b[0] > HEARD,
        "caller and colleague talk on: {c:?} {b:?}"
    );
    assert!(
        c[1] < UNHEARD && a[0] < UNHEARD,
        "the first agent left: {c:?} {a:?}"
    );

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    for agent in ["2001", "2002", "2003"] {
        assert!(
            record.agents.contains(&AgentId::new(agent)),
            "{agent} in {:?}",
            record.agents
        );
    }
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Blind transfer to a number outside the center — here a SIP address it
/// reaches (a fixed contact): the agent stays with the caller until it
/// answers, then the caller talks with it and the agent is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_transfer_to_an_outside_address_bridges_the_caller_there() {
    if !support::sipp_ready("the SIP transfer-to-a-number test") {
        return;
    }
    let dir = data_dir("outside");
    let agent = Desk::start("2001", tones::AGENT, 1).await;
    let outside = Desk::start("9001", tones::OTHER, 1).await;
    let agents =
        agent_toml("2001", &agent, "\"support\"", false) + &agent_toml("9001", &outside, "", false);
    let premise = Premise::start(config(&dir, &agents)).await.unwrap();
    let center = premise.center().clone();
    let mut events = center.subscribe();
    let caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    assert_eq!(who, AgentId::new("2001"));
    assert!(
        agent
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(10))
            .await
    );

    center
        .transfer(&id, CallTarget::Number("sip:9001@127.0.0.1".into()))
        .await
        .unwrap();
    assert!(
        outside
            .phone
            .wait_hearing(tones::CALLER, Duration::from_secs(15))
            .await,
        "the outside party hears the caller"
    );
    let all = [tones::CALLER, tones::AGENT, tones::OTHER];
    let w = window(300, 2.0).await;
    let (c, o, a) = (
        heard(&caller.phone, w, &all),
        heard(&outside.phone, w, &all),
        heard(&agent.phone, w, &all),
    );
    eprintln!("transferred out: caller {c:?} outside {o:?} agent {a:?}");
    assert!(
        c[2] > HEARD && o[0] > HEARD,
        "caller and outside party talk: {c:?} {o:?}"
    );
    assert!(
        c[1] < UNHEARD && a[0] < UNHEARD,
        "the agent is gone: {c:?} {a:?}"
    );
    assert_eq!(outside.invited_at().len(), 1);

    center.hang_up(&id).await.unwrap();
    let record = ended_record(&premise, &id).await;
    assert_eq!(record.agents, [AgentId::new("2001")], "{record:?}");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
