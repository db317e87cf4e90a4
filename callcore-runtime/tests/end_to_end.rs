//! End to end through the Center runtime with in-memory doubles, in virtual time:
//! inbound → flow → queued → offered → accepted → connected → ended → wrap-up →
//! record stored, asserted event by event.

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Clock, CoreError, DigitSpec, EndReason, Endpoint, Event, EventKind,
    InteractionId, InteractionRecord, QueueDefinition, Timestamp, VirtualClock,
};
use callcore_runtime::memory::{FarEnd, MemoryTransport, PhoneBehavior};
use callcore_runtime::{
    Center, CenterHandle, EventSubscriber, Flow, FlowContext, FlowOutcome, QueueOptions,
};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

/// Press 1 for support, anything else for sales.
#[derive(Debug)]
struct MenuFlow;

#[async_trait]
impl Flow for MenuFlow {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.say("Welcome to Example Bank. Press 1 for support, 2 for sales.")
            .await?;
        let choice = call.collect_digits(&DigitSpec::up_to(1)).await?;
        let queue = if choice.digits == "1" {
            "support"
        } else {
            "sales"
        };
        let outcome = call
            .enqueue_with(
                queue.into(),
                QueueOptions {
                    announce_position: true,
                    ..QueueOptions::default()
                },
            )
            .await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

struct Rig {
    clock: VirtualClock,
    transport: Arc<MemoryTransport>,
    center: CenterHandle,
    events: EventSubscriber,
}

async fn rig(agents: &[(&str, PhoneBehavior)]) -> Rig {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .flow("menu", Arc::new(MenuFlow))
        .route("*", "menu")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let events = center.subscribe();
    let mut support = QueueDefinition::new("support").with_wrap_up_secs(10);
    support.offer_timeout_secs = 15;
    center.add_queue(support).await.unwrap();
    center
        .add_queue(QueueDefinition::new("sales"))
        .await
        .unwrap();
    for (name, behavior) in agents {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(&address, *behavior);
        center
            .add_agent(AgentProfile::new(*name).with_endpoint(Endpoint::Sip(address)))
            .await
            .unwrap();
        center
            .set_agent_state(&(*name).into(), AgentState::Available)
            .await
            .unwrap();
    }
    Rig {
        clock,
        transport,
        center,
        events,
    }
}

fn drain(events: &mut EventSubscriber) -> Vec<Arc<Event>> {
    let mut out = Vec::new();
    while let Some(e) = events.try_recv().unwrap() {
        out.push(e);
    }
    out
}

/// (seconds since T0, event name, detail) for compact assertions.
fn summary(events: &[Arc<Event>]) -> Vec<(i64, &'static str, String)> {
    events
        .iter()
        .map(|e| {
            let detail = match &e.kind {
                EventKind::AgentStateChanged { agent, from, to } => format!("{agent} {from}->{to}"),
                EventKind::FlowStep { step, .. } => step.clone(),
                EventKind::Queued {
                    queue, position, ..
                } => format!("{queue} #{position}"),
                EventKind::Offered {
                    agent, expires_at, ..
                } => format!("{agent} until +{}", expires_at.as_millis() / 1000 - T0),
                EventKind::OfferAccepted { agent, .. } | EventKind::WrapUpEnded { agent, .. } => {
                    agent.to_string()
                }
                EventKind::OfferEnded { agent, outcome, .. } => format!("{agent} {outcome:?}"),
                EventKind::Connected { agent, queue, .. } => format!("{agent} {queue}"),
                EventKind::Ended { reason, .. } => format!("{reason:?}"),
                EventKind::WrapUpStarted {
                    agent,
                    duration_secs,
                    ..
                } => format!("{agent} {duration_secs}s"),
                EventKind::Abandoned { queue, .. } => queue.to_string(),
                EventKind::AgentAdded { profile } => profile.id.to_string(),
                EventKind::QueueAdded { definition } => definition.id.to_string(),
                EventKind::Usage {
                    meter, quantity, ..
                } => format!("{meter} {quantity}"),
                _ => String::new(),
            };
            (e.at.as_millis() / 1000 - T0, e.kind.name(), detail)
        })
        .collect()
}

async fn wait_for(events: &mut EventSubscriber, seen: &mut Vec<Arc<Event>>, name: &str) {
    loop {
        let e = events.recv().await.unwrap();
        seen.push(e.clone());
        if e.kind.name() == name {
            return;
        }
    }
}

/// The stored record of an interaction, after the recorder caught up.
async fn stored_record(center: &CenterHandle, id: &InteractionId) -> InteractionRecord {
    center.flush().await;
    center
        .stores()
        .interactions
        .get(&"default".into(), id)
        .await
        .unwrap()
        .expect("record stored")
}

fn limit() -> Timestamp {
    Timestamp::from_secs(T0 + 3600)
}

#[tokio::test(flavor = "current_thread")]
async fn inbound_call_is_routed_answered_wrapped_up_and_recorded() {
    let Rig {
        clock,
        transport,
        center,
        mut events,
    } = rig(&[("alice", PhoneBehavior::AnswerAfter(Duration::from_secs(3)))]).await;
    let mut seen = drain(&mut events);
    assert_eq!(
        summary(&seen),
        vec![
            (0, "queue_added", "support".into()),
            (0, "queue_added", "sales".into()),
            (0, "agent_added", "alice".into()),
            (0, "agent_state_changed", "alice offline->available".into()),
        ]
    );
    seen.clear();

    let caller: FarEnd = transport.call("+4930123456", "100");
    caller.press("1");
    let script = async {
        wait_for(&mut events, &mut seen, "connected").await;
        clock.sleep(Duration::from_secs(45)).await;
        caller.hangup();
        wait_for(&mut events, &mut seen, "agent_state_changed").await; // busy -> wrap_up
        wait_for(&mut events, &mut seen, "wrap_up_ended").await;
        wait_for(&mut events, &mut seen, "agent_state_changed").await; // wrap_up -> available
    };
    clock.drive(script, limit()).await.unwrap();
    seen.extend(drain(&mut events));

    assert_eq!(
        summary(&seen),
        vec![
            (0, "interaction_created", String::new()),
            (0, "flow_step", "say".into()),
            (0, "flow_step", "collect_digits".into()),
            (0, "queued", "support #1".into()),
            (0, "agent_state_changed", "alice available->reserved".into()),
            (0, "offered", "alice until +15".into()),
            (0, "flow_step", "say".into()), // position announcement
            (3, "agent_state_changed", "alice reserved->busy".into()),
            (3, "offer_accepted", "alice".into()),
            (3, "connected", "alice support".into()),
            (48, "ended", "CustomerHangup".into()),
            // 48 s from arrival to end, metered when the interaction is over
            (48, "usage", "voice_minutes 0.8".into()),
            (48, "agent_state_changed", "alice busy->wrap_up".into()),
            (48, "wrap_up_started", "alice 10s".into()),
            (58, "wrap_up_ended", "alice".into()),
            (58, "agent_state_changed", "alice wrap_up->available".into()),
        ]
    );
    // Every event carries the tenant and a gapless sequence.
    for pair in seen.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    assert!(caller.is_answered());
    assert_eq!(
        caller.heard(),
        vec![
            "say:Welcome to Example Bank. Press 1 for support, 2 for sales.".to_owned(),
            // music on hold while waiting, stopped for the position and resumed
            "play:music_on_hold".to_owned(),
            "say:You are number 1 in the queue.".to_owned(),
            "play:music_on_hold".to_owned(),
        ]
    );
    let agent_phone = transport.phone("sip:alice@pbx").unwrap();
    assert_eq!(agent_phone.bridged_to().as_ref(), Some(caller.id()));
    assert_eq!(agent_phone.end_cause(), Some(callcore::HangupCause::Local));

    let id = seen[0].interaction().unwrap().clone();
    let record = stored_record(&center, &id).await;
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("alice"));
    assert_eq!(record.queue.as_ref().map(|q| q.as_str()), Some("support"));
    assert_eq!(record.wait_ms, 3_000);
    assert_eq!(record.talk_ms, 45_000);
    assert_eq!(record.wrap_up_ms, 10_000);
    assert_eq!(record.handle_ms(), 55_000);
    assert_eq!(record.offers, 1);
    assert_eq!(record.end_reason, Some(EndReason::CustomerHangup));
    assert!(record.complete);
    assert!(!record.abandoned);
    assert_eq!(record.from.expose(), "+4930123456");

