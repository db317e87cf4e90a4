//! Reservations: an offer holds the agent until it is accepted, declined,
//! times out, fails, is canceled (the customer hung up) or rescinded (another
//! agent won, or the agent left). Misses count toward not-ready and start the
//! per-cause delay; accepted interactions end in wrap-up.

use super::state::{Accepted, Presence, Timer, Tracked, WaitStatus};
use super::waiting::Exit;
use super::{AcdEngine, MISSED_OFFERS_REASON, secs};
use crate::AcdError;
use callcore::{AgentId, InteractionId, OfferEnd, ReservationId, RoutingDecision, Timestamp};

/// The explicit state of a reservation, as FreeSWITCH and TaskRouter name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReservationState {
    /// Ringing; the agent is held.
    Pending,
    /// The agent took it.
    Accepted,
    /// The agent declined.
    Rejected,
    /// Nobody answered in time.
    TimedOut,
    /// The customer hung up.
    Canceled,
    /// Another agent won, or the agent left.
    Rescinded,
    /// The agent's endpoint could not be reached.
    Failed,
}

impl From<OfferEnd> for ReservationState {
    fn from(e: OfferEnd) -> Self {
        match e {
            OfferEnd::Declined => Self::Rejected,
            OfferEnd::TimedOut => Self::TimedOut,
            OfferEnd::Canceled => Self::Canceled,
            OfferEnd::Failed => Self::Failed,
            _ => Self::Rescinded,
        }
    }
}

impl AcdEngine {
    /// The state of a reservation: `Pending` while it rings, `None` once it
    /// is resolved (its outcome was emitted as a decision).
    #[must_use]
    pub fn reservation_state(&self, reservation: &ReservationId) -> Option<ReservationState> {
        self.find_reservation(reservation)
            .map(|_| ReservationState::Pending)
    }

    /// Removes a reservation and applies its effect on the agent (not on the
    /// interaction). Returns (interaction slot, agent slot).
    pub(crate) fn drop_reservation(
        &mut self,
        r: u32,
        outcome: OfferEnd,
        now: Timestamp,
    ) -> Option<(u32, u32)> {
        let res = self.reservations.remove(r)?;
        self.cancel_offer_timer(res.timer, res.in_fifo);
        let interaction = self
            .waits
            .get(res.wait)
            .map(|w| w.request.interaction.clone())
            .unwrap_or_else(|| InteractionId::new(""));
        let a = res.agent;
        let agent = self.agents.get_mut(a)?;
        agent.offered[res.ch] = agent.offered[res.ch].saturating_sub(1);
        agent.reservations.retain(|x| *x != r);
        self.decisions.push_back(RoutingDecision::OfferEnded {
            reservation: res.id,
            interaction,
            agent: agent.id.clone(),
            outcome,
        });
        let missed = matches!(outcome, OfferEnd::TimedOut | OfferEnd::Failed);
        if matches!(
            outcome,
            OfferEnd::Declined | OfferEnd::TimedOut | OfferEnd::Failed
        ) {
            // Back of the idle line.
            agent.idle_since = now;
            agent.rerank = true;
            if missed {
                agent.missed += 1;
            }
            let max = self.config.max_missed_offers;
            if max > 0 && agent.missed >= max {
                agent.missed = 0;
                self.set_presence_raw(a, Presence::NotReady(MISSED_OFFERS_REASON.to_owned()), now);
            } else {
                let delay = match outcome {
                    OfferEnd::Declined => self.config.reject_delay_secs,
                    OfferEnd::TimedOut => self.config.no_answer_delay_secs,
                    _ => self.config.busy_delay_secs,
                };
                if delay > 0 {
                    let old = self.agents.get_mut(a).and_then(|s| s.delay.take());
                    self.cancel_timer(old);
                    let t = self.add_timer(now + secs(delay), Timer::DelayEnd(a));
                    if let Some(agent) = self.agents.get_mut(a) {
                        agent.delay = Some(t);
                    }
                }
            }
        }
        Some((res.wait, a))
    }

    /// An offer ended without an answer: the interaction goes back to its
    /// place (or leaves if its maximum wait passed meanwhile).
    pub(crate) fn end_offer(&mut self, r: u32, outcome: OfferEnd, now: Timestamp) {
        let Some((w, a)) = self.drop_reservation(r, outcome, now) else {
            return;
        };
        if matches!(
            outcome,
            OfferEnd::Declined | OfferEnd::TimedOut | OfferEnd::Failed
        ) && let Some(slot) = self.waits.get_mut(w)
            && !slot.passed.contains(&a)
        {
            slot.passed.push(a);
        }
        if outcome == OfferEnd::Canceled {
            self.finish_wait(w, Exit::Abandoned, now);
        } else if let Some(slot) = self.waits.get_mut(w)
            && let WaitStatus::Offering(rs) = &mut slot.status
        {
            {
                rs.retain(|x| *x != r);
                if rs.is_empty() {
                    slot.status = WaitStatus::Waiting;
                    let timed_out = !slot.callback
                        && self
                            .queues
                            .get(slot.queue as usize)
                            .and_then(Option::as_ref)
                            .and_then(|q| q.def.max_wait_secs)
                            .is_some_and(|m| now >= slot.request.enqueued_at + secs(m));
                    if timed_out {
                        self.finish_wait(w, Exit::TimedOut, now);
                    } else {
                        self.insert_waiting(w);
                        if self.apply_due_escalations(w, now) {
                            self.refresh_agent(a, now);
                            self.route_wait_lanes(w, now);
                        }
                    }
                }
            }
        }
        self.refresh_agent(a, now);
        self.route_agent(a, now);
    }

