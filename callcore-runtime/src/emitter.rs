//! Stamping events and handing them to the recorder.
//!
//! # Back-pressure
//! The recorder's queue is bounded ([`RECORDER_CAPACITY`] messages). Emitting
//! never blocks and never drops: events are emitted from inside the router
//! and from call paths that must not stall, and every event folds into a
//! journal or a record. When the queue is full (the store is slow or down and
//! the recorder is retrying), events wait in order in an overflow behind it,
//! counted by [`JournalStatus`] (`overflow`, `overflow_peak`,
//! `overflowed_total`); the recorder takes the overflow, after everything
//! queued before it, as soon as it catches up.
//!
//! What bounds the overflow is intake: a new interaction is only accepted once
//! the recorder has room again ([`Emitter::room`]: the overflow is empty and
//! the queue has a free slot), so a stalled store stops new calls from coming
//! in instead of letting memory grow with them; the calls already in progress
//! keep running and their events wait in the overflow.

use crate::EventBus;
use callcore::{Clock, Event, EventKind, InteractionRecord, TenantId, Timestamp};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, oneshot};

/// How many messages the recorder's queue holds before events overflow.
pub const RECORDER_CAPACITY: usize = 8192;

/// What the recorder task receives.
#[derive(Debug)]
pub(crate) enum RecorderMsg {
    Event(Arc<Event>),
    /// Reply once everything sent before has been written.
    Flush(oneshot::Sender<()>),
    /// A record from an earlier run, kept open again so that the events that
    /// follow (its interrupted end) fold into it.
    Reopen(Box<InteractionRecord>),
}

/// The state of the path from the center to its journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalStatus {
    /// Messages waiting in the recorder's bounded queue.
    pub queued: usize,
    /// Events waiting in the overflow behind a full queue (including those
    /// the recorder took from it and has not written yet).
    pub overflow: usize,
    /// The most events ever waiting in the overflow at once.
    pub overflow_peak: u64,
    /// Events that went through the overflow since the center started.
    pub overflowed_total: u64,
    /// Events journaled since the center started.
    pub journaled_total: u64,
    /// Store writes (journal batches, records) that failed and were retried.
    pub write_retries_total: u64,
    /// The store is failing now: the recorder is retrying a write.
    pub store_failing: bool,
}

/// Sequence numbering and the overflow, under one lock: numbering and sending
/// together keep the journal in sequence order.
#[derive(Debug, Default)]
struct Stamp {
    seq: u64,
    overflow: VecDeque<RecorderMsg>,
}

/// What the emitters and the recorder share.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    stamp: Mutex<Stamp>,
    /// Signalled when the recorder takes messages (room may have appeared).
    room: Notify,
    /// Overflowed events the recorder took but has not batched yet.
    pub(crate) taken: AtomicUsize,
    overflow_peak: AtomicU64,
    overflowed_total: AtomicU64,
    pub(crate) journaled_total: AtomicU64,
    pub(crate) write_retries_total: AtomicU64,
    pub(crate) store_failing: AtomicBool,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, Stamp> {
        self.stamp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The recorder's next message that is not in its queue: when the queue
    /// is empty and events overflowed, everything still queued (older) then
    /// the whole overflow move to `pending`, in order.
    pub(crate) fn take_overflow(
        &self,
        rx: &mut mpsc::Receiver<RecorderMsg>,
        pending: &mut VecDeque<RecorderMsg>,
    ) {
        let mut stamp = self.lock();
        if stamp.overflow.is_empty() {
            return;
        }
        // Under the lock no emitter sends: what the queue holds now was sent
        // before the first overflowed message.
        while let Ok(m) = rx.try_recv() {
            pending.push_back(m);
        }
        pending.append(&mut stamp.overflow);
        // Counted before the lock goes, so intake never sees a gap.
        self.taken.store(pending.len(), Ordering::Relaxed);
        drop(stamp);
        tracing::info!(
            events = pending.len(),
            "the journal queue caught up; taking the overflowed events"
        );
    }

    /// Wakes intake waiting in [`Emitter::room`].
    pub(crate) fn took(&self) {
        self.room.notify_waiters();
    }
}

