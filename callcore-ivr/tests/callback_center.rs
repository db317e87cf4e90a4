//! Callback (virtual hold) on a real `Center` with the in-memory transport, in
//! virtual time: the caller accepts the offer and hangs up, nothing happens
//! while no agent is free, and when one becomes available the center calls the
//! customer back and connects them with the context the flow collected.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::{
    AgentProfile, AgentState, Clock, Endpoint, EventKind, QueueDefinition, Timestamp, Transport,
    VirtualClock,
};
use callcore_ivr::flow::{
    AttemptResult, CallbackBook, CallbackDialer, CallbackNumbers, CallbackPolicy, FlowSpec, IvrFlow,
};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, Providers};

const T0: i64 = 1_795_618_800;

const FLOW: &str = r#"{
  "name": "callback_line",
  "start": "offer",
  "nodes": {
    "offer": {"type": "callback_offer", "prompt": "All our agents are busy. Press 1 to be called back, or 2 to wait.",
              "queue": "support", "accepted": "booked", "declined": "wait"},
    "booked": {"type": "hangup", "message": "Thank you. We will call you back when it is your turn."},
    "wait": {"type": "queue", "queue": "support", "on_failure": "bye"},
    "bye": {"type": "hangup"}
  }
}"#;

async fn wait_until(clock: &VirtualClock, deadline_secs: i64, mut done: impl FnMut() -> bool) {
    let clock2 = clock.clone();
    let fut = async move {
        while !done() {
            clock2.sleep(Duration::from_millis(500)).await;
        }
    };
    clock
        .drive(fut, Timestamp::from_secs(deadline_secs))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_center_calls_back_when_an_agent_is_free() {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "sip:alice@pbx",
        PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
    );
    transport.add_phone(
        "+15550100",
        PhoneBehavior::AnswerAfter(Duration::from_secs(4)),
    );
    let book = Arc::new(Mutex::new(CallbackBook::new(CallbackPolicy {
        caller_id: "+15557000".into(),
        // the caller's number is on the allow-list (no trusted trunk here)
        numbers: CallbackNumbers::allowing(["+1555*"]),
        ..CallbackPolicy::default()
    })));
    let flow = IvrFlow::new(FlowSpec::from_json(FLOW).unwrap()).with_callbacks(book.clone());
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .flow("callback", Arc::new(flow))
        .providers(Providers::default())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("support"))
        .await
        .unwrap();
    center
        .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
        .await
        .unwrap();
    let mut events = center.subscribe();
    let dialer = CallbackDialer::spawn(
        center.clone(),
        transport.clone() as Arc<dyn Transport>,
        book.clone(),
    );

    // The caller accepts the callback and the flow hangs up.
    let caller = transport.call("+15550100", "100");
    caller.press("1");
    {
        let caller = caller.clone();
        wait_until(&clock, T0 + 60, move || {
            caller
                .heard()
                .iter()
                .any(|h| h.contains("We will call you back"))
        })
        .await;
    }
    assert_eq!(book.lock().unwrap().waiting().len(), 1);
    let booked = book.lock().unwrap().waiting()[0].clone();
    assert_eq!(booked.number, "+15550100");
    assert_eq!(booked.queue.to_string(), "support");

    // Ten minutes with no agent logged in: nobody is called.
    let quiet_until = clock.now().as_millis() / 1000 + 600;
    wait_until(&clock, quiet_until + 1, {
        let clock = clock.clone();
        move || clock.now().as_millis() / 1000 >= quiet_until
    })
    .await;
    assert!(transport.phone("+15550100").is_none());
    assert_eq!(book.lock().unwrap().waiting().len(), 1);
    assert!(book.lock().unwrap().in_flight().is_empty());

    // Alice becomes available: the customer is called back and connected to her.
    center
        .set_agent_state(&"alice".into(), AgentState::Available)
        .await
        .unwrap();
    let connected = async move {
        loop {
            let e = events.recv().await.expect("event");
            if let EventKind::Connected {
                interaction, agent, ..
            } = &e.kind
            {
                return (interaction.clone(), agent.clone());
            }
        }
    };
    let now = clock.now().as_millis() / 1000;
    let (interaction, agent) = clock
        .drive(connected, Timestamp::from_secs(now + 300))
        .await
        .unwrap();
    assert_eq!(agent.to_string(), "alice");
    let interaction = interaction.to_string();
    assert!(
        interaction.starts_with(&booked.interaction.to_string())
            && interaction.contains("callback"),
        "{interaction}"
    );
    let customer = transport
        .phone("+15550100")
        .expect("the customer was called");
    assert!(customer.is_answered());
    assert!(book.lock().unwrap().waiting().is_empty());

    // The conversation ends: the attempt is recorded as connected.
    customer.hangup();
    let book2 = book.clone();
    let now = clock.now().as_millis() / 1000;
    wait_until(&clock, now + 120, move || {
        !book2.lock().unwrap().finished().is_empty()
    })
    .await;
    assert_eq!(
        book.lock().unwrap().finished()[0].1,
        AttemptResult::Connected
    );
    center.shutdown().await;
    // The dialer notices the shutdown on its next check and ends.
    let now = clock.now().as_millis() / 1000;
    clock
        .drive(dialer, Timestamp::from_secs(now + 60))
        .await
        .unwrap()
        .unwrap();
}
