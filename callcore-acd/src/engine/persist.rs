//! Snapshot and restore of the whole engine (serde), with a fencing epoch.
//!
//! A primary exports [`EngineState`] (after draining its decisions) and ships
//! it to a standby; the standby [`restore`](AcdEngine::restore)s it and runs
//! at the next epoch. Everything in flight comes back as it was: waiting
//! lines, ringing reservations (the agent stays held and the interaction is
//! not offered again until the reservation resolves or times out), accepted
//! interactions, wrap-ups, delays and every timer with its original due time.
//! Reservation ids minted after a restore carry the epoch (`res-e2-…`), so
//! they never collide with ids a stale primary might still mint; a stale
//! primary told about the new epoch ([`fence`](AcdEngine::fence)) refuses
//! every input and emits nothing more.
//!
//! Strategies' ranks are recomputed from the restored statistics (identical
//! for the deterministic strategies); random strategies draw from a fresh
//! seed, and round-robin forgets whom it offered last.

use super::AcdEngine;
use super::state::{
    AgentSlot, CHANNELS, QueueSlot, ResSlot, Slab, Timer, TimerKey, Tracked, WaitSlot, WaitStatus,
};
use crate::{AcdConfig, AcdError, StrategyRegistry};
use callcore::{AgentId, CustomerId, InteractionId, ReservationId, SeededRng, Timestamp};
use serde::{Deserialize, Serialize};

/// Everything an [`AcdEngine`] knows, as data (serde): what a standby needs
/// to take over. Produced by [`AcdEngine::export_state`], consumed by
/// [`AcdEngine::restore`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineState {
    epoch: u64,
    taken_at: Timestamp,
    seq: u64,
    next_order: u64,
    agents: Slab<AgentSlot>,
    queues: Vec<Option<QueueSlot>>,
    /// Per lane index: (queue slot, tier), or a hole.
    lanes: Vec<Option<(u32, u32)>>,
    waits: Slab<WaitSlot>,
    reservations: Slab<ResSlot>,
    interactions: Vec<(InteractionId, Tracked)>,
    last_agent: Vec<(CustomerId, AgentId)>,
    timers: Vec<(TimerKey, Timer)>,
}

impl EngineState {
    /// The epoch of the engine it was taken from (the restored engine runs
    /// at this plus one).
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// When it was taken.
    #[must_use]
    pub fn taken_at(&self) -> Timestamp {
        self.taken_at
    }

    /// Interactions waiting or ringing in it.
    #[must_use]
    pub fn waiting_count(&self) -> usize {
        self.waits.len()
    }

    /// Reservations ringing in it.
    #[must_use]
    pub fn pending_reservations(&self) -> usize {
        self.reservations.len()
    }
}

impl AcdEngine {
    /// The fencing epoch: 0 for a fresh engine, one more than the snapshot's
    /// for a restored one.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether a newer epoch has taken over (see [`fence`](Self::fence)).
    #[must_use]
    pub fn is_fenced(&self) -> bool {
        self.fenced.is_some()
    }

    /// Tells this engine that an engine at `epoch` has taken over. If that
    /// is newer than this engine's own epoch, this engine stops: pending
    /// decisions are dropped, inputs are refused with [`AcdError::Fenced`]
    /// and ticks do nothing. Returns whether the engine is now fenced.
    pub fn fence(&mut self, epoch: u64) -> bool {
        if epoch > self.epoch {
            self.fenced = Some(self.fenced.map_or(epoch, |e| e.max(epoch)));
            self.decisions.clear();
        }
        self.fenced.is_some()
    }

    /// The epoch a reservation id was minted in (0 before any restore), or
    /// `None` for an id this engine's prefix does not match.
    #[must_use]
    pub fn reservation_epoch(&self, reservation: &ReservationId) -> Option<u64> {
        let rest = reservation
            .as_str()
            .strip_prefix(self.config.reservation_prefix.as_str())?;
        match rest.strip_prefix('e') {
            Some(tail) => tail.split_once('-')?.0.parse().ok(),
            None => Some(0),
        }
    }

