//! The call-control API of `CenterHandle` through the running Center with
//! in-memory doubles, in virtual time: hold with music, mute, blind and
//! attended transfers, conferences, supervision, the center's hang-up,
//! wrap-up notes and click-to-dial — each action's effect on the legs (the
//! memory transport's bridges and mixing-room double), its events, the
//! record, and the error for an action that does not fit the call's state.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use async_trait::async_trait;
use callcore::{
    AgentId, AgentProfile, AgentState, Clock, CoreError, Direction, Disposition, EndReason,
    Endpoint, Event, EventKind, HangupCause, IdSource, InteractionId, InteractionRecord, MixRole,
    MonitorMode, QueueDefinition, Timestamp, VirtualClock,
};
use callcore_runtime::memory::{FarEnd, MemoryTransport, PhoneBehavior};
use callcore_runtime::{
    CallTarget, Center, CenterHandle, EventSubscriber, Flow, FlowContext, FlowOutcome,
};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000;
const NUMBER: &str = "+4930999000";

#[derive(Debug)]
struct Support;

#[async_trait]
impl Flow for Support {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

struct Rig {
    clock: VirtualClock,
    transport: Arc<MemoryTransport>,
    center: CenterHandle,
}

/// alice serves `support`; bob serves `billing`; sue is a supervisor; `NUMBER`
/// is an outside number that answers.
async fn rig() -> Rig {
    rig_with(None).await
}

/// As [`rig`], the center minting its own interactions' ids from `ids`.
async fn rig_with(ids: Option<Arc<dyn IdSource>>) -> Rig {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let mut builder = Center::builder();
    if let Some(ids) = ids {
        builder = builder.ids(ids);
    }
    let center = builder
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .flow("support", Arc::new(Support))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("support").with_wrap_up_secs(5))
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("billing"))
        .await
        .unwrap();
    for (name, queue, supervisor) in [
        ("alice", "support", false),
        ("bob", "billing", false),
        ("sue", "nothing", true),
    ] {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(&address, PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
        let mut profile = AgentProfile::new(name).with_endpoint(Endpoint::Sip(address));
        profile.queues = vec![queue.into()];
        profile.supervisor = supervisor;
        center.add_agent(profile).await.unwrap();
        center
            .set_agent_state(&name.into(), AgentState::Available)
            .await
            .unwrap();
    }
    transport.add_phone(NUMBER, PhoneBehavior::AnswerAfter(Duration::from_secs(3)));
    Rig {
        clock,
        transport,
        center,
    }
}

async fn until(events: &mut EventSubscriber, seen: &mut Vec<Arc<Event>>, name: &str) -> Arc<Event> {
    loop {
        let e = events.recv().await.unwrap();
        seen.push(e.clone());
        if e.kind.name() == name {
            return e;
        }
    }
}

async fn record(center: &CenterHandle, id: &InteractionId) -> InteractionRecord {
    center.flush().await;
    center
        .stores()
        .interactions
        .get(&"default".into(), id)
        .await
        .unwrap()
        .expect("record stored")
}

fn phone(rig: &Rig, name: &str) -> FarEnd {
    rig.transport.phone(&format!("sip:{name}@pbx")).unwrap()
}

async fn state_of(center: &CenterHandle, agent: &str) -> AgentState {
    let snapshot = center.snapshot().await.unwrap();
    snapshot
        .agents
        .iter()
        .find(|a| a.agent.as_str() == agent)
        .unwrap()
        .state
        .clone()
}

fn invalid(r: Result<(), CoreError>, action: &str) {
    match r {
        Err(CoreError::InvalidState { action: a, .. }) => assert_eq!(a, action),
        other => panic!("{action}: expected InvalidState, got {other:?}"),
    }
}

