//! The engine as callcore's [`Router`] port: the `Center` runtime drives it in
//! its routing task (that task is the thin async actor; the engine itself has
//! no tokio in it).

use crate::AcdEngine;
use callcore::{
    CoreError, InteractionId, QueuePosition, Router, RouterInput, RouterSnapshot, RoutingDecision,
    Timestamp,
};

impl Router for AcdEngine {
    fn handle(&mut self, input: RouterInput, now: Timestamp) -> Result<(), CoreError> {
        match input {
            RouterInput::AddAgent(profile) => self.add_agent(*profile, now)?,
            RouterInput::RemoveAgent(agent) => self.remove_agent(&agent, now)?,
            RouterInput::SetAgentState { agent, state } => {
                self.set_agent_state(&agent, state, now)?
            }
            RouterInput::SetAgentReachable { agent, reachable } => {
                self.set_agent_reachable(&agent, reachable, now)?;
            }
            RouterInput::EndWrapUp { agent } => self.end_wrap_up(&agent, now)?,
            RouterInput::ExtendWrapUp { agent, secs } => {
                self.extend_wrap_up(&agent, secs, now)?;
            }
            RouterInput::AddQueue(def) => self.add_queue(*def, now)?,
            RouterInput::RemoveQueue(queue) => self.remove_queue(&queue, now)?,
            RouterInput::Enqueue(request) => self.enqueue(*request, now)?,
            RouterInput::Abandon { interaction } => self.abandon(&interaction, now),
            RouterInput::RequestCallback { interaction } => {
                self.request_callback(&interaction, now)?;
            }
            RouterInput::OfferAccepted { reservation } => self.offer_accepted(&reservation, now)?,
            RouterInput::OfferFailed {
                reservation,
                outcome,
            } => {
                self.offer_failed(&reservation, outcome, now)?;
            }
            RouterInput::InteractionEnded { interaction, agent } => {
                self.interaction_ended(&interaction, &agent, now)?;
            }
            other => {
                tracing::warn!(
                    input = %callcore::VariantOf(&other),
                    "router input not understood by callcore-acd"
                );
                return Err(CoreError::Unsupported("router input"));
            }
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
    }

    fn poll_decision(&mut self) -> Option<RoutingDecision> {
        AcdEngine::poll_decision(self)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_timeout()
    }

    fn snapshot(&self, now: Timestamp) -> RouterSnapshot {
        AcdEngine::snapshot(self, now)
    }

    fn queue_position(&self, interaction: &InteractionId, now: Timestamp) -> Option<QueuePosition> {
        let _ = now;
        self.position(interaction)
    }
}
