//! The engine's internal records: agents, queues and their tiers ("lanes"),
//! waiting interactions, reservations and timers, kept in slabs addressed by
//! dense indices so the hot path hashes no strings.

use super::pool::Pool;
use super::small::IdxList;
use crate::strategy::RoutingStrategy;
use callcore::{
    AgentId, AgentProfile, Channel, InteractionId, QueueDefinition, ReservationId, RoutingRequest,
    SkillRequirement, Timestamp,
};
use std::collections::BTreeMap;

/// Channels the engine tracks capacity for (the order of `Channel::ALL`).
pub(crate) const CHANNELS: usize = 5;

/// Index of a channel in per-channel arrays.
pub(crate) fn ch_index(c: Channel) -> usize {
    match c {
        Channel::Voice => 0,
        Channel::Chat => 1,
        Channel::Sms => 2,
        Channel::Email => 3,
        // WeChat and any channel added later share the last slot.
        _ => 4,
    }
}

/// Capacity per channel of a profile.
pub(crate) fn capacities(profile: &AgentProfile) -> [u32; CHANNELS] {
    let mut out = [0; CHANNELS];
    for (c, slots) in &profile.capacity {
        let i = ch_index(*c);
        out[i] = out[i].max(*slots);
    }
    out
}

/// Channels (bit per channel index) worked beside a voice call.
pub(crate) fn beside_voice(profile: &AgentProfile) -> u8 {
    profile
        .beside_voice
        .iter()
        .map(|c| ch_index(*c))
        .filter(|i| *i > 0)
        .fold(0, |m, i| m | (1 << i))
}

/// A timer's key: when, plus a sequence number that keeps keys unique.
pub(crate) type TimerKey = (Timestamp, u64);

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Timer {
    OfferExpiry(u32),
    WrapUpEnd(u32),
    DelayEnd(u32),
    MaxWait(u32),
    Escalation(u32),
    StickyEnd(u32),
}

/// The state an agent asked for (or a supervisor set).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Presence {
    Offline,
    Available,
    NotReady(String),
}

/// After-call work in progress.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WrapUp {
    pub(crate) interactions: Vec<InteractionId>,
    pub(crate) timer: TimerKey,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AgentSlot {
    /// The agent's id (interned by the engine: decisions clone it).
    pub(crate) id: AgentId,
    /// The profile (cold: skills, endpoints, rating).
    pub(crate) profile: Box<AgentProfile>,
    /// Capacity per channel, copied from the profile (hot path).
    pub(crate) capacity: [u32; CHANNELS],
    /// Channels worked beside a voice call (bit per channel index).
    #[serde(default)]
    pub(crate) beside_voice: u8,
    pub(crate) order: u64,
    pub(crate) presence: Presence,
    /// The phone (or desktop) can be reached; independent of `presence`.
    #[serde(default = "reachable_by_default")]
    pub(crate) reachable: bool,
    pub(crate) reported: callcore::AgentState,
    pub(crate) reported_since: Timestamp,
    /// Accepted interactions per channel.
    pub(crate) load: [u32; CHANNELS],
    /// Pending offers per channel.
    pub(crate) offered: [u32; CHANNELS],
    pub(crate) reservations: IdxList,
    pub(crate) wrap: Option<Box<WrapUp>>,
    pub(crate) delay: Option<TimerKey>,
    pub(crate) missed: u32,
    pub(crate) idle_since: Timestamp,
    pub(crate) talk_ms: u64,
    pub(crate) handled: u64,
    /// Lanes whose requirements the agent meets (and whose queue it serves).
    pub(crate) lanes: IdxList,
    /// Channels (bit per channel) for which the agent is pooled in every one
    /// of its lanes.
    pub(crate) pooled: u8,
    /// Force re-ranking at the next refresh (statistics changed).
    pub(crate) rerank: bool,
    /// Interactions waiting for this agent in particular.
    pub(crate) sticky: Vec<u32>,
}

fn reachable_by_default() -> bool {
    true
}

impl AgentSlot {
    /// Free slots for a channel, counting pending offers; a voice call is
    /// exclusive (no chats beside it, and no call beside chats) except for
    /// the channels the profile works beside voice.
    pub(crate) fn free(&self, ch: usize) -> u32 {
        let used = |i: usize| self.load[i] + self.offered[i];
        let beside = |i: usize| self.beside_voice & (1 << i) != 0;
        let cap = self.capacity[ch];
        if ch == 0 {
            if (1..CHANNELS).any(|i| used(i) > 0 && !beside(i)) {
                return 0;
            }
        } else if used(0) > 0 && !beside(ch) {
            return 0;
        }
        cap.saturating_sub(used(ch))
    }

    /// Whether the agent may be offered anything at all now.
    pub(crate) fn routable(&self) -> bool {
        self.staffing() && self.wrap.is_none() && self.delay.is_none()
    }

    /// Whether the agent works the queues now: available by choice and reachable.
    pub(crate) fn staffing(&self) -> bool {
        self.presence == Presence::Available && self.reachable
    }

    pub(crate) fn active(&self) -> u32 {
        self.load.iter().sum()
    }

    /// The state the rest of the world sees, derived from presence and work.
    pub(crate) fn derived_state(&self) -> callcore::AgentState {
        use callcore::AgentState as S;
        if self.active() > 0 {
            S::Busy
        } else if !self.reservations.is_empty() {
            S::Reserved
        } else if self.wrap.is_some() {
            S::WrapUp
        } else {
            match &self.presence {
                Presence::Offline => S::Offline,
                Presence::Available => S::Available,
                Presence::NotReady(r) => S::NotReady(r.clone()),
            }
        }
    }

