use crate::EventBus;
use callcore::{Clock, Event, EventKind, TenantId};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// What the recorder task receives.
#[derive(Debug)]
pub(crate) enum RecorderMsg {
    Event(Arc<Event>),
    /// Reply once everything sent before has been written.
    Flush(oneshot::Sender<()>),
}

/// Stamps events (sequence, time) and sends them to the recorder (reliable,
/// ordered) and to the bus (live, lossy for slow subscribers).
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    clock: Arc<dyn Clock>,
    bus: EventBus,
    recorder: mpsc::UnboundedSender<RecorderMsg>,
    seq: Arc<Mutex<u64>>,
}

impl Emitter {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        bus: EventBus,
        recorder: mpsc::UnboundedSender<RecorderMsg>,
    ) -> Self {
        Self {
            clock,
            bus,
            recorder,
            seq: Arc::new(Mutex::new(0)),
        }
    }

    pub(crate) fn emit(&self, tenant: &TenantId, kind: EventKind) -> Arc<Event> {
        // Numbering and sending under one lock keeps the journal in seq order.
        let mut seq = self
            .seq
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *seq += 1;
        let event = Arc::new(Event {
            seq: *seq,
            at: self.clock.now(),
            tenant: tenant.clone(),
            kind,
        });
        tracing::debug!(seq = event.seq, kind = event.kind.name(), "event");
        // The recorder only goes away at shutdown; nothing to do then.
        let _ = self.recorder.send(RecorderMsg::Event(event.clone()));
        self.bus.publish(event.clone());
        event
    }

    pub(crate) fn bus(&self) -> &EventBus {
        &self.bus
    }

    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.recorder.send(RecorderMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}
