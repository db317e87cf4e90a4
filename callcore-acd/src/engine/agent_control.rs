//! What an agent controls beside the state they choose: whether they can be
//! reached (their phone's registration), and after-call work ended early or
//! given more time.

use super::AcdEngine;
use crate::AcdError;
use callcore::{AgentId, RoutingDecision, Timestamp};

impl AcdEngine {
    /// Whether the agent can be reached at all (their phone registered, their
    /// desktop connected). It does not change the state the agent chose: an
    /// agent `Available` but unreachable is offered nothing (and counts as
    /// logged in but not staffing), and becomes offerable again the moment
    /// they are reachable. Agents start reachable. A pending offer of an agent
    /// who becomes unreachable is rescinded, and interactions waiting for that
    /// agent in particular (sticky routing) go back to their queue.
    ///
    /// # Errors
    /// The engine is fenced, or the agent is unknown.
    pub fn set_agent_reachable(
        &mut self,
        agent: &AgentId,
        reachable: bool,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        let a = self.slot_of(agent)?;
        if self.agents.get(a).is_some_and(|s| s.reachable == reachable) {
            return Ok(());
        }
        self.count_presence(a, -1);
        if let Some(slot) = self.agents.get_mut(a) {
            slot.reachable = reachable;
            if reachable {
                slot.rerank = true;
            }
        }
        self.count_presence(a, 1);
        self.decisions
            .push_back(RoutingDecision::AgentReachabilityChanged {
                agent: agent.clone(),
                reachable,
            });
        if !reachable {
            self.rescind_offers_of(a, now);
            // callers kept for this agent (sticky routing) go to the queue
            self.release_sticky(a, now);
        }
        self.refresh_agent(a, now);
        self.route_agent(a, now);
        Ok(())
    }

    /// Ends the agent's after-call work now, before its timeout: the agent is
    /// in the state they chose again (available, or not ready if they asked
    /// for it meanwhile).
    ///
    /// # Errors
    /// The engine is fenced, the agent is unknown or not in after-call work
    /// ([`AcdError::NotInWrapUp`]).
    pub fn end_wrap_up(&mut self, agent: &AgentId, now: Timestamp) -> Result<(), AcdError> {
        self.check_fence()?;
        let a = self.wrapping_slot(agent)?;
        self.end_wrap_up_impl(a, now);
        Ok(())
    }

    /// Gives the agent's after-call work a new end, `secs` from now (longer
    /// or shorter than the queue's wrap-up time; 0 ends it at the next tick).
    ///
    /// # Errors
    /// As [`end_wrap_up`](Self::end_wrap_up).
    pub fn extend_wrap_up(
        &mut self,
        agent: &AgentId,
        secs: u32,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        let a = self.wrapping_slot(agent)?;
        let Some(mut wrap) = self.agents.get_mut(a).and_then(|s| s.wrap.take()) else {
            return Err(AcdError::NotInWrapUp(agent.clone()));
        };
        self.cancel_timer(Some(wrap.timer));
        wrap.timer = self.add_timer(now + super::secs(secs), super::state::Timer::WrapUpEnd(a));
        if let Some(slot) = self.agents.get_mut(a) {
            slot.wrap = Some(wrap);
        }
        Ok(())
    }

    fn slot_of(&self, agent: &AgentId) -> Result<u32, AcdError> {
        self.agent_ids
            .get(agent)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(agent.clone()))
    }

    fn wrapping_slot(&self, agent: &AgentId) -> Result<u32, AcdError> {
        let a = self.slot_of(agent)?;
        if self.agents.get(a).is_some_and(|s| s.wrap.is_some()) {
            Ok(a)
        } else {
            Err(AcdError::NotInWrapUp(agent.clone()))
        }
    }
}
