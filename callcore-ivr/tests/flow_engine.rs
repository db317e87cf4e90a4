//! The bank/telecom flow in `data/flows/bank_line.json`, driven by scripted
//! callers in virtual time: every node kind, no-input and inter-digit
//! time-outs, no-match escalation, barge-in, global commands, business hours
//! and holidays, callbacks, chat, and the context handed to the agent.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use CallerStep::{BargeIn, HangUp, Silence};
use callcore::Timestamp;
use callcore_ivr::flow::sim::{CallerStep, SimReport, SimWorld, run_scripted};
use callcore_ivr::flow::{Action, FlowChannel, FlowEnd, FlowSpec, QueueResult};
use callcore_ivr::nlu::{IntentClassifier, IntentsFile};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");
/// Wednesday 2026-11-25 15:00 UTC = 10:00 in the flow's time zone (UTC-5).
const WEDNESDAY_10AM: i64 = 1_795_618_800;
const SUNDAY_10AM: i64 = WEDNESDAY_10AM + 4 * 86_400;
const CHRISTMAS_10AM: i64 = WEDNESDAY_10AM + 30 * 86_400;

fn flow() -> Arc<FlowSpec> {
    let json = std::fs::read_to_string(format!("{DATA}flows/bank_line.json")).unwrap();
    Arc::new(FlowSpec::from_json(&json).unwrap())
}

fn nlu() -> Arc<IntentClassifier> {
    static NLU: OnceLock<Arc<IntentClassifier>> = OnceLock::new();
    NLU.get_or_init(|| {
        let file = IntentsFile::load(format!("{DATA}intents_en.json")).unwrap();
        Arc::new(IntentClassifier::train(&file).unwrap())
    })
    .clone()
}

fn world() -> SimWorld {
    let mut world = SimWorld {
        nlu: Some(nlu()),
        callback_ok: true,
        ..SimWorld::default()
    };
    world.tasks.insert(
        "lookup_bill".into(),
        Arc::new(|vars: &BTreeMap<String, String>| {
            if vars.get("account").map(String::as_str) == Some("12345678") {
                Ok(BTreeMap::from([
                    ("balance".into(), "42.50".into()),
                    ("due".into(), "December 1".into()),
                ]))
            } else {
                Err("unknown account".into())
            }
        }),
    );
    world.tasks.insert(
        "block_card".into(),
        Arc::new(|_: &BTreeMap<String, String>| Ok(BTreeMap::new())),
    );
    world.tasks.insert(
        "take_payment".into(),
        Arc::new(|_: &BTreeMap<String, String>| Ok(BTreeMap::new())),
    );
    world.queue = Some((QueueResult::Served, Duration::from_secs(90)));
    world
}

fn call(script: Vec<CallerStep>) -> SimReport {
    call_at(
        WEDNESDAY_10AM,
        FlowChannel::Voice,
        BTreeMap::new(),
        script,
        &world(),
    )
}

fn call_at(
    secs: i64,
    channel: FlowChannel,
    attributes: BTreeMap<String, String>,
    script: Vec<CallerStep>,
    world: &SimWorld,
) -> SimReport {
    run_scripted(
        flow(),
        channel,
        attributes,
        Timestamp::from_secs(secs),
        script,
        world,
    )
}

fn say(t: &str) -> CallerStep {
    CallerStep::say(t)
}

fn press(k: &str) -> CallerStep {
    CallerStep::press(k)
}

fn said_any(r: &SimReport, needle: &str) -> bool {
    r.said().iter().any(|s| s.contains(needle))
}

fn enqueued(r: &SimReport) -> Option<(i32, callcore::InteractionContext)> {
    r.actions.iter().find_map(|(_, a)| match a {
        Action::Enqueue {
            priority, context, ..
        } => Some((*priority, context.clone())),
        _ => None,
    })
}

#[test]
fn balance_by_speech_then_account_digits_and_task() {
    let r = call(vec![
        say("um, what's my balance"),
        press("12345678#"),
        press("2"),
    ]);
    assert_eq!(r.end(), Some(&FlowEnd::HungUp));
    assert!(
        r.said()[0].starts_with("Welcome to Example Bank and Telecom"),
        "{:?}",
        r.said()
    );
    assert!(
        said_any(&r, "Your balance is 42.50 dollars, due on December 1."),
        "{:?}",
        r.said()
    );
    assert_eq!(r.run.variables()["account"], "12345678");
    assert_eq!(r.run.context().intent.as_deref(), Some("check_balance"));
    assert!(matches!(r.actions[0].1, Action::Play { .. }));
    assert!(said_any(&r, "Goodbye"));
}

