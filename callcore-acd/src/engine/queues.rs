//! Queues and their tiers: each queue has a lane for its own requirements and
//! one more for every escalation step that relaxes proficiency.

use super::AcdEngine;
use super::agents::eligible;
use super::state::{Lane, QueueCounters, QueueSlot, WaitStatus};
use super::waiting::Exit;
use crate::AcdError;
use crate::strategy::OfferMode;
use callcore::{
    EscalationAction, QueueDefinition, QueueId, RejectReason, SkillRequirement, Timestamp,
};

impl AcdEngine {
    fn validate_queue(&self, def: &QueueDefinition) -> Result<(), AcdError> {
        if self.registry.create(&def.strategy).is_none() {
            return Err(AcdError::UnknownStrategy {
                queue: def.id.clone(),
                name: def.strategy.clone(),
            });
        }
        let mut last = 0;
        for step in &def.escalation {
            if step.after_secs < last {
                return Err(AcdError::InvalidQueue {
                    queue: def.id.clone(),
                    field: "escalation",
                    reason: "steps must be in order of after_secs".to_owned(),
                });
            }
            last = step.after_secs;
        }
        Ok(())
    }

    /// The requirements of every tier of a queue (tier 0: its own), and for
    /// each escalation step the tier it relaxes to.
    fn tiers_of(def: &QueueDefinition) -> (Vec<Vec<SkillRequirement>>, Vec<Option<u32>>) {
        let mut tiers: Vec<Vec<SkillRequirement>> = vec![def.requirements.clone()];
        let mut step_tier = Vec::new();
        for step in &def.escalation {
            if let EscalationAction::RelaxProficiency { min_proficiency } = &step.action {
                let last = tiers.last().cloned().unwrap_or_default();
                tiers.push(
                    last.into_iter()
                        .map(|r| SkillRequirement {
                            min_proficiency: r.min_proficiency.min(*min_proficiency),
                            skill: r.skill,
                        })
                        .collect(),
                );
                step_tier.push(Some(u32::try_from(tiers.len() - 1).unwrap_or(0)));
            } else {
                step_tier.push(None);
            }
        }
        (tiers, step_tier)
    }

    /// A fresh lane for tier `tier` of queue `q` (`None`: no such queue or
    /// tier).
    ///
    /// # Errors
    /// The queue's strategy is not registered.
    pub(crate) fn new_lane(&self, q: u32, tier: u32) -> Result<Option<Lane>, AcdError> {
        let Some(def) = self
            .queues
            .get(q as usize)
            .and_then(Option::as_ref)
            .map(|s| &s.def)
        else {
            return Ok(None);
        };
        let (tiers, _) = Self::tiers_of(def);
        let Some(requirements) = tiers.into_iter().nth(tier as usize) else {
            return Ok(None);
        };
        let strategy =
            self.registry
                .create(&def.strategy)
                .ok_or_else(|| AcdError::UnknownStrategy {
                    queue: def.id.clone(),
                    name: def.strategy.clone(),
                })?;
        let ring_all = strategy.offer_mode() == OfferMode::RingAll;
        Ok(Some(Lane {
            queue: q,
            tier,
            requirements,
            strategy,
            ring_all,
            pools: Default::default(),
            waiting: Default::default(),
            logged_in: 0,
            staffed: 0,
        }))
    }

    /// Creates the lanes of queue `q` (appended, never reused).
    fn build_lanes(&mut self, q: u32) -> Vec<u32> {
        let Some(def) = self
            .queues
            .get(q as usize)
            .and_then(Option::as_ref)
            .map(|s| &s.def)
        else {
            return Vec::new();
        };
        let (tiers, step_tier) = Self::tiers_of(def);
        let mut lanes = Vec::new();
        for tier in 0..tiers.len() {
            let Ok(Some(lane)) = self.new_lane(q, u32::try_from(tier).unwrap_or(0)) else {
                continue;
            };
            self.lanes.push(Some(lane));
            lanes.push(u32::try_from(self.lanes.len() - 1).unwrap_or(u32::MAX));
        }
        if let Some(slot) = self.queues.get_mut(q as usize).and_then(Option::as_mut) {
            slot.lanes.clone_from(&lanes);
            slot.step_tier = step_tier;
        }
        lanes
    }

    /// Gives every agent the new lanes it qualifies for and pools it there.
    fn attach_lanes(&mut self, new: &[u32], now: Timestamp) {
        let agents: Vec<u32> = self.agents.iter().map(|(a, _)| a).collect();
        for &a in &agents {
            let Some(slot) = self.agents.get(a) else {
                continue;
            };
            let mut added = Vec::new();
            for &l in new {
                let Some(lane) = self.lanes.get(l as usize).and_then(Option::as_ref) else {
                    continue;
                };
                let Some(q) = self
                    .queues
                    .get(lane.queue as usize)
                    .and_then(Option::as_ref)
                else {
                    continue;
                };
                if eligible(&slot.profile, lane, &q.def.id) {
                    added.push(l);
                }
            }
            if added.is_empty() {
                continue;
            }
            let logged = u32::from(slot.presence != super::state::Presence::Offline);
            let staffed = u32::from(slot.staffing());
            for &l in &added {
                if let Some(lane) = self.lanes.get_mut(l as usize).and_then(Option::as_mut) {
                    lane.logged_in += logged;
                    lane.staffed += staffed;
                }
            }
            // Out of the pools under the old lane list before it changes.
            self.unpool(a);
            if let Some(slot) = self.agents.get_mut(a) {
                slot.lanes.extend(added);
                slot.lanes.sort_unstable();
                slot.rerank = true;
            }
            self.refresh_agent(a, now);
        }
    }

