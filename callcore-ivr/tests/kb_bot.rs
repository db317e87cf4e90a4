//! The knowledge-base bot on paraphrased questions (must find the right entry
//! ≥ 90% of the time) and on questions it has no entry for (must escalate), plus
//! multi-turn follow-ups.
//!
//! Figures: `cargo test -p callcore-ivr --release --test kb_bot -- --nocapture`

#![allow(clippy::unwrap_used)]

use callcore_ivr::kb::{BotReply, Conversation, KnowledgeBase};
use callcore_ivr::nlu::parse_labelled;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

fn kb(lang: &str) -> KnowledgeBase {
    KnowledgeBase::load(format!("{DATA}kb_{lang}.json")).unwrap()
}

fn measure(lang: &str) -> (f64, f64) {
    let kb = kb(lang);
    let tsv = std::fs::read_to_string(format!("{DATA}kb_heldout_{lang}.tsv")).unwrap();
    let cases = parse_labelled(&tsv).unwrap();
    let (mut answerable, mut right, mut unanswerable, mut escalated) = (0, 0, 0, 0);
    for case in &cases {
        let reply = kb.reply(&mut Conversation::default(), &case.text);
        let ok = match (&case.intent, &reply) {
            (Some(want), BotReply::Answer { entry, .. }) => entry == want,
            (None, BotReply::Escalate { .. }) => true,
            _ => false,
        };
        match case.intent {
            Some(_) => {
                answerable += 1;
                right += usize::from(ok);
            }
            None => {
                unanswerable += 1;
                escalated += usize::from(ok);
            }
        }
        if !ok {
            println!(
                "  miss: {:?} expected {:?} got {reply:?}",
                case.text, case.intent
            );
        }
    }
    let accuracy = right as f64 / answerable as f64;
    let escalation = escalated as f64 / unanswerable as f64;
    println!(
        "kb_{lang}: right entry {right}/{answerable} = {:.1}%, escalated {escalated}/{unanswerable} = {:.1}% (threshold {:.3})",
        100.0 * accuracy,
        100.0 * escalation,
        kb.threshold()
    );
    (accuracy, escalation)
}

#[test]
fn english_paraphrases_and_unanswerable_questions() {
    let (accuracy, escalation) = measure("en");
    assert!(accuracy >= 0.9, "accuracy {accuracy}");
    assert!(escalation >= 0.8, "escalation {escalation}");
}

#[test]
fn chinese_paraphrases_and_unanswerable_questions() {
    let (accuracy, escalation) = measure("zh");
    assert!(accuracy >= 0.9, "accuracy {accuracy}");
    assert!(escalation >= 0.8, "escalation {escalation}");
}

fn entry(reply: &BotReply) -> (&str, bool) {
    match reply {
        BotReply::Answer {
            entry,
            used_context,
            ..
        } => (entry.as_str(), *used_context),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn follow_up_questions_use_the_previous_turn() {
    let kb = kb("en");
    let mut c = Conversation::default();
    assert_eq!(
        entry(&kb.reply(&mut c, "can I use my phone abroad?")).0,
        "roaming"
    );
    assert_eq!(
        entry(&kb.reply(&mut c, "how much does it cost?")).0,
        "roaming"
    );
    // "it" is the eSIM: the question alone matches nothing.
    assert_eq!(entry(&kb.reply(&mut c, "do you support esim?")).0, "esim");
    let follow_up = kb.reply(&mut c, "is it free?");
    let (id, used_context) = entry(&follow_up);
    assert_eq!(id, "esim");
    assert!(used_context);
    assert!(matches!(
        kb.reply(&mut Conversation::default(), "is it free?"),
        BotReply::Escalate { .. }
    ));
    // A new topic is answered on its own.
    assert_eq!(
        entry(&kb.reply(&mut c, "what documents do I need to open an account")).0,
        "account_documents"
    );
    // An off-topic follow-up escalates instead of repeating the last answer.
    let off_topic = kb.reply(&mut c, "and who won the match?");
    assert!(
        matches!(off_topic, BotReply::Escalate { .. }),
        "{off_topic:?}"
    );
    assert_eq!(c.transcript.len(), 6);

    let kb = kb_zh();
    let mut c = Conversation::default();
    assert_eq!(entry(&kb.reply(&mut c, "怎么开通eSIM")).0, "esim");
    assert_eq!(entry(&kb.reply(&mut c, "手表能用吗")).0, "esim");
}

fn kb_zh() -> KnowledgeBase {
    kb("zh")
}

#[test]
fn bad_knowledge_bases_are_rejected_with_the_field() {
    let e = KnowledgeBase::from_json(
        r#"{"language": "en", "entries": [{"id": "a", "question": "q", "answer": ""}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("entries[0].answer"), "{e}");
    let e = KnowledgeBase::from_json(
        r#"{"language": "en", "entries": [{"id": "a", "question": "hours", "answer": "x"}, {"id": "a", "question": "roaming", "answer": "y"}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("entries[1].id"), "{e}");
    assert!(KnowledgeBase::from_json("{").is_err());
}
