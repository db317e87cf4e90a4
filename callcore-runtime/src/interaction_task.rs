//! One task per interaction: identify the customer, answer, run the flow, end.

use crate::FlowContext;
use crate::FlowOutcome;
use callcore::{CoreError, EndReason, EventKind, Inbound, Interaction};
use tracing::Instrument;

use crate::center::Shared;

pub(crate) async fn run(shared: std::sync::Arc<Shared>, inbound: Inbound) {
    let span = tracing::info_span!("call", id = %inbound.interaction.id);
    run_inner(shared, inbound).instrument(span).await;
}

async fn run_inner(shared: std::sync::Arc<Shared>, inbound: Inbound) {
    let Inbound {
        mut interaction,
        leg,
    } = inbound;
    identify_and_announce(&shared, &mut interaction).await;
    let flow = shared.flow_for(&interaction.to);
    if flow.is_some() && shared.answer_when_journaled {
        // answered only once its start is in the journal
        shared.emitter.flush().await;
    }
    let mut ctx = FlowContext::new(shared.clone(), interaction, leg);
    let reason = match flow {
        None => {
            tracing::warn!(to = %callcore::Masked(&ctx.interaction().to), "no flow for this address");
            EndReason::Rejected
        }
        Some(flow) => match ctx.leg().answer().await {
            Err(e) => {
                tracing::warn!(error = %e, "answer failed");
                if matches!(e, CoreError::LegEnded) {
                    EndReason::Abandoned
                } else {
                    EndReason::Error
                }
            }
            Ok(()) => match flow.run(&mut ctx).await {
                Ok(FlowOutcome::Done(reason)) => reason,
                Err(_) if ctx.customer_hung_up() => EndReason::CustomerHangup,
                Err(e) => {
                    tracing::warn!(error = %e, "flow failed");
                    EndReason::Error
                }
            },
        },
    };
    // The call ends (a customer who hung up first is said to have, whatever
    // the flow reported), hangs up, meters its usage, files its recordings.
    ctx.finish(reason).await;
}

/// Screen pop: finds the customer by the address the interaction comes from
/// (or, for an outbound call, the number dialled), then journals the
/// interaction's creation. Inbound and outbound interactions both start here.
pub(crate) async fn identify_and_announce(shared: &Shared, interaction: &mut Interaction) {
    if interaction.customer.is_none() {
        crate::identify::identify(shared, interaction).await;
    }
    shared.emitter.emit(
        &interaction.tenant,
        EventKind::InteractionCreated {
            interaction: Box::new(interaction.clone()),
        },
    );
}
