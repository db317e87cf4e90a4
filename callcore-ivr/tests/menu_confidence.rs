//! A menu's `min_confidence`: spoken answers the recognizer is unsure of pick
//! no choice even when they hold its words, and the caller is asked again; a
//! sure answer, or a key, picks it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use callcore::{PlayOutcome, Timestamp, Utterance};
use callcore_ivr::flow::{Action, FlowBuilder, FlowChannel, FlowRun, Input, MenuChoice};

/// A greeting, then billing (key 1, "bill") and sales (key 2, "buy") with
/// `min_confidence`; anything else goes to support.
fn run(min_confidence: f32) -> FlowRun {
    let choices = vec![
        MenuChoice::new("1", "billing", "to_billing").words(["bill"]),
        MenuChoice::new("2", "sales", "to_sales").words(["buy"]),
    ];
    let spec = FlowBuilder::new("menu", "welcome")
        .say("welcome", "Hello.", "menu")
        .menu("menu", "", choices, "to_support")
        .min_confidence("menu", min_confidence)
        .queue("to_billing", "billing")
        .queue("to_sales", "sales")
        .queue("to_support", "support")
        .build()
        .unwrap();
    FlowRun::start(
        Arc::new(spec),
        FlowChannel::Voice,
        BTreeMap::new(),
        Timestamp::EPOCH,
    )
}

/// Plays every prompt to its end; returns what was said on the way and the
/// first action that is not a prompt.
fn until_action(run: &mut FlowRun) -> (Vec<String>, Action) {
    let mut said = Vec::new();
    loop {
        match run.poll_output().unwrap() {
            Action::Say { text, .. } => {
                said.push(text);
                run.handle_input(Input::PlayDone(PlayOutcome::Completed), Timestamp::EPOCH);
            }
            other => return (said, other),
        }
    }
}

fn hear(run: &mut FlowRun, text: &str, confidence: f32) {
    let text = text.to_owned();
    run.handle_input(
        Input::Heard(Utterance::Text { text, confidence }),
        Timestamp::EPOCH,
    );
}

fn queue_of(action: &Action) -> &str {
    match action {
        Action::Enqueue { queue, .. } => queue,
        other => panic!("not queued: {other:?}"),
    }
}

#[test]
fn an_unsure_answer_is_asked_again_and_a_sure_one_picks_the_choice() {
    let mut r = run(0.6);
    let (_, listen) = until_action(&mut r);
    assert!(matches!(listen, Action::Listen { .. }), "{listen:?}");
    // "bill" heard, but the recognizer is not sure: asked again, keys read out
    hear(&mut r, "a question about my bill", 0.4);
    let (said, next) = until_action(&mut r);
    assert!(matches!(next, Action::Listen { .. }), "{next:?}");
    let again = said.join(" ");
    assert!(again.contains("For billing, press 1."), "{again}");
    // said again, clearly
    hear(&mut r, "a question about my bill", 0.8);
    let (_, queued) = until_action(&mut r);
    assert_eq!(queue_of(&queued), "billing");
}

#[test]
fn keys_count_whatever_the_threshold_and_zero_takes_every_answer() {
    let mut r = run(0.99);
    until_action(&mut r);
    r.handle_input(
        Input::Heard(Utterance::Digits { digits: "2".into() }),
        Timestamp::EPOCH,
    );
    assert_eq!(queue_of(&until_action(&mut r).1), "sales");

    let mut r = run(0.0);
    until_action(&mut r);
    hear(&mut r, "I want to buy", 0.05);
    assert_eq!(queue_of(&until_action(&mut r).1), "sales");
}
