//! The recorder against store doubles: failing writes, a stalled store.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real time: the store doubles stand for real I/O.
#![allow(clippy::disallowed_methods)]

use super::*;
use crate::EventBus;
use crate::emitter::Emitter;
use crate::interrupted;
use async_trait::async_trait;
use callcore::{
    Channel, Direction, EventJournal, Interaction, MemoryStore, QueueId, TenantId, Timestamp,
};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use tokio::sync::Semaphore;

/// A journal that fails its first `failures` appends, and whose appends wait
/// for a permit while `gate` is closed; everything else goes to memory.
struct Flaky {
    memory: Arc<MemoryStore>,
    failures: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
    attempts: Mutex<Vec<usize>>,
}

impl Flaky {
    fn new(failures: usize, gate: Option<Arc<Semaphore>>) -> Arc<Self> {
        Arc::new(Self {
            memory: Arc::new(MemoryStore::default()),
            failures: AtomicUsize::new(failures),
            gate,
            attempts: Mutex::new(Vec::new()),
        })
    }

    fn stores(self: &Arc<Self>) -> Stores {
        let mut stores = Stores::all_in(self.memory.clone());
        stores.events = self.clone();
        stores
    }
}

#[async_trait]
impl EventJournal for Flaky {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.unwrap();
        }
        self.attempts.lock().unwrap().push(events.len());
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(CoreError::Store("disk I/O error".into()));
        }
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

const FAST: RetryPolicy = RetryPolicy {
    attempt_timeout: Duration::from_secs(5),
    first_backoff: Duration::from_millis(1),
    max_backoff: Duration::from_millis(20),
};

fn start(stores: &Stores, capacity: usize) -> (Emitter, tokio::task::JoinHandle<()>) {
    let clock: Arc<dyn Clock> = Arc::new(crate::SystemClock);
    let (emitter, rx, backlog) = Emitter::new(clock.clone(), EventBus::new(16), capacity);
    let writer = Writer {
        stores: stores.clone(),
        policy: FAST,
        backlog,
        clock,
    };
    let task = tokio::spawn(run(rx, writer));
    (emitter, task)
}

fn emit_queue_events(emitter: &Emitter, n: usize) {
    for i in 0..n {
        emitter.emit(
            &TenantId::default(),
            EventKind::QueueRemoved {
                queue: QueueId::new(format!("q{i}")),
            },
        );
    }
}

fn assert_every_event_once_in_order(store: &MemoryStore, n: usize) {
    let seqs: Vec<u64> = store.all_events().iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=n as u64).collect::<Vec<_>>(),
        "all, once, in order"
    );
}

#[tokio::test]
async fn a_failing_journal_is_retried_until_it_succeeds_and_loses_nothing() {
    let flaky = Flaky::new(3, None);
    let (emitter, _task) = start(&flaky.stores(), 64);
    emit_queue_events(&emitter, 700); // more than one batch
    emitter.flush().await;
    assert_every_event_once_in_order(&flaky.memory, 700);
    let attempts = flaky.attempts.lock().unwrap().clone();
    assert_eq!(
        attempts[..4].iter().collect::<HashSet<_>>().len(),
        1,
        "the same batch, retried: {attempts:?}"
    );
    let status = emitter.status();
    assert_eq!(status.write_retries_total, 3);
    assert_eq!(status.journaled_total, 700);
    assert!(!status.store_failing);
}

#[tokio::test]
async fn a_full_queue_overflows_in_order_and_holds_intake_until_the_store_is_back() {
    let gate = Arc::new(Semaphore::new(0));
    let flaky = Flaky::new(0, Some(gate.clone()));
    let (emitter, _task) = start(&flaky.stores(), 4);
    // The store is stalled: emitting still never blocks.
    emit_queue_events(&emitter, 1_000); // more than the batch in flight

    tokio::time::sleep(Duration::from_millis(20)).await;
    let status = emitter.status();
    assert!(status.overflow > 0, "{status:?}");
    assert!(status.queued <= 4, "the queue is bounded: {status:?}");
    assert!(
        tokio::time::timeout(Duration::from_millis(50), emitter.room())
            .await
            .is_err(),
        "intake waits while events overflow"
    );
    gate.add_permits(1_000);
    emitter.flush().await;
    assert_every_event_once_in_order(&flaky.memory, 1_000);
    tokio::time::timeout(Duration::from_secs(1), emitter.room())
        .await
        .expect("room again once the overflow is journaled");
    let status = emitter.status();
    assert_eq!(status.overflow, 0);
    assert!(
        status.overflow_peak > 0 && status.overflowed_total > 0,
        "{status:?}"
    );
}

