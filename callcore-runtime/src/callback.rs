//! Callbacks whose place the router keeps.
//!
//! ```text
//!  caller presses the callback key while waiting
//!    ─► RouterInput::RequestCallback: the router keeps the place (not an
//!       abandonment), the call ends (QueueExited "callback", CallbackRequested)
//!  the place's turn: the router offers it, the agent's phone answers
//!    ─► a new outbound interaction (attribute `callback_of`): the customer's
//!       number placed ─► bridged to the agent (Connected) ─► call control as
//!       any call ─► Ended ─► the agent released for the kept interaction
//!       (after-call work as the queue says)
//! ```
//!
//! A customer who does not answer (busy, no answer, a failed line) is tried
//! again as [`CallbackPolicy`] says: the attempt ends with a
//! `callback_not_reached` step, the agent is released, and after
//! `retry_after_secs` the kept interaction goes back to its queue with its
//! first request (its place, where the router orders by arrival), kept
//! again; after the last attempt a `callback_given_up` step says so. A router
//! that keeps no callbacks leaves the flow to book one (see
//! [`QueueOutcome::CallbackRequested`](crate::QueueOutcome)).

use crate::FlowContext;
use crate::call_glue::number_endpoint;
use crate::center::Shared;
use crate::routing_task::{CallbackDue, RouterCommand};
use callcore::{
    CallbackPolicy, Channel, Direction, EndReason, EventKind, HangupCause, Interaction,
    PlaceRequest, RouterInput,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Calls back every kept callback an agent takes, until the routing task
/// stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut due: mpsc::UnboundedReceiver<CallbackDue>,
    policy: CallbackPolicy,
) {
    while let Some(d) = due.recv().await {
        tokio::spawn(call_back(shared.clone(), d, policy));
    }
}

async fn call_back(shared: Arc<Shared>, due: CallbackDue, policy: CallbackPolicy) {
    let CallbackDue {
        interaction: kept,
        tenant,
        number,
        queue,
        agent,
        leg,
        request,
        attempts,
    } = due;
    let attempt = attempts + 1;
    // the agent was assigned the kept interaction: released for it at the end
    let release = |shared: &Shared| {
        let _ = shared.router.send(RouterCommand::Input(
            RouterInput::InteractionEnded {
                interaction: kept.clone(),
                agent: agent.clone(),
            },
            None,
        ));
    };
    let Some(agent_leg) = leg else {
        tracing::warn!(%kept, %agent, "a callback accepted on the desktop cannot be bridged");
        release(&shared);
        return;
    };
    let now = shared.clock.now();
    let mut interaction = Interaction::new(
        shared.ids.interaction_id(),
        tenant,
        Channel::Voice,
        Direction::Outbound,
        &number,
        agent.as_str(),
        now,
    );
    interaction
        .attributes
        .insert("callback_of".into(), kept.to_string());
    crate::interaction_task::identify_and_announce(&shared, &mut interaction).await;
    let customer = number_endpoint(&number);
    let placed = match shared.transports.iter().find(|t| t.can_reach(&customer)) {
        Some(t) => {
            t.place(PlaceRequest {
                to: customer,
                from: agent.to_string(),
                channel: Channel::Voice,
                ring_timeout_secs: 30,
            })
            .await
        }
        None => Err(callcore::CoreError::Unreachable(format!(
            "no transport reaches {}",
            callcore::Masked(&number)
        ))),
    };
    let customer_leg = match placed {
        Ok(l) => l,
        Err(e) => {
            let _ = agent_leg.hangup(HangupCause::Local).await;
            let again = attempt < policy.attempts;
            let next = if again {
                EventKind::FlowStep {
                    interaction: interaction.id.clone(),
                    step: "callback_retry".to_owned(),
                    detail: format!(
                        "attempt {} of {} in {} s",
                        attempt + 1,
                        policy.attempts,
                        policy.retry_after_secs
                    ),
                }
            } else {
                EventKind::FlowStep {
                    interaction: interaction.id.clone(),
                    step: "callback_given_up".to_owned(),
                    detail: format!("{attempt} attempts"),
                }
            };
            for kind in [
                EventKind::FlowStep {
                    interaction: interaction.id.clone(),
                    step: "callback_not_reached".to_owned(),
                    detail: not_reached(&e),
                },
                next,
                EventKind::Ended {
                    interaction: interaction.id.clone(),
                    reason: EndReason::Error,
                },
            ] {
                shared.emitter.emit(&interaction.tenant, kind);
            }
            release(&shared);
            if again {
                shared
                    .clock
                    .sleep(Duration::from_secs(u64::from(policy.retry_after_secs)))
                    .await;
                let retry = CallbackDue {
                    interaction: kept,
                    tenant: interaction.tenant,
                    number,
                    queue,
                    agent,
                    leg: None,
                    request,
                    attempts: attempt,
                };
                if shared
                    .router
                    .send(RouterCommand::RetryCallback(Box::new(retry)))
                    .is_err()
                {
                    tracing::warn!("callback not retried: the center is stopping");
                }
            }
            return;
        }
    };
    if let Some(trunks) = customer_leg.placed_through() {
        shared.emitter.emit(
            &interaction.tenant,
            EventKind::FlowStep {
                interaction: interaction.id.clone(),
                step: "trunk_attempts".to_owned(),
                detail: trunks,
            },
        );
    }
    let mut ctx = FlowContext::new(shared.clone(), interaction, customer_leg);
    let reason = match ctx.connect_direct(agent.clone(), queue, agent_leg).await {
        Ok(outcome) => outcome.end_reason(),
        Err(e) => {
            tracing::warn!(error = %e, "the callback could not connect");
            EndReason::Error
        }
    };
    ctx.finish(reason).await;
    release(&shared);
}

/// Why the customer was not reached, without their number (the journal and
/// logs never carry it).
fn not_reached(e: &callcore::CoreError) -> String {
    match e {
        callcore::CoreError::NotAnswered(cause) => format!("not answered: {cause:?}"),
        callcore::CoreError::Unreachable(_) => "no transport reaches the number".to_owned(),
        _ => "the call failed".to_owned(),
    }
}