#[test]
fn no_match_prompts_escalate_then_fall_back_to_the_menu() {
    let r = call(vec![
        say("purple elephants dancing"),
        say("blah blah blah"),
        say("zebra xylophone"),
        press("1"),
        HangUp,
    ]);
    let said = r.said();
    assert!(
        said.iter()
            .any(|s| s.starts_with("Sorry, I didn't catch that.")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("Sorry, I still didn't get that. You can also press 0")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("Let's try the menu. For your balance or bill, press 1.")),
        "{said:?}"
    );
    assert!(said_any(&r, "8 digit account number"));
    assert_eq!(r.end(), Some(&FlowEnd::CallerLeft));
}

#[test]
fn silence_times_out_in_virtual_time_and_ends_with_an_agent() {
    let start = Timestamp::from_secs(WEDNESDAY_10AM);
    let r = call(vec![Silence, Silence, Silence, Silence, Silence, Silence]);
    assert!(said_any(&r, "Are you still there?"));
    // Three silent attempts at the open question, three at the menu, then the queue.
    assert_eq!(r.end(), Some(&FlowEnd::Served("support".into())));
    let waited = r.ended_at.duration_since(start);
    assert!(waited >= Duration::from_secs(6 * 5 + 90), "{waited:?}");
    assert!(waited < Duration::from_secs(600), "{waited:?}");
}

#[test]
fn slow_digits_hit_the_inter_digit_timeout_and_are_asked_again() {
    let slow = CallerStep::Press {
        after: Duration::from_secs(1),
        keys: "1234".into(),
        gap: Duration::from_secs(4),
    };
    let r = call(vec![
        say("I'd like to check my bill"),
        slow,
        press("12345678#"),
        press("2"),
    ]);
    assert!(said_any(&r, "That was not 8 digits."), "{:?}", r.said());
    assert!(said_any(&r, "Your balance is 42.50"));
}

#[test]
fn barge_in_with_a_global_key_jumps_to_an_agent() {
    let r = call(vec![BargeIn("0".into())]);
    assert_eq!(r.end(), Some(&FlowEnd::Served("support".into())));
    // The key pressed during the welcome cuts it and the first question short,
    // and the first listen reads it at once.
    let at = r
        .actions
        .iter()
        .position(|(_, a)| matches!(a, Action::Say { text, barge_in: true, .. } if text.starts_with("How can I help")))
        .unwrap();
    let (t0, _) = &r.actions[at];
    let (t1, next) = &r.actions[at + 1];
    assert!(matches!(next, Action::Listen { .. }), "{next:?}");
    assert!(
        t1.duration_since(*t0) < Duration::from_secs(1),
        "{:?}",
        t1.duration_since(*t0)
    );
    // Barging into the main question itself works the same way.
    let r = call(vec![say("uh"), BargeIn("0".into())]);
    assert_eq!(r.end(), Some(&FlowEnd::Served("support".into())));
}

#[test]
fn lost_card_fills_the_slot_and_confirms_with_a_retry() {
    let r = call(vec![
        say("I lost my card"),
        say("the credit one"),
        say("no"),
        say("debit"),
        say("yes"),
        press("2"),
    ]);
    let said = r.said();
    assert!(
        said.iter()
            .any(|s| s.contains("Is it your credit card or your debit card?")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s == &"You want to block your credit card. Is that right?"),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.contains("Your debit card is blocked.")),
        "{said:?}"
    );
    assert_eq!(r.run.variables()["card_type"], "debit");
}

#[test]
fn payment_takes_the_amount_from_the_first_sentence() {
    let r = call(vec![
        say("I want to pay 50 dollars"),
        say("yes"),
        press("2"),
    ]);
    assert!(
        said_any(&r, "You want to pay 50.00 USD. Is that correct?"),
        "{:?}",
        r.said()
    );
    assert!(
        said_any(&r, "your payment of 50.00 USD is done"),
        "{:?}",
        r.said()
    );
}

#[test]
fn global_word_command_hands_over_with_intent_slots_and_transcript() {
    let r = call(vec![
        say("my credit card was stolen"),
        say("actually just get me an operator"),
    ]);
    let (priority, context) = enqueued(&r).expect("queued");
    assert_eq!(priority, 0);
    assert_eq!(context.intent.as_deref(), Some("report_lost_card"));
    assert_eq!(context.slots["card_type"].expose(), "credit");
    let lines: Vec<&str> = context
        .transcript
        .iter()
        .map(|l| l.text.expose().as_str())
        .collect();
    assert!(lines.contains(&"my credit card was stolen"), "{lines:?}");
    assert!(
        lines.contains(&"actually just get me an operator"),
        "{lines:?}"
    );
}

#[test]
fn fault_report_records_a_message_then_books_a_callback() {
    let r = call(vec![
        say("my internet is not working"),
        say("the wifi"),
        press("1"),
    ]);
    assert!(
        r.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::Record { .. }))
    );
    assert!(r.run.variables()["fault_message"].starts_with("rec-"));
    assert!(
        r.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::BookCallback { queue, .. } if queue == "support"))
    );
    assert!(said_any(
        &r,
        "We will call you back, keeping your place in the queue."
    ));
    assert_eq!(r.run.variables()["callback_queue"], "support");
}