fn room(far: &FarEnd) -> Vec<(String, MixRole)> {
    far.room_members()
        .unwrap_or_default()
        .into_iter()
        .map(|(l, r)| (l.to_string(), r))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn hold_plays_music_to_the_customer_and_resume_bridges_back() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        assert_eq!(caller.bridged_to().as_ref(), Some(alice.id()));
        invalid(center.resume(&id).await, "resume");
        clock.sleep(Duration::from_secs(10)).await;
        center.hold(&id).await.unwrap();
        until(&mut events, &mut seen, "held").await;
        clock.sleep(Duration::from_secs(1)).await;
        assert_eq!(caller.bridged_to(), None, "the agent left the bridge");
        assert_eq!(alice.bridged_to(), None);
        assert!(
            caller.heard().contains(&"play:music_on_hold".to_owned()),
            "{:?}",
            caller.heard()
        );
        invalid(center.hold(&id).await, "hold");
        clock.sleep(Duration::from_secs(14)).await;
        center.resume(&id).await.unwrap();
        until(&mut events, &mut seen, "resumed").await;
        assert_eq!(caller.bridged_to().as_ref(), Some(alice.id()));
        assert_eq!(alice.bridged_to().as_ref(), Some(caller.id()));
        clock.sleep(Duration::from_secs(20)).await;
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(r.hold_ms, 15_000);
    assert_eq!(r.talk_ms, 30_000);
    assert_eq!(r.end_reason, Some(EndReason::CustomerHangup));
}

