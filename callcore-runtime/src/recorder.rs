//! The recorder task: journals every event and keeps interaction records.
//!
//! # Durability
//! Events are journaled in batches, in order. A write that fails (or gets no
//! answer within [`RetryPolicy::attempt_timeout`]) is retried, with backoff,
//! until it succeeds: a batch is never dropped and nothing after it is
//! written first. An outage is logged once when it starts and once when it
//! ends. While the recorder retries, its bounded queue fills and intake waits
//! (see [`crate::emitter`]). Records are saved the same way.
//!
//! A timed-out attempt may still complete in the store after it was given
//! up; its retry then journals the batch a second time. Delivery is at least
//! once: a duplicate is possible after a timeout, a gap never.

use crate::emitter::{Backlog, RecorderMsg};
use callcore::{
    AgentId, AgentState, Clock, CoreError, EndReason, Event, EventKind, InteractionId,
    InteractionRecord, Stores,
};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 256;

/// How the recorder retries a store write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// One attempt gets this long to answer.
    pub(crate) attempt_timeout: Duration,
    /// The pause after the first failure; doubled after each failure.
    pub(crate) first_backoff: Duration,
    /// The longest pause between attempts.
    pub(crate) max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What the recorder writes with: the stores and how it retries them.
pub(crate) struct Writer {
    pub(crate) stores: Stores,
    pub(crate) policy: RetryPolicy,
    pub(crate) backlog: Arc<Backlog>,
    /// Backoff pauses and outage lengths run on the center's clock.
    pub(crate) clock: Arc<dyn Clock>,
}

impl Writer {
    /// Runs `op` until it succeeds (see the module documentation).
    async fn until_written<F, Fut>(&self, what: &'static str, mut op: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), CoreError>>,
    {
        let (policy, backlog) = (self.policy, &self.backlog);
        let mut backoff = policy.first_backoff;
        let mut failures = 0u64;
        let started = self.clock.now();
        loop {
            // Bounded in real time: the store is real I/O.
            let error = match tokio::time::timeout(policy.attempt_timeout, op()).await {
                Ok(Ok(())) => {
                    if failures > 0 {
                        backlog.store_failing.store(false, Ordering::Relaxed);
                        let outage = self.clock.now().duration_since(started);
                        tracing::warn!(
                            what,
                            failures,
                            outage_ms = u64::try_from(outage.as_millis()).unwrap_or(u64::MAX),
                            "store writable again; nothing was lost"
                        );
                    }
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", policy.attempt_timeout),
            };
            failures += 1;
            backlog.write_retries_total.fetch_add(1, Ordering::Relaxed);
            // Once per outage, not per attempt.
            if !backlog.store_failing.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    what,
                    error = %error,
                    "store write failed; retrying until it succeeds"
                );
            }
            self.clock.sleep(backoff).await;
            backoff = (backoff * 2).min(policy.max_backoff);
        }
    }

    async fn save(&self, record: &InteractionRecord) {
        self.until_written("interaction record", || {
            self.stores.interactions.save(record)
        })
        .await;
    }
}

/// The recorder's next message without waiting: what it took from the
/// overflow first (older than its queue), then its queue, then the overflow.
fn next(
    rx: &mut mpsc::Receiver<RecorderMsg>,
    pending: &mut VecDeque<RecorderMsg>,
    backlog: &Backlog,
) -> Option<RecorderMsg> {
    if let Some(m) = pending.pop_front() {
        backlog.taken.store(pending.len(), Ordering::Relaxed);
        return Some(m);
    }
    if let Ok(m) = rx.try_recv() {
        return Some(m);
    }
    backlog.take_overflow(rx, pending);
    let m = pending.pop_front();
    backlog.taken.store(pending.len(), Ordering::Relaxed);
    m
}

/// What the recorder keeps between batches.
#[derive(Debug, Default)]
struct Records {
    open: HashMap<InteractionId, InteractionRecord>,
    /// Ended interactions whose agent may still do after-call work.
    awaiting_wrap_up: HashMap<AgentId, InteractionId>,
}

