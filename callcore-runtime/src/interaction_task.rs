//! One task per interaction: identify the customer, answer, run the flow, end.

use crate::FlowContext;
use crate::FlowOutcome;
use callcore::{CoreError, EndReason, EventKind, HangupCause, IdentityKind, Inbound, Interaction};
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
    let mut ctx = FlowContext::new(
        interaction,
        leg,
        shared.emitter.clone(),
        shared.router.clone(),
        shared.clock.clone(),
        shared.providers.clone(),
        shared.stores.clone(),
        shared.record_calls,
    );
    let reason = match flow {
        None => {
            tracing::warn!(to = %ctx.interaction().to, "no flow for this address");
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
    if ctx.ended().is_none() {
        // The customer hung up first: say so, whatever the flow reported.
        let reason = if ctx.customer_hung_up() && reason == EndReason::Completed {
            EndReason::CustomerHangup
        } else {
            reason
        };
        ctx.end(reason);
    }
    let leg = ctx.into_leg();
    match leg.hangup(HangupCause::Local).await {
        Ok(()) | Err(CoreError::LegEnded) => {}
        Err(e) => tracing::warn!(error = %e, "hang-up failed"),
    }
}

/// Screen pop: finds the customer by the address the interaction comes from
/// (or, for an outbound call, the number dialled), then journals the
/// interaction's creation. Inbound and outbound interactions both start here.
pub(crate) async fn identify_and_announce(shared: &Shared, interaction: &mut Interaction) {
    if interaction.customer.is_none() {
        let kind = match interaction.channel {
            callcore::Channel::Email => IdentityKind::Email,
            callcore::Channel::Chat => IdentityKind::ChatId,
            callcore::Channel::WeChat => IdentityKind::WeChat,
            _ => IdentityKind::Phone,
        };
        match shared
            .stores
            .customers
            .find_by_identity(&interaction.tenant, kind, interaction.from.expose())
            .await
        {
            Ok(found) => interaction.customer = found.map(|c| c.id),
            Err(e) => tracing::warn!(error = %e, "customer look-up failed"),
        }
    }
    shared.emitter.emit(
        &interaction.tenant,
        EventKind::InteractionCreated {
            interaction: Box::new(interaction.clone()),
        },
    );
}