#[tokio::test(flavor = "current_thread")]
async fn actions_that_do_not_fit_the_state_are_refused_with_the_reason() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    // nobody serves support: the call waits in the queue
    center
        .set_agent_state(&"alice".into(), AgentState::NotReady("lunch".into()))
        .await
        .unwrap();
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "queued")
            .await
            .interaction()
            .unwrap()
            .clone();
        invalid(center.hold(&id).await, "hold");
        invalid(center.mute(&id, true).await, "mute");
        invalid(
            center
                .transfer(&id, CallTarget::Queue("billing".into()))
                .await,
            "transfer",
        );
        invalid(
            center.consult(&id, CallTarget::Agent("bob".into())).await,
            "consult",
        );
        invalid(center.swap(&id).await, "swap");
        invalid(center.complete_transfer(&id).await, "complete_transfer");
        invalid(center.cancel_consult(&id).await, "cancel_consult");
        invalid(center.conference(&id).await, "conference");
        invalid(center.leave_conference(&id).await, "leave_conference");
        invalid(
            center
                .monitor(&id, &"sue".into(), MonitorMode::Listen)
                .await,
            "monitor",
        );
        invalid(center.hang_up(&id).await, "hang_up");
        let err = center.hold(&id).await.unwrap_err().to_string();
        assert!(err.contains("waiting in queue support"), "{err}");
        assert!(matches!(
            center.hold(&"nope".into()).await,
            Err(CoreError::NotFound { .. })
        ));
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
    };
    clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_muted_agent_only_listens_in_the_room() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        invalid(center.mute(&id, false).await, "unmute");
        center.mute(&id, true).await.unwrap();
        let muted = until(&mut events, &mut seen, "muted").await;
        assert!(matches!(muted.kind, EventKind::Muted { on: true, .. }));
        assert_eq!(
            room(&caller),
            [
                (caller.id().to_string(), MixRole::Party),
                (alice.id().to_string(), MixRole::Listen)
            ]
        );
        invalid(center.mute(&id, true).await, "mute");
        center.mute(&id, false).await.unwrap();
        assert_eq!(caller.room_members(), None, "the room is closed");
        assert_eq!(caller.bridged_to().as_ref(), Some(alice.id()));
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
    };
    clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_blind_transfer_to_an_agent_records_both_agents() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        clock.sleep(Duration::from_secs(30)).await;
        center
            .transfer(&id, CallTarget::Agent("bob".into()))
            .await
            .unwrap();
        let t = until(&mut events, &mut seen, "transferred").await;
        assert!(matches!(&t.kind, EventKind::Transferred { target, .. } if target == "agent:bob"));
        let c = until(&mut events, &mut seen, "connected").await;
        assert_eq!(c.agent().unwrap().as_str(), "bob");
        assert_eq!(alice.end_cause(), Some(HangupCause::Local));
        let bob = phone(&rig, "bob");
        assert_eq!(caller.bridged_to().as_ref(), Some(bob.id()));
        // alice wraps up her part while bob has the call: journaled as hers
        center
            .set_wrap_up_as(
                &id,
                &"alice".into(),
                Disposition::Agent("transferred-billing".into()),
                Some("sent to bob".into()),
            )
            .await
            .unwrap();
        let d = until(&mut events, &mut seen, "disposition_set").await;
        assert_eq!(d.agent().map(AgentId::as_str), Some("alice"));
        let n = until(&mut events, &mut seen, "wrap_up_noted").await;
        assert_eq!(n.agent().map(AgentId::as_str), Some("alice"));
        clock.sleep(Duration::from_secs(20)).await;
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(r.agents, ["alice".into(), "bob".into()]);
    assert_eq!(r.agent, Some("bob".into()));
    // after the call, from the record: bob's own wrap-up is his; an agent
    // who never had the call cannot write one
    center
        .set_wrap_up_as(
            &id,
            &"bob".into(),
            Disposition::Agent("solved".into()),
            None,
        )
        .await
        .unwrap();
    let e = center
        .set_wrap_up_as(&id, &"carol".into(), Disposition::Agent("x".into()), None)
        .await;
    assert!(matches!(e, Err(CoreError::NotFound { .. })), "{e:?}");
    center.flush().await;
    let mut by = Vec::new();
    while let Ok(Some(ev)) = events.try_recv() {
        if let EventKind::DispositionSet { agent, .. } = &ev.kind {
            by.push(agent.to_string());
        }
    }
    assert_eq!(by, ["bob"]);
    assert_eq!(
        record(center, &id).await.disposition,
        Some(Disposition::Agent("solved".into()))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_blind_transfer_to_a_number_bridges_the_placed_leg() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        assert!(matches!(
            center
                .transfer(&id, CallTarget::Number("+1555".into()))
                .await,
            Err(CoreError::Unreachable(_))
        ));
        center
            .transfer(&id, CallTarget::Number(NUMBER.into()))
            .await
            .unwrap();
        until(&mut events, &mut seen, "transferred").await;
        let outside = rig.transport.phone(NUMBER).unwrap();
        assert_eq!(caller.bridged_to().as_ref(), Some(outside.id()));
        assert!(phone(&rig, "alice").end_cause().is_some());
        outside.hangup();
        until(&mut events, &mut seen, "ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(r.end_reason, Some(EndReason::Transferred));
    assert_eq!(caller.end_cause(), Some(HangupCause::Local));
}

#[tokio::test(flavor = "current_thread")]
async fn an_attended_transfer_consults_swaps_and_completes_to_the_second_agent() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        clock.sleep(Duration::from_secs(10)).await;
        invalid(center.swap(&id).await, "swap");
        invalid(center.complete_transfer(&id).await, "complete_transfer");
        assert!(matches!(
            center
                .consult(&id, CallTarget::Queue("nowhere".into()))
                .await,
            Err(CoreError::NotFound { .. })
        ));
        // consulting billing is consulting its available agent, bob
        center
            .consult(&id, CallTarget::Queue("billing".into()))
            .await
            .unwrap();
        let started = until(&mut events, &mut seen, "consult_started").await;
        assert!(
            matches!(&started.kind, EventKind::ConsultStarted { target, .. } if target == "agent:bob")
        );
        until(&mut events, &mut seen, "held").await;
        assert_eq!(
            state_of(center, "bob").await,
            AgentState::NotReady("consult".into()),
            "the consulted agent is reserved"
        );
        invalid(
            center.consult(&id, CallTarget::Number(NUMBER.into())).await,
            "consult",
        );
        invalid(center.swap(&id).await, "swap");
        clock.sleep(Duration::from_secs(3)).await;
        let bob = phone(&rig, "bob");
        assert_eq!(alice.bridged_to().as_ref(), Some(bob.id()));
        assert!(caller.heard().contains(&"play:music_on_hold".to_owned()));
        // swap to the customer and back
        center.swap(&id).await.unwrap();
        until(&mut events, &mut seen, "resumed").await;
        assert_eq!(alice.bridged_to().as_ref(), Some(caller.id()));
        assert_eq!(bob.bridged_to(), None);
        center.swap(&id).await.unwrap();
        until(&mut events, &mut seen, "held").await;
        assert_eq!(alice.bridged_to().as_ref(), Some(bob.id()));
        clock.sleep(Duration::from_secs(5)).await;
        center.complete_transfer(&id).await.unwrap();
        until(&mut events, &mut seen, "connected").await;
        assert_eq!(caller.bridged_to().as_ref(), Some(bob.id()));
        assert_eq!(alice.end_cause(), Some(HangupCause::Local));
        invalid(center.cancel_consult(&id).await, "cancel_consult");
        clock.sleep(Duration::from_secs(20)).await;
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let names: Vec<_> = seen
        .iter()
        .filter(|e| e.interaction() == Some(&id))
        .map(|e| e.kind.name())
        .filter(|n| !matches!(*n, "flow_step" | "wrap_up_started" | "wrap_up_ended"))
        .collect();
    assert_eq!(
        names,
        [
            "interaction_created",
            "queued",
            "offered",
            "offer_accepted",
            "connected",
            "consult_started",
            "held",
            "consult_answered",
            "consult_swapped",
            "resumed",
            "consult_swapped",
            "held",
            "consult_ended",
            "resumed",
            "transferred",
            "connected",
            "ended",
        ]
    );
    let r = record(center, &id).await;
    assert_eq!(r.agents, ["alice".into(), "bob".into()]);
    assert_eq!(r.agent, Some("bob".into()));
    assert_eq!(r.end_reason, Some(EndReason::CustomerHangup));
    center.flush().await;
    assert_eq!(state_of(center, "bob").await, AgentState::Available);
}

