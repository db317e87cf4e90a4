//! Matching: a new interaction takes the strategy's pick from its lanes'
//! pools; a freed agent takes the longest-waiting interaction (highest queue
//! priority, then interaction priority, then age) across every queue it serves.

use super::state::{ResSlot, Timer, WaitStatus};
use super::{AcdEngine, secs};
use crate::strategy::AgentPool;
use callcore::{ReservationId, RoutingDecision, Timestamp};

/// Cross-queue order: queue priority (negated), then the lane's wait key.
type CrossKey = (i32, super::state::WaitKey);

impl AcdEngine {
    /// Routes whatever can be routed in every lane the interaction waits in.
    pub(crate) fn route_wait_lanes(&mut self, w: u32, now: Timestamp) {
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        let ch = slot.ch;
        match slot.lanes.as_slice() {
            [l] => {
                let l = *l;
                self.route_lane(l, ch, now);
            }
            lanes => {
                #[allow(clippy::unnecessary_to_owned)] // routing mutates the slot
                for l in lanes.to_vec() {
                    self.route_lane(l, ch, now);
                }
            }
        }
    }

    /// Offers the lane's waiting interactions, oldest first, while it has
    /// free agents.
    pub(crate) fn route_lane(&mut self, l: u32, ch: usize, now: Timestamp) {
        // Bounded: each pass offers one interaction, which leaves the line.
        for _ in 0..=self.waits_len_hint() {
            let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) else {
                return;
            };
            let Some((_, &w)) = lane.waiting[ch].first_key_value() else {
                return;
            };
            if lane.pools[ch].is_empty() {
                return;
            }
            if lane.ring_all {
                let agents: Vec<u32> = lane.pools[ch]
                    .iter()
                    .take(self.config.ring_all_limit.max(1))
                    .map(|e| e.slot)
                    .collect();
                for a in agents {
                    self.offer(w, a, now);
                }
                continue;
            }
            let pool = AgentPool {
                set: &lane.pools[ch],
            };
            let Some(mut pick) = lane.strategy.pick(&pool) else {
                return;
            };
            // Pass over agents who just declined or missed this interaction
            // while someone else in the pool can take it.
            let passed = self.waits.get(w).map_or(&[][..], |s| s.passed.as_slice());
            if passed.contains(&pick.slot)
                && let Some(other) = pool.iter().find(|e| !passed.contains(&e.slot))
            {
                pick = other;
            }
            self.offer(w, pick.slot, now);
        }
    }

    fn waits_len_hint(&self) -> usize {
        self.wait_ids.len()
    }

    /// A freed agent takes work: first interactions waiting for it in
    /// particular, then the longest-waiting one among all its lanes.
    pub(crate) fn route_agent(&mut self, a: u32, now: Timestamp) {
        for _ in 0..64 {
            let Some(agent) = self.agents.get(a) else {
                return;
            };
            if !agent.routable() || agent.pooled.is_empty() && agent.sticky.is_empty() {
                return;
            }
            let sticky = agent
                .sticky
                .iter()
                .filter_map(|&w| self.waits.get(w).map(|s| (s.key, s.ch, w)))
                .filter(|(_, ch, _)| agent.free(*ch) > 0)
                .min();
            if let Some((_, _, w)) = sticky {
                self.offer(w, a, now);
                continue;
            }
            let mut best: Option<(CrossKey, u32)> = None;
            for &(l, ch, _) in &agent.pooled {
                let Some(lane) = self.lanes.get(l as usize).and_then(Option::as_ref) else {
                    continue;
                };
                let Some((key, &w)) = lane.waiting[usize::from(ch)].first_key_value() else {
                    continue;
                };
                let qprio = self
                    .queues
                    .get(lane.queue as usize)
                    .and_then(Option::as_ref)
                    .map_or(0, |q| q.def.priority);
                let k = (qprio.saturating_neg(), *key);
                if best.is_none_or(|(b, _)| k < b) {
                    best = Some((k, w));
                }
            }
            let Some((_, w)) = best else { return };
            self.offer(w, a, now);
        }
    }

    /// Reserves agent `a` for interaction `w` and emits the offer.
    pub(crate) fn offer(&mut self, w: u32, a: u32, now: Timestamp) {
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        match slot.status {
            WaitStatus::Waiting => self.remove_waiting(w),
            WaitStatus::Sticky(_) => {
                self.unstick(w);
                self.remove_waiting(w);
            }
            WaitStatus::Offering(_) => {}
        }
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        let ch = slot.ch;
        let Some(q) = self
            .queues
            .get(slot.queue as usize)
            .and_then(Option::as_ref)
        else {
            return;
        };
        let expires_at = now + secs(q.def.offer_timeout_secs);
        let queue = q.def.id.clone();
        let interaction = slot.request.interaction.clone();
        self.seq += 1;
        let id = ReservationId::new(format!("{}{}", self.config.reservation_prefix, self.seq));
        let timer_seq = self.seq;
        let r = self.reservations.insert(ResSlot {
            id: id.clone(),
            wait: w,
            agent: a,
            ch,
            timer: (expires_at, timer_seq),
        });
        self.timers
            .insert((expires_at, timer_seq), Timer::OfferExpiry(r));
        self.reservation_ids.insert(id.clone(), r);
        if let Some(slot) = self.waits.get_mut(w) {
            match &mut slot.status {
                WaitStatus::Offering(rs) => rs.push(r),
                other => *other = WaitStatus::Offering(vec![r]),
            }
        }
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        agent.offered[ch] += 1;
        agent.reservations.push(r);
        let agent_id = agent.profile.id.clone();
        self.refresh_agent(a, now);
        self.decisions.push_back(RoutingDecision::Offer {
            reservation: id,
            interaction,
            queue,
            agent: agent_id,
            expires_at,
        });
    }
}
