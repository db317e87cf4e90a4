//! A small, complete reference router: skills with minimum proficiency, priority
//! then age, longest-idle agent, offer timeouts, wrap-up, maximum wait and size.
//!
//! It scans agents linearly and keeps no indexes: good for tests, examples and
//! small centers. `callcore-acd` is the production engine (strategies,
//! escalation, EWT, indexes that keep decisions O(log n)).

use crate::ports::{QueueSnapshot, RouterSnapshot};
use crate::{
    AgentId, AgentProfile, AgentSnapshot, AgentState, CoreError, InteractionId, OfferEnd,
    QueueDefinition, QueueId, RejectReason, ReservationId, Router, RouterInput, RoutingDecision,
    RoutingRequest, Timestamp,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// Order of service: queue priority, interaction priority (both negated so
/// that higher comes first), enqueue time, arrival sequence.
type ServiceOrder = (i32, i32, Timestamp, u64);

/// Missed offers in a row after which an agent goes not-ready.
const MAX_MISSED_OFFERS: u32 = 3;

#[derive(Debug)]
struct AgentEntry {
    profile: AgentProfile,
    state: AgentState,
    since: Timestamp,
    /// When the agent last became free (for longest-idle).
    idle_since: Timestamp,
    missed: u32,
    /// The interaction in after-call work and when it ends.
    wrap_up: Option<(InteractionId, Timestamp)>,
    /// The phone (or desktop) can be reached; never offered anything otherwise.
    reachable: bool,
}

#[derive(Debug)]
struct Waiting {
    request: RoutingRequest,
    /// Arrival order, to break ties.
    seq: u64,
    /// A callback request: keeps its place, never times out for patience.
    callback: bool,
}

#[derive(Debug)]
struct QueueEntry {
    def: QueueDefinition,
    waiting: Vec<Waiting>,
}

#[derive(Debug)]
struct Reservation {
    waiting: Waiting,
    agent: AgentId,
    expires_at: Timestamp,
}

/// The reference router (see the module docs).
///
/// ```
/// use callcore::{AgentProfile, AgentState, BasicRouter, QueueDefinition, Router, RouterInput,
///     RoutingDecision, Timestamp};
/// let mut router = BasicRouter::new();
/// let now = Timestamp::from_secs(0);
/// router.handle(RouterInput::AddQueue(Box::new(QueueDefinition::new("support"))), now).unwrap();
/// router.handle(RouterInput::AddAgent(Box::new(AgentProfile::new("alice"))), now).unwrap();
/// router.handle(RouterInput::SetAgentState { agent: "alice".into(), state: AgentState::Available }, now).unwrap();
/// assert!(matches!(router.poll_decision(), Some(RoutingDecision::AgentStateChanged { .. })));
/// ```
#[derive(Debug, Default)]
pub struct BasicRouter {
    agents: BTreeMap<AgentId, AgentEntry>,
    queues: BTreeMap<QueueId, QueueEntry>,
    reservations: HashMap<ReservationId, Reservation>,
    /// Accepted interactions: who handles them and from which queue.
    assigned: HashMap<InteractionId, (AgentId, QueueId)>,
    decisions: VecDeque<RoutingDecision>,
    next_seq: u64,
}

impl BasicRouter {
    /// An empty router.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn set_state(&mut self, agent: &AgentId, to: AgentState, now: Timestamp) {
        let Some(entry) = self.agents.get_mut(agent) else {
            return;
        };
        if entry.state == to {
            return;
        }
        let from = std::mem::replace(&mut entry.state, to.clone());
        entry.since = now;
        if to == AgentState::Available {
            entry.idle_since = now;
        }
        self.decisions
            .push_back(RoutingDecision::AgentStateChanged {
                agent: agent.clone(),
                from,
                to,
            });
    }

    fn eligible(agent: &AgentEntry, queue: &QueueDefinition, request: &RoutingRequest) -> bool {
        agent.state == AgentState::Available
            && agent.reachable
            && agent.profile.capacity_for(request.channel) > 0
            && (agent.profile.queues.is_empty() || agent.profile.queues.contains(&queue.id))
            && agent.profile.meets(&queue.requirements)
            && agent.profile.meets(&request.required_skills)
    }

    fn any_logged_in(&self, queue: &QueueDefinition) -> bool {
        self.agents.values().any(|a| {
            a.state.is_logged_in()
                && (a.profile.queues.is_empty() || a.profile.queues.contains(&queue.id))
        })
    }

    /// Offers waiting interactions to free agents until no match is left.
    fn dispatch(&mut self, now: Timestamp) {
        loop {
            // The best (queue priority, interaction priority, age) waiting
            // interaction that has an eligible agent.
            let mut best: Option<(QueueId, usize, AgentId, ServiceOrder)> = None;
            for (qid, q) in &self.queues {
                for (idx, w) in q.waiting.iter().enumerate() {
                    let key = (
                        -q.def.priority,
                        -w.request.priority,
                        w.request.enqueued_at,
                        w.seq,
                    );
                    if best.as_ref().is_some_and(|b| b.3 <= key) {
                        continue;
                    }
                    let agent = self
                        .agents
                        .values()
                        .filter(|a| Self::eligible(a, &q.def, &w.request))
                        .min_by_key(|a| (a.idle_since, a.profile.id.clone()));
                    if let Some(agent) = agent {
                        best = Some((qid.clone(), idx, agent.profile.id.clone(), key));
                    }
                }
            }
            let Some((qid, idx, agent, _)) = best else {
                return;
            };
            let Some(queue) = self.queues.get_mut(&qid) else {
                return;
            };
            let waiting = queue.waiting.remove(idx);
            let expires_at = now + Duration::from_secs(u64::from(queue.def.offer_timeout_secs));
            self.next_seq += 1;
            let reservation = ReservationId::new(format!("res-{}", self.next_seq));
            self.set_state(&agent, AgentState::Reserved, now);
            self.decisions.push_back(RoutingDecision::Offer {
                reservation: reservation.clone(),
                interaction: waiting.request.interaction.clone(),
                queue: qid,
                agent: agent.clone(),
                expires_at,
            });
            self.reservations.insert(
                reservation,
                Reservation {
                    waiting,
                    agent,
                    expires_at,
                },
            );
        }
    }

    /// Puts a failed offer's interaction back at its place and frees the agent.
    fn end_offer(&mut self, reservation: &ReservationId, outcome: OfferEnd, now: Timestamp) {
        let Some(res) = self.reservations.remove(reservation) else {
            return;
        };
        self.decisions.push_back(RoutingDecision::OfferEnded {
            reservation: reservation.clone(),
            interaction: res.waiting.request.interaction.clone(),
            agent: res.agent.clone(),
            outcome,
        });
        let missed = self.agents.get_mut(&res.agent).map_or(0, |a| {
            if matches!(outcome, OfferEnd::TimedOut | OfferEnd::Failed) {
                a.missed += 1;
            }
            a.missed
        });
        if missed >= MAX_MISSED_OFFERS {
            self.set_state(
                &res.agent,
                AgentState::NotReady("missed_offers".to_owned()),
                now,
            );
        } else if self
            .agents
            .get(&res.agent)
            .is_some_and(|a| a.state == AgentState::Reserved)
        {
            self.set_state(&res.agent, AgentState::Available, now);
        }
        if outcome != OfferEnd::Canceled {
            // Back in the queue at its original place.
            if let Some(q) = self.queues.get_mut(&res.waiting.request.queue) {
                q.waiting.push(res.waiting);
                q.waiting
                    .sort_by_key(|w| (-w.request.priority, w.request.enqueued_at, w.seq));
            }
        }
    }

    fn enqueue(&mut self, request: RoutingRequest, now: Timestamp) {
        let Some(queue) = self.queues.get(&request.queue) else {
            self.decisions.push_back(RoutingDecision::Rejected {
                interaction: request.interaction,
                queue: request.queue,
                reason: RejectReason::UnknownQueue,
            });
            return;
        };
        let reject =
            if queue.def.max_size.is_some_and(|max| {
                queue.waiting.len() >= usize::try_from(max).unwrap_or(usize::MAX)
            }) {
                Some(RejectReason::Full)
            } else if !queue.def.join_when_empty && !self.any_logged_in(&queue.def) {
                Some(RejectReason::NoAgents)
            } else {
                None
            };
        if let Some(reason) = reject {
            self.decisions.push_back(RoutingDecision::Rejected {
                interaction: request.interaction,
                queue: request.queue,
                reason,
            });
            return;
        }
        self.next_seq += 1;
        let waiting = Waiting {
            request,
            seq: self.next_seq,
            callback: false,
        };
        let Some(queue) = self.queues.get_mut(&waiting.request.queue) else {
            return;
        };
        let pos = queue
            .waiting
            .iter()
            .take_while(|w| {
                (-w.request.priority, w.request.enqueued_at, w.seq)
                    <= (
                        -waiting.request.priority,
                        waiting.request.enqueued_at,
                        waiting.seq,
                    )
            })
            .count();
        self.decisions.push_back(RoutingDecision::Queued {
            interaction: waiting.request.interaction.clone(),
            queue: waiting.request.queue.clone(),
            position: u32::try_from(pos + 1).unwrap_or(u32::MAX),
            estimated_wait_secs: None,
        });
        queue.waiting.insert(pos, waiting);
        self.dispatch(now);
    }

    fn set_agent_state(
        &mut self,
        agent: &AgentId,
        state: AgentState,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let entry = self.agents.get(agent).ok_or_else(|| CoreError::NotFound {
            what: "agent",
            id: agent.to_string(),
        })?;
        if !matches!(
            state,
            AgentState::Available | AgentState::NotReady(_) | AgentState::Offline
        ) {
            return Err(CoreError::AgentState(crate::AgentStateError {
                from: entry.state.clone(),
                to: state,
            }));
        }
        if entry.state == state {
            return Ok(());
        }
        // A request cannot end a call or re-offer a ringing one: while Busy the
        // agent's state changes only when the interaction ends.
        if entry.state == AgentState::Busy
            || (entry.state == AgentState::Reserved && state == AgentState::Available)
        {
            return Err(CoreError::AgentState(crate::AgentStateError {
                from: entry.state.clone(),
                to: state,
            }));
        }
        entry.state.transition(state.clone())?;
        if entry.state == AgentState::Reserved {
            // Leaving during an offer rescinds it.
            let res = self
                .reservations
                .iter()
                .find(|(_, r)| &r.agent == agent)
                .map(|(id, _)| id.clone());
            if let Some(res) = res {
                self.end_offer(&res, OfferEnd::Rescinded, now);
            }
        }
        if let Some((interaction, _)) = self.agents.get_mut(agent).and_then(|a| a.wrap_up.take()) {
            self.decisions.push_back(RoutingDecision::WrapUpEnded {
                interaction,
                agent: agent.clone(),
            });
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.missed = 0;
        }
        self.set_state(agent, state, now);
        self.dispatch(now);
        Ok(())
    }
}

