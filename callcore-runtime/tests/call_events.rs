//! The call's events through the running Center with in-memory doubles, in
//! virtual time: hold and resume from the agent's phone, the recording of the
//! bridged conversation, a disposition set during the call and one set after
//! it, a transfer asked for from the agent's phone (to a queue; to nowhere),
//! usage — and the stored record built from them.

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Clock, CoreError, Disposition, EndReason, Endpoint, Event, EventKind,
    InteractionId, InteractionRecord, QueueDefinition, Timestamp, TransferRefusal, TransferReport,
    VirtualClock,
};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, CenterHandle, EventSubscriber, Flow, FlowContext, FlowOutcome};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

#[derive(Debug)]
struct Support;

#[async_trait]
impl Flow for Support {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.say("Please hold.").await?;
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

async fn rig(
    clock: &VirtualClock,
    agents: &[(&str, &str)],
) -> (Arc<MemoryTransport>, CenterHandle) {
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .flow("support", Arc::new(Support))
        .record_calls(true)
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
    for (name, queue) in agents {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(&address, PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
        let mut profile = AgentProfile::new(*name).with_endpoint(Endpoint::Sip(address));
        profile.queues = vec![(*queue).into()];
        center.add_agent(profile).await.unwrap();
        center
            .set_agent_state(&(*name).into(), AgentState::Available)
            .await
            .unwrap();
    }
    (transport, center)
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

fn names(seen: &[Arc<Event>], id: &InteractionId) -> Vec<&'static str> {
    seen.iter()
        .filter(|e| e.interaction() == Some(id) || matches!(e.kind, EventKind::Usage { .. }))
        .map(|e| e.kind.name())
        // a recording stops when a bridged leg ends: before or after the
        // call's end, whichever the glue hears first
        .filter(|n| {
            !matches!(
                *n,
                "flow_step" | "agent_state_changed" | "recording_stopped"
            )
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_held_and_resumed_call_is_recorded_with_its_disposition() {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let (transport, center) = rig(&clock, &[("alice", "support")]).await;
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = transport.call("+4930123456", "100");
    let script = async {
        let connected = until(&mut events, &mut seen, "connected").await;
        let id = connected.interaction().unwrap().clone();
        let phone = transport.phone("sip:alice@pbx").unwrap();
        clock.sleep(Duration::from_secs(10)).await;
        phone.hold();
        until(&mut events, &mut seen, "held").await;
        clock.sleep(Duration::from_secs(15)).await;
        phone.resume();
        until(&mut events, &mut seen, "resumed").await;
        center
            .set_disposition(&id, Disposition::Agent("card_unblocked".into()))
            .await
            .unwrap();
        clock.sleep(Duration::from_secs(20)).await;
        caller.hangup();
        until(&mut events, &mut seen, "recording_stopped").await;
        until(&mut events, &mut seen, "wrap_up_ended").await;
        id
    };
    let id = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    assert_eq!(
        names(&seen, &id),
        [
            "interaction_created",
            "queued",
            "offered",
            "offer_accepted",
            "connected",
            "recording_started",
            "held",
            "resumed",
            "disposition_set",
            "ended",
            "usage",
            "wrap_up_started",
            "wrap_up_ended"
        ]
    );
    let stopped = seen.iter().find_map(|e| match &e.kind {
        EventKind::RecordingStopped { duration_ms, .. } => Some(*duration_ms),
        _ => None,
    });
    assert_eq!(
        stopped,
        Some(45_000),
        "the recording ran from the bridge to the end"
    );
    let r = record(&center, &id).await;
    assert_eq!(
        r.queued_at,
        Some(Timestamp::from_secs(T0)),
        "queued_at kept"
    );
    assert_eq!(r.wait_ms, 2_000);
    assert_eq!(r.hold_ms, 15_000);
    assert_eq!(r.talk_ms, 45_000 - 15_000);
    assert_eq!(r.recordings.len(), 1);
    assert_eq!(
        r.disposition,
        Some(Disposition::Agent("card_unblocked".into()))
    );
    assert_eq!(r.wrap_up_ms, 5_000);
    assert_eq!(r.end_reason, Some(EndReason::CustomerHangup));
    assert!(r.complete);
    // A disposition set after the call reaches the stored record too.
    center
        .set_disposition(&id, Disposition::Agent("callback_promised".into()))
        .await
        .unwrap();
    let r = record(&center, &id).await;
    assert_eq!(
        r.disposition,
        Some(Disposition::Agent("callback_promised".into()))
    );
    // Usage: 47 s from arrival to end.
    let usage: Vec<f64> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Usage {
                meter, quantity, ..
            } if meter == "voice_minutes" => Some(*quantity),
            _ => None,
        })
        .collect();
    assert_eq!(usage.len(), 1);
    assert!((usage[0] - 47.0 / 60.0).abs() < 1e-9, "{usage:?}");
    center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_agents_phone_transfers_the_caller_to_another_queue_or_is_refused() {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let (transport, center) = rig(&clock, &[("alice", "support"), ("bob", "billing")]).await;
    let mut events = center.subscribe();
    let mut seen = Vec::new();
    let caller = transport.call("+4930123456", "100");
    let script = async {
        let connected = until(&mut events, &mut seen, "connected").await;
        let id = connected.interaction().unwrap().clone();
        let alice = transport.phone("sip:alice@pbx").unwrap();
        clock.sleep(Duration::from_secs(5)).await;
        // Nobody by that name: refused, the call goes on.
        alice.refer("sip:nobody@pbx");
        clock.sleep(Duration::from_secs(1)).await;
        assert_eq!(
            alice.transfer_reports(),
            [TransferReport::Refused(TransferRefusal::UnknownTarget)]
        );
        assert!(alice.end_cause().is_none());
        alice.refer("sip:billing@pbx");
        until(&mut events, &mut seen, "transferred").await;
        until(&mut events, &mut seen, "connected").await;
        clock.sleep(Duration::from_secs(30)).await;
        caller.hangup();
        until(&mut events, &mut seen, "ended").await;
        (id, alice)
    };
    let (id, alice) = clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    assert_eq!(
        alice.transfer_reports(),
        [
            TransferReport::Refused(TransferRefusal::UnknownTarget),
            TransferReport::Accepted,
            TransferReport::Succeeded
        ]
    );
    assert_eq!(alice.end_cause(), Some(callcore::HangupCause::Local));
    let bob = transport.phone("sip:bob@pbx").unwrap();
    assert_eq!(bob.bridged_to().as_ref(), Some(caller.id()));
    let r = record(&center, &id).await;
    assert_eq!(r.agent.as_ref().map(|a| a.as_str()), Some("bob"));
    assert_eq!(r.queue.as_ref().map(|q| q.as_str()), Some("billing"));
    assert_eq!(r.wait_ms, 2_000 + 2_000);
    assert_eq!(r.talk_ms, 6_000 + 30_000);
    assert_eq!(r.recordings.len(), 2, "one recording per agent");
    center.shutdown().await;
}
