//! A flow's `queue` node on a real `Center` with callcore-acd, in virtual time:
//! skills chosen in the IVR reach routing, the waiting caller hears music and
//! announcements and can press the callback key (the router keeps their place),
//! and a queue's maximum wait overflows to a voicemail an agent then hears.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::{
    AgentProfile, AgentState, Clock, Destination, EndReason, Endpoint, EscalationAction,
    EscalationStep, EventKind, QueueDefinition, Timestamp, VirtualClock,
};
use callcore_acd::{AcdConfig, AcdEngine};
use callcore_ivr::flow::{CallbackBook, CallbackNumbers, CallbackPolicy, FlowSpec, IvrFlow};
use callcore_runtime::memory::{FarEnd, MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, CenterHandle, EventSubscriber, WaitOptions};

const T0: i64 = 1_795_618_800;

const FLOW: &str = r#"{
  "name": "french_line",
  "start": "wait",
  "nodes": {
    "wait": {"type": "queue", "queue": "support", "skills": ["french"], "on_failure": "bye"},
    "bye": {"type": "hangup", "message": "Goodbye."}
  }
}"#;

struct Rig {
    clock: VirtualClock,
    transport: Arc<MemoryTransport>,
    center: CenterHandle,
    events: EventSubscriber,
}

async fn rig(flow: IvrFlow, queue: QueueDefinition) -> Rig {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .router(Box::new(AcdEngine::new(AcdConfig::default())))
        .flow("line", Arc::new(flow))
        .route("*", "line")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center.add_queue(queue).await.unwrap();
    let events = center.subscribe();
    Rig {
        clock,
        transport,
        center,
        events,
    }
}

impl Rig {
    async fn agent(&self, name: &str, skill: &str, available: bool) {
        let address = format!("sip:{name}@pbx");
        self.transport
            .add_phone(&address, PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
        let p = AgentProfile::new(name)
            .with_endpoint(Endpoint::Sip(address))
            .with_skill(skill, 5);
        self.center.add_agent(p).await.unwrap();
        if available {
            self.available(name).await;
        }
    }

    async fn available(&self, name: &str) {
        self.center
            .set_agent_state(&name.into(), AgentState::Available)
            .await
            .unwrap();
    }

    fn events(&mut self) -> Vec<EventKind> {
        let mut out = Vec::new();
        while let Some(e) = self.events.try_recv().unwrap() {
            out.push(e.kind.clone());
        }
        out
    }
}

/// A book whose callbacks may dial numbers `allow` permits (and trusted trunks').
fn book_allowing<const N: usize>(allow: [&str; N]) -> Arc<Mutex<CallbackBook>> {
    Arc::new(Mutex::new(CallbackBook::new(CallbackPolicy {
        numbers: CallbackNumbers::allowing(allow),
        ..CallbackPolicy::default()
    })))
}

/// The French line with announcements and the callback key `1`, booking into `book`.
fn callback_flow(book: Arc<Mutex<CallbackBook>>) -> (IvrFlow, Arc<Mutex<CallbackBook>>) {
    let flow = IvrFlow::new(FlowSpec::from_json(FLOW).unwrap())
        .with_callbacks(book.clone())
        .with_waiting(
            "support",
            WaitOptions {
                announce_every: Some(Duration::from_secs(30)),
                callback_key: Some('1'),
                ..WaitOptions::default()
            },
        );
    (flow, book)
}

async fn until_ended(clock: &VirtualClock, far: &FarEnd) {
    while far.end_cause().is_none() {
        clock.sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_french_caller_is_not_offered_to_others_and_keeps_their_place_with_the_callback_key() {
    let flow = callback_flow(book_allowing(["+331*"]));
    let book = flow.1;
    let flow = flow.0;
    let mut r = rig(flow, QueueDefinition::new("support")).await;
    r.agent("anna", "german", true).await;
    let caller = r.transport.call("+33140000000", "100");
    let script = {
        let (clock, caller) = (r.clock.clone(), caller.clone());
        async move {
            clock.sleep(Duration::from_secs(45)).await;
            caller.press("1");
            until_ended(&clock, &caller).await;
        }
    };
    r.clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let events = r.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::Offered { .. })),
        "nobody without French is offered the call"
    );
    let heard = caller.heard();
    assert!(
        heard.contains(&"play:music_on_hold".to_owned()),
        "{heard:?}"
    );
    assert!(
        heard
            .iter()
            .any(|h| h.starts_with("say:You are caller 1 in the queue.")),
        "{heard:?}"
    );
    assert!(
        heard
            .last()
            .is_some_and(|h| h.contains("we will call you back")),
        "{heard:?}"
    );
    // callcore-acd keeps the caller's place itself (still needing French):
    // nothing is booked, the runtime calls back when an agent takes it
    assert!(book.lock().unwrap().waiting().is_empty());
    let snapshot = r.center.snapshot().await.unwrap();
    let support = snapshot
        .queues
        .iter()
        .find(|q| q.queue.as_str() == "support")
        .unwrap();
    assert_eq!(support.waiting.len(), 1, "the place is kept: {snapshot:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::Abandoned { .. })),
        "a callback is no abandonment"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::Ended {
            reason: EndReason::CallbackRequested,
            ..
        }
    )));
    r.center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn after_the_maximum_wait_the_caller_leaves_a_voicemail_that_an_agent_hears() {
    let mut queue = QueueDefinition::new("support");
    queue.escalation = vec![EscalationStep {
        after_secs: 60,
        action: EscalationAction::Overflow {
            destination: Destination::Voicemail,
        },
    }];
    let flow = IvrFlow::new(FlowSpec::from_json(FLOW).unwrap());
    let mut r = rig(flow, queue).await;
    r.agent("rene", "french", false).await;
    let caller = r.transport.call("+33140000000", "100");
    let script = {
        let (clock, caller, center) = (r.clock.clone(), caller.clone(), r.center.clone());
        async move {
            while !caller.heard().iter().any(|h| h.contains("after the tone")) {
                clock.sleep(Duration::from_millis(500)).await;
            }
            clock.sleep(Duration::from_secs(8)).await;
            caller.press("#");
            until_ended(&clock, &caller).await;
            center
                .set_agent_state(&"rene".into(), AgentState::Available)
                .await
                .unwrap();
            clock.sleep(Duration::from_secs(30)).await;
        }
    };
    r.clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let events = r.events();
    let overflowed_at = events.iter().position(|e| {
        matches!(
            e,
            EventKind::Overflowed {
                destination: Destination::Voicemail,
                ..
            }
        )
    });
    assert!(overflowed_at.is_some(), "{events:?}");
    let rene = r.transport.phone("sip:rene@pbx").unwrap();
    assert_eq!(
        rene.heard(),
        vec![
            "say:Voicemail from +33140000000.".to_owned(),
            format!("play:rec-{}", caller.id()),
        ]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::Connected { interaction, agent, .. }
            if interaction.as_str() == "mem-1-voicemail" && agent.as_str() == "rene"
    )));
    r.center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_voicemail_node_records_the_message_and_queues_it_for_an_agent() {
    const VOICEMAIL: &str = r#"{
      "name": "after_hours",
      "start": "vm",
      "nodes": {
        "vm": {"type": "voicemail", "prompt": "We are closed. Leave a message after the tone.",
               "queue": "support", "max_secs": 30, "next": "bye"},
        "bye": {"type": "hangup", "message": "Goodbye."}
      }
    }"#;
    let flow = IvrFlow::new(FlowSpec::from_json(VOICEMAIL).unwrap());
    let mut r = rig(flow, QueueDefinition::new("support")).await;
    r.agent("rene", "french", true).await;
    let caller = r.transport.call("+33140000000", "100");
    let script = {
        let (clock, caller) = (r.clock.clone(), caller.clone());
        async move {
            clock.sleep(Duration::from_secs(12)).await;
            caller.press("#");
            until_ended(&clock, &caller).await;
            clock.sleep(Duration::from_secs(30)).await;
        }
    };
    r.clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    assert_eq!(
        caller.heard(),
        vec![
            "say:We are closed. Leave a message after the tone.".to_owned(),
            "say:Thank you. Your message will be passed to an agent. Goodbye.".to_owned(),
            "say:Goodbye.".to_owned(),
        ]
    );
    let rene = r.transport.phone("sip:rene@pbx").unwrap();
    assert_eq!(
        rene.heard().last().cloned(),
        Some(format!("play:rec-{}", caller.id()))
    );
    let events = r.events();
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::FlowStep { step, .. } if step == "voicemail"
    )));
    r.center.shutdown().await;
}

