//! Every decision as a callcore [`EventKind`], for users that drive the engine
//! without the `Center` runtime (simulators, custom glue): the runtime maps
//! decisions the same way.

use callcore::{EventKind, RoutingDecision};

/// The event a decision stands for. `Assigned` maps to `OfferAccepted` (the
/// runtime emits `Connected` once media is bridged); `Rejected` and
/// `TimedOut` map to `QueueExited` with the reason.
#[must_use]
pub fn decision_event(decision: &RoutingDecision) -> Option<EventKind> {
    use RoutingDecision as D;
    Some(match decision.clone() {
        D::Queued {
            interaction,
            queue,
            position,
            estimated_wait_secs,
        } => EventKind::Queued {
            interaction,
            queue,
            position,
            estimated_wait_secs,
        },
        D::Rejected {
            interaction,
            queue,
            reason,
        } => EventKind::QueueExited {
            interaction,
            queue,
            reason: reason.as_str().to_owned(),
        },
        D::Offer {
            reservation,
            interaction,
            queue,
            agent,
            expires_at,
        } => EventKind::Offered {
            interaction,
            queue,
            agent,
            reservation,
            expires_at,
        },
        D::OfferEnded {
            reservation,
            interaction,
            agent,
            outcome,
        } => EventKind::OfferEnded {
            interaction,
            agent,
            reservation,
            outcome,
        },
        D::Assigned {
            reservation,
            interaction,
            agent,
            ..
        } => EventKind::OfferAccepted {
            interaction,
            agent,
            reservation,
        },
        D::Overflow {
            interaction,
            queue,
            destination,
        } => EventKind::Overflowed {
            interaction,
            queue,
            destination,
        },
        D::TimedOut { interaction, queue } => EventKind::QueueExited {
            interaction,
            queue,
            reason: "timeout".to_owned(),
        },
        D::AgentStateChanged { agent, from, to } => {
            EventKind::AgentStateChanged { agent, from, to }
        }
        D::AgentReachabilityChanged { agent, reachable } => {
            EventKind::AgentReachabilityChanged { agent, reachable }
        }
        D::WrapUpStarted {
            interaction,
            agent,
            duration_secs,
        } => EventKind::WrapUpStarted {
            interaction,
            agent,
            duration_secs,
        },
        D::WrapUpEnded { interaction, agent } => EventKind::WrapUpEnded { interaction, agent },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{Timestamp, event::OfferEnd};

    #[test]
    fn decisions_map_to_the_events_the_runtime_emits() {
        let offer = RoutingDecision::Offer {
            reservation: "r1".into(),
            interaction: "c1".into(),
            queue: "q".into(),
            agent: "a".into(),
            expires_at: Timestamp::from_secs(20),
        };
        let e = decision_event(&offer).unwrap();
        assert_eq!(e.name(), "offered");
        assert_eq!(e.agent().unwrap().as_str(), "a");
        let timed_out = RoutingDecision::TimedOut {
            interaction: "c1".into(),
            queue: "q".into(),
        };
        assert!(matches!(
            decision_event(&timed_out),
            Some(EventKind::QueueExited { reason, .. }) if reason == "timeout"
        ));
        let ended = RoutingDecision::OfferEnded {
            reservation: "r1".into(),
            interaction: "c1".into(),
            agent: "a".into(),
            outcome: OfferEnd::Canceled,
        };
        assert_eq!(decision_event(&ended).unwrap().name(), "offer_ended");
    }
}
