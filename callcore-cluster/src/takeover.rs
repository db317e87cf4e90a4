//! Takeover: a new shard owner rebuilds the shard's ACD engine from the
//! waiting rows and the agents' states, and runs it at its lease epoch.
//!
//! Sans-IO: the caller loads the rows ([`crate::ClusterDb::load_waiting`])
//! and the agents' presence ([`crate::Presence`]), this module builds the
//! engine. It goes through [`AcdEngine::restore`], so the engine runs at the
//! lease's epoch: its reservation ids carry it (`res-e<epoch>-…`) and never
//! collide with ids a stale owner minted.
//!
//! How: a scratch engine gets the queues, the agents (unreachable, so nothing
//! is offered yet) with their states, and the waiting interactions in their
//! stored order (priority, enqueue time, sequence) with their original
//! enqueue times; its state is exported, stamped with the epoch before the
//! lease's, and restored. Then the agents that are reachable are made so, and
//! the restored engine's first decisions are the offers of the new epoch.
//!
//! An agent who was reserved comes back available: the offers of earlier
//! epochs are void. Interactions an agent was already handling are not
//! rows: an agent who is busy or in wrap-up comes back not ready with the reason
//! [`RESTORING_REASON`] until the node that holds their phone reports their
//! next state.

use crate::{AgentPresence, ClusterError, NodeHeartbeat, WaitingRow};
use callcore::{
    AgentProfile, AgentState, InteractionId, QueueDefinition, RejectReason, RoutingDecision,
    Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine, EngineState, StrategyRegistry};

/// The not-ready reason of agents who were busy when the shard changed
/// owner, until their node reports them again.
pub const RESTORING_REASON: &str = "restoring";

/// An agent as the new owner learns it: profile, state, and whether their
/// phone or browser is reachable (registered on some node).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSeat {
    /// Skills, capacity, queues.
    pub profile: AgentProfile,
    /// The state last reported.
    pub state: AgentState,
    /// Whether their phone or browser is registered on a live node.
    pub reachable: bool,
}

/// The seats of the configured agents as the cluster's presence tells them:
/// an agent with a presence record is in its reported state, and reachable
/// when the node holding their phone or browser is alive; an agent without
/// one is offline.
#[must_use]
pub fn seats_from_presence(
    profiles: &[AgentProfile],
    presence: &[AgentPresence],
    live_nodes: &[NodeHeartbeat],
) -> Vec<AgentSeat> {
    profiles
        .iter()
        .map(|profile| {
            let found = presence.iter().find(|p| p.agent == profile.id);
            AgentSeat {
                profile: profile.clone(),
                state: found.map_or(AgentState::Offline, |p| p.state.clone()),
                reachable: found.is_some_and(|p| live_nodes.iter().any(|n| n.node == p.node)),
            }
        })
        .collect()
}

/// A restored engine and what it refused while being rebuilt.
#[derive(Debug)]
pub struct Restored {
    /// The engine, at the lease's epoch, with the offers of the reachable
    /// agents pending (drain [`AcdEngine::poll_decision`]).
    pub engine: AcdEngine,
    /// Waiting interactions the engine refused (queue removed, full); the
    /// caller removes their rows and tells their callers.
    pub rejected: Vec<(InteractionId, RejectReason)>,
}

