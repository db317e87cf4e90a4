//! Call control in the sans-IO call, command by command: what hold, mute,
//! a supervisor and an attended transfer ask the glue to do.

#![allow(clippy::unwrap_used)]

use super::*;
use callcore::{
    AgentId, Channel, CoreError, Direction, Disposition, EndReason, EventKind, Interaction, LegId,
    MixRole, MonitorMode, RoutingRequest,
};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

fn leg(name: &str) -> LegId {
    LegId::new(name)
}

fn drain(call: &mut Call) -> (Vec<CallCommand>, Vec<&'static str>) {
    let commands = std::iter::from_fn(|| call.poll_command()).collect();
    let events = std::iter::from_fn(|| call.poll_event())
        .map(|e: EventKind| e.name())
        .collect();
    (commands, events)
}

/// A call bridged to alice on leg `a` (not recorded).
fn talking() -> Call {
    let interaction = Interaction::new(
        "int-1".into(),
        "default".into(),
        Channel::Voice,
        Direction::Inbound,
        "+4930111",
        "100",
        at(0),
    );
    let mut call = Call::new(&interaction, leg("c"), false);
    let request = RoutingRequest {
        interaction: "int-1".into(),
        tenant: "default".into(),
        channel: Channel::Voice,
        queue: "support".into(),
        priority: 0,
        customer: None,
        preferred_agent: None,
        attributes: Default::default(),
        required_skills: Vec::new(),
        enqueued_at: at(0),
    };
    call.handle_enqueue(request, StayOptions::default(), at(0));
    call.handle_signal(
        RouterSignal::Connected {
            agent: "alice".into(),
            queue: "support".into(),
            leg: Some(leg("a")),
        },
        at(1),
    );
    drain(&mut call);
    call
}

fn placement(commands: &[CallCommand]) -> Placement {
    commands
        .iter()
        .find_map(|c| match c {
            CallCommand::PlaceFor { placement, .. } => Some(placement.clone()),
            _ => None,
        })
        .expect("a leg placed")
}

#[test]
fn hold_takes_the_agent_out_and_plays_music_until_resumed() {
    let mut call = talking();
    call.handle_hold(true).unwrap();
    assert_eq!(
        drain(&mut call),
        (
            vec![CallCommand::Unbridge(leg("c")), CallCommand::Music(true)],
            vec!["held"]
        )
    );
    assert!(matches!(
        call.handle_hold(true),
        Err(CoreError::InvalidState { action: "hold", .. })
    ));
    call.handle_hold(false).unwrap();
    assert_eq!(
        drain(&mut call),
        (
            vec![
                CallCommand::Music(false),
                CallCommand::Bridge {
                    leg: leg("c"),
                    to: leg("a"),
                    record: false
                }
            ],
            vec!["resumed"]
        )
    );
}

#[test]
fn a_muted_agent_and_a_whispering_supervisor_share_one_room() {
    let mut call = talking();
    call.handle_mute(true).unwrap();
    let (commands, events) = drain(&mut call);
    assert_eq!(events, ["muted"]);
    assert_eq!(
        commands.last(),
        Some(&CallCommand::Mix(vec![
            (leg("c"), MixRole::Party),
            (leg("a"), MixRole::Listen)
        ]))
    );
    call.handle_monitor("sue".into(), MonitorMode::Whisper, at(2))
        .unwrap();
    let (commands, _) = drain(&mut call);
    call.handle_placed_for(placement(&commands), leg("s"), at(3));
    let (commands, events) = drain(&mut call);
    assert_eq!(events, ["monitor_started"]);
    assert_eq!(
        commands,
        [CallCommand::Mix(vec![
            (leg("c"), MixRole::Party),
            (leg("a"), MixRole::Listen),
            (leg("s"), MixRole::Whisper { to: leg("a") })
        ])]
    );
    // the supervisor is removed by their agent id (no event names their leg)
    call.handle_kick(&LegId::new("sue"), at(4)).unwrap();
    let (commands, events) = drain(&mut call);
    assert_eq!(events, ["monitor_ended"]);
    assert!(commands.contains(&CallCommand::HangUp(leg("s"))));
    assert!(call.handle_kick(&LegId::new("sue"), at(5)).is_err());
    // once more, to see the customer's hang-up end it with the rest
    call.handle_monitor("sue".into(), MonitorMode::Whisper, at(6))
        .unwrap();
    let (commands, _) = drain(&mut call);
    call.handle_placed_for(placement(&commands), leg("s"), at(7));
    drain(&mut call);
    // the customer hangs up: the supervisor's leg too, the room closes
    call.handle_leg_ended(&leg("c"), at(9));
    let (commands, events) = drain(&mut call);
    assert!(commands.contains(&CallCommand::HangUp(leg("s"))));
    assert!(commands.contains(&CallCommand::HangUp(leg("a"))));
    assert!(commands.contains(&CallCommand::CloseRoom));
    assert!(commands.contains(&CallCommand::ReleaseAgent("alice".into())));
    assert_eq!(events, ["monitor_ended", "ended"]);
}

