//! Matching: a new interaction takes the strategy's pick from its lanes'
//! pools; a freed agent takes the longest-waiting interaction (highest queue
//! priority, then interaction priority, then age) across every queue it serves.

use super::small::IdxList;
use super::state::{CHANNELS, ResSlot, WaitStatus};
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
        match &slot.lanes[..] {
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
    /// free agents. An interaction that needs skills of its own (see
    /// [`RoutingRequest::required_skills`](callcore::RoutingRequest)) and
    /// finds no pooled agent with them is passed over: those behind it may
    /// still be served.
    pub(crate) fn route_lane(&mut self, l: u32, ch: usize, now: Timestamp) {
        // Bounded: each pass offers one interaction, which leaves the line.
        for _ in 0..=self.waits_len_hint() {
            let Some(lane) = self.lanes.get(l as usize).and_then(Option::as_ref) else {
                return;
            };
            let Some((_, &head)) = lane.waiting[ch].first_key_value() else {
                return;
            };
            if lane.pools[ch].live() == 0 {
                return;
            }
            let ring_all = lane.ring_all;
            let w = if self.needs_skills(head) {
                let line: Vec<u32> = lane.waiting[ch].values().copied().collect();
                let servable = line
                    .into_iter()
                    .find(|&w| !self.needs_skills(w) || self.any_fits(l, ch, w));
                match servable {
                    Some(w) => w,
                    None => return,
                }
            } else {
                head
            };
            if ring_all {
                let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) else {
                    return;
                };
                lane.pools[ch].purge_front(&self.stamps);
                let skills = self
                    .waits
                    .get(w)
                    .map_or(&[][..], |s| s.request.required_skills.as_slice());
                let agents: Vec<u32> = lane.pools[ch]
                    .iter(&self.stamps)
                    .filter(|e| {
                        skills.is_empty()
                            || self
                                .agents
                                .get(e.slot)
                                .is_some_and(|a| a.profile.meets(skills))
                    })
                    .take(self.config.ring_all_limit.max(1))
                    .map(|e| e.slot)
                    .collect();
                if agents.is_empty() {
                    return;
                }
                for a in agents {
                    self.offer(w, a, now);
                }
                continue;
            }
            let Some(a) = self.pick_agent(l, ch, w) else {
                return;
            };
            self.offer(w, a, now);
        }
    }

    /// Whether interaction `w` needs skills beyond its lane's.
    fn needs_skills(&self, w: u32) -> bool {
        self.waits
            .get(w)
            .is_some_and(|s| !s.request.required_skills.is_empty())
    }

    /// Whether some agent pooled in lane `l` has interaction `w`'s own skills.
    fn any_fits(&self, l: u32, ch: usize, w: u32) -> bool {
        let (Some(lane), Some(slot)) = (
            self.lanes.get(l as usize).and_then(Option::as_ref),
            self.waits.get(w),
        ) else {
            return false;
        };
        lane.pools[ch].iter(&self.stamps).any(|e| {
            self.agents
                .get(e.slot)
                .is_some_and(|a| a.profile.meets(&slot.request.required_skills))
        })
    }

    /// The strategy's choice in lane `l` for interaction `w`, passing over
    /// agents who just declined or missed it while another can take it, and
    /// agents without the interaction's own skills (`None` when nobody has
    /// them).
    pub(crate) fn pick_agent(&mut self, l: u32, ch: usize, w: u32) -> Option<u32> {
        let lane = self.lanes.get_mut(l as usize).and_then(Option::as_mut)?;
        lane.pools[ch].purge_front(&self.stamps);
        let pool = AgentPool {
            pool: &lane.pools[ch],
            stamps: &self.stamps,
        };
        let skills = self
            .waits
            .get(w)
            .map_or(&[][..], |s| s.request.required_skills.as_slice());
        let agents = &self.agents;
        let fits = |slot: u32| {
            skills.is_empty() || agents.get(slot).is_some_and(|a| a.profile.meets(skills))
        };
        let mut pick = lane.strategy.pick(&pool)?;
        if !fits(pick.slot) {
            pick = pool.iter().find(|e| fits(e.slot))?;
        }
        let passed = self.waits.get(w).map_or(&[][..], |s| s.passed.as_slice());
        if passed.contains(&pick.slot)
            && let Some(other) = pool
                .iter()
                .find(|e| !passed.contains(&e.slot) && fits(e.slot))
        {
            pick = other;
        }
        Some(pick.slot)
    }

    fn waits_len_hint(&self) -> usize {
        self.waits.len()
    }

    /// A freed agent takes work: first interactions waiting for it in
    /// particular, then the longest-waiting one among all its lanes.
    pub(crate) fn route_agent(&mut self, a: u32, now: Timestamp) {
        for _ in 0..64 {
            let Some(agent) = self.agents.get(a) else {
                return;
            };
            if !agent.routable() || agent.pooled == 0 && agent.sticky.is_empty() {
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
            let mask = agent.pooled;
            for &l in agent.lanes.iter() {
                let Some(lane) = self.lanes.get(l as usize).and_then(Option::as_ref) else {
                    continue;
                };
                for ch in 0..CHANNELS {
                    if mask & (1 << ch) == 0 {
                        continue;
                    }
                    // the first the agent can take: one needing skills the
                    // agent lacks is left for another
                    let Some((key, &w)) = lane.waiting[ch].iter().find(|(_, w)| {
                        self.waits.get(**w).is_none_or(|s| {
                            s.request.required_skills.is_empty()
                                || agent.profile.meets(&s.request.required_skills)
                        })
                    }) else {
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
        let id = self.mint_reservation_id(self.reservations.next_index());
        let timer_seq = self.seq;
        let key = (expires_at, timer_seq);
        let r = self.reservations.insert(ResSlot {
            id: id.clone(),
            wait: w,
            agent: a,
            ch,
            timer: key,
            in_fifo: false,
        });
        let in_fifo = self.add_offer_timer(key, r);
        if let Some(res) = self.reservations.get_mut(r) {
            res.in_fifo = in_fifo;
        }
        if let Some(slot) = self.waits.get_mut(w) {
            match &mut slot.status {
                WaitStatus::Offering(rs) => rs.push(r),
                other => *other = WaitStatus::Offering(IdxList::one(r)),
            }
        }
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        agent.offered[ch] += 1;
        agent.reservations.push(r);
        let agent_id = agent.id.clone();
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

impl AcdEngine {
    /// A fresh reservation id: the configured prefix, the epoch when the
    /// engine was restored from a snapshot (`e<epoch>-`), the sequence and,
    /// after a dot, the reservation's slot (so that looking it up needs no map).
    fn mint_reservation_id(&mut self, slot: u32) -> ReservationId {
        let mut buf = std::mem::take(&mut self.id_buf);
        buf.clear();
        buf.push_str(&self.config.reservation_prefix);
        if self.epoch > 0 {
            buf.push('e');
            push_decimal(&mut buf, self.epoch);
            buf.push('-');
        }
        push_decimal(&mut buf, self.seq);
        buf.push('.');
        push_decimal(&mut buf, u64::from(slot));
        let id = ReservationId::from(buf.as_str());
        self.id_buf = buf;
        id
    }
}

/// Appends `n` in decimal (the formatting machinery costs more than the
/// rest of minting an id).
fn push_decimal(buf: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimals_are_written_like_display() {
        for n in [0u64, 7, 10, 99, 12_345, u64::MAX] {
            let mut s = String::new();
            super::push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
