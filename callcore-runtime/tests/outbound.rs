//! `CenterHandle::enqueue_outbound`: an answered outbound leg enters a queue,
//! reaches an agent through the router, and is recorded as an outbound
//! interaction; with no agent in time the customer hears the message.

#![allow(clippy::unwrap_used)]

use callcore::{
    AgentProfile, AgentState, Channel, Direction, EndReason, Endpoint, Interaction, InteractionId,
    PlaceRequest, QueueDefinition, Timestamp, Transport, VirtualClock,
};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{
    Center, CenterHandle, OutboundOptions, OutboundProgress, QueueOptions, QueueOutcome,
};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

async fn rig(agent_ready: bool) -> (VirtualClock, Arc<MemoryTransport>, CenterHandle) {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("renewals").with_wrap_up_secs(5))
        .await
        .unwrap();
    transport.add_phone(
        "sip:alice@pbx",
        PhoneBehavior::AnswerAfter(Duration::from_millis(500)),
    );
    transport.add_phone(
        "+14155550100",
        PhoneBehavior::AnswerAfter(Duration::from_secs(3)),
    );
    center
        .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
        .await
        .unwrap();
    if agent_ready {
        center
            .set_agent_state(&"alice".into(), AgentState::Available)
            .await
            .unwrap();
    }
    (clock, transport, center)
}

fn interaction(clock: &VirtualClock) -> Interaction {
    let mut i = Interaction::new(
        InteractionId::new("spring-call-1"),
        "default".into(),
        Channel::Voice,
        Direction::Outbound,
        "+14155550100",
        "spring",
        callcore::Clock::now(clock),
    );
    i.attributes.insert("lead".into(), "lead-7".into());
    i
}

async fn dial(transport: &MemoryTransport) -> Box<dyn callcore::Leg> {
    transport
        .place(PlaceRequest {
            to: Endpoint::Phone("+14155550100".into()),
            from: "+14155550000".into(),
            channel: Channel::Voice,
            ring_timeout_secs: 20,
        })
        .await
        .unwrap()
}

fn options() -> OutboundOptions {
    OutboundOptions {
        queue: QueueOptions {
            preferred_agent: Some("alice".into()),
            ..QueueOptions::default()
        },
        connect_within: Some(Duration::from_secs(2)),
        unconnected_message: Some("Sorry we missed you, call 555 0000 to opt out.".into()),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_answered_outbound_call_reaches_an_agent_through_the_router() {
    let (clock, transport, center) = rig(true).await;
    let limit = Timestamp::from_secs(T0 + 600);
    let run = async {
        let leg = dial(&transport).await;
        let answered_at = callcore::Clock::now(&clock);
        let mut progress =
            center.enqueue_outbound(interaction(&clock), leg, "renewals".into(), options());
        let first = progress.recv().await.unwrap();
        assert_eq!(
            first,
            OutboundProgress::Connected {
                agent: "alice".into()
            }
        );
        let connected_after = callcore::Clock::now(&clock).duration_since(answered_at);
        assert!(
            connected_after <= Duration::from_secs(2),
            "{connected_after:?}"
        );
        let customer = transport.phone("+14155550100").unwrap();
        assert!(customer.bridged_to().is_some());
        callcore::Clock::sleep(&clock, Duration::from_secs(30)).await;
        customer.hangup();
        let last = progress.recv().await.unwrap();
        assert_eq!(
            last,
            OutboundProgress::Finished(QueueOutcome::Served {
                agent: "alice".into(),
                customer_hung_up: true
            })
        );
        center.flush().await;
    };
    clock.drive(run, limit).await.unwrap();
    let record = center
        .stores()
        .interactions
        .get(&"default".into(), &"spring-call-1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.direction, Direction::Outbound);
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("alice"));
    assert_eq!(record.end_reason, Some(EndReason::CustomerHangup));
    assert!(record.talk_ms >= 29_000, "{record:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn with_no_agent_in_time_the_customer_hears_the_message_and_the_center_hangs_up() {
    let (clock, transport, center) = rig(false).await;
    let limit = Timestamp::from_secs(T0 + 600);
    let run = async {
        let leg = dial(&transport).await;
        let answered_at = callcore::Clock::now(&clock);
        let mut progress =
            center.enqueue_outbound(interaction(&clock), leg, "renewals".into(), options());
        let last = progress.recv().await.unwrap();
        assert_eq!(last, OutboundProgress::Finished(QueueOutcome::TimedOut));
        assert_eq!(
            callcore::Clock::now(&clock).duration_since(answered_at),
            Duration::from_secs(2)
        );
        let customer = transport.phone("+14155550100").unwrap();
        assert!(
            customer.heard().iter().any(|h| h.contains("opt out")),
            "{:?}",
            customer.heard()
        );
        assert!(customer.end_cause().is_some(), "the center hung up");
        // The queue is empty again: a later login gets no stale offer.
        center
            .set_agent_state(&"alice".into(), AgentState::Available)
            .await
            .unwrap();
        callcore::Clock::sleep(&clock, Duration::from_secs(5)).await;
        let snapshot = center.snapshot().await.unwrap();
        assert!(snapshot.queues.iter().all(|q| q.waiting.is_empty()));
        assert!(
            transport.phone("sip:alice@pbx").is_none(),
            "alice never rang"
        );
        center.flush().await;
    };
    clock.drive(run, limit).await.unwrap();
    let record = center
        .stores()
        .interactions
        .get(&"default".into(), &"spring-call-1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.direction, Direction::Outbound);
    assert_eq!(record.agent, None);
    assert_eq!(record.end_reason, Some(EndReason::QueueTimeout));
}
