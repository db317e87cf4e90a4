//! The bank/telecom flow as callcore's `Flow` on a real `Center` with the
//! in-memory transport, NLU through callcore's `IntentRecognizer` port, in
//! virtual time.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Clock, Endpoint, EventKind, QueueDefinition, Timestamp, VirtualClock,
};
use callcore_ivr::flow::{FlowSpec, FlowTask, IvrFlow};
use callcore_ivr::nlu::{IntentClassifier, IntentsFile};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, Providers};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");
const WEDNESDAY_10AM: i64 = 1_795_618_800;

struct LookupBill;

#[async_trait]
impl FlowTask for LookupBill {
    async fn run(
        &self,
        vars: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        match vars.get("account").map(String::as_str) {
            Some("12345678") => Ok(BTreeMap::from([
                ("balance".into(), "42.50".into()),
                ("due".into(), "December 1".into()),
            ])),
            _ => Err("unknown account".into()),
        }
    }
}

async fn center(
    clock: &VirtualClock,
    transport: &Arc<MemoryTransport>,
) -> callcore_runtime::CenterHandle {
    let spec = FlowSpec::from_json(
        &std::fs::read_to_string(format!("{DATA}flows/bank_line.json")).unwrap(),
    )
    .unwrap();
    let flow = IvrFlow::new(spec).with_task("lookup_bill", Arc::new(LookupBill));
    static NLU: OnceLock<Arc<IntentClassifier>> = OnceLock::new();
    let nlu = NLU.get_or_init(|| {
        let file = IntentsFile::load(format!("{DATA}intents_en.json")).unwrap();
        Arc::new(IntentClassifier::train(&file).unwrap())
    });
    let providers = Providers {
        nlu: Some(nlu.clone()),
        ..Providers::default()
    };
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .flow("bank", Arc::new(flow))
        .providers(providers)
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
}

#[tokio::test(flavor = "current_thread")]
async fn balance_self_service_on_a_center() {
    let clock = VirtualClock::new(Timestamp::from_secs(WEDNESDAY_10AM));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let _center = center(&clock, &transport).await;
    let caller = transport.call("+15550100", "100");
    caller.say("um, what's my balance");
    caller.press("12345678#");
    caller.press("2");
    let done = {
        let caller = caller.clone();
        let clock = clock.clone();
        async move {
            while !caller.heard().iter().any(|h| h.contains("Goodbye")) {
                clock.sleep(Duration::from_millis(200)).await;
            }
        }
    };
    clock
        .drive(done, Timestamp::from_secs(WEDNESDAY_10AM + 600))
        .await
        .unwrap();
    let heard = caller.heard();
    assert!(
        heard.contains(&"say:Your balance is 42.50 dollars, due on December 1.".to_string()),
        "{heard:?}"
    );
    assert_eq!(
        heard.first().map(String::as_str),
        Some("play:prompts/jingle.wav")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn asking_for_an_operator_reaches_an_agent() {
    let clock = VirtualClock::new(Timestamp::from_secs(WEDNESDAY_10AM));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "sip:alice@pbx",
        PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
    );
    let center = center(&clock, &transport).await;
    center
        .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
        .await
        .unwrap();
    center
        .set_agent_state(&"alice".into(), AgentState::Available)
        .await
        .unwrap();
    let mut events = center.subscribe();
    let caller = transport.call("+15550100", "100");
    caller.say("my credit card was stolen");
    caller.say("actually, get me an operator");
    let connected = async move {
        let mut intent = None;
        loop {
            let e = events.recv().await.expect("event");
            match &e.kind {
                EventKind::FlowStep { step, detail, .. } if step == "intent" => {
                    intent = Some(detail.clone())
                }
                EventKind::Connected { .. } => return intent,
                _ => {}
            }
        }
    };
    let intent = clock
        .drive(connected, Timestamp::from_secs(WEDNESDAY_10AM + 600))
        .await
        .unwrap();
    assert_eq!(intent.as_deref(), Some("report_lost_card"));
    caller.hangup();
}

#[tokio::test(flavor = "current_thread")]
async fn an_agent_who_hangs_up_first_ends_the_call_as_agent_hangup() {
    let clock = VirtualClock::new(Timestamp::from_secs(WEDNESDAY_10AM));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "sip:alice@pbx",
        PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
    );
    let center = center(&clock, &transport).await;
    center
        .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
        .await
        .unwrap();
    center
        .set_agent_state(&"alice".into(), AgentState::Available)
        .await
        .unwrap();
    let mut events = center.subscribe();
    let caller = transport.call("+15550100", "100");
    caller.say("get me an operator");
    let transport2 = transport.clone();
    let ended = async move {
        loop {
            let e = events.recv().await.expect("event");
            match &e.kind {
                EventKind::Connected { .. } => {
                    transport2
                        .phone("sip:alice@pbx")
                        .expect("alice rang")
                        .hangup();
                }
                EventKind::Ended { reason, .. } => return reason.clone(),
                _ => {}
            }
        }
    };
    let reason = clock
        .drive(ended, Timestamp::from_secs(WEDNESDAY_10AM + 600))
        .await
        .unwrap();
    assert_eq!(reason, callcore::EndReason::AgentHangup);
}