#[tokio::test(flavor = "current_thread")]
async fn a_canceled_consultation_hangs_up_the_consulted_number() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        invalid(center.cancel_consult(&id).await, "cancel_consult");
        center
            .consult(&id, CallTarget::Number(NUMBER.into()))
            .await
            .unwrap();
        clock.sleep(Duration::from_secs(4)).await;
        let outside = rig.transport.phone(NUMBER).unwrap();
        assert_eq!(alice.bridged_to().as_ref(), Some(outside.id()));
        center.cancel_consult(&id).await.unwrap();
        let ended = until(&mut events, &mut seen, "consult_ended").await;
        assert!(
            matches!(&ended.kind, EventKind::ConsultEnded { outcome, .. } if outcome == "canceled")
        );
        assert_eq!(outside.end_cause(), Some(HangupCause::Local));
        assert_eq!(caller.bridged_to().as_ref(), Some(alice.id()));
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
    };
    clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_conference_grows_loses_a_kicked_party_and_survives_its_agent() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        invalid(center.conference(&id).await, "conference");
        center
            .consult(&id, CallTarget::Agent("bob".into()))
            .await
            .unwrap();
        clock.sleep(Duration::from_secs(3)).await;
        center.conference(&id).await.unwrap();
        let bob = phone(&rig, "bob");
        let (c, a, b) = (
            caller.id().to_string(),
            alice.id().to_string(),
            bob.id().to_string(),
        );
        assert_eq!(
            room(&caller),
            [
                (c.clone(), MixRole::Party),
                (a.clone(), MixRole::Party),
                (b.clone(), MixRole::Party)
            ]
        );
        center
            .add_to_conference(&id, CallTarget::Number(NUMBER.into()))
            .await
            .unwrap();
        clock.sleep(Duration::from_secs(4)).await;
        let outside = rig.transport.phone(NUMBER).unwrap();
        let o = outside.id().to_string();
        assert_eq!(room(&caller).len(), 4);
        assert_eq!(outside.room_role(), Some(MixRole::Party));
        assert!(matches!(
            center.kick(&id, caller.id()).await,
            Err(CoreError::NotFound { .. })
        ));
        center.kick(&id, outside.id()).await.unwrap();
        assert_eq!(outside.end_cause(), Some(HangupCause::Local));
        assert!(!room(&caller).iter().any(|(l, _)| *l == o));
        center.leave_conference(&id).await.unwrap();
        assert_eq!(alice.end_cause(), Some(HangupCause::Local));
        assert_eq!(
            room(&caller),
            [(c.clone(), MixRole::Party), (b.clone(), MixRole::Party)],
            "customer and bob stay"
        );
        invalid(center.leave_conference(&id).await, "leave_conference");
        clock.sleep(Duration::from_secs(10)).await;
        bob.hangup();
        until(&mut events, &mut seen, "ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    assert_eq!(caller.end_cause(), Some(HangupCause::Local));
    let joined = seen
        .iter()
        .filter(|e| e.kind.name() == "conference_joined")
        .count();
    let left = seen
        .iter()
        .filter(|e| e.kind.name() == "conference_left")
        .count();
    assert_eq!((joined, left), (4, 3));
    let r = record(center, &id).await;
    assert_eq!(r.agents, ["alice".into(), "bob".into()]);
    center.flush().await;
    assert_eq!(state_of(center, "bob").await, AgentState::Available);
}

