#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const KB: &str = r#"{"language": "en", "entries": [
  {"id": "hours", "question": "when are you open", "variants": ["opening hours", "what time do branches open", "are you open on saturday"],
   "answer": "Branches open 9:00-17:00, Monday to Saturday."},
  {"id": "roaming", "question": "does my phone work abroad", "variants": ["international roaming", "using my phone overseas", "calls from another country"],
   "answer": "Roaming is on by default in 120 countries."}]}"#;

fn rules(assist: bool) -> Arc<LiveRules> {
    let rules: Vec<QualityRule> = serde_json::from_str(
        r#"[
      {"rule": "forbidden_words", "name": "forbidden_words", "words": ["stupid", "shut up"], "speaker": "agent", "penalty": 20},
      {"rule": "required_phrase", "name": "recording_notice", "phrases": ["this call is recorded"],
       "within_secs": 20, "speaker": "agent", "penalty": 15},
      {"rule": "negative_sentiment", "name": "customer_unhappy", "speaker": "customer", "threshold": -0.3, "window": 2, "penalty": 5}
    ]"#,
    )
    .unwrap();
    let mut r = LiveRules::new(rules).unwrap();
    r.remind_after = Some(Duration::from_secs(5));
    r.knowledge = vec![(
        "faq".into(),
        Arc::new(KnowledgeBase::from_json(KB).unwrap()),
    )];
    r.assist = assist;
    r.classify = true;
    Arc::new(r)
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_000_000 + ms)
}

/// A call created at 0 and connected to `alex` at 2 s.
fn call(assist: bool) -> LiveQa {
    LiveQa::new(
        rules(assist),
        TenantId::new("t"),
        InteractionId::new("call-1"),
        at(0),
        at(2000),
        Some(AgentId::new("alex")),
    )
}

fn drain(qa: &mut LiveQa) -> Vec<LiveOutput> {
    std::iter::from_fn(|| qa.poll_output()).collect()
}

fn alerts(out: &[LiveOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            LiveOutput::Event(EventKind::QualityAlert { rule, .. }) => Some(rule.clone()),
            _ => None,
        })
        .collect()
}

