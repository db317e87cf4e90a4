//! The in-process event bus.
//!
//! # Policy for slow subscribers
//! Publishing never blocks and never fails: the call path must not wait for a
//! wallboard. Each live subscriber has a bounded buffer (the bus capacity, 4096
//! by default). A subscriber that falls more than that far behind loses the
//! oldest events and is told how many on its next [`EventSubscriber::recv`]
//! ([`BusError::Lagged`]), then continues with the oldest event still buffered.
//!
//! The bus is for live consumers. The journal and the interaction records do not
//! depend on it: the runtime writes them through a separate ordered path (a
//! bounded queue with an ordered overflow, retried until written: see the
//! recorder), so no event is ever lost from storage because a subscriber was
//! slow.

use callcore::Event;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Default per-subscriber buffer.
pub const DEFAULT_BUS_CAPACITY: usize = 4096;

/// Fan-out of events to live subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

/// Why [`EventSubscriber::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The subscriber fell behind and this many events were dropped for it.
    #[error("subscriber lagged: {0} events were dropped")]
    Lagged(u64),
    /// The center shut down; no more events will come.
    #[error("event bus closed")]
    Closed,
}

impl EventBus {
    /// A bus whose subscribers each buffer up to `capacity` events.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Sends `event` to every subscriber. Never blocks.
    pub fn publish(&self, event: Arc<Event>) {
        // An error only means there is no subscriber right now.
        let _ = self.tx.send(event);
    }

    /// A new subscriber that sees every event published from now on.
    #[must_use]
    pub fn subscribe(&self) -> EventSubscriber {
        EventSubscriber {
            rx: self.tx.subscribe(),
        }
    }

    /// How many subscribers are attached.
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(DEFAULT_BUS_CAPACITY)
    }
}

/// One live subscription to a center's events.
#[derive(Debug)]
pub struct EventSubscriber {
    rx: broadcast::Receiver<Arc<Event>>,
}

impl EventSubscriber {
    /// The next event.
    ///
    /// # Errors
    /// [`BusError::Lagged`] when events were dropped for this subscriber (the next
    /// call continues with the oldest one still buffered); [`BusError::Closed`]
    /// when the center is gone.
    pub async fn recv(&mut self) -> Result<Arc<Event>, BusError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => BusError::Lagged(n),
            broadcast::error::RecvError::Closed => BusError::Closed,
        })
    }

    /// The next event if one is buffered, without waiting.
    ///
    /// # Errors
    /// As [`recv`](Self::recv); `Ok(None)` when nothing is buffered.
    pub fn try_recv(&mut self) -> Result<Option<Arc<Event>>, BusError> {
        match self.rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(BusError::Lagged(n)),
            Err(broadcast::error::TryRecvError::Closed) => Err(BusError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{EventKind, TenantId, Timestamp};

    fn ev(seq: u64) -> Arc<Event> {
        Arc::new(Event {
            seq,
            at: Timestamp::from_secs(0),
            tenant: TenantId::default(),
            kind: EventKind::QueueRemoved { queue: "q".into() },
        })
    }

    #[tokio::test]
    async fn slow_subscriber_is_told_how_many_it_missed() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        for seq in 1..=10 {
            bus.publish(ev(seq)); // never blocks
        }
        assert_eq!(slow.recv().await.unwrap_err(), BusError::Lagged(6));
        assert_eq!(slow.recv().await.unwrap().seq, 7);
        assert_eq!(slow.try_recv().unwrap().unwrap().seq, 8);
    }

    #[tokio::test]
    async fn closed_when_bus_dropped() {
        let bus = EventBus::new(4);
        let mut sub = bus.subscribe();
        drop(bus);
        assert_eq!(sub.recv().await.unwrap_err(), BusError::Closed);
    }
}
