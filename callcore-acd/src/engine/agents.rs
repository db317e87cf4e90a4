//! Agents: joining, presence (available / not ready with reason / offline),
//! the derived state the world sees, and pool membership.

use super::small::IdxList;
use super::state::{AgentSlot, CHANNELS, Lane, Presence, WaitStatus};
use super::{AcdEngine, secs};
use crate::AcdError;
use crate::strategy::{AgentView, LaneView, PoolEntry};
use callcore::{AgentId, AgentProfile, AgentState, OfferEnd, RoutingDecision, Timestamp};

/// Whether an agent serves a lane: member of its queue (an empty list means
/// every queue) and meeting every requirement of the tier.
pub(crate) fn eligible(profile: &AgentProfile, lane: &Lane, queue_id: &callcore::QueueId) -> bool {
    (profile.queues.is_empty() || profile.queues.contains(queue_id))
        && lane.requirements.iter().all(|r| {
            profile
                .proficiency(&r.skill)
                .is_some_and(|p| p >= r.min_proficiency)
        })
}

impl AcdEngine {
    pub(crate) fn add_agent_impl(&mut self, profile: AgentProfile, now: Timestamp) {
        if let Some(&a) = self.agent_ids.get(&profile.id) {
            // Update: leave the lanes' counters, swap the profile, come back.
            self.count_presence(a, -1);
            if let Some(slot) = self.agents.get_mut(a) {
                slot.capacity = super::state::capacities(&profile);
                slot.beside_voice = super::state::beside_voice(&profile);
                *slot.profile = profile;
                slot.rerank = true;
            }
            self.compute_lanes(a);
            self.count_presence(a, 1);
            self.refresh_agent(a, now);
            self.route_agent(a, now);
            return;
        }
        // A copy of the id of our own: the engine's ids sit together in
        // memory, which keeps the clone in every decision cache-friendly.
        let id = AgentId::from(profile.id.as_str());
        let order = self.next_order;
        self.next_order += 1;
        let a = self.agents.insert(AgentSlot {
            capacity: super::state::capacities(&profile),
            beside_voice: super::state::beside_voice(&profile),
            id: id.clone(),
            profile: Box::new(profile),
            order,
            presence: Presence::Offline,
            reachable: true,
            reported: AgentState::Offline,
            reported_since: now,
            load: [0; CHANNELS],
            offered: [0; CHANNELS],
            reservations: IdxList::new(),
            wrap: None,
            delay: None,
            missed: 0,
            idle_since: now,
            talk_ms: 0,
            handled: 0,
            lanes: IdxList::new(),
            pooled: 0,
            rerank: false,
            sticky: Vec::new(),
        });
        self.agent_ids.insert(id, a);
        if self.stamps.len() <= a as usize {
            self.stamps.resize(a as usize + 1, 0);
        }
        self.compute_lanes(a);
    }

    /// Recomputes which lanes the agent serves (pool entries are rebuilt by
    /// the next refresh).
    pub(crate) fn compute_lanes(&mut self, a: u32) {
        self.unpool(a);
        let Some(slot) = self.agents.get(a) else {
            return;
        };
        let mut lanes = IdxList::new();
        for (l, lane) in self.lanes.iter().enumerate() {
            let Some(lane) = lane else { continue };
            let Some(q) = self
                .queues
                .get(lane.queue as usize)
                .and_then(Option::as_ref)
            else {
                continue;
            };
            if eligible(&slot.profile, lane, &q.def.id) {
                lanes.push(u32::try_from(l).unwrap_or(u32::MAX));
            }
        }
        if let Some(slot) = self.agents.get_mut(a) {
            slot.lanes = lanes;
        }
    }