    pub(crate) fn accept_impl(
        &mut self,
        reservation: &ReservationId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        let r = self
            .find_reservation(reservation)
            .ok_or_else(|| AcdError::UnknownReservation(reservation.clone()))?;
        let Some(res) = self.reservations.remove(r) else {
            return Err(AcdError::UnknownReservation(reservation.clone()));
        };
        self.cancel_offer_timer(res.timer, res.in_fifo);
        let a = res.agent;
        let w = res.wait;
        let Some(slot) = self.waits.get_mut(w) else {
            return Err(AcdError::UnknownReservation(reservation.clone()));
        };
        if let WaitStatus::Offering(rs) = &mut slot.status {
            rs.retain(|x| *x != r);
        }
        let interaction = slot.request.interaction.clone();
        let customer = slot.request.customer.clone();
        let waited = now.duration_since(slot.request.enqueued_at);
        let q = slot.queue;
        let queue_id = self
            .queues
            .get_mut(q as usize)
            .and_then(Option::as_mut)
            .map(|qs| {
                qs.counters.answered += 1;
                qs.counters.wait_ms_answered +=
                    u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                if waited <= secs(qs.def.service_level_secs) {
                    qs.counters.answered_in_sl += 1;
                }
                qs.def.id.clone()
            });
        let Some(agent) = self.agents.get_mut(a) else {
            return Err(AcdError::UnknownReservation(reservation.clone()));
        };
        agent.offered[res.ch] = agent.offered[res.ch].saturating_sub(1);
        agent.reservations.retain(|x| *x != r);
        agent.load[res.ch] += 1;
        agent.missed = 0;
        agent.handled += 1;
        agent.rerank = true;
        let agent_id = agent.id.clone();
        if let Some(c) = customer {
            self.last_agent.insert(c, agent_id.clone());
        }
        // Answered keeps the interaction's map entry; it becomes accepted.
        self.finish_wait(w, Exit::Answered, now);
        if let Some(t) = self.interactions.get_mut(&interaction) {
            *t = Tracked::Accepted(Accepted {
                agent: a,
                queue: q,
                ch: res.ch,
                since: now,
            });
        }
        self.refresh_agent(a, now);
        self.decisions.push_back(RoutingDecision::Assigned {
            reservation: res.id,
            interaction,
            queue: queue_id.unwrap_or_else(|| callcore::QueueId::new("")),
            agent: agent_id,
        });
        self.route_agent(a, now);
        Ok(())
    }

    pub(crate) fn interaction_ended_impl(
        &mut self,
        interaction: &InteractionId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        let acc = match self.interactions.remove(interaction) {
            Some(Tracked::Accepted(acc)) => acc,
            Some(other) => {
                self.interactions.insert(interaction.clone(), other);
                return Err(AcdError::UnknownInteraction(interaction.clone()));
            }
            None => return Err(AcdError::UnknownInteraction(interaction.clone())),
        };
        let a = acc.agent;
        if self.agents.get(a).is_none_or(|s| !s.is(agent)) {
            self.interactions
                .insert(interaction.clone(), Tracked::Accepted(acc));
            return Err(AcdError::WrongAgent {
                interaction: interaction.clone(),
                agent: agent.clone(),
            });
        }
        let talk_ms = u64::try_from(now.duration_since(acc.since).as_millis()).unwrap_or(u64::MAX);
        let wrap = self
            .queues
            .get(acc.queue as usize)
            .and_then(Option::as_ref)
            .map_or(0, |q| q.def.wrap_up_secs);
        if let Some(q) = self
            .queues
            .get_mut(acc.queue as usize)
            .and_then(Option::as_mut)
        {
            #[allow(clippy::cast_precision_loss)]
            let sample = talk_ms as f64 + f64::from(wrap) * 1000.0;
            q.aht_ms = Some(q.aht_ms.map_or(sample, |old| old + 0.1 * (sample - old)));
        }
        if let Some(slot) = self.agents.get_mut(a) {
            slot.load[acc.ch] = slot.load[acc.ch].saturating_sub(1);
            slot.talk_ms = slot.talk_ms.saturating_add(talk_ms);
            if slot.active() == 0 {
                slot.idle_since = now;
            }
            slot.rerank = true;
        }
        if wrap > 0 {
            self.start_wrap_up(a, interaction.clone(), wrap, now);
            self.refresh_agent(a, now);
            self.decisions.push_back(RoutingDecision::WrapUpStarted {
                interaction: interaction.clone(),
                agent: agent.clone(),
                duration_secs: wrap,
            });
        } else {
            self.refresh_agent(a, now);
            self.route_agent(a, now);
        }
        Ok(())
    }
}
