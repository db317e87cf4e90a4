//! Read-side views: the port's [`RouterSnapshot`] and richer per-queue and
//! per-agent status (positions, EWT, counters) for wallboards and APIs.

use super::AcdEngine;
use super::state::{WaitStatus, ch_index};
use callcore::event::secs_u32;
use callcore::{
    AgentId, AgentSnapshot, AgentState, Channel, InteractionId, QueueId, QueueSnapshot,
    RouterSnapshot, Timestamp,
};
use std::collections::BTreeMap;

/// One waiting interaction as a wallboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingStatus {
    /// The interaction.
    pub interaction: InteractionId,
    /// 1-based position in service order.
    pub position: u32,
    /// Seconds waited so far (from the original enqueue time).
    pub waited_secs: u32,
    /// Estimated seconds still to wait, when known.
    pub estimated_wait_secs: Option<u32>,
    /// Effective priority (VIP boost included).
    pub priority: i32,
    /// A callback request holding the caller's place.
    pub callback: bool,
    /// Waiting for a particular agent (sticky routing).
    pub sticky_agent: Option<AgentId>,
    /// Being offered right now.
    pub offering: bool,
}

/// A queue's live figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStatus {
    /// The queue.
    pub queue: QueueId,
    /// Interactions not yet answered, in service order.
    pub waiting: Vec<WaitingStatus>,
    /// Age of the oldest of them, seconds.
    pub longest_wait_secs: u32,
    /// Agents serving the queue, by state name.
    pub agents_by_state: BTreeMap<String, u32>,
    /// Interactions that entered the queue.
    pub offered: u64,
    /// Answered.
    pub answered: u64,
    /// Answered within the service-level threshold.
    pub answered_within_service_level: u64,
    /// Abandoned while waiting or ringing.
    pub abandoned: u64,
    /// Left for another destination.
    pub overflowed: u64,
    /// Timed out (maximum wait, queue removed, left when empty).
    pub timed_out: u64,
    /// Average speed of answer, seconds.
    pub average_speed_of_answer_secs: f64,
    /// Average handle time (talk + wrap-up) as the engine estimates it, seconds.
    pub average_handle_secs: Option<f64>,
}

/// An agent's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    /// The agent.
    pub agent: AgentId,
    /// The state the world sees (reason code included).
    pub state: AgentState,
    /// Since when.
    pub since: Timestamp,
    /// Interactions in progress.
    pub active: u32,
    /// Offers ringing.
    pub offers: u32,
    /// Interactions accepted so far.
    pub handled: u64,
    /// Talk time so far, ms.
    pub talk_ms: u64,
    /// Whether the agent can be reached (see [`AcdEngine::set_agent_reachable`]).
    pub reachable: bool,
    /// Interactions in progress per channel, for every channel the agent
    /// takes (zero included).
    pub load: BTreeMap<Channel, u32>,
    /// Offers ringing per channel (channels with none left out).
    pub offered: BTreeMap<Channel, u32>,
    /// How many interactions of each channel the agent takes at once.
    pub capacity: BTreeMap<Channel, u32>,
}

impl AcdEngine {
    /// Live status of one queue.
    #[must_use]
    pub fn queue_status(&self, queue: &QueueId, now: Timestamp) -> Option<QueueStatus> {
        let q = *self.queue_ids.get(queue)?;
        let slot = self.queues.get(q as usize)?.as_ref()?;
        let mut members: Vec<(_, u32)> = self
            .waits
            .iter()
            .filter(|(_, w)| w.queue == q)
            .map(|(i, w)| (w.key, i))
            .collect();
        members.sort_unstable();
        let waiting: Vec<WaitingStatus> = members
            .iter()
            .enumerate()
            .filter_map(|(i, (_, w))| {
                let s = self.waits.get(*w)?;
                let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
                Some(WaitingStatus {
                    interaction: s.request.interaction.clone(),
                    position,
                    waited_secs: secs_u32(now.duration_since(s.request.enqueued_at)),
                    estimated_wait_secs: self.estimated_wait_secs(q, position),
                    priority: s.key.0.saturating_neg(),
                    callback: s.callback,
                    sticky_agent: match s.status {
                        WaitStatus::Sticky(a) => self.agents.get(a).map(|x| x.id().clone()),
                        _ => None,
                    },
                    offering: matches!(s.status, WaitStatus::Offering(_)),
                })
            })
            .collect();
        let c = &slot.counters;
        #[allow(clippy::cast_precision_loss)]
        let asa = if c.answered == 0 {
            0.0
        } else {
            c.wait_ms_answered as f64 / c.answered as f64 / 1000.0
        };
        Some(QueueStatus {
            queue: queue.clone(),
            longest_wait_secs: waiting.iter().map(|w| w.waited_secs).max().unwrap_or(0),
            waiting,
            agents_by_state: self.agents_by_state().remove(&q).unwrap_or_default(),
            offered: c.offered,
            answered: c.answered,
            answered_within_service_level: c.answered_in_sl,
            abandoned: c.abandoned,
            overflowed: c.overflowed,
            timed_out: c.timed_out,
            average_speed_of_answer_secs: asa,
            average_handle_secs: slot.aht_ms.map(|m| m / 1000.0),
        })
    }

