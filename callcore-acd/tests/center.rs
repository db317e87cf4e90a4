//! The engine behind callcore's `Center` runtime, end to end in virtual time
//! with the in-memory transport: inbound call → flow → queued with EWT →
//! skills-based offer → the phone rings out → next agent → connected → ended
//! → wrap-up → record stored.

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Clock, CoreError, Endpoint, Event, EventKind, QueueDefinition,
    Timestamp, VirtualClock,
};
use callcore_acd::{AcdConfig, AcdEngine};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, EventSubscriber, Flow, FlowContext, FlowOutcome};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

#[derive(Debug)]
struct ToBilling;

#[async_trait]
impl Flow for ToBilling {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.say("Billing, please hold.").await?;
        let outcome = call.enqueue("billing").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

async fn wait_for(events: &mut EventSubscriber, seen: &mut Vec<Arc<Event>>, name: &str) {
    loop {
        let e = events.recv().await.expect("event");
        seen.push(e.clone());
        if e.kind.name() == name {
            return;
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn center_routes_by_proficiency_through_the_acd_engine() {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let mut config = AcdConfig::default();
    config.default_handle_secs = Some(60);
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .router(Box::new(AcdEngine::new(config)))
        .flow("billing", Arc::new(ToBilling))
        .route("*", "billing")
        .build()
        .expect("build")
        .start()
        .await
        .expect("start");
    let mut billing = QueueDefinition::new("billing")
        .requiring("billing", 3)
        .with_wrap_up_secs(10);
    billing.strategy = "best_proficiency".into();
    billing.offer_timeout_secs = 12;
    center.add_queue(billing).await.expect("queue");
    // The expert never answers; the next best does; the novice is never offered.
    for (name, proficiency, phone) in [
        ("expert", 9, PhoneBehavior::NoAnswer),
        (
            "good",
            6,
            PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
        ),
        (
            "novice",
            2,
            PhoneBehavior::AnswerAfter(Duration::from_secs(1)),
        ),
    ] {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(&address, phone);
        center
            .add_agent(
                AgentProfile::new(name)
                    .with_skill("billing", proficiency)
                    .with_endpoint(Endpoint::Sip(address)),
            )
            .await
            .expect("agent");
        center
            .set_agent_state(&name.into(), AgentState::Available)
            .await
            .expect("available");
    }
    let mut events = center.subscribe();
    let caller = transport.call("+4930123456", "200");
    let mut seen = Vec::new();
    let script = async {
        wait_for(&mut events, &mut seen, "connected").await;
        clock.sleep(Duration::from_secs(30)).await;
        caller.hangup();
        wait_for(&mut events, &mut seen, "wrap_up_ended").await;
        wait_for(&mut events, &mut seen, "agent_state_changed").await;
    };
    clock
        .drive(script, Timestamp::from_secs(T0 + 3600))
        .await
        .expect("drive");
    let at = |e: &Event| e.at.as_millis() / 1000 - T0;
    let routing: Vec<(i64, String)> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Queued {
                position,
                estimated_wait_secs,
                ..
            } => Some((
                at(e),
                format!("queued #{position} ewt {estimated_wait_secs:?}"),
            )),
            EventKind::Offered { agent, .. } => Some((at(e), format!("offered {agent}"))),
            EventKind::OfferEnded { agent, outcome, .. } => {
                Some((at(e), format!("offer_ended {agent} {outcome:?}")))
            }
            EventKind::Connected { agent, .. } => Some((at(e), format!("connected {agent}"))),
            EventKind::WrapUpStarted {
                agent,
                duration_secs,
                ..
            } => Some((at(e), format!("wrap_up {agent} {duration_secs}s"))),
            EventKind::AgentStateChanged { agent, from, to } if agent.as_str() == "good" => {
                Some((at(e), format!("good {from}->{to}")))
            }
            _ => None,
        })
        .collect();
    let expect = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
        v.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
    };
    assert_eq!(
        routing,
        expect(&[
            // One waiting, two qualified agents staffed, 60 s handle time: 30 s.
            (0, "queued #1 ewt Some(30)"),
            (0, "offered expert"),
            (12, "offer_ended expert TimedOut"),
            (12, "good available->reserved"),
            (12, "offered good"),
            (14, "good reserved->busy"),
            (14, "connected good"),
            (44, "good busy->wrap_up"),
            (44, "wrap_up good 10s"),
            (54, "good wrap_up->available"),
        ])
    );
    center.flush().await;
    let id = seen[0].interaction().expect("interaction").clone();
    let record = center
        .stores()
        .interactions
        .get(&"default".into(), &id)
        .await
        .expect("store")
        .expect("record");
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("good"));
    assert_eq!(record.offers, 2);
    assert_eq!(record.wait_ms, 14_000);
    assert_eq!(record.talk_ms, 30_000);
    let snapshot = center.snapshot().await.expect("snapshot");
    // The queue counts the agents who qualify for it (not the novice).
    assert_eq!(
        snapshot.queues[0].agents_by_state.get("available"),
        Some(&2)
    );
    center.shutdown().await;
}