#[test]
fn vip_callers_branch_to_a_priority_queue_with_context() {
    let vip = BTreeMap::from([("vip".to_string(), "gold".to_string())]);
    let r = call_at(
        WEDNESDAY_10AM,
        FlowChannel::Voice,
        vip,
        vec![say("no signal on my phone"), press("2")],
        &world(),
    );
    let (priority, context) = enqueued(&r).expect("queued");
    assert_eq!(priority, 10);
    assert_eq!(context.intent.as_deref(), Some("technical_fault"));
    assert!(context.slots.contains_key("fault_message"));
    let skills = r.actions.iter().find_map(|(_, a)| match a {
        Action::Enqueue { skills, .. } => Some(skills.clone()),
        _ => None,
    });
    assert_eq!(skills, Some(vec!["technical".to_string()]));
}

#[test]
fn after_hours_and_holidays_start_at_the_closed_branch() {
    for when in [SUNDAY_10AM, CHRISTMAS_10AM, WEDNESDAY_10AM + 12 * 3600] {
        let r = call_at(
            when,
            FlowChannel::Voice,
            BTreeMap::new(),
            vec![press("1")],
            &world(),
        );
        assert!(
            r.said()[0].starts_with("We are closed."),
            "{when}: {:?}",
            r.said()
        );
        assert!(r.run.variables().contains_key("voicemail"));
        assert_eq!(r.end(), Some(&FlowEnd::HungUp));
    }
}

#[test]
fn opening_hours_follow_new_york_daylight_saving() {
    // The line opens at 08:00 in New York. Monday 2026-03-09 is the first
    // weekday of daylight saving (UTC-4): 12:30 UTC is 08:30, open; in
    // February (UTC-5) the same UTC time is 07:30, closed.
    let monday_after_change = 1_773_059_400; // 2026-03-09T12:30:00Z
    let monday_in_february = 1_771_245_000; // 2026-02-16T12:30:00Z
    let open = call_at(
        monday_after_change,
        FlowChannel::Voice,
        BTreeMap::new(),
        vec![press("1")],
        &world(),
    );
    assert!(
        !open.said().iter().any(|s| s.starts_with("We are closed.")),
        "{:?}",
        open.said()
    );
    let closed = call_at(
        monday_in_february,
        FlowChannel::Voice,
        BTreeMap::new(),
        vec![press("1")],
        &world(),
    );
    assert!(
        closed.said()[0].starts_with("We are closed."),
        "{:?}",
        closed.said()
    );
}

#[test]
fn the_word_fraud_transfers_to_the_fraud_line() {
    let r = call(vec![say("I think there is fraud on my account")]);
    assert_eq!(
        r.end(),
        Some(&FlowEnd::Transferred("sip:fraud@bank.example".into()))
    );
    assert!(matches!(
        r.actions.last(),
        Some((_, Action::Transfer { .. }))
    ));
}

#[test]
fn on_chat_menus_are_numbered_and_digits_are_typed() {
    let r = call_at(
        WEDNESDAY_10AM,
        FlowChannel::Text,
        BTreeMap::new(),
        vec![
            say("???"),
            say("..."),
            say("hmm"),
            say("1"),
            say("my account is 12345678"),
            say("2"),
        ],
        &world(),
    );
    let said = r.said();
    assert!(
        said.iter().any(|s| s
            .contains("Let's try the menu.\n1. your balance or bill\n2. a lost or stolen card")),
        "{said:?}"
    );
    assert!(
        !r.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::CollectDigits(_)))
    );
    assert!(
        said.iter().any(|s| s.contains("Your balance is 42.50")),
        "{said:?}"
    );
}

#[test]
fn a_failing_task_goes_to_its_error_branch() {
    let r = call(vec![say("what's my balance"), press("99999999#")]);
    assert_eq!(r.run.variables()["task_error"], "unknown account");
    assert!(enqueued(&r).is_some());
}

#[test]
fn a_queue_that_gives_up_leads_to_voicemail() {
    let mut w = world();
    w.queue = Some((QueueResult::GaveUp, Duration::from_secs(300)));
    let r = call_at(
        WEDNESDAY_10AM,
        FlowChannel::Voice,
        BTreeMap::new(),
        vec![press("0")],
        &w,
    );
    assert!(
        said_any(&r, "Please leave a message after the tone."),
        "{:?}",
        r.said()
    );
    assert!(r.run.variables().contains_key("voicemail"));
}

#[test]
fn the_caller_hanging_up_ends_the_run() {
    let r = call(vec![HangUp]);
    assert_eq!(r.end(), Some(&FlowEnd::CallerLeft));
}
