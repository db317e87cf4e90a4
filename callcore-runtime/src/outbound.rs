//! Outbound hand-off: a call the center placed (a dialer's answered line, a
//! callback) enters a queue as an outbound interaction and reaches an agent
//! through the router, like an inbound call after its flow.
//!
//! ```text
//!  dialer: Transport::place ─► answered leg ─► CenterHandle::enqueue_outbound
//!      ─► InteractionCreated (direction outbound, attributes from the lead)
//!      ─► queue ─► offer ─► agent bridged ─► OutboundProgress::Connected
//!      ─► conversation ─► Ended ─► OutboundProgress::Finished(outcome)
//!  no agent within `connect_within`: leave the queue, say `unconnected_message`,
//!  hang up, Finished(TimedOut) — the dialer's safe-harbor path.
//! ```

use crate::center::Shared;
use crate::flow_context::{EnqueueHooks, FlowContext, QueueOptions, QueueOutcome};
use callcore::{AgentId, EndReason, Interaction, Leg, QueueId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// How [`CenterHandle::enqueue_outbound`](crate::CenterHandle::enqueue_outbound)
/// routes an outbound call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundOptions {
    /// Priority and preferred agent (the agent a progressive dialer had in
    /// mind) within the queue.
    pub queue: QueueOptions,
    /// Leave the queue when no agent is connected this long after the hand-off
    /// (a dialer's 2 s abandonment rule); `None` waits as the queue allows.
    pub connect_within: Option<Duration>,
    /// Said to a customer no agent took (the safe-harbor message) before the
    /// center hangs up; `None` hangs up without a word.
    pub unconnected_message: Option<String>,
}

/// What happens to an outbound call handed to a center, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundProgress {
    /// An agent is bridged to the customer.
    Connected {
        /// The agent.
        agent: AgentId,
    },
    /// The interaction is over and the customer's leg hung up.
    /// [`QueueOutcome::TimedOut`] means no agent was connected in time (or the
    /// queue gave up, refused or overflowed it: see the journal).
    Finished(QueueOutcome),
}

/// Runs one outbound interaction to its end, reporting on `progress`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    interaction: Interaction,
    leg: Box<dyn Leg>,
    queue: QueueId,
    options: OutboundOptions,
    progress: mpsc::UnboundedSender<OutboundProgress>,
) {
    let span = tracing::info_span!("outbound", id = %interaction.id);
    run_inner(shared, interaction, leg, queue, options, progress)
        .instrument(span)
        .await;
}

async fn run_inner(
    shared: Arc<Shared>,
    mut interaction: Interaction,
    leg: Box<dyn Leg>,
    queue: QueueId,
    options: OutboundOptions,
    progress: mpsc::UnboundedSender<OutboundProgress>,
) {
    // Screen pop: the customer profile behind the number dialled.
    crate::interaction_task::identify_and_announce(&shared, &mut interaction).await;
    let mut ctx = FlowContext::new(shared.clone(), interaction, leg);
    let (connected_tx, connected_rx) = oneshot::channel();
    let hooks = EnqueueHooks {
        give_up_at: options.connect_within.map(|d| shared.clock.now() + d),
        connected: Some(connected_tx),
    };
    // Forward the connection the moment it happens, not after the conversation.
    let forward = {
        let progress = progress.clone();
        async move {
            if let Ok(agent) = connected_rx.await {
                let _ = progress.send(OutboundProgress::Connected { agent });
            }
        }
    };
    let (outcome, ()) = tokio::join!(ctx.enqueue_hooked(queue, options.queue, hooks), forward);
    let (outcome, failed) = match outcome {
        Ok(o) => (o, false),
        Err(e) => {
            tracing::warn!(error = %e, "outbound hand-off failed");
            (QueueOutcome::TimedOut, true)
        }
    };
    let reason = match &outcome {
        _ if failed => EndReason::Error,
        QueueOutcome::Served { .. }
        | QueueOutcome::Abandoned
        | QueueOutcome::Transferred { .. } => outcome.end_reason(),
        _ => {
            if let Some(message) = &options.unconnected_message
                && let Err(e) = ctx.say(message).await
            {
                tracing::debug!(error = %e, "unconnected message not heard");
            }
            EndReason::QueueTimeout
        }
    };
    ctx.finish(reason).await;
    let _ = progress.send(OutboundProgress::Finished(outcome));
}