/// Rebuilds a shard's engine at `epoch` (the lease's, at least 1) from its
/// queues, agents and waiting rows (see the module docs).
///
/// # Errors
/// [`ClusterError::Invalid`] for epoch 0; [`ClusterError::Acd`] when a
/// queue or agent is refused (unknown strategy), or the restore fails.
pub fn restore_engine(
    config: &AcdConfig,
    registry: &StrategyRegistry,
    queues: &[QueueDefinition],
    agents: &[AgentSeat],
    waiting: &[WaitingRow],
    epoch: u64,
    now: Timestamp,
) -> Result<Restored, ClusterError> {
    let Some(before) = epoch.checked_sub(1) else {
        return Err(ClusterError::Invalid {
            field: "epoch",
            reason: "a lease epoch starts at 1".to_owned(),
        });
    };
    let mut scratch = AcdEngine::with_strategies(config.clone(), registry.clone());
    for q in queues {
        scratch.add_queue(q.clone(), now)?;
    }
    for seat in agents {
        scratch.add_agent(seat.profile.clone(), now)?;
        scratch.set_agent_reachable(&seat.profile.id, false, now)?;
        let state = match &seat.state {
            AgentState::Available => AgentState::Available,
            AgentState::Offline => AgentState::Offline,
            AgentState::NotReady(r) => AgentState::NotReady(r.clone()),
            // an offer of an earlier epoch is void once the epoch changed:
            // the nodes stop ringing it (`Mail::EpochChanged`)
            AgentState::Reserved => AgentState::Available,
            _ => AgentState::NotReady(RESTORING_REASON.to_owned()),
        };
        if state != AgentState::Offline {
            scratch.set_agent_state(&seat.profile.id, state, now)?;
        }
    }
    let mut ordered: Vec<&WaitingRow> = waiting.iter().collect();
    ordered.sort_by(|a, b| {
        b.request
            .priority
            .cmp(&a.request.priority)
            .then(a.request.enqueued_at.cmp(&b.request.enqueued_at))
            .then(a.seq.cmp(&b.seq))
    });
    for row in ordered {
        scratch.enqueue(row.request.clone(), now)?;
    }
    let mut rejected = Vec::new();
    while let Some(d) = scratch.poll_decision() {
        if let RoutingDecision::Rejected {
            interaction,
            reason,
            ..
        } = d
        {
            rejected.push((interaction, reason));
        }
    }
    let state = at_epoch(scratch.export_state(now)?, before)?;
    let mut engine = AcdEngine::restore(config.clone(), registry.clone(), state)?;
    for seat in agents.iter().filter(|s| s.reachable) {
        engine.set_agent_reachable(&seat.profile.id, true, now)?;
    }
    Ok(Restored { engine, rejected })
}

/// The same state, stamped as taken at `epoch` (so that it restores at
/// `epoch + 1`).
fn at_epoch(state: EngineState, epoch: u64) -> Result<EngineState, ClusterError> {
    let decode = |source| ClusterError::Decode {
        what: "engine state",
        source,
    };
    let mut value = serde_json::to_value(state).map_err(decode)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("epoch".to_owned(), serde_json::Value::from(epoch));
    }
    serde_json::from_value(value).map_err(decode)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use callcore::{Channel, RoutingRequest};

    fn row(id: &str, priority: i32, at: i64, seq: i64) -> WaitingRow {
        WaitingRow {
            request: RoutingRequest {
                interaction: id.into(),
                tenant: Default::default(),
                channel: Channel::Voice,
                queue: "billing".into(),
                priority,
                customer: None,
                preferred_agent: None,
                attributes: Default::default(),
                required_skills: Vec::new(),
                enqueued_at: Timestamp::from_secs(at),
            },
            seq,
            enqueued_epoch: 1,
        }
    }

    #[test]
    fn restores_at_the_lease_epoch_and_offers_in_stored_order() {
        let now = Timestamp::from_secs(100);
        let queues = [QueueDefinition::new("billing").requiring("billing", 1)];
        let seats = [
            AgentSeat {
                profile: AgentProfile::new("alice").with_skill("billing", 5),
                state: AgentState::Available,
                reachable: true,
            },
            AgentSeat {
                profile: AgentProfile::new("bob").with_skill("billing", 5),
                state: AgentState::Busy,
                reachable: true,
            },
        ];
        // Stored out of order: the vip (priority 5) first, then oldest, then seq.
        let rows = [
            row("late", 0, 50, 1),
            row("early-2", 0, 10, 3),
            row("early-1", 0, 10, 2),
            row("vip", 5, 60, 4),
        ];
        let cfg = AcdConfig::default();
        let reg = StrategyRegistry::builtin();
        let mut r = restore_engine(&cfg, &reg, &queues, &seats, &rows, 4, now).unwrap();
        assert!(r.rejected.is_empty());
        assert_eq!(r.engine.epoch(), 4);
        let offers: Vec<_> = std::iter::from_fn(|| r.engine.poll_decision())
            .filter_map(|d| match d {
                RoutingDecision::Offer {
                    interaction,
                    agent,
                    reservation,
                    ..
                } => Some((interaction, agent, reservation)),
                _ => None,
            })
            .collect();
        assert_eq!(offers.len(), 1, "only alice is available: {offers:?}");
        assert_eq!(offers[0].0.as_str(), "vip");
        assert_eq!(offers[0].1.as_str(), "alice");
        assert_eq!(r.engine.reservation_epoch(&offers[0].2), Some(4));
        let order: Vec<String> = ["early-1", "early-2", "late"]
            .iter()
            .map(|i| {
                let p = r.engine.position(&(*i).into()).unwrap();
                format!("{i}@{}", p.position)
            })
            .collect();
        assert_eq!(order, ["early-1@1", "early-2@2", "late@3"]);
        assert!(restore_engine(&cfg, &reg, &queues, &seats, &rows, 0, now).is_err());
    }
}
