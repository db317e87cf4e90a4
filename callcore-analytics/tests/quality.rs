//! Quality inspection against hand-computed calls, English and Chinese.
#![allow(clippy::unwrap_used, clippy::float_cmp)]

use callcore::{
    Channel, Direction, EndReason, Event, EventKind, Interaction, Pii, Speaker, Timestamp,
};
use callcore_analytics::quality::{QualityHit, QualityInspector, QualityRule};

const T: i64 = 1_700_038_800; // 09:00 UTC

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_millis(T * 1000 + ms)
}

fn ev(ms: i64, kind: EventKind) -> Event {
    Event {
        seq: 0,
        at: at_ms(ms),
        tenant: "default".into(),
        kind,
    }
}

fn created(id: &str) -> Event {
    let i = Interaction::new(
        id.into(),
        "default".into(),
        Channel::Voice,
        Direction::Inbound,
        "+1",
        "100",
        at_ms(0),
    );
    ev(
        0,
        EventKind::InteractionCreated {
            interaction: Box::new(i),
        },
    )
}

fn said(id: &str, ms: i64, speaker: Speaker, text: &str) -> Event {
    ev(
        ms,
        EventKind::TranscriptSegment {
            interaction: id.into(),
            speaker,
            text: Pii::new(text.to_owned()),
            offset_ms: u64::try_from(ms).unwrap(),
        },
    )
}

fn rules() -> Vec<QualityRule> {
    serde_json::from_str(
        r#"[
        {"rule": "forbidden_words", "name": "profanity", "words": ["damn", "该死"], "speaker": "agent", "penalty": 20},
        {"rule": "required_phrase", "name": "greeting", "phrases": ["thank you for calling", "您好"], "within_secs": 10, "speaker": "agent", "penalty": 10},
        {"rule": "required_phrase", "name": "identity_check", "phrases": ["date of birth", "出生日期"], "within_secs": 30, "speaker": "agent", "penalty": 10},
        {"rule": "max_silence_ratio", "name": "dead_air", "max_ratio": 0.5, "penalty": 10},
        {"rule": "max_talk_over_ratio", "name": "talk_over", "max_ratio": 0.01, "penalty": 5},
        {"rule": "negative_sentiment", "name": "unhappy_customer", "speaker": "customer", "threshold": -0.5, "window": 2, "penalty": 15}
    ]"#,
    )
    .unwrap()
}

fn names(hits: &[QualityHit]) -> Vec<(&str, u64, bool)> {
    hits.iter()
        .map(|h| (h.rule.as_str(), h.offset_ms, h.live))
        .collect()
}