    pub(crate) fn check_fence(&self) -> Result<(), AcdError> {
        match self.fenced {
            Some(newer) => Err(AcdError::Fenced {
                epoch: self.epoch,
                newer,
            }),
            None => Ok(()),
        }
    }

    /// The whole state, for a standby to [`restore`](Self::restore).
    ///
    /// # Errors
    /// Decisions are still pending (drain [`poll_decision`](Self::poll_decision)
    /// first, so that nothing is lost between primary and standby), or the
    /// engine is fenced.
    pub fn export_state(&self, now: Timestamp) -> Result<EngineState, AcdError> {
        self.check_fence()?;
        if !self.decisions.is_empty() {
            return Err(AcdError::Snapshot(format!(
                "{} decisions not drained",
                self.decisions.len()
            )));
        }
        let mut timers: Vec<(TimerKey, Timer)> =
            self.timers.iter().map(|(k, t)| (*k, *t)).collect();
        timers.extend(
            self.offer_timers
                .iter()
                .filter(|(k, r)| self.reservations.get(*r).is_some_and(|s| s.timer == *k))
                .map(|(k, r)| (*k, Timer::OfferExpiry(*r))),
        );
        timers.sort_unstable_by_key(|(k, _)| *k);
        let mut interactions: Vec<(InteractionId, Tracked)> = self
            .interactions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        interactions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut last_agent: Vec<(CustomerId, AgentId)> = self
            .last_agent
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        last_agent.sort_unstable();
        Ok(EngineState {
            epoch: self.epoch,
            taken_at: now,
            seq: self.seq,
            next_order: self.next_order,
            agents: self.agents.clone(),
            queues: self.queues.clone(),
            lanes: self
                .lanes
                .iter()
                .map(|l| l.as_ref().map(|l| (l.queue, l.tier)))
                .collect(),
            waits: self.waits.clone(),
            reservations: self.reservations.clone(),
            interactions,
            last_agent,
            timers,
        })
    }