    /// Takes lanes away from every agent and kills them.
    fn detach_lanes(&mut self, old: &[u32]) {
        let agents: Vec<u32> = self.agents.iter().map(|(a, _)| a).collect();
        for a in agents {
            if self
                .agents
                .get(a)
                .is_some_and(|s| s.lanes.iter().any(|l| old.contains(l)))
            {
                self.unpool(a);
                if let Some(slot) = self.agents.get_mut(a) {
                    slot.lanes.retain(|l| !old.contains(l));
                    slot.rerank = true;
                }
            }
        }
        for &l in old {
            if let Some(lane) = self.lanes.get_mut(l as usize) {
                *lane = None;
            }
        }
    }

    pub(crate) fn add_queue_impl(
        &mut self,
        def: QueueDefinition,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.validate_queue(&def)?;
        if let Some(&q) = self.queue_ids.get(&def.id) {
            // Replace: waiting interactions keep their place and restart their
            // escalation ladder on the new definition.
            let members: Vec<u32> = self
                .waits
                .iter()
                .filter(|(_, w)| w.queue == q)
                .map(|(i, _)| i)
                .collect();
            for &w in &members {
                if self
                    .waits
                    .get(w)
                    .is_some_and(|s| s.status == WaitStatus::Waiting)
                {
                    self.remove_waiting(w);
                }
            }
            let old = self
                .queues
                .get(q as usize)
                .and_then(Option::as_ref)
                .map(|s| s.lanes.clone())
                .unwrap_or_default();
            self.detach_lanes(&old);
            if let Some(slot) = self.queues.get_mut(q as usize).and_then(Option::as_mut) {
                slot.def = def;
            }
            let lanes = self.build_lanes(q);
            self.attach_lanes(&lanes, now);
            let lane0 = lanes.first().copied();
            for &w in &members {
                let Some(slot) = self.waits.get_mut(w) else {
                    continue;
                };
                slot.lanes = lane0.into_iter().collect();
                slot.tier = 0;
                slot.next_step = 0;
                let waiting = slot.status == WaitStatus::Waiting;
                let t = slot.escalation_timer.take();
                self.cancel_timer(t);
                if waiting {
                    self.insert_waiting(w);
                }
                if self.apply_due_escalations(w, now) {
                    self.route_wait_lanes(w, now);
                }
            }
            self.resync_agents(now);
            return Ok(());
        }
        let q = u32::try_from(self.queues.len()).unwrap_or(u32::MAX);
        self.queue_ids.insert(def.id.clone(), q);
        self.queues.push(Some(QueueSlot {
            def,
            lanes: Vec::new(),
            step_tier: Vec::new(),
            members: 0,
            aht_ms: None,
            counters: QueueCounters::default(),
        }));
        let lanes = self.build_lanes(q);
        self.attach_lanes(&lanes, now);
        self.resync_agents(now);
        Ok(())
    }

    /// Refreshes and routes every agent (after structural changes).
    fn resync_agents(&mut self, now: Timestamp) {
        let agents: Vec<u32> = self.agents.iter().map(|(a, _)| a).collect();
        for a in agents {
            self.refresh_agent(a, now);
            self.route_agent(a, now);
        }
    }

    pub(crate) fn remove_queue_impl(
        &mut self,
        queue: &QueueId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        let q = *self
            .queue_ids
            .get(queue)
            .ok_or_else(|| AcdError::UnknownQueue(queue.clone()))?;
        let members: Vec<u32> = self
            .waits
            .iter()
            .filter(|(_, w)| w.queue == q)
            .map(|(i, _)| i)
            .collect();
        for w in members {
            self.finish_wait(w, Exit::TimedOut, now);
        }
        let old = self
            .queues
            .get(q as usize)
            .and_then(Option::as_ref)
            .map(|s| s.lanes.clone())
            .unwrap_or_default();
        self.detach_lanes(&old);
        if let Some(slot) = self.queues.get_mut(q as usize) {
            *slot = None;
        }
        self.queue_ids.remove(queue);
        self.resync_agents(now);
        Ok(())
    }

    /// Queues that empty out when their last agent logs off send their
    /// waiting interactions away (`leave_when_empty`).
    pub(crate) fn leave_empty_queues(&mut self, now: Timestamp) {
        let mut leaving = Vec::new();
        for (q, slot) in self.queues.iter().enumerate() {
            let Some(slot) = slot else { continue };
            if !slot.def.leave_when_empty || slot.members == 0 {
                continue;
            }
            let logged_in = slot
                .lanes
                .first()
                .and_then(|l| self.lanes.get(*l as usize))
                .and_then(Option::as_ref)
                .map_or(0, |l| l.logged_in);
            if logged_in == 0 {
                leaving.push(u32::try_from(q).unwrap_or(u32::MAX));
            }
        }
        for q in leaving {
            let members: Vec<u32> = self
                .waits
                .iter()
                .filter(|(_, w)| w.queue == q && !matches!(w.status, WaitStatus::Offering(_)))
                .map(|(i, _)| i)
                .collect();
            for w in members {
                self.finish_wait(w, Exit::Rejected(RejectReason::NoAgents), now);
            }
        }
    }
}