/// Stamps events (sequence, time) and sends them to the recorder (reliable,
/// ordered) and to the bus (live, lossy for slow subscribers).
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    clock: Arc<dyn Clock>,
    bus: EventBus,
    recorder: mpsc::Sender<RecorderMsg>,
    backlog: Arc<Backlog>,
}

impl Emitter {
    /// An emitter and the receiving end of its recorder queue (holding
    /// `capacity` messages), with what the recorder shares with it.
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        bus: EventBus,
        capacity: usize,
    ) -> (Self, mpsc::Receiver<RecorderMsg>, Arc<Backlog>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let backlog = Arc::new(Backlog::default());
        let emitter = Self {
            clock,
            bus,
            recorder: tx,
            backlog: backlog.clone(),
        };
        (emitter, rx, backlog)
    }

    pub(crate) fn emit(&self, tenant: &TenantId, kind: EventKind) -> Arc<Event> {
        self.emit_at(tenant, kind, self.clock.now())
    }

    /// Emits an event that happened at `at` (not now): the end of a call
    /// interrupted in an earlier run.
    pub(crate) fn emit_at(&self, tenant: &TenantId, kind: EventKind, at: Timestamp) -> Arc<Event> {
        let mut stamp = self.backlog.lock();
        stamp.seq += 1;
        let event = Arc::new(Event {
            seq: stamp.seq,
            at,
            tenant: tenant.clone(),
            kind,
        });
        tracing::debug!(seq = event.seq, kind = event.kind.name(), "event");
        self.send(&mut stamp, RecorderMsg::Event(event.clone()));
        drop(stamp);
        self.bus.publish(event.clone());
        event
    }

    /// Keeps `record` open in the recorder for the events that follow.
    pub(crate) fn reopen(&self, record: InteractionRecord) {
        let mut stamp = self.backlog.lock();
        self.send(&mut stamp, RecorderMsg::Reopen(Box::new(record)));
    }

    /// Queues `msg` behind everything sent before: in the recorder's queue
    /// when it has room and nothing overflowed, else in the overflow.
    fn send(&self, stamp: &mut Stamp, msg: RecorderMsg) {
        let msg = if stamp.overflow.is_empty() {
            match self.recorder.try_send(msg) {
                Ok(()) => return,
                // The recorder only goes away at shutdown; nothing to do then.
                Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(msg)) => {
                    tracing::warn!(
                        capacity = self.recorder.max_capacity(),
                        "the journal queue is full: events wait in the overflow and new interactions wait for room"
                    );
                    msg
                }
            }
        } else {
            msg
        };
        stamp.overflow.push_back(msg);
        let b = &self.backlog;
        b.overflowed_total.fetch_add(1, Ordering::Relaxed);
        b.overflow_peak
            .fetch_max(stamp.overflow.len() as u64, Ordering::Relaxed);
    }

    pub(crate) fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Waits until everything emitted so far is journaled and the records it
    /// completes are saved (however long the store takes to come back).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        {
            let mut stamp = self.backlog.lock();
            self.send(&mut stamp, RecorderMsg::Flush(tx));
        }
        let _ = rx.await;
    }

    /// Waits until the recorder has room: nothing overflowed and a free slot
    /// in its queue. Intake (a new interaction) awaits this; see the module
    /// documentation.
    pub(crate) async fn room(&self) {
        loop {
            let notified = self.backlog.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.backlog.lock().overflow.is_empty()
                && self.backlog.taken.load(Ordering::Relaxed) == 0
                && self.recorder.capacity() > 0
            {
                return;
            }
            if self.recorder.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// The journal path's figures now.
    pub(crate) fn status(&self) -> JournalStatus {
        let b = &self.backlog;
        JournalStatus {
            queued: self.recorder.max_capacity() - self.recorder.capacity(),
            overflow: b.lock().overflow.len() + b.taken.load(Ordering::Relaxed),
            overflow_peak: b.overflow_peak.load(Ordering::Relaxed),
            overflowed_total: b.overflowed_total.load(Ordering::Relaxed),
            journaled_total: b.journaled_total.load(Ordering::Relaxed),
            write_retries_total: b.write_retries_total.load(Ordering::Relaxed),
            store_failing: b.store_failing.load(Ordering::Relaxed),
        }
    }
}
