use super::*;
use callcore::{
    AgentProfile, AgentState, Channel, Destination, Direction, Disposition, EndReason, OfferEnd,
    QueueDefinition, Speaker, TranscriptLine,
};

fn every_kind() -> Vec<EventKind> {
    use EventKind as E;
    let mut plain = Interaction::new(
        "int-1".into(),
        "acme".into(),
        Channel::Voice,
        Direction::Inbound,
        "+4930123456",
        "100",
        Timestamp::from_millis(1_700_000_000_123),
    );
    let mut rich = plain.clone();
    rich.id = "int-2".into();
    rich.channel = Channel::WeChat;
    rich.direction = Direction::Outbound;
    rich.customer = Some("cust-9".into());
    rich.attributes.insert("language".into(), "zh".into());
    rich.attributes.insert("vip".into(), "true".into());
    rich.context.intent = Some("check_bill".into());
    rich.context
        .slots
        .insert("account".into(), Pii::new("12345".into()));
    rich.context.transcript.push(TranscriptLine {
        speaker: Speaker::Customer,
        text: Pii::new("我的账单".into()),
        at: Timestamp::from_secs(1_700_000_003),
    });
    plain.created_at = Timestamp::from_millis(-5); // before the epoch still round-trips
    let int = || InteractionId::from("int-1");
    vec![
        E::InteractionCreated {
            interaction: Box::new(plain),
        },
        E::InteractionCreated {
            interaction: Box::new(rich),
        },
        E::FlowStep {
            interaction: int(),
            step: "say".into(),
            detail: "welcome".into(),
        },
        E::Queued {
            interaction: int(),
            queue: "support".into(),
            position: 3,
            estimated_wait_secs: Some(300),
        },
        E::Queued {
            interaction: int(),
            queue: "support".into(),
            position: 1,
            estimated_wait_secs: None,
        },
        E::Offered {
            interaction: int(),
            queue: "support".into(),
            agent: "alice".into(),
            reservation: "res-1".into(),
            expires_at: Timestamp::from_secs(1_700_000_020),
        },
        E::OfferAccepted {
            interaction: int(),
            agent: "alice".into(),
            reservation: "res-1".into(),
        },
        E::OfferEnded {
            interaction: int(),
            agent: "bob".into(),
            reservation: "res-0".into(),
            outcome: OfferEnd::TimedOut,
        },
        E::Connected {
            interaction: int(),
            agent: "alice".into(),
            queue: "support".into(),
        },
        E::Held { interaction: int() },
        E::Resumed { interaction: int() },
        E::Transferred {
            interaction: int(),
            target: "sales".into(),
        },
        E::Abandoned {
            interaction: int(),
            queue: "sales".into(),
        },
        E::Overflowed {
            interaction: int(),
            queue: "support".into(),
            destination: Destination::Queue("sales".into()),
        },
        E::Overflowed {
            interaction: int(),
            queue: "support".into(),
            destination: Destination::External("sip:overflow@example.com".into()),
        },
        E::QueueExited {
            interaction: int(),
            queue: "support".into(),
            reason: "timeout".into(),
        },
        E::Ended {
            interaction: int(),
            reason: EndReason::CustomerHangup,
        },
        E::WrapUpStarted {
            interaction: int(),
            agent: "alice".into(),
            duration_secs: 30,
        },
        E::WrapUpEnded {
            interaction: int(),
            agent: "alice".into(),
        },
        E::DispositionSet {
            interaction: int(),
            agent: "alice".into(),
            disposition: Disposition::Agent("sale".into()),
        },
        E::AgentStateChanged {
            agent: "alice".into(),
            from: AgentState::Busy,
            to: AgentState::NotReady("lunch break ".repeat(20)),
        },
        E::AgentAdded {
            profile: Box::new(AgentProfile::new("carol")),
        },
        E::AgentRemoved {
            agent: "carol".into(),
        },
        E::QueueAdded {
            definition: Box::new(QueueDefinition::new("billing")),
        },
        E::QueueRemoved {
            queue: "billing".into(),
        },
        E::RecordingStarted {
            interaction: int(),
            recording: "rec-1".into(),
        },
        E::RecordingStopped {
            interaction: int(),
            recording: "rec-1".into(),
            duration_ms: 185_250,
        },
        E::TranscriptSegment {
            interaction: int(),
            speaker: Speaker::Agent,
            text: Pii::new("您好，请问有什么可以帮您".into()),
            offset_ms: 1_500,
        },
        E::QualityAlert {
            interaction: int(),
            rule: "forbidden_words".into(),
            detail: "\"damn\" at 12.5 s".into(),
        },
        E::DialAttempted {
            interaction: int(),
            campaign: "spring".into(),
            lead: "lead-7".into(),
            disposition: Disposition::AnsweringMachine,
        },
        E::Usage {
            meter: "asr_seconds".into(),
            quantity: 12.75,
            channel: Some(Channel::Voice),
        },
        E::Usage {
            meter: "voice_minutes".into(),
            quantity: -0.0,
            channel: None,
        },
        E::QualityScored {
            interaction: "int-1".into(),
            evaluation: {
                let mut e = callcore::QualityEvaluation::new(60.0);
                let mut f = callcore::QualityFinding::new("forbidden_words", 36_040, "said \"x\"");
                f.penalty = 20.0;
                f.live = true;
                e.findings.push(f);
                e.silence_ratio = Some(0.604_117_181_314_331);
                e.segments = 5;
                e
            },
        },
        E::AgentAssist {
            interaction: "int-1".into(),
            agent: "alex".into(),
            suggestion: callcore::AssistSuggestion::new(
                callcore::AssistKind::Reminder,
                "required_phrase",
                "remember to say: \"this call is recorded\"",
                29_445,
            ),
        },
    ]
}

