//! The pacer's transitions (split from `mod.rs` to keep files small).

use super::snapshot::{AbandonmentStatus, AgentCounts};
use super::{
    AgentSlot, AnsweredBy, BusyAgent, Call, CallId, CallState, DialOrder, Pacer, PacerOutput,
    PacingSnapshot,
};
use crate::strategy::LineAssignment;
use callcore::{AgentId, DialAttempt, Disposition, InteractionId, LeadId, Pii, Timestamp};

impl Pacer {
    fn interaction_id(&self, call: CallId) -> InteractionId {
        match &self.run_id {
            Some(run) => InteractionId::new(format!("{}-{run}-{call}", self.config.id)),
            None => InteractionId::new(format!("{}-{}", self.config.id, call)),
        }
    }

    fn take_idle(&mut self) -> Option<AgentId> {
        self.idle.pop_first().map(|(_, a)| a)
    }

    pub(super) fn set_idle(&mut self, agent: AgentId, now: Timestamp) {
        if self.leaving.remove(&agent) {
            self.agents.insert(agent, AgentSlot::Away);
            return;
        }
        if !self.external_routing
            && let Some(call) = self.waiting.pop_front()
        {
            self.connect(call, agent, now);
            return;
        }
        self.idle.insert((now, agent.clone()));
        self.agents.insert(agent, AgentSlot::Idle(now));
    }

    pub(super) fn remove_idle(&mut self, agent: &AgentId) {
        if let Some(AgentSlot::Idle(since)) = self.agents.get(agent) {
            self.idle.remove(&(*since, agent.clone()));
        }
    }

    pub(super) fn agent_ready(&mut self, agent: AgentId, now: Timestamp) {
        self.leaving.remove(&agent);
        match self.agents.get(&agent) {
            None | Some(AgentSlot::Away) => self.set_idle(agent, now),
            Some(AgentSlot::WrapUp(since)) => {
                self.stats
                    .wrap_time
                    .push(now.duration_since(*since).as_secs_f64());
                self.set_idle(agent, now);
            }
            // The ACD says the agent is free before the call's end reached us.
            Some(AgentSlot::Talking(_)) if self.external_routing => self.set_idle(agent, now),
            // Already idle, reserved, previewing or talking: nothing changes.
            Some(_) => {}
        }
    }