fn interaction(id: &str) -> Interaction {
    Interaction::new(
        id.into(),
        TenantId::default(),
        Channel::Voice,
        Direction::Inbound,
        "+4930111",
        "100",
        Timestamp::from_secs(100),
    )
}

fn journaled(seq: u64, secs: i64, kind: EventKind) -> Event {
    Event {
        seq,
        at: Timestamp::from_secs(secs),
        tenant: TenantId::default(),
        kind,
    }
}

#[tokio::test]
async fn an_interaction_left_in_progress_is_closed_as_interrupted_once() {
    let memory = Arc::new(MemoryStore::default());
    // An earlier run: one call ended, one was talking to alice when it stopped.
    memory
        .append(&[
            journaled(
                1,
                100,
                EventKind::InteractionCreated {
                    interaction: Box::new(interaction("done")),
                },
            ),
            journaled(
                2,
                100,
                EventKind::InteractionCreated {
                    interaction: Box::new(interaction("live")),
                },
            ),
            journaled(
                3,
                105,
                EventKind::Ended {
                    interaction: "done".into(),
                    reason: EndReason::CustomerHangup,
                },
            ),
            journaled(
                4,
                110,
                EventKind::Connected {
                    interaction: "live".into(),
                    agent: "alice".into(),
                    queue: "support".into(),
                },
            ),
            journaled(
                5,
                170,
                EventKind::Held {
                    interaction: "live".into(),
                },
            ),
        ])
        .await
        .unwrap();
    let stores = Stores::all_in(memory.clone());
    let tenants = [TenantId::default()];
    for run in 0..2 {
        let (emitter, _task) = start(&stores, 64);
        let closed = interrupted::close(&emitter, &stores, &tenants).await;
        emitter.flush().await;
        assert_eq!(closed, usize::from(run == 0), "run {run}: done once");
    }
    let record = stores
        .interactions
        .get(&TenantId::default(), &"live".into())
        .await
        .unwrap()
        .expect("a record for the interrupted call");
    assert_eq!(record.end_reason, Some(EndReason::Interrupted));
    assert_eq!(
        record.ended_at,
        Some(Timestamp::from_secs(170)),
        "at its last event"
    );
    assert_eq!(record.agent, Some("alice".into()));
    assert_eq!(
        record.talk_ms, 60_000,
        "talk until the hold, the hold is not talk"
    );
    assert!(record.complete);
    let ends: Vec<_> = memory
        .all_events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Ended { .. }))
        .collect();
    assert_eq!(ends.len(), 2, "one journaled end added: {ends:?}");
    assert_eq!(ends[1].at, Timestamp::from_secs(170));
    assert!(
        stores
            .interactions
            .get(&TenantId::default(), &"done".into())
            .await
            .unwrap()
            .is_none(),
        "an ended interaction is left alone"
    );
}

/// An agent holding several chats: each ends in turn, without after-call
/// work, and each one's wrap-up code, set after its end, is in its saved
/// record.
#[tokio::test]
async fn wrap_up_codes_after_the_end_of_concurrent_chats_are_saved() {
    let flaky = Flaky::new(0, None);
    let stores = flaky.stores();
    let (emitter, _task) = start(&stores, 64);
    let tenant = TenantId::default();
    let agent = callcore::AgentId::new("a");
    let ids: Vec<InteractionId> = (0..2)
        .map(|i| InteractionId::new(format!("chat{i}")))
        .collect();
    for id in &ids {
        let interaction = Interaction::new(
            id.clone(),
            tenant.clone(),
            Channel::Chat,
            Direction::Inbound,
            "visitor",
            "chat",
            Timestamp::from_secs(1),
        );
        emitter.emit(
            &tenant,
            EventKind::InteractionCreated {
                interaction: Box::new(interaction),
            },
        );
        emitter.emit(
            &tenant,
            EventKind::Connected {
                interaction: id.clone(),
                agent: agent.clone(),
                queue: QueueId::new("chat"),
            },
        );
    }
    for id in &ids {
        emitter.emit(
            &tenant,
            EventKind::Ended {
                interaction: id.clone(),
                reason: callcore::EndReason::AgentHangup,
            },
        );
    }
    for (i, id) in ids.iter().enumerate() {
        emitter.emit(
            &tenant,
            EventKind::DispositionSet {
                interaction: id.clone(),
                agent: agent.clone(),
                disposition: callcore::Disposition::Agent(format!("code{i}")),
            },
        );
    }
    emitter.flush().await;
    for (i, id) in ids.iter().enumerate() {
        let mut saved = None;
        for _ in 0..100 {
            saved = stores.interactions.get(&tenant, id).await.unwrap();
            if saved.as_ref().is_some_and(|r| r.disposition.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            saved.and_then(|r| r.disposition),
            Some(callcore::Disposition::Agent(format!("code{i}"))),
            "chat {i}"
        );
    }
}
