//! The recorder task: journals every event and keeps interaction records.

use crate::emitter::RecorderMsg;
use callcore::{AgentId, AgentState, Event, EventKind, InteractionId, InteractionRecord, Stores};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 256;

/// Runs until every sender is gone. Writes events in batches, in order, and
/// saves an interaction's record when it ends and again when after-call work
/// ends.
pub(crate) async fn run(mut rx: mpsc::UnboundedReceiver<RecorderMsg>, stores: Stores) {
    let mut open: HashMap<InteractionId, InteractionRecord> = HashMap::new();
    // Ended interactions whose agent may still do after-call work.
    let mut awaiting_wrap_up: HashMap<AgentId, InteractionId> = HashMap::new();
    let mut batch: Vec<Event> = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                RecorderMsg::Event(e) => batch.push(Arc::unwrap_or_clone(e)),
                RecorderMsg::Flush(reply) => flushes.push(reply),
            }
            if batch.len() < MAX_BATCH {
                msg = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = stores.events.append(&batch).await {
                tracing::error!(error = %e, count = batch.len(), "journal append failed");
            }
            for event in batch.drain(..) {
                update_records(&event, &mut open, &mut awaiting_wrap_up, &stores).await;
            }
        }
        for reply in flushes.drain(..) {
            let _ = reply.send(());
        }
    }
}

async fn save(stores: &Stores, record: &InteractionRecord) {
    if let Err(e) = stores.interactions.save(record).await {
        tracing::error!(interaction = %record.id, error = %e, "saving interaction record failed");
    }
}

async fn update_records(
    event: &Event,
    open: &mut HashMap<InteractionId, InteractionRecord>,
    awaiting_wrap_up: &mut HashMap<AgentId, InteractionId>,
    stores: &Stores,
) {
    if let EventKind::InteractionCreated { interaction } = &event.kind {
        open.insert(interaction.id.clone(), InteractionRecord::new(interaction));
    }
    if let EventKind::AgentStateChanged { agent, from, to } = &event.kind {
        // The agent left the call without wrap-up, or left its wrap-up:
        // nothing more will change in the record.
        let done = match from {
            AgentState::Busy => *to != AgentState::WrapUp,
            AgentState::WrapUp => true,
            // an agent the call took directly (click-to-dial, a consulted
            // agent) is made available again, without after-call work
            AgentState::NotReady(_) => *to == AgentState::Available,
            _ => false,
        };
        if done && let Some(id) = awaiting_wrap_up.remove(agent) {
            open.remove(&id);
        }
        return;
    }
    let Some(id) = event.interaction() else {
        return;
    };
    let Some(record) = open.get_mut(id) else {
        if matches!(
            event.kind,
            EventKind::DispositionSet { .. } | EventKind::WrapUpNoted { .. }
        ) {
            amend_saved(event, id, stores).await;
        }
        return;
    };
    record.apply(event);
    match &event.kind {
        EventKind::Ended { .. } => {
            save(stores, record).await;
            match &record.agent {
                // After-call work may follow (or be under way).
                Some(agent) if !record.complete || record.wrap_up_ms == 0 => {
                    awaiting_wrap_up.insert(agent.clone(), id.clone());
                }
                _ => {
                    open.remove(id);
                }
            }
        }
        EventKind::WrapUpEnded { agent, .. } => {
            save(stores, record).await;
            if record.ended_at.is_some() {
                awaiting_wrap_up.remove(agent);
                open.remove(id);
            }
        }
        _ => {}
    }
}

/// A disposition set after the record was closed (no after-call work, or set
/// later from a desktop): the stored record takes it.
async fn amend_saved(event: &Event, id: &InteractionId, stores: &Stores) {
    match stores.interactions.get(&event.tenant, id).await {
        Ok(Some(mut record)) => {
            record.apply(event);
            save(stores, &record).await;
        }
        Ok(None) => tracing::warn!(interaction = %id, "disposition for an unknown interaction"),
        Err(e) => tracing::error!(interaction = %id, error = %e, "loading a record failed"),
    }
}