    pub(super) fn agent_away(&mut self, agent: &AgentId, now: Timestamp) {
        match self.agents.get(agent).cloned() {
            Some(AgentSlot::Idle(_)) => {
                self.remove_idle(agent);
                self.agents.insert(agent.clone(), AgentSlot::Away);
            }
            Some(AgentSlot::Previewing(ticket)) => {
                self.release(&ticket.lead, now);
                self.agents.insert(agent.clone(), AgentSlot::Away);
            }
            Some(AgentSlot::Reserved(call)) => {
                // The line keeps ringing, now for whichever agent is free.
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reserved = None;
                }
                self.agents.insert(agent.clone(), AgentSlot::Away);
            }
            Some(AgentSlot::Talking(..) | AgentSlot::WrapUp(_)) => {
                self.leaving.insert(agent.clone());
            }
            Some(AgentSlot::Away) | None => {}
        }
    }

    pub(super) fn release(&mut self, lead: &LeadId, now: Timestamp) {
        if let Ok(l) = self.book.release(lead, now) {
            self.outputs.push_back(PacerOutput::LeadUpdated(l.clone()));
        }
    }

    fn record(
        &mut self,
        call: CallId,
        lead: &LeadId,
        started: Timestamp,
        disposition: Disposition,
        now: Timestamp,
    ) {
        self.outputs.push_back(PacerOutput::Attempt(DialAttempt {
            lead: lead.clone(),
            campaign: self.config.id.clone(),
            tenant: self.config.tenant.clone(),
            interaction: self.interaction_id(call),
            started_at: started,
            disposition: disposition.clone(),
        }));
        if let Ok(l) = self.book.record(lead, &disposition, now) {
            self.outputs.push_back(PacerOutput::LeadUpdated(l.clone()));
        }
    }

    /// Frees the agent a line had reserved.
    pub(super) fn unreserve(&mut self, call: &Call, now: Timestamp) {
        if let Some(agent) = &call.reserved
            && matches!(self.agents.get(agent), Some(AgentSlot::Reserved(_)))
        {
            self.set_idle(agent.clone(), now);
        }
    }

    pub(super) fn answered(&mut self, call: CallId, by: AnsweredBy, now: Timestamp) {
        let Some(c) = self.calls.get(&call).cloned() else {
            return;
        };
        if !matches!(c.state, CallState::Ringing) {
            return;
        }
        let delay = now.duration_since(c.started);
        if self.strategy.assignment() == LineAssignment::Agentless {
            let person = by == AnsweredBy::Person;
            self.stats.record_attempt(person, delay);
            if person {
                self.counters.answered_by_person += 1;
                self.counters.connected += 1;
            } else {
                self.counters.machines += 1;
            }
            if let Some(c) = self.calls.get_mut(&call) {
                c.state = CallState::Playing;
            }
            self.outputs.push_back(PacerOutput::PlayMessage {
                call,
                message: self.config.notification_message.clone(),
            });
            let disposition = if person {
                Disposition::AnsweredPerson
            } else {
                Disposition::AnsweringMachine
            };
            self.record(call, &c.lead, c.started, disposition, now);
            return;
        }
        match by {
            AnsweredBy::Machine => {
                self.stats.record_attempt(false, delay);
                self.counters.machines += 1;
                self.calls.remove(&call);
                self.unreserve(&c, now);
                self.outputs.push_back(PacerOutput::HangUp(call));
                self.record(call, &c.lead, c.started, Disposition::AnsweringMachine, now);
            }
            AnsweredBy::Person => {
                self.stats.record_attempt(true, delay);
                self.counters.answered_by_person += 1;
                if self.external_routing {
                    self.route(call, &c, now);
                    return;
                }
                let agent = match &c.reserved {
                    Some(a) if matches!(self.agents.get(a), Some(AgentSlot::Reserved(r)) if *r == call) => {
                        Some(a.clone())
                    }
                    _ => self.take_idle(),
                };
                if let Some(agent) = agent {
                    self.connect(call, agent, now);
                } else {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.state = CallState::Waiting;
                    }
                    self.waiting.push_back(call);
                    self.deadlines
                        .insert((now + self.config.abandonment.connect_within, call));
                }
            }
        }
    }

    fn connect(&mut self, call: CallId, agent: AgentId, now: Timestamp) {
        let len = self.outputs.len();
        if self.mark_connected(call, agent.clone(), now) {
            // Connect before the attempt and lead records, as the glue expects.
            self.outputs
                .insert(len, PacerOutput::Connect { call, agent });
        }
    }

    pub(super) fn mark_connected(&mut self, call: CallId, agent: AgentId, now: Timestamp) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        c.state = CallState::Connected(agent.clone());
        let origin = (c.lead.clone(), c.started);
        self.deadlines.retain(|(_, id)| *id != call);
        self.agents.insert(agent, AgentSlot::Talking(now));
        self.counters.connected += 1;
        self.person_outcome(call, origin, false, now);
        true
    }

    /// A person's answer is settled: connected in time, or abandoned.
    pub(super) fn person_outcome(
        &mut self,
        call: CallId,
        (lead, started): (LeadId, Timestamp),
        abandoned: bool,
        now: Timestamp,
    ) {
        self.stats.record_person(now, abandoned);
        if abandoned {
            self.counters.abandoned += 1;
        }
        let disposition = if abandoned {
            Disposition::Abandoned
        } else {
            Disposition::AnsweredPerson
        };
        self.record(call, &lead, started, disposition, now);
        let status = self.abandonment_status(now);
        let snapshot = PacingSnapshot {
            now,
            agents: AgentCounts::default(),
            lines_in_flight: 0,
            waiting_for_agent: 0,
            messages_playing: 0,
            leads_ready: true,
            abandonment: status,
            stats: &self.stats,
            answer_prior: self.answer_prior,
            power_ratio: self.config.power_ratio,
            ring_ages: &[],
            busy: &[],
        };
        self.strategy.on_person_answered(&snapshot, abandoned);
    }

    fn abandonment_status(&mut self, now: Timestamp) -> AbandonmentStatus {
        let (answered, abandoned) = self.stats.ledger.counts(now);
        AbandonmentStatus {
            cap: self.config.abandonment.cap,
            answered,
            abandoned,
            connect_within: self.config.abandonment.connect_within,
        }
    }

    pub(super) fn failed(&mut self, call: CallId, disposition: Disposition, now: Timestamp) {
        let Some(c) = self.calls.get(&call).cloned() else {
            return;
        };
        if !matches!(c.state, CallState::Ringing) {
            return;
        }
        self.calls.remove(&call);
        self.stats
            .record_attempt(false, now.duration_since(c.started));
        self.counters.failed += 1;
        self.unreserve(&c, now);
        self.record(call, &c.lead, c.started, disposition, now);
    }

    pub(super) fn ended(&mut self, call: CallId, now: Timestamp) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        match c.state {
            CallState::Connected(agent) => {
                // (With an ACD, its events may already have moved the agent on.)
                if let Some(AgentSlot::Talking(since)) = self.agents.get(&agent) {
                    self.stats
                        .talk_time
                        .push(now.duration_since(*since).as_secs_f64());
                    self.agents.insert(agent, AgentSlot::WrapUp(now));
                }
            }
            CallState::Waiting => {
                // The person hung up before an agent took the call (or the ACD
                // found none in time): abandoned.
                self.waiting.retain(|w| *w != call);
                self.deadlines.retain(|(_, id)| *id != call);
                self.unreserve(&c, now);
                self.person_outcome(call, (c.lead, c.started), true, now);
            }
            CallState::Playing => {}
            CallState::Ringing => {
                self.calls.insert(call, c);
            }
        }
    }

    pub(super) fn preview_accepted(&mut self, agent: &AgentId, now: Timestamp) {
        if let Some(AgentSlot::Previewing(ticket)) = self.agents.get(agent).cloned() {
            self.dial(ticket, Some(agent.clone()), now);
        }
    }

    pub(super) fn preview_skipped(&mut self, agent: &AgentId, now: Timestamp) {
        if let Some(AgentSlot::Previewing(ticket)) = self.agents.get(agent).cloned() {
            self.release(&ticket.lead, now);
            self.set_idle(agent.clone(), now);
        }
    }

    fn dial(&mut self, ticket: crate::rules::LeadTicket, agent: Option<AgentId>, now: Timestamp) {
        self.next_call += 1;
        let call = CallId(self.next_call);
        if let Some(a) = &agent {
            self.agents.insert(a.clone(), AgentSlot::Reserved(call));
        }
        self.calls.insert(
            call,
            Call {
                lead: ticket.lead.clone(),
                started: now,
                reserved: agent.clone(),
                state: CallState::Ringing,
            },
        );
        self.counters.dialed += 1;
        self.outputs.push_back(PacerOutput::Dial(DialOrder {
            call,
            interaction: self.interaction_id(call),
            lead: ticket.lead,
            phone: Pii::new(ticket.phone),
            attempt: ticket.attempt,
            caller_id: self.config.caller_id.clone(),
            ring_timeout: self.config.ring_timeout.max(self.config.min_ring_time),
            agent,
        }));
    }

    pub(super) fn counts(&self) -> AgentCounts {
        let mut c = AgentCounts::default();
        for slot in self.agents.values() {
            match slot {
                AgentSlot::Idle(_) => c.idle += 1,
                AgentSlot::Reserved(_) | AgentSlot::Previewing(_) => c.reserved += 1,
                AgentSlot::Talking(..) => c.talking += 1,
                AgentSlot::WrapUp(_) => c.wrap_up += 1,
                AgentSlot::Away => continue,
            }
            c.logged_in += 1;
        }
        c
    }

    /// Asks the strategy how many lines to dial and dials them.
    pub(super) fn pace(&mut self, now: Timestamp) {
        let agents = self.counts();
        if agents.logged_in > 0 || !self.calls.is_empty() {
            self.next_tick.get_or_insert(now + self.tick);
        }
        let assignment = self.strategy.assignment();
        let agentless = assignment == LineAssignment::Agentless;
        if agentless {
            self.next_tick.get_or_insert(now + self.tick);
        }
        if !self.running || !agentless && agents.idle == 0 && agents.talking + agents.wrap_up == 0 {
            return;
        }
        let wrap = self.stats.wrap_time.mean_or(0.0);
        self.ring_ages.clear();
        self.busy.clear();
        for c in self.calls.values() {
            if matches!(c.state, CallState::Ringing) {
                self.ring_ages.push(now.duration_since(c.started));
            }
        }
        for slot in self.agents.values() {
            match slot {
                AgentSlot::Talking(since) => self
                    .busy
                    .push(BusyAgent::Talking(now.duration_since(*since))),
                AgentSlot::WrapUp(since) => {
                    let left = (wrap - now.duration_since(*since).as_secs_f64()).max(0.0);
                    self.busy
                        .push(BusyAgent::WrapUp(std::time::Duration::from_secs_f64(left)));
                }
                _ => {}
            }
        }
        let abandonment = self.abandonment_status(now);
        let snapshot = PacingSnapshot {
            now,
            agents,
            lines_in_flight: u32::try_from(self.ring_ages.len()).unwrap_or(u32::MAX),
            waiting_for_agent: u32::try_from(self.waiting.len()).unwrap_or(u32::MAX),
            messages_playing: u32::try_from(
                self.calls
                    .values()
                    .filter(|c| matches!(c.state, CallState::Playing))
                    .count(),
            )
            .unwrap_or(u32::MAX),
            leads_ready: self.book.next_due().is_none_or(|t| t <= now),
            abandonment,
            stats: &self.stats,
            answer_prior: self.answer_prior,
            power_ratio: self.config.power_ratio,
            ring_ages: &self.ring_ages,
            busy: &self.busy,
        };
        let mut n = self.strategy.lines_to_dial(&snapshot);
        if !matches!(
            assignment,
            LineAssignment::Pooled | LineAssignment::Agentless
        ) {
            n = n.min(agents.idle);
        }
        for _ in 0..n {
            let Some(ticket) = self.book.take_next(now) else {
                break;
            };
            match assignment {
                LineAssignment::Pooled | LineAssignment::Agentless => self.dial(ticket, None, now),
                LineAssignment::ReservedAgent => {
                    let agent = self.take_idle();
                    self.dial(ticket, agent, now);
                }
                _ => {
                    if let Some(agent) = self.take_idle() {
                        self.outputs.push_back(PacerOutput::Preview {
                            agent: agent.clone(),
                            lead: ticket.lead.clone(),
                        });
                        self.agents.insert(agent, AgentSlot::Previewing(ticket));
                    } else {
                        self.release(&ticket.lead, now);
                    }
                }
            }
        }
    }
}
