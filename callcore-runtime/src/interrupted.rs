//! Closing the interactions a crash interrupted.
//!
//! A center that stops without ending its calls (a crash, `kill -9`, a
//! shutdown with calls in progress) leaves interactions whose start is
//! journaled and whose end is not. When a center starts, before it accepts
//! anything, it finds them ([`callcore::EventJournal::unended`]) and closes
//! each one with [`EndReason::Interrupted`] at the time of its last journaled
//! event: the `Ended` event is journaled (and published) like any other, and
//! the record folded from the interaction's journal is saved. Once journaled,
//! that end makes the interaction ended, so a second start finds nothing: the
//! recovery is done once. (A crash between journaling the end and saving the
//! record is closed by the SQL stores when they open.)

use crate::emitter::Emitter;
use callcore::{CenterConfig, EndReason, Event, EventKind, InteractionRecord, Stores, TenantId};
use std::time::Duration;

/// How far back, from the end of a tenant's journal, interactions still in
/// progress are looked for: longer than any call.
pub(crate) const WINDOW: Duration = Duration::from_secs(12 * 3600);

/// The tenants a center serves: its own and those of its configured queues
/// and agents.
pub(crate) fn tenants(config: &CenterConfig) -> Vec<TenantId> {
    let mut tenants = vec![config.tenant.clone()];
    let others = config.queues.iter().map(|q| &q.tenant);
    for t in others.chain(config.agents.iter().map(|a| &a.tenant)) {
        if !tenants.contains(t) {
            tenants.push(t.clone());
        }
    }
    tenants
}

/// The record of one interaction's journal (in order), `None` without its
/// `InteractionCreated`.
fn fold(events: &[Event]) -> Option<InteractionRecord> {
    let created = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::InteractionCreated { .. }))?;
    let EventKind::InteractionCreated { interaction } = &events[created].kind else {
        return None;
    };
    let mut record = InteractionRecord::new(interaction);
    record.apply_all(&events[created..]);
    Some(record)
}

/// Closes every interaction of `tenants` that an earlier run left in
/// progress; returns how many. A store that cannot answer is logged and
/// skipped: the next start tries again.
pub(crate) async fn close(emitter: &Emitter, stores: &Stores, tenants: &[TenantId]) -> usize {
    let mut closed = 0;
    for tenant in tenants {
        let ids = match stores.events.unended(tenant, WINDOW).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(%tenant, error = %e, "cannot look for interrupted interactions");
                continue;
            }
        };
        for id in ids {
            let events = match stores.events.for_interaction(tenant, &id).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(interaction = %id, error = %e, "cannot read an interrupted interaction");
                    continue;
                }
            };
            let (Some(record), Some(at)) = (fold(&events), events.iter().map(|e| e.at).max())
            else {
                continue;
            };
            emitter.reopen(record);
            emitter.emit_at(
                tenant,
                EventKind::Ended {
                    interaction: id,
                    reason: EndReason::Interrupted,
                },
                at,
            );
            closed += 1;
        }
    }
    if closed > 0 {
        tracing::warn!(
            closed,
            "closed interactions left in progress by an earlier run (end reason `interrupted`)"
        );
    }
    closed
}
