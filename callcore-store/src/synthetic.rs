//! Synthetic but realistic event streams, for benches and load tests.

use callcore::{
    AgentState, Channel, Direction, EndReason, Event, EventKind, Interaction, TenantId, Timestamp,
};
use std::time::Duration;

/// The twelve events of one answered voice call with after-call work, as the
/// center emits them: created, queued, offered, four agent state changes,
/// accepted, connected, ended, wrap-up started and ended. `seq` numbers start
/// at `first_seq`; the call arrives at `at` and is `wait`, `talk` and
/// `wrap_up` long.
#[must_use]
#[allow(clippy::too_many_arguments)]
pub fn answered_call(
    tenant: &TenantId,
    first_seq: u64,
    call: &str,
    agent: &str,
    queue: &str,
    at: Timestamp,
    wait: Duration,
    talk: Duration,
    wrap_up: Duration,
) -> Vec<Event> {
    let interaction = Interaction::new(
        call.into(),
        tenant.clone(),
        Channel::Voice,
        Direction::Inbound,
        "+4930123456",
        "100",
        at,
    );
    let answered = at + wait;
    let ended = answered + talk;
    let done = ended + wrap_up;
    let reservation = format!("res-{call}");
    let state = |from, to| EventKind::AgentStateChanged {
        agent: agent.into(),
        from,
        to,
    };
    let timeline = vec![
        (
            at,
            EventKind::InteractionCreated {
                interaction: Box::new(interaction),
            },
        ),
        (
            at,
            EventKind::Queued {
                interaction: call.into(),
                queue: queue.into(),
                position: 1,
                estimated_wait_secs: Some(12),
            },
        ),
        (at, state(AgentState::Available, AgentState::Reserved)),
        (
            at,
            EventKind::Offered {
                interaction: call.into(),
                queue: queue.into(),
                agent: agent.into(),
                reservation: reservation.as_str().into(),
                expires_at: at + Duration::from_secs(20),
            },
        ),
        (answered, state(AgentState::Reserved, AgentState::Busy)),
        (
            answered,
            EventKind::OfferAccepted {
                interaction: call.into(),
                agent: agent.into(),
                reservation: reservation.as_str().into(),
            },
        ),
        (
            answered,
            EventKind::Connected {
                interaction: call.into(),
                agent: agent.into(),
                queue: queue.into(),
            },
        ),
        (
            ended,
            EventKind::Ended {
                interaction: call.into(),
                reason: EndReason::CustomerHangup,
            },
        ),
        (ended, state(AgentState::Busy, AgentState::WrapUp)),
        (
            ended,
            EventKind::WrapUpStarted {
                interaction: call.into(),
                agent: agent.into(),
                duration_secs: u32::try_from(wrap_up.as_secs()).unwrap_or(u32::MAX),
            },
        ),
        (
            done,
            EventKind::WrapUpEnded {
                interaction: call.into(),
                agent: agent.into(),
            },
        ),
        (done, state(AgentState::WrapUp, AgentState::Available)),
    ];
    timeline
        .into_iter()
        .zip(first_seq..)
        .map(|((at, kind), seq)| Event {
            seq,
            at,
            tenant: tenant.clone(),
            kind,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::InteractionRecord;

    #[test]
    fn a_synthetic_call_folds_into_the_record_it_describes() {
        let events = answered_call(
            &TenantId::default(),
            1,
            "c1",
            "alice",
            "support",
            Timestamp::from_secs(100),
            Duration::from_secs(7),
            Duration::from_secs(60),
            Duration::from_secs(10),
        );
        let EventKind::InteractionCreated { interaction } = &events[0].kind else {
            panic!("first event creates the interaction");
        };
        let mut record = InteractionRecord::new(interaction);
        record.apply_all(&events);
        assert_eq!(
            (record.wait_ms, record.talk_ms, record.wrap_up_ms),
            (7_000, 60_000, 10_000)
        );
        assert!(record.complete);
        assert_eq!(events.last().map(|e| e.seq), Some(12));
    }
}