#[test]
fn english_call_live_alerts_end_rules_and_score() {
    let mut qi = QualityInspector::new(rules()).unwrap();
    let mut live = Vec::new();
    for e in [
        created("q1"),
        ev(
            5_000,
            EventKind::Connected {
                interaction: "q1".into(),
                agent: "alice".into(),
                queue: "support".into(),
            },
        ),
        said(
            "q1",
            6_000,
            Speaker::Agent,
            "Thank you for calling Example Bank, my name is Alice",
        ),
        said(
            "q1",
            12_000,
            Speaker::Customer,
            "this is ridiculous, I am so frustrated",
        ),
        said(
            "q1",
            14_000,
            Speaker::Agent,
            "I understand, let me check that damn system",
        ),
        said("q1", 20_000, Speaker::Customer, "still terrible, useless"),
        said("q1", 30_000, Speaker::Customer, "ok thanks that's helpful"),
    ] {
        live.extend(qi.handle(&e));
    }
    assert_eq!(
        names(&live),
        vec![
            ("profanity", 14_000, true),
            ("unhappy_customer", 20_000, true)
        ]
    );
    assert_eq!(live[0].detail, "said \"damn\"");
    assert_eq!(live[0].agent.as_ref().map(|a| a.as_str()), Some("alice"));
    let EventKind::QualityAlert { rule, detail, .. } = live[0].to_event_kind() else {
        panic!()
    };
    assert_eq!(
        (rule.as_str(), detail.as_str()),
        ("profanity", "said \"damn\" at 00:14")
    );
    // The identity check falls due 30 s after the connection (35 s in the call).
    assert_eq!(qi.next_deadline(), Some(at_ms(35_000)));
    assert!(qi.poll(at_ms(34_999)).is_empty());
    assert_eq!(
        names(&qi.poll(at_ms(35_000))),
        vec![("identity_check", 35_000, true)]
    );
    assert!(qi.poll(at_ms(40_000)).is_empty(), "alerted once");
    assert!(
        qi.handle(&ev(
            60_000,
            EventKind::Ended {
                interaction: "q1".into(),
                reason: EndReason::CustomerHangup
            }
        ))
        .is_empty()
    );

    let scores = qi.take_scores();
    assert_eq!(scores.len(), 1);
    let s = &scores[0];
    // Speech (150 words a minute): [6.0,10.0) [12.0,14.8) [14.0,17.2) [20.0,21.2)
    // [30.0,31.6) s; the conversation is [5, 60) s = 55 s; 12 s spoken, 0.8 s
    // by both at once.
    assert!((s.silence_ratio.unwrap() - (1.0 - 12.0 / 55.0)).abs() < 1e-9);
    assert!((s.talk_over_ratio.unwrap() - 0.8 / 55.0).abs() < 1e-9);
    assert!((s.customer_sentiment.unwrap() + 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        names(&s.hits),
        vec![
            ("profanity", 14_000, true),
            ("unhappy_customer", 20_000, true),
            ("identity_check", 35_000, true),
            ("dead_air", 60_000, false),
            ("talk_over", 60_000, false),
        ]
    );
    assert_eq!(s.score, 100.0 - 20.0 - 15.0 - 10.0 - 10.0 - 5.0);
}

#[test]
fn chinese_call_passes_greeting_and_identity_and_scores_per_agent_per_day() {
    let mut qi = QualityInspector::new(rules()).unwrap();
    let mut live = Vec::new();
    for e in [
        created("q2"),
        ev(
            2_000,
            EventKind::Connected {
                interaction: "q2".into(),
                agent: "bob".into(),
                queue: "support".into(),
            },
        ),
        said("q2", 3_000, Speaker::Agent, "您好，欢迎致电示例银行"),
        said("q2", 8_000, Speaker::Customer, "我很不满，要投诉"),
        said("q2", 10_000, Speaker::Agent, "请问您的出生日期"),
        said("q2", 15_000, Speaker::Customer, "好的，谢谢，很满意"),
        ev(
            20_000,
            EventKind::Ended {
                interaction: "q2".into(),
                reason: EndReason::AgentHangup,
            },
        ),
    ] {
        live.extend(qi.handle(&e));
    }
    assert!(live.is_empty(), "{live:?}");
    let s = qi.take_scores().pop().unwrap();
    // 10 + 7 + 8 + 7 characters at 250 ms over [2, 20) s.
    assert!((s.silence_ratio.unwrap() - (1.0 - 8.0 / 18.0)).abs() < 1e-9);
    assert_eq!(s.talk_over_ratio, Some(0.0));
    assert_eq!(s.customer_sentiment, Some(0.0));
    assert_eq!(names(&s.hits), vec![("dead_air", 20_000, false)]);
    assert_eq!(s.score, 90.0);
    // A second call of bob's the same day, missing its greeting.
    for e in [
        created("q3"),
        ev(
            1_000,
            EventKind::Connected {
                interaction: "q3".into(),
                agent: "bob".into(),
                queue: "support".into(),
            },
        ),
        said("q3", 2_000, Speaker::Agent, "what do you want"),
        said("q3", 3_000, Speaker::Customer, "a refund"),
        said("q3", 4_000, Speaker::Agent, "your date of birth please"),
        ev(
            6_000,
            EventKind::Ended {
                interaction: "q3".into(),
                reason: EndReason::AgentHangup,
            },
        ),
    ] {
        qi.handle(&e);
    }
    let s = qi.take_scores().pop().unwrap();
    // The greeting was missing when the call ended, before its deadline; the
    // agent spoke over the customer: [2.0, 3.6) and [3.0, 3.8) s overlap 0.6 s
    // of the 5 s conversation.
    assert_eq!(
        names(&s.hits),
        vec![("greeting", 6_000, false), ("talk_over", 6_000, false)]
    );
    assert!((s.talk_over_ratio.unwrap() - 0.6 / 5.0).abs() < 1e-9);
    assert_eq!(s.score, 85.0);
    let days = qi.agent_scores(&"default".into(), &"bob".into());
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].interactions, days[0].mean_score), (2, 87.5));
    assert_eq!(days[0].day, Timestamp::from_secs(T - 9 * 3600));
}

#[test]
fn bad_rules_are_refused_naming_rule_and_field() {
    let err = QualityInspector::new(vec![QualityRule::MaxSilenceRatio {
        name: "x".into(),
        max_ratio: 1.5,
        penalty: 1.0,
    }])
    .unwrap_err();
    assert!(
        err.to_string().contains("max_ratio") && err.to_string().contains("\"x\""),
        "{err}"
    );
    let err = QualityInspector::new(vec![QualityRule::ForbiddenWords {
        name: "y".into(),
        words: vec![" ".into()],
        speaker: None,
        penalty: 1.0,
    }])
    .unwrap_err();
    assert!(err.to_string().contains("words"), "{err}");
    assert!(serde_json::from_str::<Vec<QualityRule>>(r#"[{"rule": "nope"}]"#).is_err());
}
