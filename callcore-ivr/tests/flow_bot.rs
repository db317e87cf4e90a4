//! The knowledge-base bot as a flow node (`bot`): it answers from the
//! tenant's articles, guesses when unsure, and hands off to a queue with the
//! question, what it answered and why — the English and Chinese knowledge
//! bases of `data/`, scripted callers in virtual time.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use callcore::Timestamp;
use callcore_ivr::flow::sim::{CallerStep, SimReport, SimWorld, run_scripted_from};
use callcore_ivr::flow::{
    Action, FlowChannel, FlowEnd, FlowRun, FlowSpec, KnowledgeBases, QueueResult,
};
use callcore_ivr::kb::{Conversation, KnowledgeBase};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

fn kb(lang: &str) -> Arc<KnowledgeBase> {
    Arc::new(KnowledgeBase::load(format!("{DATA}kb_{lang}.json")).unwrap())
}

fn flow(knowledge_base: &str) -> Arc<FlowSpec> {
    let json = format!(
        r#"{{"name": "help_line", "start": "bot", "nodes": {{
        "bot": {{"type": "bot", "prompt": "What can I help you with?", "knowledge_base": "{knowledge_base}",
                 "max_answers": 3, "next": "bye", "handoff": "agents"}},
        "agents": {{"type": "queue", "queue": "support", "on_failure": "bye"}},
        "bye": {{"type": "hangup", "message": "Goodbye."}}}}}}"#
    );
    Arc::new(FlowSpec::from_json(&json).unwrap())
}

fn run(lang: &str, named: &str, channel: FlowChannel, script: Vec<CallerStep>) -> SimReport {
    let knowledge: KnowledgeBases = BTreeMap::from([(named.to_owned(), kb(lang))]);
    let start = Timestamp::from_secs(1_795_618_800);
    let run = FlowRun::start_with_knowledge(
        flow("faq"),
        channel,
        BTreeMap::new(),
        start,
        Arc::new(knowledge),
    );
    let world = SimWorld {
        queue: Some((QueueResult::Served, Duration::from_secs(30))),
        ..SimWorld::default()
    };
    run_scripted_from(run, start, script, &world)
}

fn said(report: &SimReport) -> Vec<String> {
    report
        .actions
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Say { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The queue the flow handed off to, with the handoff variables.
fn handoff(report: &SimReport) -> Option<(String, BTreeMap<String, String>)> {
    report.actions.iter().find_map(|(_, a)| match a {
        Action::Enqueue { queue, context, .. } => Some((
            queue.clone(),
            context
                .slots
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().clone()))
                .collect(),
        )),
        _ => None,
    })
}

fn answer_of(lang: &str, id: &str) -> String {
    kb(lang)
        .entries()
        .iter()
        .find(|e| e.id == id)
        .unwrap()
        .answer
        .clone()
}

#[test]
fn answers_then_the_caller_is_done() {
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![
            CallerStep::say("um what time do you open"),
            CallerStep::say("no thanks that's all"),
        ],
    );
    let said = said(&r);
    let hours = answer_of("en", "opening_hours");
    assert!(said.iter().any(|s| s.starts_with(&hours)), "{said:?}");
    assert_eq!(said.last().map(String::as_str), Some("Goodbye."));
    assert_eq!(r.end(), Some(&FlowEnd::HungUp));
    assert!(handoff(&r).is_none());
    assert_eq!(
        r.run.variables().get("bot_answered").map(String::as_str),
        Some("opening_hours")
    );
}

#[test]
fn silence_after_an_answer_means_nothing_else() {
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![
            CallerStep::say("does my phone work abroad"),
            CallerStep::Silence,
        ],
    );
    assert!(
        said(&r)
            .iter()
            .any(|s| s.starts_with(&answer_of("en", "roaming")))
    );
    assert_eq!(r.end(), Some(&FlowEnd::HungUp));
    assert!(handoff(&r).is_none());
}

#[test]
fn a_follow_up_question_is_answered_too() {
    let r = run(
        "en",
        "faq",
        FlowChannel::Text,
        vec![
            CallerStep::say("what are your opening hours"),
            CallerStep::say("yes, does unused data roll over to next month"),
            CallerStep::say("no"),
        ],
    );
    assert_eq!(
        r.run.variables().get("bot_answered").map(String::as_str),
        Some("opening_hours,data_rollover")
    );
    assert_eq!(r.end(), Some(&FlowEnd::HungUp));
}