#[tokio::test(flavor = "current_thread")]
async fn a_supervisor_listens_whispers_and_barges_by_permission() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        assert!(matches!(
            center
                .monitor(&id, &"bob".into(), MonitorMode::Listen)
                .await,
            Err(CoreError::Forbidden(_))
        ));
        invalid(
            center
                .set_monitor_mode(&id, &"sue".into(), MonitorMode::Barge)
                .await,
            "set_monitor_mode",
        );
        center
            .monitor(&id, &"sue".into(), MonitorMode::Listen)
            .await
            .unwrap();
        until(&mut events, &mut seen, "monitor_started").await;
        let sue = phone(&rig, "sue");
        let (c, a, s) = (
            caller.id().to_string(),
            alice.id().clone(),
            sue.id().to_string(),
        );
        let expect = |role: MixRole| {
            vec![
                (c.clone(), MixRole::Party),
                (a.to_string(), MixRole::Party),
                (s.clone(), role),
            ]
        };
        assert_eq!(room(&caller), expect(MixRole::Listen));
        invalid(
            center
                .monitor(&id, &"sue".into(), MonitorMode::Listen)
                .await,
            "monitor",
        );
        center
            .set_monitor_mode(&id, &"sue".into(), MonitorMode::Whisper)
            .await
            .unwrap();
        assert_eq!(room(&caller), expect(MixRole::Whisper { to: a.clone() }));
        center
            .set_monitor_mode(&id, &"sue".into(), MonitorMode::Barge)
            .await
            .unwrap();
        assert_eq!(room(&caller), expect(MixRole::Party));
        sue.hangup();
        until(&mut events, &mut seen, "monitor_ended").await;
        assert_eq!(caller.room_members(), None);
        assert_eq!(caller.bridged_to().as_ref(), Some(alice.id()));
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
    };
    clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_agent_hangs_up_and_writes_wrap_up_notes() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        center
            .set_wrap_up(
                &id,
                Disposition::Agent("sale".into()),
                Some("wants the blue one".into()),
            )
            .await
            .unwrap();
        clock.sleep(Duration::from_secs(30)).await;
        center.hang_up(&id).await.unwrap();
        until(&mut events, &mut seen, "ended").await;
        assert_eq!(caller.end_cause(), Some(HangupCause::Local));
        assert_eq!(phone(&rig, "alice").end_cause(), Some(HangupCause::Local));
        until(&mut events, &mut seen, "wrap_up_ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    // notes set after the call reach the stored record too
    let r = record(center, &id).await;
    assert_eq!(r.end_reason, Some(EndReason::AgentHangup));
    assert_eq!(
        r.notes.as_ref().map(|n| n.expose().as_str()),
        Some("wants the blue one")
    );
    center
        .set_wrap_up(
            &id,
            Disposition::Agent("sale".into()),
            Some("called back".into()),
        )
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(
        r.notes.as_ref().map(|n| n.expose().as_str()),
        Some("called back")
    );
    assert_eq!(r.disposition, Some(Disposition::Agent("sale".into())));
    assert_eq!(r.talk_ms, 30_000);
    assert!(
        matches!(center.hang_up(&id).await, Err(CoreError::NotFound { .. })),
        "the call is over"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn click_to_dial_rings_the_agent_then_the_customer() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    assert!(matches!(
        center.dial(&"nobody".into(), NUMBER).await,
        Err(CoreError::NotFound { .. })
    ));
    assert!(matches!(
        center.dial(&"alice".into(), "+1555").await,
        Err(CoreError::Unreachable(_))
    ));
    let script = async {
        let id = center.dial(&"alice".into(), NUMBER).await.unwrap();
        assert_eq!(
            state_of(center, "alice").await,
            AgentState::NotReady("dialing".into())
        );
        invalid(
            center.dial(&"alice".into(), NUMBER).await.map(|_| ()),
            "take an agent",
        );
        let c = until(&mut events, &mut seen, "connected").await;
        assert_eq!(c.interaction(), Some(&id));
        assert_eq!(
            clock.now(),
            Timestamp::from_secs(T0 + 5),
            "2 s agent, 3 s customer"
        );
        let alice = phone(&rig, "alice");
        let customer = rig.transport.phone(NUMBER).unwrap();
        assert_eq!(customer.bridged_to().as_ref(), Some(alice.id()));
        // call control works on it like on any call
        center.hold(&id).await.unwrap();
        until(&mut events, &mut seen, "held").await;
        center.resume(&id).await.unwrap();
        clock.sleep(Duration::from_secs(60)).await;
        customer.hangup();
        until(&mut events, &mut seen, "ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(r.direction, Direction::Outbound);
    assert_eq!(r.agents, ["alice".into()]);
    assert_eq!(r.talk_ms, 60_000);
    assert_eq!(r.end_reason, Some(EndReason::CustomerHangup));
    center.flush().await;
    assert_eq!(state_of(center, "alice").await, AgentState::Available);
}

#[tokio::test(flavor = "current_thread")]
async fn the_agent_hanging_up_during_a_consultation_completes_the_transfer() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        center
            .consult(&id, CallTarget::Number(NUMBER.into()))
            .await
            .unwrap();
        clock.sleep(Duration::from_secs(4)).await;
        phone(&rig, "alice").hangup();
        let t = until(&mut events, &mut seen, "transferred").await;
        assert!(
            matches!(&t.kind, EventKind::Transferred { target, .. } if target == &format!("number:{NUMBER}"))
        );
        let outside = rig.transport.phone(NUMBER).unwrap();
        assert_eq!(caller.bridged_to().as_ref(), Some(outside.id()));
        clock.sleep(Duration::from_secs(10)).await;
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
        assert_eq!(outside.end_cause(), Some(HangupCause::Local));
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(r.end_reason, Some(EndReason::Transferred));
    assert_eq!(r.agents, ["alice".into()]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_blind_transfer_reaches_the_named_agent_even_outside_the_queue() {
    let rig = rig().await;
    let (clock, center) = (&rig.clock, &rig.center);
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = rig.transport.call("+4930123456", "100");
    let script = async {
        let id = until(&mut events, &mut seen, "connected")
            .await
            .interaction()
            .unwrap()
            .clone();
        let alice = phone(&rig, "alice");
        // bob serves billing only, not the call's queue (support)
        center
            .set_agent_state(&"bob".into(), AgentState::NotReady("lunch".into()))
            .await
            .unwrap();
        invalid(
            center.transfer(&id, CallTarget::Agent("bob".into())).await,
            "take an agent",
        );
        // to themselves: alice is on this call, not available
        invalid(
            center
                .transfer(&id, CallTarget::Agent("alice".into()))
                .await,
            "take an agent",
        );
        assert!(matches!(
            center
                .transfer(&id, CallTarget::Agent("nobody".into()))
                .await,
            Err(CoreError::NotFound { .. })
        ));
        assert_eq!(caller.bridged_to().as_ref(), Some(alice.id()));
        assert!(alice.end_cause().is_none(), "the call stays with alice");
        assert_eq!(
            state_of(center, "bob").await,
            AgentState::NotReady("lunch".into())
        );
        center
            .set_agent_state(&"bob".into(), AgentState::Available)
            .await
            .unwrap();
        center
            .transfer(&id, CallTarget::Agent("bob".into()))
            .await
            .unwrap();
        assert_eq!(
            state_of(center, "bob").await,
            AgentState::NotReady("transfer".into()),
            "bob is reserved while his phone rings"
        );
        let t = until(&mut events, &mut seen, "transferred").await;
        assert!(matches!(&t.kind, EventKind::Transferred { target, .. } if target == "agent:bob"));
        let c = until(&mut events, &mut seen, "connected").await;
        assert_eq!(c.agent().unwrap().as_str(), "bob");
        clock.sleep(Duration::from_millis(10)).await;
        let bob = phone(&rig, "bob");
        assert_eq!(caller.bridged_to().as_ref(), Some(bob.id()));
        assert_eq!(alice.end_cause(), Some(HangupCause::Local));
        assert!(
            !seen.iter().any(|e| e.kind.name() == "queued"
                && e.interaction() == Some(&id)
                && seen.iter().position(|x| x.kind.name() == "transferred")
                    < seen.iter().position(|x| std::ptr::eq(&**x, &**e))),
            "the call is not queued again"
        );
        clock.sleep(Duration::from_secs(20)).await;
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
        clock.sleep(Duration::from_millis(10)).await;
        assert_eq!(
            state_of(center, "bob").await,
            AgentState::Available,
            "bob was taken directly: available again, no after-call work"
        );
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let r = record(center, &id).await;
    assert_eq!(r.agents, ["alice".into(), "bob".into()]);
    assert_eq!(r.agent, Some("bob".into()));
}

/// Mints `premise-1`, `premise-2`, … (an assembly's own id source).
#[derive(Debug, Default)]
struct Counted(std::sync::atomic::AtomicU32);

impl IdSource for Counted {
    fn mint(&self) -> String {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        format!("premise-{n}")
    }
}

#[tokio::test(flavor = "current_thread")]
async fn click_to_dial_ids_come_from_the_centers_id_source() {
    // default: UUIDv7, like the interactions the transports start
    let rig = rig().await;
    let id = rig.center.dial(&"alice".into(), NUMBER).await.unwrap();
    let text = id.as_str();
    assert_eq!(text.len(), 36, "{text}");
    assert_eq!(text.as_bytes()[14], b'7', "a UUIDv7: {text}");
    assert!(!text.starts_with("dial-"), "{text}");
    // an assembly's own source
    let rig = rig_with(Some(Arc::new(Counted::default()))).await;
    let id = rig.center.dial(&"alice".into(), NUMBER).await.unwrap();
    assert_eq!(id.as_str(), "premise-1");
}
