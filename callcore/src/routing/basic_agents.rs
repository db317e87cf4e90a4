//! The reference router's agent controls beside their chosen state:
//! reachability (phone registered or not) and after-call work the agent ends
//! early.

use super::BasicRouter;
use crate::{AgentId, AgentState, CoreError, OfferEnd, RoutingDecision, Timestamp};

impl BasicRouter {
    pub(super) fn set_reachable(
        &mut self,
        agent: &AgentId,
        reachable: bool,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let entry = self
            .agents
            .get_mut(agent)
            .ok_or_else(|| CoreError::NotFound {
                what: "agent",
                id: agent.to_string(),
            })?;
        if entry.reachable == reachable {
            return Ok(());
        }
        entry.reachable = reachable;
        self.decisions
            .push_back(RoutingDecision::AgentReachabilityChanged {
                agent: agent.clone(),
                reachable,
            });
        if reachable {
            self.dispatch(now);
        } else {
            // An offer ringing on a phone that just went away is rescinded.
            let res = self
                .reservations
                .iter()
                .find(|(_, r)| &r.agent == agent)
                .map(|(id, _)| id.clone());
            if let Some(res) = res {
                self.end_offer(&res, OfferEnd::Rescinded, now);
                self.dispatch(now);
            }
        }
        Ok(())
    }

    /// When the agent's after-call work ends; an error when they have none.
    pub(super) fn wrap_up_of(&self, agent: &AgentId) -> Result<Timestamp, CoreError> {
        self.agents
            .get(agent)
            .and_then(|a| a.wrap_up.as_ref().map(|(_, t)| *t))
            .ok_or_else(|| CoreError::NotFound {
                what: "after-call work of agent",
                id: agent.to_string(),
            })
    }

    /// Ends the agent's after-call work now: available again.
    pub(super) fn end_wrap_up(&mut self, agent: &AgentId, now: Timestamp) {
        let Some((interaction, _)) = self.agents.get_mut(agent).and_then(|a| a.wrap_up.take())
        else {
            return;
        };
        self.decisions.push_back(RoutingDecision::WrapUpEnded {
            interaction,
            agent: agent.clone(),
        });
        self.set_state(agent, AgentState::Available, now);
    }
}
