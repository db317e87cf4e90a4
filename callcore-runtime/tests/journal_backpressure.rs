//! Back-pressure from a stalled journal to intake: while the store does not
//! answer, emitting goes on (events overflow in order) but a new call is not
//! taken in; once the store answers, everything is journaled in order and the
//! call comes in.

#![allow(clippy::unwrap_used)]
// Real time: the store double stands for real I/O.
#![allow(clippy::disallowed_methods)]

use async_trait::async_trait;
use callcore::{
    CoreError, Event, EventJournal, EventKind, InteractionId, MemoryStore, QueueDefinition, Stores,
    TenantId, Timestamp,
};
use callcore_runtime::memory::MemoryTransport;
use callcore_runtime::{Center, Flow, FlowContext, FlowOutcome, RECORDER_CAPACITY, SystemClock};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A journal whose appends wait for the gate.
struct Stalled {
    memory: Arc<MemoryStore>,
    gate: Semaphore,
}

#[async_trait]
impl EventJournal for Stalled {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        let _permit = self.gate.acquire().await.unwrap();
        self.memory.append(events).await
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError> {
        self.memory.for_interaction(tenant, interaction).await
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>, CoreError> {
        EventJournal::between(&*self.memory, tenant, from, to).await
    }
}

#[derive(Debug)]
struct Hangup;

#[async_trait]
impl Flow for Hangup {
    async fn run(&self, _call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        Ok(FlowOutcome::Done(callcore::EndReason::Completed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_journal_holds_new_calls_and_loses_no_event() {
    let memory = Arc::new(MemoryStore::default());
    let stalled = Arc::new(Stalled {
        memory: memory.clone(),
        gate: Semaphore::new(0),
    });
    let mut stores = Stores::all_in(memory.clone());
    stores.events = stalled.clone();
    let transport = MemoryTransport::new(Arc::new(SystemClock));
    let center = Center::builder()
        .transport(transport.clone())
        .stores(stores)
        .flow("hangup", Arc::new(Hangup))
        .route("*", "hangup")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    // More events than the recorder's queue and its batch in flight hold.
    let n = RECORDER_CAPACITY + 1_000;
    for _ in 0..n {
        center
            .add_queue(QueueDefinition::new("support"))
            .await
            .unwrap();
    }
    let status = center.journal_status();
    assert!(status.overflow > 0, "{status:?}");
    assert_eq!(status.journaled_total, 0);

    let mut events = center.subscribe();
    let _caller = transport.call("+4930111", "100");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        events.try_recv().unwrap().is_none(),
        "the call waits while the journal is behind"
    );

    stalled.gate.add_permits(usize::MAX >> 4);
    let created = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.unwrap();
            if matches!(e.kind, EventKind::InteractionCreated { .. }) {
                break;
            }
        }
    })
    .await;
    assert!(
        created.is_ok(),
        "the call came in once the journal caught up"
    );
    center.flush().await;
    let journal = memory.all_events();
    let seqs: Vec<u64> = journal.iter().map(|e| e.seq).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seqs, sorted, "in order, once each");
    let added = journal
        .iter()
        .filter(|e| matches!(e.kind, EventKind::QueueAdded { .. }))
        .count();
    assert_eq!(added, n, "no event lost");
    let status = center.journal_status();
    assert_eq!((status.overflow, status.queued), (0, 0), "{status:?}");
    assert!(status.overflow_peak > 0);
}