    /// A standby engine from a primary's state, at the next epoch. Its
    /// pending decisions are empty: reservations that were ringing stay
    /// pending (resolve them with their original ids) and are not offered
    /// again.
    ///
    /// # Errors
    /// A queue names a strategy `registry` does not have, or the state is
    /// inconsistent (references to missing agents, queues or lanes).
    pub fn restore(
        config: AcdConfig,
        registry: StrategyRegistry,
        state: EngineState,
    ) -> Result<Self, AcdError> {
        let mut state = state;
        if !(state.agents.check() && state.waits.check() && state.reservations.check()) {
            return Err(AcdError::Snapshot(
                "inconsistent state: a free list does not match its slots".to_owned(),
            ));
        }
        let mut e = Self::with_strategies(config, registry);
        e.epoch = state.epoch.saturating_add(1);
        e.rng = SeededRng::new(e.config.seed ^ e.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        e.seq = state.seq;
        e.next_order = state.next_order;
        let bad = |what: String| AcdError::Snapshot(format!("inconsistent state: {what}"));
        // Queues in their slots, lanes at their indices.
        e.queues = state.queues;
        for (q, slot) in e.queues.iter().enumerate() {
            if let Some(slot) = slot {
                e.queue_ids
                    .insert(slot.def.id.clone(), u32::try_from(q).unwrap_or(u32::MAX));
            }
        }
        for (i, lane) in state.lanes.iter().enumerate() {
            let built = match lane {
                None => None,
                Some((q, tier)) => Some(
                    e.new_lane(*q, *tier)?
                        .ok_or_else(|| bad(format!("lane {i} of missing queue {q}")))?,
                ),
            };
            e.lanes.push(built);
        }
        for slot in e.queues.iter().flatten() {
            if slot
                .lanes
                .iter()
                .any(|l| e.lanes.get(*l as usize).is_none_or(Option::is_none))
            {
                return Err(bad(format!("queue {} names a missing lane", slot.def.id)));
            }
        }
        // Agents: out of every pool until refreshed below.
        e.agents = state.agents;
        let mut slots = 0;
        let mut ids = Vec::new();
        for (a, slot) in e.agents.iter() {
            slots = slots.max(a as usize + 1);
            ids.push((slot.id.clone(), a));
            if slot
                .lanes
                .iter()
                .any(|l| e.lanes.get(*l as usize).is_none_or(Option::is_none))
            {
                return Err(bad(format!("agent {} names a missing lane", slot.id)));
            }
        }
        e.agent_ids.extend(ids);
        e.stamps = vec![0; slots];
        let agents: Vec<u32> = e.agents.iter().map(|(a, _)| a).collect();
        for &a in &agents {
            if let Some(slot) = e.agents.get_mut(a) {
                slot.pooled = 0;
                slot.rerank = true;
            }
        }
        e.waits = state.waits;
        e.reservations = state.reservations;
        for (w, slot) in e.waits.iter() {
            let lanes_ok = slot
                .lanes
                .iter()
                .all(|l| e.lanes.get(*l as usize).is_some_and(Option::is_some));
            let status_ok = match &slot.status {
                WaitStatus::Waiting => true,
                WaitStatus::Sticky(a) => e.agents.get(*a).is_some(),
                WaitStatus::Offering(rs) => rs
                    .iter()
                    .all(|r| e.reservations.get(*r).is_some_and(|res| res.wait == w)),
            };
            if !lanes_ok
                || !status_ok
                || slot.ch >= CHANNELS
                || e.queues.get(slot.queue as usize).is_none()
            {
                return Err(bad(format!("interaction {}", slot.request.interaction)));
            }
        }
        for (_, res) in e.reservations.iter() {
            if e.waits.get(res.wait).is_none()
                || e.agents.get(res.agent).is_none()
                || res.ch >= CHANNELS
            {
                return Err(bad(format!("reservation {}", res.id)));
            }
        }
        for (id, tracked) in &state.interactions {
            let ok = match tracked {
                Tracked::Waiting(w) => e.waits.get(*w).is_some(),
                Tracked::Accepted(acc) => acc.ch < CHANNELS && e.agents.get(acc.agent).is_some(),
            };
            if !ok {
                return Err(bad(format!("interaction {id}")));
            }
        }
        e.interactions.extend(state.interactions);
        e.last_agent.extend(state.last_agent);
        for (key, timer) in state.timers {
            match timer {
                Timer::OfferExpiry(r) => {
                    let in_fifo = e.add_offer_timer(key, r);
                    if let Some(res) = e.reservations.get_mut(r) {
                        res.in_fifo = in_fifo;
                    }
                }
                other => {
                    e.timers.insert(key, other);
                }
            }
        }
        // Derived indexes: lane counters, waiting lines, pools.
        for &a in &agents {
            e.count_presence(a, 1);
        }
        let waiting: Vec<u32> = e
            .waits
            .iter()
            .filter(|(_, s)| s.status == WaitStatus::Waiting)
            .map(|(w, _)| w)
            .collect();
        for w in waiting {
            e.insert_waiting(w);
        }
        for &a in &agents {
            e.refresh_agent(a, state.taken_at);
        }
        e.decisions.clear();
        Ok(e)
    }
}

/// Queue definitions in a snapshot: the escalation ladder is written as
/// `(after_secs, action)` pairs beside the rest of the definition, because
/// `EscalationStep`'s own serde form (a flattened action under
/// `deny_unknown_fields`) does not read back what it writes.
pub(crate) mod def_codec {
    use callcore::{EscalationAction, EscalationStep, QueueDefinition};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Stored {
        def: QueueDefinition,
        ladder: Vec<(u32, EscalationAction)>,
    }

    pub(crate) fn serialize<S: Serializer>(def: &QueueDefinition, s: S) -> Result<S::Ok, S::Error> {
        let ladder = def
            .escalation
            .iter()
            .map(|step| (step.after_secs, step.action.clone()))
            .collect();
        let mut def = def.clone();
        def.escalation.clear();
        Stored { def, ladder }.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<QueueDefinition, D::Error> {
        let Stored { mut def, ladder } = Stored::deserialize(d)?;
        def.escalation = ladder
            .into_iter()
            .map(|(after_secs, action)| EscalationStep { after_secs, action })
            .collect();
        Ok(def)
    }
}
