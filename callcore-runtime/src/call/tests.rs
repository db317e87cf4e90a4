//! Scenario tests of the call state machine: the races the issue names, one
//! order each (the property test `tests/call_properties.rs` tries them all).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::QueueOutcome;
use callcore::{
    Channel, Direction, EndReason, EventKind, HangupCause, Interaction, LegId, RecordingStarted,
    RecordingStopped, RoutingRequest, TransferRefusal,
};

use std::time::Duration;

const T0: i64 = 1_700_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

fn leg(name: &str) -> LegId {
    LegId::new(name)
}

struct Run {
    call: Call,
    commands: Vec<CallCommand>,
    events: Vec<EventKind>,
}

impl Run {
    fn new() -> Self {
        let interaction = Interaction::new(
            "int-1".into(),
            "default".into(),
            Channel::Voice,
            Direction::Inbound,
            "+4930111",
            "100",
            at(0),
        );
        Self {
            call: Call::new(&interaction, leg("customer"), true),
            commands: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Drains the call; returns what it said since the last drain.
    fn drain(&mut self) -> (Vec<CallCommand>, Vec<EventKind>) {
        let commands: Vec<_> = std::iter::from_fn(|| self.call.poll_command()).collect();
        let events: Vec<_> = std::iter::from_fn(|| self.call.poll_event()).collect();
        self.commands.extend(commands.clone());
        self.events.extend(events.clone());
        (commands, events)
    }

    fn enqueue(&mut self, queue: &str, t: i64) {
        self.call
            .handle_enqueue(request(queue, t), StayOptions::default(), at(t));
        let (c, _) = self.drain();
        assert!(matches!(&c[..], [CallCommand::Enqueue(_)]), "{c:?}");
    }

    /// Enqueued and connected to `agent` on leg `agent_leg`.
    fn talking(agent: &str, agent_leg: &str) -> Self {
        let mut run = Self::new();
        run.enqueue("support", 0);
        run.call.handle_signal(queued(), at(0));
        run.call
            .handle_signal(connected(agent, Some(agent_leg)), at(5));
        let (c, e) = run.drain();
        assert!(
            matches!(&c[..], [CallCommand::Bridge { record: true, .. }]),
            "{c:?}"
        );
        assert!(matches!(&e[..], [EventKind::Connected { .. }]), "{e:?}");
        run.call.handle_released(at(5));
        run
    }
}

fn request(queue: &str, t: i64) -> RoutingRequest {
    RoutingRequest {
        interaction: "int-1".into(),
        tenant: "default".into(),
        channel: Channel::Voice,
        queue: queue.into(),
        priority: 0,
        customer: None,
        preferred_agent: None,
        attributes: std::collections::BTreeMap::new(),
        required_skills: Vec::new(),
        enqueued_at: at(t),
    }
}

fn queued() -> RouterSignal {
    RouterSignal::Queued {
        position: 1,
        estimated_wait_secs: None,
    }
}

fn connected(agent: &str, agent_leg: Option<&str>) -> RouterSignal {
    RouterSignal::Connected {
        agent: agent.into(),
        queue: "support".into(),
        leg: agent_leg.map(leg),
    }
}

fn names(events: &[EventKind]) -> Vec<&'static str> {
    events.iter().map(EventKind::name).collect()
}

#[test]
fn caller_hangs_up_while_the_agents_phone_rings() {
    let mut run = Run::new();
    run.enqueue("support", 0);
    run.call.handle_signal(queued(), at(0));
    // The router offered the call (the phone rings); the customer hangs up.
    run.call.handle_leg_ended(&leg("customer"), at(7));
    let (c, e) = run.drain();
    assert_eq!(c, vec![CallCommand::LeaveQueue]);
    assert!(e.is_empty(), "nothing is final before the router lets go");
    // The phone was answered in the same instant: that agent is let go.
    run.call
        .handle_signal(connected("alice", Some("alice-phone")), at(7));
    let (c, e) = run.drain();
    assert_eq!(
        c,
        vec![
            CallCommand::HangUp(leg("alice-phone")),
            CallCommand::ReleaseAgent("alice".into())
        ]
    );
    assert!(e.is_empty(), "{e:?}");
    run.call.handle_released(at(7));
    let (_, e) = run.drain();
    assert_eq!(names(&e), ["abandoned", "ended"]);
    assert!(matches!(
        &e[1],
        EventKind::Ended {
            reason: EndReason::Abandoned,
            ..
        }
    ));
    assert_eq!(
        run.call.take_outcome().unwrap().unwrap(),
        QueueOutcome::Abandoned
    );
    // A late remote end of the phone we hung up changes nothing.
    run.call.handle_leg_ended(&leg("alice-phone"), at(8));
    run.call.handle_flow_finished(EndReason::Abandoned, at(8));
    let (c, e) = run.drain();
    assert!(c.is_empty(), "the customer's leg ended already: {c:?}");
    assert_eq!(names(&e), ["usage"]);
}

#[test]
fn the_agent_who_does_not_answer_leaves_the_outbound_call_to_its_deadline() {
    let mut run = Run::new();
    run.call.handle_enqueue(
        request("support", 0),
        StayOptions {
            announce_position: false,
            give_up_at: Some(at(2)),
        },
        at(0),
    );
    run.drain();
    run.call.handle_signal(queued(), at(0));
    assert_eq!(run.call.poll_timeout(), Some(at(2)));
    run.call.handle_timeout(at(2));
    let (c, _) = run.drain();
    assert_eq!(c, vec![CallCommand::LeaveQueue]);
    assert_eq!(run.call.poll_timeout(), None);
    run.call.handle_released(at(2));
    let (_, e) = run.drain();
    assert!(
        matches!(&e[..], [EventKind::QueueExited { reason, .. }] if reason == "connect_timeout")
    );
    assert_eq!(
        run.call.take_outcome().unwrap().unwrap(),
        QueueOutcome::TimedOut
    );
    assert!(!run.call.ended(), "the customer is still there");
}

#[test]
fn an_agent_connected_as_the_deadline_passes_serves_the_customer() {
    let mut run = Run::new();
    run.call.handle_enqueue(
        request("support", 0),
        StayOptions {
            announce_position: false,
            give_up_at: Some(at(2)),
        },
        at(0),
    );
    run.call.handle_timeout(at(2));
    run.drain();
    run.call
        .handle_signal(connected("bob", Some("bob-phone")), at(2));
    let (c, e) = run.drain();
    assert!(matches!(&c[..], [CallCommand::Bridge { .. }]), "{c:?}");
    assert_eq!(names(&e), ["connected"]);
    run.call.handle_released(at(2));
    assert!(run.call.take_outcome().is_none(), "still talking");
}

#[test]
fn both_hang_up_at_once_in_either_order() {
    for customer_first in [true, false] {
        let mut run = Run::talking("alice", "alice-phone");
        let (first, second) = if customer_first {
            ("customer", "alice-phone")
        } else {
            ("alice-phone", "customer")
        };
        run.call.handle_leg_ended(&leg(first), at(30));
        run.call.handle_leg_ended(&leg(second), at(30));
        run.call.handle_flow_finished(EndReason::Completed, at(30));
        run.drain();
        let hangups = run
            .commands
            .iter()
            .filter(|c| matches!(c, CallCommand::HangUp(_)))
            .count();
        let releases = run
            .commands
            .iter()
            .filter(|c| matches!(c, CallCommand::ReleaseAgent(_)))
            .count();
        // Customer first: the call hangs the agent's phone up before its own
        // BYE is seen (ignored then); agent first: both ended by themselves.
        assert_eq!(hangups, usize::from(customer_first));
        assert_eq!(releases, 1);
        let ended: Vec<_> = run
            .events
            .iter()
            .filter_map(|e| match e {
                EventKind::Ended { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(ended, vec![EndReason::CustomerHangup]);
    }
}

#[test]
fn hang_up_during_hold_resumes_before_the_end() {
    let mut run = Run::talking("alice", "alice-phone");
    run.call
        .handle_leg_event(&leg("alice-phone"), LegInput::Held, at(10));
    run.call
        .handle_leg_event(&leg("alice-phone"), LegInput::Held, at(11));
    let (_, e) = run.drain();
    assert_eq!(names(&e), ["held"], "one hold, however many re-INVITEs");
    run.call.handle_leg_ended(&leg("customer"), at(20));
    let (c, e) = run.drain();
    assert_eq!(names(&e), ["resumed", "ended"]);
    assert_eq!(
        c,
        vec![
            CallCommand::HangUp(leg("alice-phone")),
            CallCommand::ReleaseAgent("alice".into())
        ]
    );
}

#[test]
fn hang_up_during_a_transfer_out_fails_it_and_drops_the_late_answer() {
    let mut run = Run::talking("alice", "alice-phone");
    run.call.handle_leg_event(
        &leg("alice-phone"),
        LegInput::TransferRequested(TransferTarget::Number("+4930999".into())),
        at(10),
    );
    let (c, _) = run.drain();
    assert_eq!(
        c,
        vec![
            CallCommand::ReportTransfer {
                leg: leg("alice-phone"),
                report: TransferReport::Accepted
            },
            CallCommand::Place {
                number: "+4930999".into()
            }
        ]
    );
    run.call.handle_leg_ended(&leg("customer"), at(12));
    let (c, e) = run.drain();
    assert_eq!(
        c,
        vec![
            CallCommand::ReportTransfer {
                leg: leg("alice-phone"),
                report: TransferReport::Failed(HangupCause::Remote)
            },
            CallCommand::HangUp(leg("alice-phone")),
            CallCommand::ReleaseAgent("alice".into())
        ]
    );
    assert_eq!(names(&e), ["ended"]);
    run.call.handle_placed(leg("outside"), at(14));
    let (c, e) = run.drain();
    assert_eq!(c, vec![CallCommand::HangUp(leg("outside"))]);
    assert!(e.is_empty());
}

#[test]
fn a_transfer_out_bridges_the_number_and_ends_with_it() {
    let mut run = Run::talking("alice", "alice-phone");
    run.call.handle_leg_event(
        &leg("alice-phone"),
        LegInput::TransferRequested(TransferTarget::Number("+4930999".into())),
        at(10),
    );
    run.drain();
    // The agent hangs up as soon as the REFER is accepted (as phones do).
    run.call.handle_leg_ended(&leg("alice-phone"), at(11));
    let (c, _) = run.drain();
    assert_eq!(c, vec![CallCommand::ReleaseAgent("alice".into())]);
    run.call.handle_placed(leg("outside"), at(15));
    let (c, e) = run.drain();
    assert_eq!(
        c,
        vec![CallCommand::Bridge {
            leg: leg("customer"),
            to: leg("outside"),
            record: true
        }]
    );
    assert_eq!(names(&e), ["transferred"]);
    run.call.handle_leg_ended(&leg("outside"), at(60));
    let (c, e) = run.drain();
    assert_eq!(c, vec![CallCommand::HangUp(leg("customer"))]);
    assert!(matches!(
        &e[..],
        [EventKind::Ended {
            reason: EndReason::Transferred,
            ..
        }]
    ));
    assert!(matches!(
        run.call.take_outcome(),
        Some(Ok(QueueOutcome::Transferred { .. }))
    ));
}

#[test]
fn a_transfer_to_a_queue_takes_the_customer_back_to_routing() {
    let mut run = Run::talking("alice", "alice-phone");
    run.call.handle_leg_event(
        &leg("alice-phone"),
        LegInput::TransferRequested(TransferTarget::Queue("billing".into())),
        at(10),
    );
    let (c, e) = run.drain();
    assert!(
        matches!(
            &c[..],
            [
                CallCommand::ReportTransfer {
                    report: TransferReport::Accepted,
                    ..
                },
                CallCommand::ReportTransfer {
                    report: TransferReport::Succeeded,
                    ..
                },
                CallCommand::HangUp(_),
                CallCommand::ReleaseAgent(_),
                CallCommand::Enqueue(r),
            ] if r.queue.as_str() == "billing" && r.enqueued_at == at(10)
        ),
        "{c:?}"
    );
    assert_eq!(names(&e), ["transferred"]);
    assert!(run.call.in_queue());
}

#[test]
fn transfer_requests_that_cannot_be_done_are_refused_with_a_reason() {
    let cases = [
        (
            "alice-phone",
            TransferTarget::Unknown,
            TransferRefusal::UnknownTarget,
        ),
        (
            "alice-phone",
            TransferTarget::Attended,
            TransferRefusal::NotSupported,
        ),
        (
            "customer",
            TransferTarget::Queue("billing".into()),
            TransferRefusal::Forbidden,
        ),
    ];
    for (from, target, refusal) in cases {
        let mut run = Run::talking("alice", "alice-phone");
        run.call
            .handle_leg_event(&leg(from), LegInput::TransferRequested(target), at(10));
        let (c, e) = run.drain();
        assert_eq!(
            c,
            vec![CallCommand::ReportTransfer {
                leg: leg(from),
                report: TransferReport::Refused(refusal)
            }]
        );
        assert!(e.is_empty());
    }
    // A second request while the first rings out is refused as pending.
    let mut run = Run::talking("alice", "alice-phone");
    let number = || LegInput::TransferRequested(TransferTarget::Number("+1555".into()));
    run.call
        .handle_leg_event(&leg("alice-phone"), number(), at(10));
    run.drain();
    run.call
        .handle_leg_event(&leg("alice-phone"), number(), at(11));
    let (c, _) = run.drain();
    assert_eq!(
        c,
        vec![CallCommand::ReportTransfer {
            leg: leg("alice-phone"),
            report: TransferReport::Refused(TransferRefusal::Pending)
        }]
    );
}

#[test]
fn recordings_disposition_transcript_and_usage_are_events_of_the_call() {
    let mut run = Run::new();
    run.call
        .handle_heard(Some("my card is blocked"), Duration::from_secs(3), at(4));
    run.enqueue("support", 5);
    run.call
        .handle_signal(connected("alice", Some("alice-phone")), at(9));
    let started = RecordingStarted::new("rec-1".into(), "int-1".into(), "/tmp/rec-1.wav".into(), 2);
    run.call.handle_bridged(Some(&started));
    run.call
        .handle_disposition(callcore::Disposition::Agent("solved".into()), None)
        .unwrap();
    run.call.handle_leg_ended(&leg("customer"), at(69));
    run.call.handle_flow_finished(EndReason::Completed, at(69));
    assert!(!run.call.is_finished(), "the recording is still open");
    run.call
        .handle_recording_stopped(&RecordingStopped::of(&started, 60_000));
    assert!(run.call.is_finished());
    run.drain();
    let e = run.events.clone();
    assert_eq!(
        names(&e),
        [
            "transcript_segment",
            "connected",
            "recording_started",
            "disposition_set",
            "ended",
            "usage",
            "usage",
            "recording_stopped"
        ]
    );
    assert!(matches!(
        &e[0],
        EventKind::TranscriptSegment {
            offset_ms: 1000,
            ..
        }
    ));
    assert!(matches!(&e[5], EventKind::Usage { meter, quantity, .. }
        if meter == "voice_minutes" && (*quantity - 69.0 / 60.0).abs() < 1e-9));
    assert!(matches!(&e[6], EventKind::Usage { meter, quantity, .. }
        if meter == "asr_seconds" && (*quantity - 3.0).abs() < 1e-9));
    // Without an agent there is nobody to set a disposition for.
    let mut alone = Run::new();
    assert!(
        alone
            .call
            .handle_disposition(callcore::Disposition::Agent("x".into()), None)
            .is_err()
    );
}

#[test]
fn the_callback_key_leaves_the_queue_keeping_the_place_unless_an_agent_got_there_first() {
    // Asked while waiting: the call leaves; once the router lets go the stay
    // ends with the time the caller entered the queue.
    let mut run = Run::new();
    run.enqueue("support", 0);
    run.call.handle_signal(queued(), at(0));
    assert!(run.call.waiting_for_agent());
    run.call.handle_callback_request(at(40));
    let (c, _) = run.drain();
    assert!(matches!(&c[..], [CallCommand::RequestCallback]), "{c:?}");
    assert!(!run.call.waiting_for_agent());
    // a second press changes nothing
    run.call.handle_callback_request(at(41));
    assert!(run.drain().0.is_empty());
    // the router keeps the place, then lets go of the call
    run.call.handle_callback_kept();
    run.call.handle_released(at(41));
    let (_, e) = run.drain();
    assert!(matches!(
        &e[..],
        [EventKind::QueueExited { reason, .. }] if reason == "callback"
    ));
    assert_eq!(
        run.call.take_outcome().map(Result::unwrap),
        Some(QueueOutcome::CallbackRequested {
            queue: "support".into(),
            waiting_since: at(0),
            kept_by_router: true,
        })
    );

    // An agent connected in the same instant serves the caller instead.
    let mut run = Run::new();
    run.enqueue("support", 0);
    run.call.handle_callback_request(at(10));
    run.drain();
    run.call
        .handle_signal(connected("alice", Some("leg-a")), at(10));
    let (c, e) = run.drain();
    assert!(matches!(&c[..], [CallCommand::Bridge { .. }]), "{c:?}");
    assert!(matches!(&e[..], [EventKind::Connected { .. }]), "{e:?}");
    run.call.handle_released(at(10));
    assert!(run.call.take_outcome().is_none(), "still talking to alice");
}

#[test]
fn a_refer_to_an_agent_rings_them_and_hands_them_the_call() {
    // an agent the runtime could not reserve: refused, the call stays
    let mut run = Run::talking("alice", "alice-phone");
    let to = |t| LegInput::TransferRequested(t);
    run.call.handle_leg_event(
        &leg("alice-phone"),
        to(TransferTarget::UnavailableAgent("bob".into())),
        at(10),
    );
    let (c, e) = run.drain();
    let refused = |r| CallCommand::ReportTransfer {
        leg: leg("alice-phone"),
        report: TransferReport::Refused(r),
    };
    assert_eq!(c, vec![refused(TransferRefusal::Unavailable)]);
    assert!(e.is_empty());
    // reserved, but asked from the customer's side: refused and freed
    run.call.handle_leg_event(
        &leg("customer"),
        to(TransferTarget::Agent("bob".into())),
        at(11),
    );
    let (c, _) = run.drain();
    assert_eq!(c[0], CallCommand::FreeAgent("bob".into()));
    // reserved: bob's phone is rung, alice stays until he answers
    run.call.handle_leg_event(
        &leg("alice-phone"),
        to(TransferTarget::Agent("bob".into())),
        at(12),
    );
    let (c, e) = run.drain();
    assert_eq!(
        c,
        vec![
            CallCommand::ReportTransfer {
                leg: leg("alice-phone"),
                report: TransferReport::Accepted
            },
            CallCommand::PlaceAgent {
                agent: "bob".into()
            }
        ]
    );
    assert!(e.is_empty());
    run.call.handle_placed(leg("bob-phone"), at(15));
    let (c, e) = run.drain();
    assert_eq!(
        c,
        vec![
            CallCommand::ReportTransfer {
                leg: leg("alice-phone"),
                report: TransferReport::Succeeded
            },
            CallCommand::HangUp(leg("alice-phone")),
            CallCommand::ReleaseAgent("alice".into()),
            CallCommand::Bridge {
                leg: leg("customer"),
                to: leg("bob-phone"),
                record: true
            }
        ]
    );
    assert_eq!(names(&e), ["transferred", "connected"]);
    // bob was taken directly: freed, no after-call work
    run.call.handle_leg_ended(&leg("customer"), at(60));
    let (c, _) = run.drain();
    assert!(c.contains(&CallCommand::FreeAgent("bob".into())), "{c:?}");
    assert!(
        !c.contains(&CallCommand::ReleaseAgent("bob".into())),
        "{c:?}"
    );
}
