//! External routing: an ACD (callcore's `Center` and its router) connects the
//! people who answer to agents; the pacer mirrors the agents' states for
//! pacing and learns each answered call's outcome.

use super::{AgentSlot, Call, CallId, CallState, Pacer, PacerOutput};
use callcore::{AgentId, Timestamp};

impl Pacer {
    /// A person answered: hand them to the ACD, preferring the reserved agent.
    pub(super) fn route(&mut self, call: CallId, c: &Call, _now: Timestamp) {
        let preferred_agent = c
            .reserved
            .clone()
            .filter(|a| matches!(self.agents.get(a), Some(AgentSlot::Reserved(r)) if *r == call));
        if let Some(line) = self.calls.get_mut(&call) {
            line.state = CallState::Waiting;
        }
        self.waiting.push_back(call);
        self.outputs.push_back(PacerOutput::Route {
            call,
            preferred_agent,
        });
    }

    /// The ACD connected `call` to `agent`.
    pub(super) fn routed(&mut self, call: CallId, agent: AgentId, now: Timestamp) {
        let Some(c) = self.calls.get(&call).cloned() else {
            return;
        };
        if !matches!(c.state, CallState::Waiting) {
            return;
        }
        self.waiting.retain(|w| *w != call);
        if c.reserved.as_ref() != Some(&agent) {
            // The router chose someone else: the reserved agent is free again.
            self.unreserve(&c, now);
        }
        self.take_out_of_idle(&agent);
        self.mark_connected(call, agent, now);
    }

    fn take_out_of_idle(&mut self, agent: &AgentId) {
        match self.agents.get(agent).cloned() {
            Some(AgentSlot::Idle(_)) => self.remove_idle(agent),
            Some(AgentSlot::Reserved(other)) => {
                if let Some(c) = self.calls.get_mut(&other) {
                    c.reserved = None;
                }
            }
            _ => {}
        }
    }

    /// The ACD says the agent is busy (offer ringing, on a call).
    pub(super) fn agent_busy(&mut self, agent: &AgentId, now: Timestamp) {
        match self.agents.get(agent).cloned() {
            Some(AgentSlot::Idle(_) | AgentSlot::Reserved(_) | AgentSlot::WrapUp(_)) => {
                self.take_out_of_idle(agent);
                self.agents.insert(agent.clone(), AgentSlot::Talking(now));
            }
            Some(AgentSlot::Previewing(ticket)) => {
                self.release(&ticket.lead, now);
                self.agents.insert(agent.clone(), AgentSlot::Talking(now));
            }
            // Busy when the pacer first hears of them: logged in, free later.
            None => {
                self.agents.insert(agent.clone(), AgentSlot::Talking(now));
            }
            Some(AgentSlot::Talking(_) | AgentSlot::Away) => {}
        }
    }

    /// The ACD says the agent's interaction ended and wrap-up began.
    pub(super) fn agent_wrap_up(&mut self, agent: &AgentId, now: Timestamp) {
        match self.agents.get(agent).cloned() {
            Some(AgentSlot::Talking(since)) => {
                self.stats
                    .talk_time
                    .push(now.duration_since(since).as_secs_f64());
                self.agents.insert(agent.clone(), AgentSlot::WrapUp(now));
            }
            Some(AgentSlot::Idle(_) | AgentSlot::Reserved(_)) => {
                self.take_out_of_idle(agent);
                self.agents.insert(agent.clone(), AgentSlot::WrapUp(now));
            }
            Some(AgentSlot::Previewing(ticket)) => {
                self.release(&ticket.lead, now);
                self.agents.insert(agent.clone(), AgentSlot::WrapUp(now));
            }
            None => {
                self.agents.insert(agent.clone(), AgentSlot::WrapUp(now));
            }
            Some(AgentSlot::WrapUp(_) | AgentSlot::Away) => {}
        }
    }
}