    /// Live status of one agent.
    #[must_use]
    pub fn agent_status(&self, agent: &AgentId) -> Option<AgentStatus> {
        let s = self.agents.get(*self.agent_ids.get(agent)?)?;
        let load = s
            .profile
            .capacity
            .keys()
            .map(|c| (*c, s.load[ch_index(*c)]))
            .collect();
        let offered = s
            .profile
            .capacity
            .keys()
            .map(|c| (*c, s.offered[ch_index(*c)]))
            .filter(|(_, n)| *n > 0)
            .collect();
        Some(AgentStatus {
            load,
            offered,
            capacity: s.profile.capacity.clone(),
            agent: agent.clone(),
            state: s.reported.clone(),
            since: s.reported_since,
            active: s.active(),
            offers: u32::try_from(s.reservations.len()).unwrap_or(u32::MAX),
            handled: s.handled,
            talk_ms: s.talk_ms,
            reachable: s.reachable,
        })
    }

    /// Live status of every agent, by id.
    #[must_use]
    pub fn agent_statuses(&self) -> Vec<AgentStatus> {
        let mut out: Vec<AgentStatus> = self
            .agents
            .iter()
            .filter_map(|(_, a)| self.agent_status(&a.id))
            .collect();
        out.sort_by(|a, b| a.agent.cmp(&b.agent));
        out
    }

    /// Ids of every queue.
    #[must_use]
    pub fn queue_ids(&self) -> Vec<QueueId> {
        let mut ids: Vec<QueueId> = self.queue_ids.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Interactions waiting or ringing, over all queues.
    #[must_use]
    pub fn waiting_count(&self) -> usize {
        self.waits.len()
    }

    /// Agents serving each queue (tier 0), counted by state name.
    fn agents_by_state(&self) -> BTreeMap<u32, BTreeMap<String, u32>> {
        let mut out: BTreeMap<u32, BTreeMap<String, u32>> = BTreeMap::new();
        for (_, a) in self.agents.iter() {
            for &l in &a.lanes {
                let Some(lane) = self.lanes.get(l as usize).and_then(Option::as_ref) else {
                    continue;
                };
                if lane.tier != 0 {
                    continue;
                }
                *out.entry(lane.queue)
                    .or_default()
                    .entry(a.reported.name().to_owned())
                    .or_insert(0) += 1;
            }
        }
        out
    }

    /// The port's snapshot: every queue (waiting in service order, longest
    /// wait, agents by state) and every agent (state and since when).
    #[must_use]
    pub fn snapshot(&self, now: Timestamp) -> RouterSnapshot {
        let by_state = self.agents_by_state();
        let mut queues: Vec<QueueSnapshot> = self
            .queue_ids()
            .into_iter()
            .filter_map(|id| {
                let q = *self.queue_ids.get(&id)?;
                let status = self.queue_status(&id, now)?;
                Some(QueueSnapshot {
                    queue: id,
                    waiting: status
                        .waiting
                        .iter()
                        .filter(|w| !w.offering)
                        .map(|w| w.interaction.clone())
                        .collect(),
                    longest_wait_secs: status.longest_wait_secs,
                    agents_by_state: by_state.get(&q).cloned().unwrap_or_default(),
                })
            })
            .collect();
        queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        let mut agents: Vec<AgentSnapshot> = self
            .agents
            .iter()
            .map(|(_, a)| AgentSnapshot {
                agent: a.id().clone(),
                state: a.reported.clone(),
                since: a.reported_since,
                reachable: a.reachable,
            })
            .collect();
        agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        RouterSnapshot { queues, agents }
    }
}