#[test]
fn a_question_it_cannot_answer_goes_to_an_agent_with_the_question() {
    let question = "my fridge is leaking water all over the kitchen floor";
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![CallerStep::say(question)],
    );
    let (queue, slots) = handoff(&r).expect("handed off");
    assert_eq!(queue, "support");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("no_answer")
    );
    assert_eq!(
        slots.get("bot_question").map(String::as_str),
        Some(question)
    );
    assert_eq!(r.end(), Some(&FlowEnd::Served("support".into())));
    // The agent receives the exchange: the bot's question, the caller's words.
    let transcript: Vec<String> = r
        .run
        .context()
        .transcript
        .iter()
        .map(|l| l.text.expose().clone())
        .collect();
    assert!(transcript.iter().any(|t| t == question), "{transcript:?}");
    assert!(said(&r).iter().any(|s| s.contains("connect you")));
}

#[test]
fn asking_for_a_person_hands_off_after_an_answer() {
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![
            CallerStep::say("what is the overdraft fee"),
            CallerStep::say("I'd like to speak to a real person please"),
        ],
    );
    let (_, slots) = handoff(&r).expect("handed off");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("asked_for_agent")
    );
    assert_eq!(
        slots.get("bot_answered").map(String::as_str),
        Some("overdraft_fee")
    );
}

#[test]
fn zero_on_the_keypad_reaches_an_agent() {
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![CallerStep::press("0")],
    );
    let (_, slots) = handoff(&r).expect("handed off");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("asked_for_agent")
    );
}

#[test]
fn silence_is_reasked_then_handed_off() {
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![
            CallerStep::Silence,
            CallerStep::Silence,
            CallerStep::Silence,
        ],
    );
    let said = said(&r);
    assert!(
        said.iter()
            .filter(|s| s.contains("What can I help you with?"))
            .count()
            >= 2
    );
    let (_, slots) = handoff(&r).expect("handed off");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("unclear")
    );
}

/// A question the knowledge base is unsure of: its best entry
/// (`contactless_limit`) scores below the threshold but above the guessing
/// floor (checked here, so that a change to the retrieval shows up as this
/// test's failure rather than a confusing flow).
const UNSURE: &str =
    "what is the most money I can pay with a tap of the card at the supermarket checkout";

fn unsure_question() -> (String, String) {
    let kb = kb("en");
    let reply = kb.reply(&mut Conversation::default(), UNSURE);
    let entry = kb
        .clarification(&reply)
        .expect("a guess, not an answer or a handoff");
    assert_eq!(entry.id, "contactless_limit");
    (UNSURE.to_owned(), entry.id.clone())
}

#[test]
fn an_unsure_bot_guesses_and_a_yes_gets_the_answer() {
    let (question, entry) = unsure_question();
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![
            CallerStep::say(&question),
            CallerStep::say("yes"),
            CallerStep::say("no"),
        ],
    );
    let said = said(&r);
    assert!(
        said.iter().any(|s| s.starts_with("Did you mean:")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|s| s.starts_with(&answer_of("en", &entry))),
        "{said:?}"
    );
    assert!(handoff(&r).is_none());
}

#[test]
fn an_unsure_bot_guessing_wrong_hands_off_with_the_question() {
    let (question, _) = unsure_question();
    let r = run(
        "en",
        "faq",
        FlowChannel::Voice,
        vec![CallerStep::say(&question), CallerStep::say("no, not that")],
    );
    let (_, slots) = handoff(&r).expect("handed off");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("guess_rejected")
    );
    assert_eq!(slots.get("bot_question"), Some(&question));
}

#[test]
fn the_chinese_knowledge_base_answers_in_chinese() {
    let kb = kb("zh");
    let entry = kb.entries()[0].clone();
    let r = run(
        "zh",
        "faq",
        FlowChannel::Text,
        vec![
            CallerStep::say(&entry.question),
            CallerStep::say("没有了，不用了"),
        ],
    );
    assert!(
        said(&r).iter().any(|s| s.starts_with(&entry.answer)),
        "{:?}",
        said(&r)
    );
    assert!(handoff(&r).is_none());
    let r = run(
        "zh",
        "faq",
        FlowChannel::Text,
        vec![CallerStep::say("我要转人工")],
    );
    let (_, slots) = handoff(&r).expect("handed off");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("asked_for_agent")
    );
}

#[test]
fn an_unregistered_knowledge_base_hands_off_instead_of_failing() {
    let r = run(
        "en",
        "other",
        FlowChannel::Voice,
        vec![CallerStep::say("what are your opening hours")],
    );
    let (_, slots) = handoff(&r).expect("handed off");
    assert_eq!(
        slots.get("bot_handoff").map(String::as_str),
        Some("no_knowledge_base")
    );
}

#[test]
fn a_bot_node_without_a_knowledge_base_is_refused_by_name() {
    let json = r#"{"name": "x", "start": "bot", "nodes": {
        "bot": {"type": "bot", "prompt": "Hi?", "knowledge_base": " ", "next": "bye", "handoff": "bye"},
        "bye": {"type": "hangup"}}}"#;
    let err = FlowSpec::from_json(json).unwrap_err().to_string();
    assert!(err.contains("nodes.bot.knowledge_base"), "{err}");
}
