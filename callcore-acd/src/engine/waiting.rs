//! Waiting interactions: enqueue (priority, VIP, head start, sticky agent),
//! position and EWT, maximum wait, the escalation ladder, abandonment, and the
//! one place where an interaction leaves the engine.

use super::small::IdxList;
use super::state::{Timer, WaitSlot, WaitStatus};
use super::{AcdEngine, secs};
use crate::AcdError;
use callcore::{
    Destination, EscalationAction, InteractionId, RejectReason, RoutingDecision, RoutingRequest,
    Timestamp,
};

/// How an interaction leaves the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    Answered,
    Abandoned,
    TimedOut,
    Overflow(Destination),
    Rejected(RejectReason),
}

/// Moves between queues per interaction before overflow leaves the engine
/// (guards against overflow loops between queues).
const MAX_HOPS: u32 = 8;

impl AcdEngine {
    pub(crate) fn enqueue_impl(
        &mut self,
        request: RoutingRequest,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        if self.interactions.contains_key(&request.interaction) {
            return Err(AcdError::DuplicateInteraction(request.interaction));
        }
        let head_start_ms = match request.attributes.get("head_start_secs") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map(|s| i64::from(s) * 1000)
                .map_err(|_| AcdError::InvalidAttribute {
                    interaction: request.interaction.clone(),
                    name: "head_start_secs",
                    value: v.clone(),
                })?,
        };
        let Some(&q) = self.queue_ids.get(&request.queue) else {
            self.decisions.push_back(RoutingDecision::Rejected {
                interaction: request.interaction,
                queue: request.queue,
                reason: RejectReason::UnknownQueue,
            });
            return Ok(());
        };
        let Some(qslot) = self.queues.get(q as usize).and_then(Option::as_ref) else {
            return Err(AcdError::UnknownQueue(request.queue));
        };
        let lane0 = qslot.lanes.first().copied().unwrap_or(u32::MAX);
        let logged_in = self
            .lanes
            .get(lane0 as usize)
            .and_then(Option::as_ref)
            .map_or(0, |l| l.logged_in);
        let reject = if qslot.def.max_size.is_some_and(|m| qslot.members >= m) {
            Some(RejectReason::Full)
        } else if !qslot.def.join_when_empty && logged_in == 0 {
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
            return Ok(());
        }
        let max_wait = qslot.def.max_wait_secs;
        let vip = request.attributes.get("vip").is_some_and(|v| v == "true");
        let priority = request.priority.saturating_add(if vip {
            self.config.vip_priority_boost
        } else {
            0
        });
        self.seq += 1;
        let key = (
            priority.saturating_neg(),
            request
                .enqueued_at
                .as_millis()
                .saturating_sub(head_start_ms),
            self.seq,
        );
        // Sticky: the preferred agent, or the last one who served the customer.
        let preferred = request.preferred_agent.clone().or_else(|| {
            request
                .customer
                .as_ref()
                .and_then(|c| self.last_agent.get(c).cloned())
        });
        let sticky = preferred
            .filter(|_| self.config.sticky_wait_secs > 0)
            .and_then(|p| self.agent_ids.get(&p).copied())
            .filter(|&a| {
                self.agents.get(a).is_some_and(|s| {
                    s.presence != super::state::Presence::Offline
                        && s.lanes.contains(&lane0)
                        && s.profile.meets(&request.required_skills)
                })
            });
        let interaction = request.interaction.clone();
        let ch = super::state::ch_index(request.channel);
        let w = self.waits.insert(WaitSlot {
            request,
            key,
            ch,
            queue: q,
            lanes: IdxList::one(lane0),
            tier: 0,
            next_step: 0,
            status: sticky.map_or(WaitStatus::Waiting, WaitStatus::Sticky),
            callback: false,
            hops: 0,
            passed: Vec::new(),
            max_wait_timer: None,
            escalation_timer: None,
            sticky_timer: None,
        });
        self.interactions
            .insert(interaction, super::state::Tracked::Waiting(w));
        if let Some(slot) = self.queues.get_mut(q as usize).and_then(Option::as_mut) {
            slot.members += 1;
            slot.counters.offered += 1;
        }
        if let Some(max) = max_wait {
            let at = self.waits.get(w).map_or(now, |s| s.request.enqueued_at) + secs(max);
            let t = self.add_timer(at.max(now), Timer::MaxWait(w));
            if let Some(slot) = self.waits.get_mut(w) {
                slot.max_wait_timer = Some(t);
            }
        }
        let fast = sticky.is_none() && self.can_offer_at_once(w, lane0, ch, now);
        if let Some(a) = sticky {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.sticky.push(w);
            }
            let t = self.add_timer(
                now + secs(self.config.sticky_wait_secs),
                Timer::StickyEnd(w),
            );
            if let Some(slot) = self.waits.get_mut(w) {
                slot.sticky_timer = Some(t);
            }
        } else if !fast {
            self.insert_waiting(w);
        }
        self.push_queued(w);
        if !self.apply_due_escalations(w, now) {
            return Ok(());
        }
        match sticky {
            Some(a) => self.route_agent(a, now),
            None if fast => match self.pick_agent(lane0, ch, w) {
                // Straight to an agent: the waiting line is never touched.
                Some(a) => {
                    if let Some(slot) = self.waits.get_mut(w) {
                        slot.status = WaitStatus::Offering(IdxList::new());
                    }
                    self.offer(w, a, now);
                }
                None => {
                    self.insert_waiting(w);
                    self.route_wait_lanes(w, now);
                }
            },
            None => self.route_wait_lanes(w, now),
        }
        Ok(())
    }

    /// Whether a new interaction can go straight to a free agent of its
    /// lane: nobody waits ahead of it there, an agent is pooled, the strategy
    /// offers one agent at a time and no escalation step is due yet.
    fn can_offer_at_once(&self, w: u32, lane0: u32, ch: usize, now: Timestamp) -> bool {
        let Some(lane) = self.lanes.get(lane0 as usize).and_then(Option::as_ref) else {
            return false;
        };
        if lane.ring_all || lane.pools[ch].live() == 0 || !lane.waiting[ch].is_empty() {
            return false;
        }
        let Some(slot) = self.waits.get(w) else {
            return false;
        };
        self.queues
            .get(slot.queue as usize)
            .and_then(Option::as_ref)
            .is_some_and(|q| {
                q.def
                    .escalation
                    .first()
                    .is_none_or(|step| slot.request.enqueued_at + secs(step.after_secs) > now)
            })
    }

    /// Emits `Queued` with the interaction's position and EWT.
    pub(crate) fn push_queued(&mut self, w: u32) {
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        let position = self.position_of(w);
        let ewt = self.estimated_wait_secs(slot.queue, position);
        let Some(q) = self
            .queues
            .get(slot.queue as usize)
            .and_then(Option::as_ref)
        else {
            return;
        };
        self.decisions.push_back(RoutingDecision::Queued {
            interaction: slot.request.interaction.clone(),
            queue: q.def.id.clone(),
            position,
            estimated_wait_secs: ewt,
        });
    }

    /// Where a waiting interaction stands: its position and the estimated
    /// wait (`None` when it is not waiting).
    pub fn position(&self, interaction: &InteractionId) -> Option<callcore::QueuePosition> {
        let Some(super::state::Tracked::Waiting(w)) = self.interactions.get(interaction) else {
            return None;
        };
        let queue = self.waits.get(*w)?.queue;
        let position = self.position_of(*w);
        Some(callcore::QueuePosition {
            position,
            estimated_wait_secs: self.estimated_wait_secs(queue, position),
        })
    }

    /// 1-based position among the interactions waiting in the same queue
    /// (all tiers, all channels), in service order.
    pub(crate) fn position_of(&self, w: u32) -> u32 {
        let Some(slot) = self.waits.get(w) else {
            return 0;
        };
        let Some(q) = self
            .queues
            .get(slot.queue as usize)
            .and_then(Option::as_ref)
        else {
            return 0;
        };
        let ahead: usize = q
            .lanes
            .iter()
            .filter_map(|l| self.lanes.get(*l as usize).and_then(Option::as_ref))
            .flat_map(|lane| lane.waiting.iter())
            .map(|m| m.range(..slot.key).count())
            .sum();
        u32::try_from(ahead + 1).unwrap_or(u32::MAX)
    }

    /// Position × average handle time ÷ agents working the queue.
    pub(crate) fn estimated_wait_secs(&self, q: u32, position: u32) -> Option<u32> {
        let slot = self.queues.get(q as usize).and_then(Option::as_ref)?;
        let aht = slot.aht_ms.or_else(|| {
            self.config
                .default_handle_secs
                .map(|s| f64::from(s) * 1000.0)
        })?;
        let staffed = slot
            .lanes
            .first()
            .and_then(|l| self.lanes.get(*l as usize))
            .and_then(Option::as_ref)
            .map_or(0, |l| l.staffed);
        if staffed == 0 {
            return None;
        }
        let secs = f64::from(position) * aht / f64::from(staffed) / 1000.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(secs.round().min(f64::from(u32::MAX)) as u32)
    }

    pub(crate) fn insert_waiting(&mut self, w: u32) {
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        for &l in &slot.lanes {
            if let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) {
                lane.waiting[slot.ch].insert(slot.key, w);
            }
        }
    }

    pub(crate) fn remove_waiting(&mut self, w: u32) {
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        for &l in &slot.lanes {
            if let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) {
                lane.waiting[slot.ch].remove(&slot.key);
            }
        }
    }

    /// Applies every escalation step whose time has come and schedules the
    /// next. Returns whether the interaction is still in the engine.
    pub(crate) fn apply_due_escalations(&mut self, w: u32, now: Timestamp) -> bool {
        loop {
            let Some(slot) = self.waits.get_mut(w) else {
                return false;
            };
            let t = slot.escalation_timer.take();
            self.cancel_timer(t);
            let Some(slot) = self.waits.get(w) else {
                return false;
            };
            let Some(q) = self
                .queues
                .get(slot.queue as usize)
                .and_then(Option::as_ref)
            else {
                return true;
            };
            let Some(step) = q.def.escalation.get(slot.next_step) else {
                return true;
            };
            let due = slot.request.enqueued_at + secs(step.after_secs);
            if due > now {
                let t = self.add_timer(due, Timer::Escalation(w));
                if let Some(slot) = self.waits.get_mut(w) {
                    slot.escalation_timer = Some(t);
                }
                return true;
            }
            let index = slot.next_step;
            let action = step.action.clone();
            let tier = q.step_tier.get(index).copied().flatten();
            let relaxed_lane = tier.and_then(|t| q.lanes.get(t as usize).copied());
            if let Some(slot) = self.waits.get_mut(w) {
                slot.next_step += 1;
            }
            if !self.apply_step(w, &action, relaxed_lane, tier, now) {
                return false;
            }
        }
    }

    fn apply_step(
        &mut self,
        w: u32,
        action: &EscalationAction,
        relaxed_lane: Option<u32>,
        tier: Option<u32>,
        now: Timestamp,
    ) -> bool {
        let waiting = self
            .waits
            .get(w)
            .is_some_and(|s| s.status == WaitStatus::Waiting);
        match action {
            EscalationAction::RelaxProficiency { .. } => {
                let (Some(lane), Some(tier)) = (relaxed_lane, tier) else {
                    return true;
                };
                if waiting {
                    self.remove_waiting(w);
                }
                if let Some(slot) = self.waits.get_mut(w) {
                    if let Some(first) = slot.lanes.first_mut() {
                        *first = lane;
                    }
                    slot.tier = tier;
                }
                if waiting {
                    self.insert_waiting(w);
                }
            }
            EscalationAction::AddQueues { queues } => {
                let extra: Vec<u32> = queues
                    .iter()
                    .filter_map(|id| self.queue_ids.get(id))
                    .filter_map(|q| self.queues.get(*q as usize).and_then(Option::as_ref))
                    .filter_map(|q| q.lanes.first().copied())
                    .collect();
                if waiting {
                    self.remove_waiting(w);
                }
                if let Some(slot) = self.waits.get_mut(w) {
                    for l in extra {
                        if !slot.lanes.contains(&l) {
                            slot.lanes.push(l);
                        }
                    }
                }
                if waiting {
                    self.insert_waiting(w);
                }
            }
            EscalationAction::Overflow { destination } => {
                let target = match destination {
                    Destination::Queue(id) => self.queue_ids.get(id).copied(),
                    _ => None,
                };
                let hops = self.waits.get(w).map_or(0, |s| s.hops);
                match target {
                    Some(q2) if hops < MAX_HOPS => self.move_to_queue(w, q2, now),
                    _ => {
                        self.finish_wait(w, Exit::Overflow(destination.clone()), now);
                        return false;
                    }
                }
            }
            _ => {
                tracing::warn!("unsupported escalation action skipped");
            }
        }
        true
    }

    /// Moves a waiting interaction to another queue of this engine, keeping
    /// its place by age; its ladder restarts on the new queue's steps.
    fn move_to_queue(&mut self, w: u32, q2: u32, now: Timestamp) {
        self.unstick(w);
        let waiting = self
            .waits
            .get(w)
            .is_some_and(|s| s.status == WaitStatus::Waiting);
        if waiting {
            self.remove_waiting(w);
        }
        let lane0 = self
            .queues
            .get(q2 as usize)
            .and_then(Option::as_ref)
            .and_then(|q| q.lanes.first().copied())
            .unwrap_or(u32::MAX);
        let Some(slot) = self.waits.get_mut(w) else {
            return;
        };
        let q1 = std::mem::replace(&mut slot.queue, q2);
        slot.lanes = IdxList::one(lane0);
        slot.tier = 0;
        slot.next_step = 0;
        slot.hops += 1;
        if let Some(q) = self.queues.get_mut(q1 as usize).and_then(Option::as_mut) {
            q.members = q.members.saturating_sub(1);
            q.counters.overflowed += 1;
        }
        if let Some(q) = self.queues.get_mut(q2 as usize).and_then(Option::as_mut) {
            q.members += 1;
            q.counters.offered += 1;
        }
        if waiting {
            self.insert_waiting(w);
        }
        self.push_queued(w);
        let _ = now;
    }

    /// Ends a sticky wait (the interaction becomes an ordinary waiting one,
    /// not yet inserted in its lanes).
    pub(crate) fn unstick(&mut self, w: u32) {
        let Some(slot) = self.waits.get_mut(w) else {
            return;
        };
        let WaitStatus::Sticky(a) = slot.status else {
            return;
        };
        slot.status = WaitStatus::Waiting;
        let t = slot.sticky_timer.take();
        self.cancel_timer(t);
        if let Some(agent) = self.agents.get_mut(a) {
            agent.sticky.retain(|x| *x != w);
        }
        self.insert_waiting(w);
    }

    pub(crate) fn escalation_due(&mut self, w: u32, now: Timestamp) {
        let Some(slot) = self.waits.get_mut(w) else {
            return;
        };
        slot.escalation_timer = None;
        if matches!(slot.status, WaitStatus::Offering(_)) {
            // Applied when the offer ends without an answer.
            return;
        }
        if self.apply_due_escalations(w, now) {
            self.route_wait_lanes(w, now);
        }
    }

    pub(crate) fn max_wait_reached(&mut self, w: u32, now: Timestamp) {
        let Some(slot) = self.waits.get_mut(w) else {
            return;
        };
        slot.max_wait_timer = None;
        if matches!(slot.status, WaitStatus::Offering(_)) || slot.callback {
            return;
        }
        self.finish_wait(w, Exit::TimedOut, now);
    }

    pub(crate) fn sticky_ended(&mut self, w: u32, now: Timestamp) {
        let Some(slot) = self.waits.get_mut(w) else {
            return;
        };
        slot.sticky_timer = None;
        if matches!(slot.status, WaitStatus::Sticky(_)) {
            self.unstick(w);
            self.route_wait_lanes(w, now);
        }
    }

    pub(crate) fn abandon_impl(&mut self, interaction: &InteractionId, now: Timestamp) {
        if let Some(w) = self.wait_of(interaction) {
            self.finish_wait(w, Exit::Abandoned, now);
        }
    }

    /// The one exit: cancels pending offers, clears indexes and timers,
    /// counts, and emits the decision that ends routing (none when answered
    /// or abandoned: the caller already knows).
    pub(crate) fn finish_wait(&mut self, w: u32, exit: Exit, now: Timestamp) {
        let Some(slot) = self.waits.get(w) else {
            return;
        };
        let status = slot.status.clone();
        match &status {
            WaitStatus::Waiting => self.remove_waiting(w),
            WaitStatus::Sticky(a) => {
                if let Some(agent) = self.agents.get_mut(*a) {
                    agent.sticky.retain(|x| *x != w);
                }
            }
            WaitStatus::Offering(_) => {}
        }
        let mut released = Vec::new();
        if let WaitStatus::Offering(rs) = status {
            let outcome = if exit == Exit::Abandoned {
                callcore::OfferEnd::Canceled
            } else {
                callcore::OfferEnd::Rescinded
            };
            for r in rs {
                if let Some((_, a)) = self.drop_reservation(r, outcome, now) {
                    released.push(a);
                }
            }
        }
        let Some(slot) = self.waits.remove(w) else {
            return;
        };
        if exit != Exit::Answered {
            self.interactions.remove(&slot.request.interaction);
        }
        self.cancel_timer(slot.max_wait_timer);
        self.cancel_timer(slot.escalation_timer);
        self.cancel_timer(slot.sticky_timer);
        let queue_id = if let Some(q) = self
            .queues
            .get_mut(slot.queue as usize)
            .and_then(Option::as_mut)
        {
            q.members = q.members.saturating_sub(1);
            match &exit {
                Exit::Abandoned => q.counters.abandoned += 1,
                Exit::TimedOut | Exit::Rejected(_) => q.counters.timed_out += 1,
                Exit::Overflow(_) => q.counters.overflowed += 1,
                Exit::Answered => {}
            }
            q.def.id.clone()
        } else {
            slot.request.queue.clone()
        };
        let interaction = slot.request.interaction;
        match exit {
            Exit::TimedOut => self.decisions.push_back(RoutingDecision::TimedOut {
                interaction,
                queue: queue_id,
            }),
            Exit::Overflow(destination) => self.decisions.push_back(RoutingDecision::Overflow {
                interaction,
                queue: queue_id,
                destination,
            }),
            Exit::Rejected(reason) => self.decisions.push_back(RoutingDecision::Rejected {
                interaction,
                queue: queue_id,
                reason,
            }),
            Exit::Answered | Exit::Abandoned => {}
        }
        for a in released {
            self.refresh_agent(a, now);
            self.route_agent(a, now);
        }
    }
}