    pub(crate) fn id(&self) -> &AgentId {
        &self.id
    }

    /// Whether `other` names this agent (pointer first: ids handed out by
    /// the engine are its own).
    pub(crate) fn is(&self, other: &AgentId) -> bool {
        std::ptr::eq(self.id.as_str(), other.as_str()) || self.id == *other
    }
}

/// One tier of one queue: the queue's requirements, or a relaxed version of
/// them after an escalation step. Pools and waiting lines live here.
#[derive(Debug)]
pub(crate) struct Lane {
    pub(crate) queue: u32,
    pub(crate) tier: u32,
    pub(crate) requirements: Vec<SkillRequirement>,
    pub(crate) strategy: Box<dyn RoutingStrategy>,
    pub(crate) ring_all: bool,
    pub(crate) pools: [Pool; CHANNELS],
    pub(crate) waiting: [BTreeMap<WaitKey, u32>; CHANNELS],
    /// Eligible agents logged in (any state but offline).
    pub(crate) logged_in: u32,
    /// Eligible agents whose presence is available (working the queue).
    pub(crate) staffed: u32,
}

/// Order of waiting interactions within a lane: higher priority first, then
/// earlier (head-start adjusted) enqueue time, then arrival order.
pub(crate) type WaitKey = (i32, i64, u64);

/// Running figures of a queue.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct QueueCounters {
    pub(crate) offered: u64,
    pub(crate) answered: u64,
    pub(crate) answered_in_sl: u64,
    pub(crate) abandoned: u64,
    pub(crate) overflowed: u64,
    pub(crate) timed_out: u64,
    pub(crate) wait_ms_answered: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct QueueSlot {
    #[serde(with = "super::persist::def_codec")]
    pub(crate) def: QueueDefinition,
    /// Tier 0 first, then one lane per relaxation step.
    pub(crate) lanes: Vec<u32>,
    /// For each escalation step that relaxes proficiency: the tier it moves to.
    pub(crate) step_tier: Vec<Option<u32>>,
    /// Interactions whose primary queue this is and that are not yet answered.
    pub(crate) members: u32,
    /// Exponentially weighted average handle time (talk + wrap-up), ms.
    pub(crate) aht_ms: Option<f64>,
    pub(crate) counters: QueueCounters,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum WaitStatus {
    Waiting,
    Sticky(u32),
    Offering(IdxList),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WaitSlot {
    pub(crate) request: RoutingRequest,
    pub(crate) key: WaitKey,
    pub(crate) ch: usize,
    pub(crate) queue: u32,
    /// The lanes it waits in; the first is its own queue's current tier.
    pub(crate) lanes: IdxList,
    pub(crate) tier: u32,
    pub(crate) next_step: usize,
    pub(crate) status: WaitStatus,
    pub(crate) callback: bool,
    pub(crate) hops: u32,
    /// Agents who declined or missed this interaction: passed over while
    /// another agent in the pool can take it.
    pub(crate) passed: Vec<u32>,
    pub(crate) max_wait_timer: Option<TimerKey>,
    pub(crate) escalation_timer: Option<TimerKey>,
    pub(crate) sticky_timer: Option<TimerKey>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ResSlot {
    pub(crate) id: ReservationId,
    pub(crate) wait: u32,
    pub(crate) agent: u32,
    pub(crate) ch: usize,
    pub(crate) timer: TimerKey,
    /// The expiry sits in the engine's in-order offer-timer FIFO (else in
    /// the general timer tree).
    pub(crate) in_fifo: bool,
}

/// Where a known interaction is: waiting (or ringing), or with an agent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum Tracked {
    Waiting(u32),
    Accepted(Accepted),
}

/// An interaction an agent accepted and still handles.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Accepted {
    pub(crate) agent: u32,
    pub(crate) queue: u32,
    pub(crate) ch: usize,
    pub(crate) since: Timestamp,
}

/// A vector of optional slots with a free list.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            self.items[i as usize] = Some(value);
            i
        } else {
            self.items.push(Some(value));
            u32::try_from(self.items.len() - 1).unwrap_or(u32::MAX)
        }
    }

    pub(crate) fn remove(&mut self, i: u32) -> Option<T> {
        let v = self.items.get_mut(i as usize)?.take();
        if v.is_some() {
            self.free.push(i);
            self.len -= 1;
        }
        v
    }

    /// After deserializing: the free list names exactly the empty slots,
    /// each once (else inserts would overwrite live items); recounts them.
    pub(crate) fn check(&mut self) -> bool {
        let empty = self.items.iter().filter(|i| i.is_none()).count();
        let mut seen = vec![false; self.items.len()];
        for &f in &self.free {
            let Some(s) = seen.get_mut(f as usize) else {
                return false;
            };
            if *s || self.items.get(f as usize).is_none_or(Option::is_some) {
                return false;
            }
            *s = true;
        }
        self.len = self.items.len() - empty;
        self.free.len() == empty
    }

    /// Occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The index the next insert will use.
    pub(crate) fn next_index(&self) -> u32 {
        self.free
            .last()
            .copied()
            .unwrap_or_else(|| u32::try_from(self.items.len()).unwrap_or(u32::MAX))
    }

    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize)?.as_mut()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items.iter().enumerate().filter_map(|(i, v)| {
            v.as_ref()
                .map(|v| (u32::try_from(i).unwrap_or(u32::MAX), v))
        })
    }
}
