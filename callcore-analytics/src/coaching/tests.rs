use super::*;
use crate::AnalyticsError;
use callcore::{
    Channel, ConversationAudio, Direction, Interaction, QualityEvaluation, QualityFinding,
};

struct Spec<'a> {
    id: &'a str,
    agent: &'a str,
    at: i64,
    score: f64,
    rules: &'a [&'a str],
    silence: f64,
    talk_over: f64,
    agent_ms: u64,
    customer_ms: u64,
    hold_ms: u64,
}

fn spec<'a>(id: &'a str, agent: &'a str, score: f64) -> Spec<'a> {
    Spec {
        id,
        agent,
        at: 100,
        score,
        rules: &[],
        silence: 0.1,
        talk_over: 0.02,
        agent_ms: 5000,
        customer_ms: 5000,
        hold_ms: 0,
    }
}

fn record(s: &Spec<'_>) -> InteractionRecord {
    let i = Interaction::new(
        s.id.into(),
        "t".into(),
        Channel::Voice,
        Direction::Inbound,
        "+4930111",
        "100",
        Timestamp::from_secs(s.at),
    );
    let mut r = InteractionRecord::new(&i);
    r.agent = Some(s.agent.into());
    r.hold_ms = s.hold_ms;
    let mut q = QualityEvaluation::new(s.score);
    for rule in s.rules {
        q.findings.push(QualityFinding::new(*rule, 1000, "found"));
    }
    q.silence_ratio = Some(s.silence);
    q.talk_over_ratio = Some(s.talk_over);
    r.quality = Some(q);
    r.audio = Some(ConversationAudio::new(20_000, s.customer_ms, s.agent_ms));
    r
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn span() -> (Timestamp, Timestamp) {
    (Timestamp::from_secs(0), Timestamp::from_secs(1000))
}

#[test]
fn a_scorecard_holds_the_agents_figures_against_the_teams() {
    let records: Vec<InteractionRecord> = [
        Spec {
            rules: &["required_phrase"],
            silence: 0.3,
            hold_ms: 40_000,
            agent_ms: 8000,
            customer_ms: 2000,
            ..spec("a1", "alice", 70.0)
        },
        Spec {
            rules: &["required_phrase", "forbidden_words", "forbidden_words"],
            silence: 0.5,
            ..spec("a2", "alice", 50.0)
        },
        Spec {
            at: 2000, // after the period
            ..spec("a3", "alice", 0.0)
        },
        spec("b1", "bob", 100.0),
        spec("b2", "bob", 90.0),
        spec("c1", "carol", 60.0),
    ]
    .iter()
    .map(record)
    .chain(std::iter::once({
        // not scored: left out
        let mut r = record(&spec("u1", "alice", 0.0));
        r.quality = None;
        r
    }))
    .collect();
    let (from, to) = span();
    let cards = Scorecards::build(&records, from, to);
    assert_eq!(cards.team.calls, 5);
    assert!(close(cards.team.mean_score, 74.0));
    let alice = cards.card(&"alice".into()).unwrap();
    assert_eq!(alice.calls, 2);
    assert!(close(alice.mean_score, 60.0));
    assert!(close(alice.figures.silence_share, 0.4));
    assert!(close(alice.figures.mean_hold_ms, 20_000.0));
    assert!(close(alice.figures.agent_talk_ratio, 0.65));
    let req = &alice.figures.rule_misses["required_phrase"];
    assert_eq!((req.calls, req.findings), (2, 2));
    assert!(close(Some(req.share), 1.0));
    let forb = &alice.figures.rule_misses["forbidden_words"];
    assert_eq!((forb.calls, forb.findings), (1, 2));
    assert_eq!(forb.interactions, vec![InteractionId::new("a2")]);
    assert!(close(
        Some(cards.team.rule_misses["required_phrase"].share),
        0.4
    ));
    // bob 95 > carol 60 = alice 60: ties share the rank
    assert_eq!((alice.rank, alice.team_agents), (2, 3));
    assert!(close(Some(alice.percentile), 0.0));
    let bob = cards.card(&"bob".into()).unwrap();
    assert_eq!(bob.rank, 1);
    assert!(close(Some(bob.percentile), 100.0));
    assert!(cards.card(&"dave".into()).is_none());
    assert_eq!(cards.card_or_empty(&"dave".into()).calls, 0);
}

#[test]
fn coaching_items_follow_the_thresholds_and_name_their_evidence() {
    let records: Vec<InteractionRecord> = [
        Spec {
            rules: &["required_phrase"],
            silence: 0.40,
            ..spec("a1", "alice", 60.0)
        },
        Spec {
            rules: &["forbidden_words"],
            silence: 0.35,
            ..spec("a2", "alice", 80.0)
        },
        Spec {
            silence: 0.05,
            ..spec("a3", "alice", 85.0)
        },
        spec("b1", "bob", 100.0),
        spec("b2", "bob", 100.0),
        spec("b3", "bob", 100.0),
    ]
    .iter()
    .map(record)
    .collect();
    let (from, to) = span();
    let cards = Scorecards::build(&records, from, to);
    let alice = cards.card(&"alice".into()).unwrap();
    let config = CoachingConfig::default();
    let items = coaching_items(alice, &config);
    let kinds: Vec<(CoachingKind, Option<&str>)> =
        items.iter().map(|i| (i.kind, i.rule.as_deref())).collect();
    // required phrase missed in 1 of 3 (33 % >= 30 %), a forbidden word once
    // (zero tolerance), score 75 vs team 87.5 (12.5 >= 10), silence 0.267 vs
    // 0.183 (under the 0.10 threshold: no item)
    assert_eq!(
        kinds,
        vec![
            (CoachingKind::RuleMissed, Some("forbidden_words")),
            (CoachingKind::RuleMissed, Some("required_phrase")),
            (CoachingKind::ScoreBelowTeam, None),
        ]
    );
    assert_eq!(items[1].interactions, vec![InteractionId::new("a1")]);
    // the calls below the team's mean (87.5)
    assert_eq!(
        items[2].interactions,
        ["a1", "a2", "a3"].map(InteractionId::new).to_vec()
    );
    // a stricter silence threshold makes an item of it, with the calls above the team's
    let strict = CoachingConfig {
        silence_above_team: 0.05,
        ..CoachingConfig::default()
    };
    let silence = coaching_items(alice, &strict)
        .into_iter()
        .find(|i| i.kind == CoachingKind::SilenceAboveTeam)
        .unwrap();
    assert_eq!(
        silence.interactions,
        ["a1", "a2"].map(InteractionId::new).to_vec()
    );
    // bob, at the team's best, has none; too few calls give none
    assert!(coaching_items(cards.card(&"bob".into()).unwrap(), &config).is_empty());
    let few = CoachingConfig {
        min_calls: 4,
        ..CoachingConfig::default()
    };
    assert!(coaching_items(alice, &few).is_empty());
    // deterministic
    assert_eq!(coaching_items(alice, &config), items);
}

#[test]
fn the_config_is_checked_naming_the_field() {
    assert!(CoachingConfig::default().validate().is_ok());
    let field_of = |c: CoachingConfig| match c.validate() {
        Err(AnalyticsError::Config { field, .. }) => field,
        _ => "",
    };
    let d = CoachingConfig::default;
    assert_eq!(
        field_of(CoachingConfig {
            min_calls: 0,
            ..d()
        }),
        "min_calls"
    );
    assert_eq!(
        field_of(CoachingConfig {
            rule_share: 1.5,
            ..d()
        }),
        "rule_share"
    );
    assert_eq!(
        field_of(CoachingConfig {
            score_below_team: -1.0,
            ..d()
        }),
        "score_below_team"
    );
    assert_eq!(
        field_of(CoachingConfig {
            silence_above_team: f64::NAN,
            ..d()
        }),
        "silence_above_team"
    );
    assert_eq!(
        field_of(CoachingConfig {
            zero_tolerance: vec![" ".into()],
            ..d()
        }),
        "zero_tolerance"
    );
    let parsed: CoachingConfig = serde_json::from_str(r#"{"new_agent_reviews": 2}"#).unwrap();
    assert_eq!((parsed.new_agent_reviews, parsed.min_calls), (2, 3));
    assert!(serde_json::from_str::<CoachingConfig>(r#"{"typo": 1}"#).is_err());
}

#[test]
fn a_new_agents_first_scored_calls_are_flagged_and_a_restart_goes_on_counting() {
    let mut f = ReviewFlagger::new(3);
    let stored: Vec<InteractionRecord> = [spec("a1", "alice", 90.0), spec("a2", "alice", 80.0)]
        .iter()
        .map(record)
        .collect();
    f.seed(&stored);
    assert_eq!(f.scored(&"alice".into()), 2);
    assert_eq!(f.on_scored(&"alice".into()), Some(3));
    assert_eq!(f.on_scored(&"alice".into()), None);
    assert_eq!(f.on_scored(&"bob".into()), Some(1));
    assert_eq!(ReviewFlagger::new(0).on_scored(&"bob".into()), None);
}

#[test]
fn a_call_counts_for_every_agent_who_took_part_and_once_for_the_team() {
    // t1: alice took it and transferred it to bob; t2: bob alone
    let mut transferred = record(&Spec {
        rules: &["required_phrase"],
        ..spec("t1", "bob", 60.0)
    });
    transferred.agents = vec!["alice".into(), "bob".into()];
    let mut alone = record(&spec("t2", "bob", 100.0));
    alone.agents = vec!["bob".into()];
    let (from, to) = span();
    let cards = Scorecards::build(&[transferred.clone(), alone], from, to);
    assert_eq!(cards.team.calls, 2, "each call once for the team");
    assert!(close(cards.team.mean_score, 80.0));
    let alice = cards.card(&"alice".into()).expect("alice took part");
    assert_eq!((alice.calls, alice.mean_score), (1, Some(60.0)));
    assert_eq!(alice.figures.rule_misses["required_phrase"].calls, 1);
    assert_eq!(
        alice.call_figures[0].agents,
        [AgentId::from("alice"), AgentId::from("bob")]
    );
    let bob = cards.card(&"bob".into()).expect("bob");
    assert_eq!((bob.calls, bob.mean_score), (2, Some(80.0)));
    assert_eq!((bob.rank, alice.rank, bob.team_agents), (1, 2, 2));
    // the review count: both agents' first scored call
    let mut f = ReviewFlagger::new(1);
    f.seed(std::slice::from_ref(&transferred));
    assert_eq!((f.scored(&"alice".into()), f.scored(&"bob".into())), (1, 1));
    assert_eq!(participants(&transferred).len(), 2);
}