/// Runs until every sender is gone. Writes events in batches, in order, and
/// saves an interaction's record when it ends and again when after-call work
/// ends.
pub(crate) async fn run(mut rx: mpsc::Receiver<RecorderMsg>, w: Writer) {
    let backlog = w.backlog.clone();
    let mut records = Records::default();
    let mut pending = VecDeque::new();
    let mut batch: Vec<Event> = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    loop {
        let first = match next(&mut rx, &mut pending, &backlog) {
            Some(m) => m,
            None => match rx.recv().await {
                Some(m) => m,
                // Every emitter is gone; the overflow may still hold some.
                None => match next(&mut rx, &mut pending, &backlog) {
                    Some(m) => m,
                    None => break,
                },
            },
        };
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                RecorderMsg::Event(e) => batch.push(Arc::unwrap_or_clone(e)),
                RecorderMsg::Flush(reply) => flushes.push(reply),
                RecorderMsg::Reopen(record) => {
                    records.open.insert(record.id.clone(), *record);
                }
            }
            if batch.len() < MAX_BATCH {
                msg = next(&mut rx, &mut pending, &backlog);
            }
        }
        backlog.took();
        if !batch.is_empty() {
            let events = &batch;
            w.until_written("journal", || w.stores.events.append(events))
                .await;
            backlog
                .journaled_total
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            for event in batch.drain(..) {
                records.update(&event, &w).await;
            }
        }
        for reply in flushes.drain(..) {
            let _ = reply.send(());
        }
    }
}

impl Records {
    async fn update(&mut self, event: &Event, w: &Writer) {
        if let EventKind::InteractionCreated { interaction } = &event.kind {
            self.open
                .insert(interaction.id.clone(), InteractionRecord::new(interaction));
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
            if done && let Some(id) = self.awaiting_wrap_up.remove(agent) {
                self.open.remove(&id);
            }
            return;
        }
        if let EventKind::CustomersMerged { kept, absorbed } = &event.kind {
            // records not saved yet: the store's merge could not move them
            for r in self.open.values_mut() {
                if r.tenant == event.tenant && r.customer.as_ref() == Some(absorbed) {
                    r.customer = Some(kept.clone());
                }
            }
            return;
        }
        if let EventKind::CustomersUnmerged {
            kept,
            absorbed,
            interactions,
        } = &event.kind
        {
            // records not saved yet go back with the store's
            for r in self.open.values_mut() {
                if r.tenant == event.tenant
                    && r.customer.as_ref() == Some(kept)
                    && interactions.contains(&r.id)
                {
                    r.customer = Some(absorbed.clone());
                }
            }
            return;
        }
        let Some(id) = event.interaction() else {
            return;
        };
        let Some(record) = self.open.get_mut(id) else {
            if matches!(
                event.kind,
                EventKind::DispositionSet { .. }
                    | EventKind::WrapUpNoted { .. }
                    | EventKind::AudioMeasured { .. }
                    | EventKind::QualityScored { .. }
                    | EventKind::ReviewFlagged { .. }
                    | EventKind::ReviewCompleted { .. }
            ) {
                amend_saved(event, id, w).await;
            }
            return;
        };
        record.apply(event);
        match &event.kind {
            EventKind::Ended { reason, .. } => {
                w.save(record).await;
                match &record.agent {
                    // After-call work may follow (or be under way); not after
                    // an interruption: that agent's call is long gone.
                    Some(agent)
                        if *reason != EndReason::Interrupted
                            && (!record.complete || record.wrap_up_ms == 0) =>
                    {
                        // an agent with several conversations (chats) ends them
                        // one by one: the earlier one is saved, let it go
                        if let Some(earlier) =
                            self.awaiting_wrap_up.insert(agent.clone(), id.clone())
                            && earlier != *id
                        {
                            self.open.remove(&earlier);
                        }
                    }
                    _ => {
                        self.open.remove(id);
                    }
                }
            }
            // a wrap-up code or notes after the end (no after-call work, or
            // an agent still busy with other chats): saved at once
            EventKind::DispositionSet { .. } | EventKind::WrapUpNoted { .. }
                if record.ended_at.is_some() =>
            {
                w.save(record).await;
            }
            // measured after the end: the saved record takes the figures
            EventKind::AudioMeasured { .. }
            | EventKind::QualityScored { .. }
            | EventKind::ReviewFlagged { .. }
            | EventKind::ReviewCompleted { .. }
                if record.ended_at.is_some() =>
            {
                w.save(record).await;
            }
            EventKind::WrapUpEnded { agent, .. } => {
                w.save(record).await;
                if record.ended_at.is_some() {
                    self.awaiting_wrap_up.remove(agent);
                    self.open.remove(id);
                }
            }
            _ => {}
        }
    }
}

/// A disposition set after the record was closed (no after-call work, or set
/// later from a desktop), or the figures of its audio or its quality
/// evaluation: the stored record takes it.
async fn amend_saved(event: &Event, id: &InteractionId, w: &Writer) {
    match w.stores.interactions.get(&event.tenant, id).await {
        Ok(Some(mut record)) => {
            record.apply(event);
            w.save(&record).await;
        }
        Ok(None) => tracing::warn!(interaction = %id, "disposition for an unknown interaction"),
        Err(e) => tracing::error!(interaction = %id, error = %e, "loading a record failed"),
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