fn suggestions(out: &[LiveOutput]) -> Vec<AssistSuggestion> {
    out.iter()
        .filter_map(|o| match o {
            LiveOutput::Event(EventKind::AgentAssist {
                suggestion, agent, ..
            }) => {
                assert_eq!(agent.as_str(), "alex");
                Some(suggestion.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_forbidden_word_from_the_agent_is_an_alert_at_once() {
    let mut qa = call(true);
    qa.handle_segment(Speaker::Customer, "you are stupid", 2500, at(3000));
    assert!(
        alerts(&drain(&mut qa)).is_empty(),
        "the rule is the agent's"
    );
    qa.handle_segment(Speaker::Agent, "that is a stupid question", 4000, at(5000));
    let out = drain(&mut qa);
    assert_eq!(alerts(&out), ["forbidden_words"]);
    match &out[0] {
        LiveOutput::Event(EventKind::QualityAlert { detail, .. }) => {
            assert!(detail.contains("\"stupid\""), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_customers_falling_sentiment_is_an_alert_once() {
    let mut qa = call(false);
    qa.handle_segment(
        Speaker::Customer,
        "this is terrible service",
        3000,
        at(4000),
    );
    assert!(
        alerts(&drain(&mut qa)).is_empty(),
        "one segment is no trend"
    );
    qa.handle_segment(
        Speaker::Customer,
        "I am very angry and upset",
        6000,
        at(7000),
    );
    assert_eq!(alerts(&drain(&mut qa)), ["customer_unhappy"]);
    qa.handle_segment(Speaker::Customer, "awful, I hate this", 9000, at(10000));
    assert!(alerts(&drain(&mut qa)).is_empty(), "once a call");
}

#[test]
fn a_required_phrase_is_reminded_then_missed() {
    let mut qa = call(true);
    // reminder 5 s after the connection (2 s), the rule's deadline at 22 s
    assert_eq!(qa.poll_timeout(), Some(at(7000)));
    qa.handle_timeout(at(6999));
    assert!(drain(&mut qa).is_empty());
    qa.handle_timeout(at(7000));
    let s = suggestions(&drain(&mut qa));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].kind, AssistKind::Reminder);
    assert_eq!(s[0].title, "recording_notice");
    assert!(s[0].text.contains("this call is recorded"), "{}", s[0].text);
    assert_eq!(s[0].offset_ms, 7000);
    assert_eq!(qa.poll_timeout(), Some(at(22_000)));
    qa.handle_timeout(at(22_000));
    assert_eq!(alerts(&drain(&mut qa)), ["recording_notice"]);
    assert_eq!(qa.poll_timeout(), None);
}

#[test]
fn a_required_phrase_said_in_time_needs_no_reminder_and_costs_nothing() {
    let mut qa = call(true);
    qa.handle_segment(
        Speaker::Agent,
        "hello, this call is recorded for training",
        2500,
        at(4000),
    );
    assert!(drain(&mut qa).is_empty());
    assert_eq!(qa.poll_timeout(), None);
    qa.handle_timeout(at(30_000));
    assert!(drain(&mut qa).is_empty());
    qa.finish(None, at(40_000));
    match drain(&mut qa).as_slice() {
        [LiveOutput::Event(EventKind::QualityScored { evaluation, .. })] => {
            assert!((evaluation.score - 100.0).abs() < 1e-9);
            assert!(evaluation.findings.is_empty());
            assert_eq!(evaluation.segments, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_customers_question_brings_the_article_and_asks_for_the_intent() {
    let mut qa = call(true);
    qa.handle_segment(
        Speaker::Customer,
        "hi what are your opening hours on saturday",
        3000,
        at(5000),
    );
    let out = drain(&mut qa);
    let s = suggestions(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(s[0].kind, AssistKind::Article);
    assert_eq!(s[0].source.as_deref(), Some("faq/hours"));
    assert!(s[0].text.starts_with("Branches open"));
    assert!(out.contains(&LiveOutput::Classify {
        text: "hi what are your opening hours on saturday".into(),
        offset_ms: 3000
    }));
    // the same article again is not suggested twice; nothing for small talk
    qa.handle_segment(Speaker::Customer, "opening hours please", 6000, at(8000));
    qa.handle_segment(Speaker::Customer, "the weather is nice", 9000, at(11000));
    assert!(suggestions(&drain(&mut qa)).is_empty());
    // the classifier's answer, once per intent
    let mut result = IntentResult {
        intent: Some("opening_hours".into()),
        confidence: 0.91,
        ..IntentResult::default()
    };
    qa.handle_intent(&result, 3000);
    qa.handle_intent(&result, 6000);
    let s = suggestions(&drain(&mut qa));
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].kind, s[0].title.as_str()),
        (AssistKind::Intent, "opening_hours")
    );
    assert_eq!(s[0].text, "confidence 0.91");
    result.intent = None;
    qa.handle_intent(&result, 9000);
    assert!(drain(&mut qa).is_empty(), "no intent, nothing to say");
}

#[test]
fn without_assist_the_agent_gets_nothing_but_the_rules_still_run() {
    let mut qa = call(false);
    qa.handle_segment(
        Speaker::Customer,
        "what are your opening hours",
        3000,
        at(5000),
    );
    qa.handle_timeout(at(7000));
    assert!(drain(&mut qa).is_empty());
    qa.handle_timeout(at(22_000));
    assert_eq!(alerts(&drain(&mut qa)), ["recording_notice"]);
}

#[test]
fn the_evaluation_takes_the_measured_figures_and_every_finding() {
    let mut qa = call(true);
    qa.handle_segment(Speaker::Agent, "shut up please", 4000, at(5000));
    qa.handle_timeout(at(22_000));
    drain(&mut qa);
    let mut audio = ConversationAudio::new(40_000, 12_000, 10_000);
    audio.silence_ms = 20_000;
    audio.talk_over_ms = 2_000;
    qa.finish(Some(&audio), at(42_000));
    let out = drain(&mut qa);
    let LiveOutput::Event(EventKind::QualityScored { evaluation: e, .. }) = &out[0] else {
        panic!("{out:?}");
    };
    // 100 − 20 (forbidden) − 15 (notice missed)
    assert!((e.score - 65.0).abs() < 1e-9, "{e:?}");
    let rules: Vec<&str> = e.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["forbidden_words", "recording_notice"]);
    assert!(e.findings.iter().all(|f| f.live));
    assert_eq!(e.silence_ratio, Some(0.5));
    assert_eq!(e.talk_over_ratio, Some(0.05));
    assert_eq!(e.segments, 1);
    // after the end nothing more comes
    qa.handle_segment(Speaker::Agent, "stupid", 43_000, at(43_000));
    qa.handle_timeout(at(60_000));
    assert!(drain(&mut qa).is_empty());
}

#[test]
fn a_call_without_an_agent_gets_no_suggestions() {
    let mut qa = LiveQa::new(
        rules(true),
        TenantId::new("t"),
        InteractionId::new("call-2"),
        at(0),
        at(1000),
        None,
    );
    qa.handle_segment(
        Speaker::Customer,
        "what are your opening hours",
        3000,
        at(5000),
    );
    qa.handle_timeout(at(10_000));
    assert!(suggestions(&drain(&mut qa)).is_empty());
}

#[test]
fn after_a_transfer_assist_follows_the_new_agent() {
    let mut qa = call(true);
    qa.handle_segment(
        Speaker::Customer,
        "what are your opening hours",
        3000,
        at(5000),
    );
    let first = drain(&mut qa);
    assert_eq!(suggestions(&first).len(), 1, "alex had the article");
    // transferred to blair: the same question brings the article to blair
    qa.handle_transfer(AgentId::new("blair"), at(6000));
    qa.handle_transfer(AgentId::new("blair"), at(6500));
    qa.handle_segment(
        Speaker::Customer,
        "so when are you open on saturday",
        7000,
        at(8000),
    );
    let out = drain(&mut qa);
    let to_blair: Vec<&AssistSuggestion> = out
        .iter()
        .filter_map(|o| match o {
            LiveOutput::Event(EventKind::AgentAssist {
                agent, suggestion, ..
            }) if agent.as_str() == "blair" => Some(suggestion),
            LiveOutput::Event(EventKind::AgentAssist { agent, .. }) => {
                panic!("a suggestion for {agent} after the transfer")
            }
            _ => None,
        })
        .collect();
    assert_eq!(to_blair.len(), 1, "{out:?}");
    assert_eq!(to_blair[0].source.as_deref(), Some("faq/hours"));
    // the rules go on after the transfer
    qa.handle_segment(Speaker::Agent, "shut up", 9000, at(9500));
    assert_eq!(alerts(&drain(&mut qa)), ["forbidden_words"]);
}

#[test]
fn a_required_phrase_possibly_in_a_shed_utterance_is_not_penalised() {
    // connected at 2 s, the notice due by 22 s: an agent's utterance from
    // 10 s was shed (and a customer's, which does not count)
    let mut qa = call(false);
    qa.handle_shed(Speaker::Customer, 4000);
    qa.handle_shed(Speaker::Agent, 10_000);
    qa.handle_segment(Speaker::Agent, "shut up", 12_000, at(13_000));
    qa.handle_timeout(at(22_000));
    assert_eq!(
        alerts(&drain(&mut qa)),
        ["forbidden_words"],
        "no live alert for the notice"
    );
    qa.finish(None, at(40_000));
    let out = drain(&mut qa);
    let LiveOutput::Event(EventKind::QualityScored { evaluation: e, .. }) = &out[0] else {
        panic!("{out:?}");
    };
    // only the forbidden word counts: the notice is not judged
    assert!((e.score - 80.0).abs() < 1e-9, "{e:?}");
    let rules: Vec<&str> = e.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["forbidden_words"]);
}

#[test]
fn an_utterance_shed_after_the_deadline_excuses_nothing() {
    let mut qa = call(false);
    qa.handle_shed(Speaker::Agent, 25_000);
    qa.handle_timeout(at(22_000));
    assert_eq!(alerts(&drain(&mut qa)), ["recording_notice"]);
    qa.finish(None, at(40_000));
    let out = drain(&mut qa);
    let LiveOutput::Event(EventKind::QualityScored { evaluation: e, .. }) = &out[0] else {
        panic!("{out:?}");
    };
    assert!((e.score - 85.0).abs() < 1e-9, "{e:?}");
}