/// Toll fraud: a caller whose number is only what its From header claims (no trusted
/// trunk, not on the allow-list) is not offered the callback, and pressing the key
/// books nothing; the journal says why (a trusted trunk's number: see
/// `CallbackNumbers`' unit test).
#[tokio::test(flavor = "current_thread")]
async fn a_callback_is_not_offered_to_a_number_nobody_vouched_for() {
    let (flow, book) = callback_flow(book_allowing(["+331*"]));
    let mut r = rig(flow, QueueDefinition::new("support")).await;
    r.agent("anna", "german", true).await;
    // a premium-rate number claimed in From
    let caller = r.transport.call("+88213000000", "100");
    let script = {
        let (clock, caller) = (r.clock.clone(), caller.clone());
        async move {
            clock.sleep(Duration::from_secs(45)).await;
            caller.press("1");
            clock.sleep(Duration::from_secs(20)).await;
            caller.hangup();
            until_ended(&clock, &caller).await;
        }
    };
    r.clock
        .drive(script, Timestamp::from_secs(T0 + 600))
        .await
        .unwrap();
    let heard = caller.heard();
    assert!(
        !heard.iter().any(|h| h.contains("called back")),
        "no callback offer nor confirmation: {heard:?}"
    );
    assert!(book.lock().unwrap().waiting().is_empty(), "nothing booked");
    let events = r.events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            EventKind::FlowStep { step, detail, .. }
                if step == "callback_not_offered" && detail.contains("trusted trunk")
        )),
        "the refusal is journaled: {events:?}"
    );
    assert!(!events.iter().any(|e| matches!(
        e,
        EventKind::Ended {
            reason: EndReason::CallbackRequested,
            ..
        }
    )));
    r.center.shutdown().await;
}