    // The journal holds the same interaction events, in order.
    let journal = center
        .stores()
        .events
        .for_interaction(&"default".into(), &id)
        .await
        .unwrap();
    let journaled: Vec<u64> = journal.iter().map(|e| e.seq).collect();
    let live: Vec<u64> = seen
        .iter()
        .filter(|e| e.interaction() == Some(&id))
        .map(|e| e.seq)
        .collect();
    assert_eq!(journaled, live);
    center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn caller_who_hangs_up_while_waiting_is_abandoned_and_recorded() {
    let Rig {
        clock,
        transport,
        center,
        mut events,
    } = rig(&[]).await;
    drain(&mut events);
    let caller = transport.call("+4930999", "100");
    caller.press("2");
    let mut seen = Vec::new();
    let script = async {
        wait_for(&mut events, &mut seen, "queued").await;
        clock.sleep(Duration::from_secs(30)).await;
        caller.hangup();
        wait_for(&mut events, &mut seen, "ended").await;
    };
    clock.drive(script, limit()).await.unwrap();
    let tail: Vec<_> = summary(&seen).into_iter().skip(3).collect();
    assert_eq!(
        tail,
        vec![
            (0, "queued", "sales #1".into()),
            (0, "flow_step", "say".into()),
            (30, "abandoned", "sales".into()),
            (30, "ended", "Abandoned".into()),
        ]
    );
    let record = stored_record(&center, seen[0].interaction().unwrap()).await;
    assert!(record.abandoned);
    assert_eq!(record.wait_ms, 30_000);
    assert_eq!(record.agent, None);
    assert!(record.complete);
}

#[tokio::test(flavor = "current_thread")]
async fn unanswered_offer_times_out_and_goes_to_the_next_agent() {
    let Rig {
        clock,
        transport,
        center,
        mut events,
    } = rig(&[
        ("alice", PhoneBehavior::NoAnswer),
        ("bob", PhoneBehavior::AnswerAfter(Duration::from_secs(2))),
    ])
    .await;
    // Bob is busy elsewhere at first: only alice can be offered.
    center
        .set_agent_state(&"bob".into(), AgentState::NotReady("meeting".into()))
        .await
        .unwrap();
    drain(&mut events);
    let caller = transport.call("+4930777", "100");
    caller.press("1");
    let mut seen = Vec::new();
    let script = async {
        wait_for(&mut events, &mut seen, "offered").await;
        clock.sleep(Duration::from_secs(5)).await;
        center
            .set_agent_state(&"bob".into(), AgentState::Available)
            .await
            .unwrap();
        wait_for(&mut events, &mut seen, "connected").await;
        clock.sleep(Duration::from_secs(20)).await;
        // This time the agent hangs up; the flow then ends the call.
        transport.phone("sip:bob@pbx").unwrap().hangup();
        wait_for(&mut events, &mut seen, "ended").await;
    };
    clock.drive(script, limit()).await.unwrap();
    let s = summary(&seen);
    let offers: Vec<_> = s
        .iter()
        .filter(|(_, name, _)| name.starts_with("offer"))
        .cloned()
        .collect();
    assert_eq!(
        offers,
        vec![
            (0, "offered", "alice until +15".into()),
            (15, "offer_ended", "alice TimedOut".into()),
            (15, "offered", "bob until +30".into()),
            (17, "offer_accepted", "bob".into()),
        ]
    );
    assert!(s.contains(&(37, "ended", "AgentHangup".into())));
    let record = stored_record(&center, seen[0].interaction().unwrap()).await;
    assert_eq!(record.offers, 2);
    assert_eq!(record.wait_ms, 17_000);
    assert_eq!(record.talk_ms, 20_000);
    assert_eq!(record.end_reason, Some(EndReason::AgentHangup));
}

#[tokio::test(flavor = "current_thread")]
async fn agents_added_at_run_time_take_waiting_calls_and_bad_state_changes_fail() {
    let Rig {
        clock,
        transport,
        center,
        mut events,
    } = rig(&[]).await;
    drain(&mut events);
    let caller = transport.call("+4930555", "100");
    caller.press("1");
    let mut seen = Vec::new();
    let script = async {
        wait_for(&mut events, &mut seen, "queued").await;
        clock.sleep(Duration::from_secs(8)).await;
        transport.add_phone(
            "sip:carol@pbx",
            PhoneBehavior::AnswerAfter(Duration::from_secs(1)),
        );
        center
            .add_agent(
                AgentProfile::new("carol").with_endpoint(Endpoint::Sip("sip:carol@pbx".into())),
            )
            .await
            .unwrap();
        let snapshot = center.snapshot().await.unwrap();
        let support = snapshot
            .queues
            .iter()
            .find(|q| q.queue.as_str() == "support")
            .unwrap();
        assert_eq!(support.waiting.len(), 1);
        assert_eq!(support.longest_wait_secs, 8);
        assert_eq!(support.agents_by_state.get("offline"), Some(&1));
        center
            .set_agent_state(&"carol".into(), AgentState::Available)
            .await
            .unwrap();
        wait_for(&mut events, &mut seen, "connected").await;
        // Busy agents cannot log out.
        let err = center
            .set_agent_state(&"carol".into(), AgentState::Offline)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::AgentState(_)), "{err}");
        let err = center
            .set_agent_state(&"nobody".into(), AgentState::Available)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::NotFound { .. }), "{err}");
        caller.hangup();
        wait_for(&mut events, &mut seen, "ended").await;
    };
    clock.drive(script, limit()).await.unwrap();
    let record = stored_record(&center, seen[0].interaction().unwrap()).await;
    assert_eq!(record.wait_ms, 9_000);
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("carol"));
}