impl Router for BasicRouter {
    fn handle(&mut self, input: RouterInput, now: Timestamp) -> Result<(), CoreError> {
        match input {
            RouterInput::AddAgent(profile) => {
                let id = profile.id.clone();
                let entry = AgentEntry {
                    profile: *profile,
                    state: AgentState::Offline,
                    since: now,
                    idle_since: now,
                    missed: 0,
                    wrap_up: None,
                    reachable: true,
                };
                match self.agents.get_mut(&id) {
                    // Re-adding updates the profile and keeps the state.
                    Some(existing) => existing.profile = entry.profile,
                    None => {
                        self.agents.insert(id, entry);
                    }
                }
                self.dispatch(now);
            }
            RouterInput::RemoveAgent(agent) => {
                if self.agents.contains_key(&agent) {
                    let current = self.agents.get(&agent).map(|a| a.state.clone());
                    if current == Some(AgentState::Busy) {
                        return Err(CoreError::AgentState(crate::AgentStateError {
                            from: AgentState::Busy,
                            to: AgentState::Offline,
                        }));
                    }
                    if current != Some(AgentState::Offline) {
                        self.set_agent_state(&agent, AgentState::Offline, now)?;
                    }
                    self.agents.remove(&agent);
                }
            }
            RouterInput::SetAgentState { agent, state } => {
                self.set_agent_state(&agent, state, now)?;
            }
            RouterInput::SetAgentReachable { agent, reachable } => {
                self.set_reachable(&agent, reachable, now)?;
            }
            RouterInput::EndWrapUp { agent } => {
                self.wrap_up_of(&agent)?;
                self.end_wrap_up(&agent, now);
                self.dispatch(now);
            }
            RouterInput::ExtendWrapUp { agent, secs } => {
                self.wrap_up_of(&agent)?;
                if let Some((_, until)) =
                    self.agents.get_mut(&agent).and_then(|a| a.wrap_up.as_mut())
                {
                    *until = now + Duration::from_secs(u64::from(secs));
                }
            }
            RouterInput::AddQueue(def) => {
                let id = def.id.clone();
                let waiting = self
                    .queues
                    .remove(&id)
                    .map(|q| q.waiting)
                    .unwrap_or_default();
                self.queues.insert(id, QueueEntry { def: *def, waiting });
                self.dispatch(now);
            }
            RouterInput::RemoveQueue(queue) => {
                if let Some(q) = self.queues.remove(&queue) {
                    for w in q.waiting {
                        self.decisions.push_back(RoutingDecision::TimedOut {
                            interaction: w.request.interaction,
                            queue: queue.clone(),
                        });
                    }
                }
            }
            RouterInput::Enqueue(request) => self.enqueue(*request, now),
            RouterInput::Abandon { interaction } => {
                for q in self.queues.values_mut() {
                    q.waiting.retain(|w| w.request.interaction != interaction);
                }
                let res = self
                    .reservations
                    .iter()
                    .find(|(_, r)| r.waiting.request.interaction == interaction)
                    .map(|(id, _)| id.clone());
                if let Some(res) = res {
                    self.end_offer(&res, OfferEnd::Canceled, now);
                    self.dispatch(now);
                }
            }
            RouterInput::OfferAccepted { reservation } => {
                let res =
                    self.reservations
                        .remove(&reservation)
                        .ok_or_else(|| CoreError::NotFound {
                            what: "reservation",
                            id: reservation.to_string(),
                        })?;
                if let Some(a) = self.agents.get_mut(&res.agent) {
                    a.missed = 0;
                }
                self.set_state(&res.agent, AgentState::Busy, now);
                let request = res.waiting.request;
                self.assigned.insert(
                    request.interaction.clone(),
                    (res.agent.clone(), request.queue.clone()),
                );
                self.decisions.push_back(RoutingDecision::Assigned {
                    reservation,
                    interaction: request.interaction,
                    queue: request.queue,
                    agent: res.agent,
                });
            }
            RouterInput::OfferFailed {
                reservation,
                outcome,
            } => {
                if !self.reservations.contains_key(&reservation) {
                    return Err(CoreError::NotFound {
                        what: "reservation",
                        id: reservation.to_string(),
                    });
                }
                // The agent, available again, goes to the back of the idle line.
                self.end_offer(&reservation, outcome, now);
                self.dispatch(now);
            }
            RouterInput::RequestCallback { interaction } => {
                let found = self
                    .queues
                    .values_mut()
                    .flat_map(|q| q.waiting.iter_mut())
                    .find(|w| w.request.interaction == interaction);
                match found {
                    Some(w) => w.callback = true,
                    None => {
                        return Err(CoreError::NotFound {
                            what: "interaction",
                            id: interaction.to_string(),
                        });
                    }
                }
            }
            RouterInput::InteractionEnded { interaction, agent } => {
                let queue = self.assigned.remove(&interaction).map(|(_, q)| q);
                let wrap = queue
                    .and_then(|q| self.queues.get(&q))
                    .map_or(0, |q| q.def.wrap_up_secs);
                if self
                    .agents
                    .get(&agent)
                    .is_some_and(|a| a.state == AgentState::Busy)
                {
                    if wrap > 0 {
                        if let Some(a) = self.agents.get_mut(&agent) {
                            a.wrap_up = Some((
                                interaction.clone(),
                                now + Duration::from_secs(u64::from(wrap)),
                            ));
                        }
                        self.set_state(&agent, AgentState::WrapUp, now);
                        self.decisions.push_back(RoutingDecision::WrapUpStarted {
                            interaction,
                            agent,
                            duration_secs: wrap,
                        });
                    } else {
                        self.set_state(&agent, AgentState::Available, now);
                        self.dispatch(now);
                    }
                }
            }
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        let expired: Vec<ReservationId> = self
            .reservations
            .iter()
            .filter(|(_, r)| r.expires_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for res in expired {
            self.end_offer(&res, OfferEnd::TimedOut, now);
        }
        let wrapped: Vec<(AgentId, InteractionId)> = self
            .agents
            .values()
            .filter_map(|a| match &a.wrap_up {
                Some((i, until)) if *until <= now => Some((a.profile.id.clone(), i.clone())),
                _ => None,
            })
            .collect();
        for (agent, _) in wrapped {
            self.end_wrap_up(&agent, now);
        }
        for (qid, q) in &mut self.queues {
            let Some(max) = q.def.max_wait_secs else {
                continue;
            };
            let limit = Duration::from_secs(u64::from(max));
            let (late, keep): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut q.waiting)
                .into_iter()
                .partition(|w| !w.callback && now.duration_since(w.request.enqueued_at) >= limit);
            q.waiting = keep;
            for w in late {
                self.decisions.push_back(RoutingDecision::TimedOut {
                    interaction: w.request.interaction,
                    queue: qid.clone(),
                });
            }
        }
        self.dispatch(now);
    }

    fn poll_decision(&mut self) -> Option<RoutingDecision> {
        self.decisions.pop_front()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let offers = self.reservations.values().map(|r| r.expires_at);
        let wraps = self
            .agents
            .values()
            .filter_map(|a| a.wrap_up.as_ref().map(|(_, t)| *t));
        let waits = self.queues.values().filter_map(|q| {
            let max = q.def.max_wait_secs?;
            q.waiting
                .iter()
                .filter(|w| !w.callback)
                .map(|w| w.request.enqueued_at + Duration::from_secs(u64::from(max)))
                .min()
        });
        offers.chain(wraps).chain(waits).min()
    }

    fn snapshot(&self, now: Timestamp) -> RouterSnapshot {
        let queues = self
            .queues
            .values()
            .map(|q| {
                let mut agents_by_state = BTreeMap::new();
                for a in self
                    .agents
                    .values()
                    .filter(|a| a.profile.queues.is_empty() || a.profile.queues.contains(&q.def.id))
                {
                    *agents_by_state
                        .entry(a.state.name().to_owned())
                        .or_insert(0u32) += 1;
                }
                QueueSnapshot {
                    queue: q.def.id.clone(),
                    waiting: q
                        .waiting
                        .iter()
                        .map(|w| w.request.interaction.clone())
                        .collect(),
                    longest_wait_secs: q
                        .waiting
                        .iter()
                        .map(|w| crate::event::secs_u32(now.duration_since(w.request.enqueued_at)))
                        .max()
                        .unwrap_or(0),
                    agents_by_state,
                }
            })
            .collect();
        let agents = self
            .agents
            .values()
            .map(|a| AgentSnapshot {
                agent: a.profile.id.clone(),
                state: a.state.clone(),
                since: a.since,
                reachable: a.reachable,
            })
            .collect();
        RouterSnapshot { queues, agents }
    }
}

#[path = "basic_agents.rs"]
mod agents;
#[cfg(test)]
#[path = "basic_tests.rs"]
mod tests;