    /// Adds `delta` to the logged-in / staffed counters of the agent's lanes.
    pub(crate) fn count_presence(&mut self, a: u32, delta: i32) {
        let Some(slot) = self.agents.get(a) else {
            return;
        };
        let logged = u32::from(slot.presence != Presence::Offline);
        let staffed = u32::from(slot.staffing());
        for &l in &slot.lanes {
            if let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) {
                if delta > 0 {
                    lane.logged_in += logged;
                    lane.staffed += staffed;
                } else {
                    lane.logged_in = lane.logged_in.saturating_sub(logged);
                    lane.staffed = lane.staffed.saturating_sub(staffed);
                }
            }
        }
    }

    pub(crate) fn remove_agent_impl(
        &mut self,
        agent: &AgentId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        let a = *self
            .agent_ids
            .get(agent)
            .ok_or_else(|| AcdError::UnknownAgent(agent.clone()))?;
        if self.agents.get(a).is_some_and(|s| s.active() > 0) {
            return Err(AcdError::AgentBusy(agent.clone()));
        }
        if self
            .agents
            .get(a)
            .is_some_and(|s| s.reported != AgentState::Offline)
        {
            self.rescind_offers_of(a, now);
            self.end_wrap_up_impl(a, now);
            self.set_presence_raw(a, Presence::Offline, now);
        }
        self.release_sticky(a, now);
        self.count_presence(a, -1);
        self.unpool(a);
        if let Some(slot) = self.agents.remove(a) {
            self.cancel_timer(slot.delay);
            if let Some(w) = slot.wrap {
                self.cancel_timer(Some(w.timer));
            }
        }
        self.agent_ids.remove(agent);
        Ok(())
    }

    pub(crate) fn set_presence(
        &mut self,
        agent: &AgentId,
        state: AgentState,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        let a = *self
            .agent_ids
            .get(agent)
            .ok_or_else(|| AcdError::UnknownAgent(agent.clone()))?;
        let presence = match &state {
            AgentState::Available => Presence::Available,
            AgentState::Offline => Presence::Offline,
            AgentState::NotReady(r) => Presence::NotReady(r.clone()),
            other => {
                return Err(AcdError::NotRequestable {
                    agent: agent.clone(),
                    state: other.to_string(),
                });
            }
        };
        let Some(slot) = self.agents.get(a) else {
            return Err(AcdError::UnknownAgent(agent.clone()));
        };
        if slot.presence == presence && slot.reported == state {
            return Ok(());
        }
        if slot.reported != state {
            slot.reported.transition(state.clone())?;
        }
        if presence == Presence::Offline && slot.active() > 0 {
            return Err(AcdError::AgentBusy(agent.clone()));
        }
        if let Some(slot) = self.agents.get_mut(a) {
            slot.missed = 0;
            if presence == Presence::Available && slot.presence != Presence::Available {
                slot.idle_since = now;
                slot.rerank = true;
            }
        }
        // Presence first, so that nothing rescinded below comes back to this agent.
        let leaving = presence != Presence::Available;
        let offline = presence == Presence::Offline;
        self.set_presence_raw(a, presence, now);
        if leaving {
            self.rescind_offers_of(a, now);
        }
        if offline {
            self.end_wrap_up_impl(a, now);
            self.release_sticky(a, now);
        }
        self.route_agent(a, now);
        self.leave_empty_queues(now);
        Ok(())
    }

    /// Changes presence, keeps the lane counters right, refreshes.
    pub(crate) fn set_presence_raw(&mut self, a: u32, presence: Presence, now: Timestamp) {
        self.count_presence(a, -1);
        if let Some(slot) = self.agents.get_mut(a) {
            slot.presence = presence;
        }
        self.count_presence(a, 1);
        self.refresh_agent(a, now);
    }

    /// Rescinds every pending offer of the agent (it is leaving).
    pub(crate) fn rescind_offers_of(&mut self, a: u32, now: Timestamp) {
        let pending = self
            .agents
            .get(a)
            .map(|s| s.reservations.clone())
            .unwrap_or_default();
        for &r in pending.iter() {
            self.end_offer(r, OfferEnd::Rescinded, now);
        }
    }

    /// Interactions waiting for this agent in particular go to the queue.
    pub(crate) fn release_sticky(&mut self, a: u32, now: Timestamp) {
        let sticky = self
            .agents
            .get_mut(a)
            .map(|s| std::mem::take(&mut s.sticky))
            .unwrap_or_default();
        for w in sticky {
            if let Some(slot) = self.waits.get_mut(w) {
                slot.status = WaitStatus::Waiting;
                let t = slot.sticky_timer.take();
                self.cancel_timer(t);
            }
            self.insert_waiting(w);
            self.route_wait_lanes(w, now);
        }
    }

    /// Ends after-call work now (timer fired, or the agent left).
    pub(crate) fn end_wrap_up_impl(&mut self, a: u32, now: Timestamp) {
        let Some(wrap) = self.agents.get_mut(a).and_then(|s| s.wrap.take()) else {
            return;
        };
        self.cancel_timer(Some(wrap.timer));
        let agent = self.agents.get(a).map(|s| s.id().clone());
        if let Some(agent) = agent {
            for interaction in wrap.interactions {
                self.decisions.push_back(RoutingDecision::WrapUpEnded {
                    interaction,
                    agent: agent.clone(),
                });
            }
        }
        if let Some(slot) = self.agents.get_mut(a) {
            slot.idle_since = now;
            slot.rerank = true;
        }
        self.refresh_agent(a, now);
        self.route_agent(a, now);
    }

    /// Starts (or extends) after-call work.
    pub(crate) fn start_wrap_up(
        &mut self,
        a: u32,
        interaction: callcore::InteractionId,
        wrap_secs: u32,
        now: Timestamp,
    ) {
        let until = now + secs(wrap_secs);
        let old = self.agents.get_mut(a).and_then(|s| s.wrap.take());
        let mut interactions = Vec::new();
        let mut at = until;
        if let Some(old) = old {
            self.cancel_timer(Some(old.timer));
            at = at.max(old.timer.0);
            interactions = old.interactions;
        }
        interactions.push(interaction);
        let timer = self.add_timer(at, super::state::Timer::WrapUpEnd(a));
        if let Some(slot) = self.agents.get_mut(a) {
            slot.wrap = Some(Box::new(super::state::WrapUp {
                interactions,
                timer,
            }));
        }
    }

    /// Recomputes the derived state (emitting a change) and pool membership.
    pub(crate) fn refresh_agent(&mut self, a: u32, now: Timestamp) {
        let Some(slot) = self.agents.get_mut(a) else {
            return;
        };
        let derived = slot.derived_state();
        if derived != slot.reported {
            let from = std::mem::replace(&mut slot.reported, derived.clone());
            slot.reported_since = now;
            self.decisions
                .push_back(RoutingDecision::AgentStateChanged {
                    agent: slot.id.clone(),
                    from,
                    to: derived,
                });
        }
        // Desired membership: every lane, for each channel with free capacity.
        let mut mask = 0u8;
        if slot.routable() {
            for ch in 0..CHANNELS {
                if slot.free(ch) > 0 {
                    mask |= 1 << ch;
                }
            }
        }
        if !slot.rerank && mask == slot.pooled {
            return;
        }
        self.unpool(a);
        let Some(slot) = self.agents.get_mut(a) else {
            return;
        };
        slot.rerank = false;
        slot.pooled = mask;
        if mask == 0 {
            return;
        }
        let stamp = self.stamps.get(a as usize).copied().unwrap_or(0);
        let view = AgentView {
            profile: &slot.profile,
            idle_since: slot.idle_since,
            talk_ms: slot.talk_ms,
            handled: slot.handled,
            active: slot.load.iter().sum(),
            order: slot.order,
        };
        for &l in slot.lanes.iter() {
            let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) else {
                continue;
            };
            let Some(q) = self
                .queues
                .get(lane.queue as usize)
                .and_then(Option::as_ref)
            else {
                continue;
            };
            let lv = LaneView {
                queue: &q.def,
                requirements: &lane.requirements,
                tier: lane.tier,
            };
            let rank = lane.strategy.rank(&view, &lv, &mut self.rng);
            let entry = PoolEntry { rank, slot: a };
            for ch in 0..CHANNELS {
                if mask & (1 << ch) != 0 {
                    lane.pools[ch].insert(entry, stamp);
                }
            }
        }
    }

    /// Takes the agent out of every pool (its entries go stale).
    pub(crate) fn unpool(&mut self, a: u32) {
        let Some(slot) = self.agents.get_mut(a) else {
            return;
        };
        let mask = std::mem::take(&mut slot.pooled);
        if mask == 0 {
            return;
        }
        if let Some(s) = self.stamps.get_mut(a as usize) {
            *s = s.wrapping_add(1);
        }
        for &l in slot.lanes.iter() {
            if let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) {
                for ch in 0..CHANNELS {
                    if mask & (1 << ch) != 0 {
                        lane.pools[ch].forget_one(&self.stamps);
                    }
                }
            }
        }
    }
}
