//! Sensitive slots: the flow uses a card number keyed in, the context it
//! hands to the agent (and that the runtime journals) has it masked, in the
//! slots and where the bot repeated it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use callcore::Timestamp;
use callcore_ivr::flow::sim::{CallerStep, SimWorld, run_scripted};
use callcore_ivr::flow::{Action, FlowBuilder, FlowChannel, FlowSpec, Node, QueueResult, Retries};

const CARD: &str = "4111111111111111";

fn digits(prompt: &str, var: &str, len: u32, next: &str) -> Node {
    Node::CollectDigits {
        prompt: prompt.into(),
        var: var.into(),
        min: len,
        max: len,
        terminator: Some('#'),
        first_digit_timeout_ms: 5_000,
        inter_digit_timeout_ms: 3_000,
        retries: Retries::default(),
        next: next.into(),
        on_failure: "agent".into(),
    }
}

fn flow(sensitive: bool) -> Arc<FlowSpec> {
    let mut b = FlowBuilder::new("cards", "account")
        .node(
            "account",
            digits("Your account number?", "account", 4, "card"),
        )
        .node(
            "card",
            digits("Your card number?", "card_number", 16, "repeat"),
        )
        .say("repeat", "You keyed in {card_number}.", "agent")
        .queue("agent", "support");
    if sensitive {
        b = b.sensitive("card_number");
    }
    Arc::new(b.build().unwrap())
}

fn handed_over(sensitive: bool) -> (callcore::InteractionContext, BTreeMap<String, String>) {
    let world = SimWorld {
        queue: Some((QueueResult::Served, Duration::from_secs(30))),
        ..SimWorld::default()
    };
    let r = run_scripted(
        flow(sensitive),
        FlowChannel::Voice,
        BTreeMap::new(),
        Timestamp::from_secs(1_000),
        vec![
            CallerStep::press("4711#"),
            CallerStep::press(&format!("{CARD}#")),
        ],
        &world,
    );
    let context = r
        .actions
        .iter()
        .find_map(|(_, a)| match a {
            Action::Enqueue { context, .. } => Some(context.clone()),
            _ => None,
        })
        .expect("the caller is queued");
    (context, r.run.variables().clone())
}

#[test]
fn a_sensitive_slot_reaches_the_agent_masked_and_the_flow_in_clear() {
    let (context, variables) = handed_over(true);
    assert_eq!(variables["card_number"], CARD, "the flow keeps the value");
    assert_eq!(context.slots["account"].expose(), "4711");
    assert_eq!(context.slots["card_number"].expose(), "••••••••••••1111");
    assert!(context.sensitive.contains("card_number"));
    assert!(!context.sensitive.contains("account"));
    let said: Vec<&str> = context
        .transcript
        .iter()
        .map(|l| l.text.expose().as_str())
        .collect();
    assert!(
        said.contains(&"You keyed in ••••••••••••1111."),
        "the bot's line is masked: {said:?}"
    );
    assert!(said.iter().all(|l| !l.contains(CARD)), "{said:?}");
    assert!(said.contains(&"Your account number?"), "{said:?}");
    // masking again changes nothing (the runtime masks what it journals too)
    assert_eq!(context.masked(), context);
}

#[test]
fn without_the_mark_the_slot_is_handed_over_as_keyed() {
    let (context, _) = handed_over(false);
    assert_eq!(context.slots["card_number"].expose(), CARD);
    assert!(context.sensitive.is_empty());
}