#[test]
fn every_event_kind_round_trips() {
    let mut ids = Interner::default();
    for kind in every_kind() {
        let mut buf = Vec::new();
        encode(&kind, &mut buf).unwrap();
        let back = decode(&buf, &mut ids).unwrap();
        assert_eq!(back, kind, "{} did not round-trip", kind.name());
        // Compact: well under the JSON it replaces, except for the kinds
        // stored as JSON.
        let json = serde_json::to_vec(&kind).unwrap();
        assert!(buf.len() <= json.len() + 2, "{}", kind.name());
    }
}

#[test]
fn the_common_kinds_are_compact_and_definitions_are_json() {
    let kinds = every_kind();
    let mut buf = Vec::new();
    encode(&kinds[8], &mut buf).unwrap(); // connected
    assert_eq!(buf[..2], [FORMAT, 7]);
    assert_eq!(buf.len(), 2 + 6 + 6 + 8);
    buf.clear();
    encode(&kinds[21], &mut buf).unwrap(); // agent_added
    assert_eq!(buf[..2], [FORMAT, JSON]);
    assert!(buf[2..].starts_with(br#"{"type":"agent_added""#));
}

#[test]
fn ids_are_shared_between_decoded_events() {
    let mut ids = Interner::default();
    let kind = EventKind::Connected {
        interaction: "i".into(),
        agent: "alice".into(),
        queue: "support".into(),
    };
    let mut buf = Vec::new();
    encode(&kind, &mut buf).unwrap();
    let (a, b) = (
        decode(&buf, &mut ids).unwrap(),
        decode(&buf, &mut ids).unwrap(),
    );
    let (Some(a), Some(b)) = (a.agent(), b.agent()) else {
        panic!("connected events have an agent");
    };
    assert!(std::ptr::eq(a.as_str(), b.as_str()));
}

#[test]
fn damaged_bodies_are_errors_not_panics() {
    let mut ids = Interner::default();
    for kind in every_kind() {
        let mut buf = Vec::new();
        encode(&kind, &mut buf).unwrap();
        for cut in 0..buf.len() {
            assert!(
                decode(&buf[..cut], &mut ids).is_err(),
                "{} cut at {cut}",
                kind.name()
            );
        }
        buf.push(0);
        assert!(decode(&buf, &mut ids).is_err(), "trailing byte");
    }
    for body in [
        &[2u8, 7][..],
        &[FORMAT, 19],
        &[FORMAT, 99],
        &[FORMAT, 8, 0xff, 0xff],
    ] {
        let err = decode(body, &mut ids).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Invalid {
                    field: "events.body",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn decoded_events_carry_their_columns() {
    let mut buf = Vec::new();
    let kind = EventKind::Held {
        interaction: "i".into(),
    };
    encode(&kind, &mut buf).unwrap();
    let mut ids = Interner::default();
    let e = decode_event(ids.tenant("acme"), 42, 1_000, &buf, &mut ids).unwrap();
    assert_eq!(
        (e.seq, e.at, e.tenant.as_str()),
        (42, Timestamp::from_secs(1), "acme")
    );
    assert_eq!(e.kind, kind);
    assert!(decode_event("acme".into(), -1, 0, &buf, &mut ids).is_err());
}
