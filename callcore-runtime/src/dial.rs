//! Click-to-dial: an agent calls a customer from the desktop.
//!
//! ```text
//!  CenterHandle::dial(agent, number)
//!    checks: agent known, available, reachable; the number reachable
//!    agent reserved (NotReady "dialing") ─► InteractionCreated (outbound)
//!    agent's phone rung ─► answered ─► the number placed ─► answered
//!    ─► bridged (Connected) ─► conversation, call control as any call
//!    ─► Ended ─► agent available again
//! ```

use crate::FlowContext;
use crate::call_glue::{endpoint_of, free, number_endpoint, profile, reserve};
use crate::center::Shared;
use callcore::{
    AgentId, Channel, CoreError, Direction, EndReason, Endpoint, EventKind, HangupCause,
    Interaction, InteractionId, PlaceRequest, QueueId, TenantId, Transport,
};
use std::sync::Arc;

/// Checks and reserves, then dials in the background.
pub(crate) async fn start(
    shared: Arc<Shared>,
    tenant: TenantId,
    agent: &AgentId,
    number: &str,
) -> Result<InteractionId, CoreError> {
    let profile = profile(&shared, agent)
        .await
        .ok_or_else(|| CoreError::NotFound {
            what: "agent",
            id: agent.to_string(),
        })?;
    let agent_endpoint = endpoint_of(&shared, &profile).ok_or_else(|| {
        CoreError::Unreachable(format!("no endpoint of agent {agent} can be reached"))
    })?;
    let customer = number_endpoint(number);
    let reach = |e: &Endpoint| shared.transports.iter().find(|t| t.can_reach(e)).cloned();
    let (Some(agent_transport), Some(transport)) = (reach(&agent_endpoint), reach(&customer))
    else {
        return Err(CoreError::Unreachable(format!(
            "no transport reaches {}",
            callcore::Masked(number)
        )));
    };
    reserve(&shared, agent, "dialing").await?;
    let now = shared.clock.now();
    // a UUIDv7 like every other interaction's: unique across restarts
    let id = shared.ids.interaction_id();
    let queue = profile
        .queues
        .first()
        .cloned()
        .unwrap_or_else(|| QueueId::new("direct"));
    let interaction = Interaction::new(
        id.clone(),
        tenant,
        Channel::Voice,
        Direction::Outbound,
        number,
        agent.as_str(),
        now,
    );
    let dial = Dial {
        shared,
        agent: agent.clone(),
        queue,
        agent_endpoint,
        agent_transport,
        customer,
        transport,
    };
    tokio::spawn(dial.run(interaction));
    Ok(id)
}

struct Dial {
    shared: Arc<Shared>,
    agent: AgentId,
    queue: QueueId,
    agent_endpoint: Endpoint,
    agent_transport: Arc<dyn Transport>,
    customer: Endpoint,
    transport: Arc<dyn Transport>,
}

impl Dial {
    async fn run(self, mut interaction: Interaction) {
        crate::interaction_task::identify_and_announce(&self.shared, &mut interaction).await;
        let request = |to: Endpoint, from: String| PlaceRequest {
            to,
            from,
            channel: Channel::Voice,
            ring_timeout_secs: 30,
        };
        let number = interaction.from.expose().clone();
        let agent_leg = match self
            .agent_transport
            .place(request(self.agent_endpoint.clone(), number))
            .await
        {
            Ok(leg) => leg,
            Err(e) => {
                free(&self.shared, self.agent.clone());
                self.failed(&interaction, "agent_not_reached", &e);
                return;
            }
        };
        let customer_leg = match self
            .transport
            .place(request(self.customer.clone(), self.agent.to_string()))
            .await
        {
            Ok(leg) => leg,
            Err(e) => {
                let _ = agent_leg.hangup(HangupCause::Local).await;
                free(&self.shared, self.agent.clone());
                self.failed(&interaction, "customer_not_reached", &e);
                return;
            }
        };
        if let Some(trunks) = customer_leg.placed_through() {
            self.shared.emitter.emit(
                &interaction.tenant,
                EventKind::FlowStep {
                    interaction: interaction.id.clone(),
                    step: "trunk_attempts".to_owned(),
                    detail: trunks,
                },
            );
        }
        let mut ctx = FlowContext::new(self.shared.clone(), interaction, customer_leg);
        let reason = match ctx
            .connect_direct(self.agent.clone(), self.queue.clone(), agent_leg)
            .await
        {
            Ok(outcome) => outcome.end_reason(),
            Err(e) => {
                tracing::warn!(error = %e, "click-to-dial could not connect");
                free(&self.shared, self.agent.clone());
                EndReason::Error
            }
        };
        ctx.finish(reason).await;
    }

    /// The interaction ends before anyone talked.
    fn failed(&self, interaction: &Interaction, step: &str, error: &CoreError) {
        let tenant = &interaction.tenant;
        self.shared.emitter.emit(
            tenant,
            EventKind::FlowStep {
                interaction: interaction.id.clone(),
                step: step.to_owned(),
                detail: error.to_string(),
            },
        );
        self.shared.emitter.emit(
            tenant,
            EventKind::Ended {
                interaction: interaction.id.clone(),
                reason: EndReason::Error,
            },
        );
    }
}