#[test]
fn an_attended_transfer_to_a_number_hands_the_customer_over() {
    let mut call = talking();
    assert!(call.handle_complete_transfer(at(2)).is_err());
    call.handle_consult(CallTarget::Number("+4930999".into()), at(2))
        .unwrap();
    let (commands, events) = drain(&mut call);
    assert_eq!(events, ["consult_started", "held"]);
    assert!(commands.contains(&CallCommand::Music(true)));
    call.handle_placed_for(placement(&commands), leg("k"), at(5));
    let (commands, events) = drain(&mut call);
    assert_eq!(
        commands,
        [CallCommand::Bridge {
            leg: leg("a"),
            to: leg("k"),
            record: false
        }]
    );
    // the desktop enables complete/conference on this
    assert_eq!(events, ["consult_answered"]);
    call.handle_complete_transfer(at(8)).unwrap();
    let (commands, events) = drain(&mut call);
    assert_eq!(
        events,
        ["consult_ended", "resumed", "transferred"],
        "{commands:?}"
    );
    assert!(commands.contains(&CallCommand::HangUp(leg("a"))));
    assert!(commands.contains(&CallCommand::ReleaseAgent("alice".into())));
    assert_eq!(
        commands.last(),
        Some(&CallCommand::Bridge {
            leg: leg("c"),
            to: leg("k"),
            record: false
        })
    );
    call.handle_leg_ended(&leg("k"), at(20));
    let (commands, _) = drain(&mut call);
    assert_eq!(commands, [CallCommand::HangUp(leg("c"))]);
    assert!(call.ended());
    call.handle_flow_finished(EndReason::Completed, at(20));
}

#[test]
fn the_agent_who_transferred_wraps_up_under_their_own_id() {
    let mut call = talking();
    call.handle_consult(CallTarget::Agent("bob".into()), at(2))
        .unwrap();
    let (commands, _) = drain(&mut call);
    call.handle_placed_for(placement(&commands), leg("b"), at(5));
    drain(&mut call);
    call.handle_complete_transfer(at(8)).unwrap();
    drain(&mut call);
    assert_eq!(call.last_agent(), Some(&AgentId::from("bob")));

    let wrap_up = |call: &mut Call, by: Option<&str>| {
        let by = by.map(AgentId::from);
        call.handle_disposition(Disposition::Agent("solved".into()), by.as_ref())?;
        call.handle_wrap_up_notes("notes".into(), by.as_ref())?;
        let mut agents = Vec::new();
        while let Some(e) = call.poll_event() {
            match e {
                EventKind::DispositionSet { agent, .. } | EventKind::WrapUpNoted { agent, .. } => {
                    agents.push(agent.to_string());
                }
                _ => {}
            }
        }
        Ok::<_, CoreError>(agents)
    };
    // alice transferred the call: her wrap-up is hers, not bob's
    assert_eq!(
        wrap_up(&mut call, Some("alice")).unwrap(),
        ["alice", "alice"]
    );
    assert_eq!(wrap_up(&mut call, Some("bob")).unwrap(), ["bob", "bob"]);
    // without a name, the last agent (a supervisor's wrap-up)
    assert_eq!(wrap_up(&mut call, None).unwrap(), ["bob", "bob"]);
    // an agent who never took part cannot wrap it up
    assert!(matches!(
        wrap_up(&mut call, Some("carol")),
        Err(CoreError::NotFound { .. })
    ));
}
