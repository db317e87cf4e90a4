//! What an agent controls on a running center beside logging in and choosing a
//! state ([`CenterHandle::set_agent_state`]): whether they can be reached at all
//! (their phone's registration), and their after-call work.

use crate::CenterHandle;
use callcore::{AgentId, CoreError, RouterInput};

impl CenterHandle {
    /// Whether the agent can be reached (their phone registered, their desktop
    /// connected), independent of the state they chose: an agent who is
    /// `Available` but unreachable is offered nothing, and becomes offerable
    /// again, in the same state, when reachable. Journaled as
    /// `AgentReachabilityChanged` when it changes. Agents start reachable.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown agent; [`CoreError::Shutdown`].
    pub async fn set_agent_reachable(
        &self,
        agent: &AgentId,
        reachable: bool,
    ) -> Result<(), CoreError> {
        self.input(RouterInput::SetAgentReachable {
            agent: agent.clone(),
            reachable,
        })
        .await
    }

    /// Ends the agent's after-call work now, before the queue's wrap-up
    /// timeout: they are back in the state they chose (`WrapUpEnded` is
    /// journaled).
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when the agent is unknown or not in after-call
    /// work; [`CoreError::Shutdown`].
    pub async fn end_wrap_up(&self, agent: &AgentId) -> Result<(), CoreError> {
        self.input(RouterInput::EndWrapUp {
            agent: agent.clone(),
        })
        .await
    }

    /// Gives the agent's after-call work a new end, `secs` from now, longer or
    /// shorter than the queue's wrap-up time.
    ///
    /// # Errors
    /// As [`end_wrap_up`](Self::end_wrap_up).
    pub async fn extend_wrap_up(&self, agent: &AgentId, secs: u32) -> Result<(), CoreError> {
        self.input(RouterInput::ExtendWrapUp {
            agent: agent.clone(),
            secs,
        })
        .await
    }
}
