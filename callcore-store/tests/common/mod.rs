//! Shared test helpers: backends to test, events, and a real call through the
//! Center runtime in virtual time.
#![allow(dead_code, clippy::unwrap_used)]

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, CampaignStore, Clock, CoreError, CustomerStore, Endpoint, Event,
    EventJournal, EventKind, InteractionId, InteractionStore, QueueDefinition, RecordingStore,
    Stores, TenantId, Timestamp, VirtualClock,
};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, CenterHandle, Flow, FlowContext, FlowOutcome};
use callcore_store::{PgStore, SqliteStore, StoreExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Everything a backend implements.
pub trait Backend:
    EventJournal
    + InteractionStore
    + CustomerStore
    + RecordingStore
    + CampaignStore
    + StoreExt
    + 'static
{
}
impl<T> Backend for T where
    T: EventJournal
        + InteractionStore
        + CustomerStore
        + RecordingStore
        + CampaignStore
        + StoreExt
        + 'static
{
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh SQLite database in a temp directory.
pub struct SqliteHarness {
    pub store: Arc<SqliteStore>,
    pub dir: std::path::PathBuf,
}

pub async fn open_sqlite() -> Option<SqliteHarness> {
    let dir = std::env::temp_dir().join(unique("cc_store_test"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("center.db")).unwrap());
    Some(SqliteHarness { store, dir })
}

pub async fn close_sqlite(h: SqliteHarness) {
    drop(h.store);
    let _ = std::fs::remove_dir_all(&h.dir);
}

/// The PostgreSQL URL to test against, or `None` (with a printed notice) when
/// `DATABASE_URL` is unset. Panics when `CALLCORE_REQUIRE_PEERS=1` requires it.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "DATABASE_URL is unset but CALLCORE_REQUIRE_PEERS=1 requires PostgreSQL"
            );
            eprintln!("SKIPPED: DATABASE_URL is unset; PostgreSQL store tests not run");
            None
        }
    }
}

/// A fresh PostgreSQL schema.
pub struct PgHarness {
    pub store: Arc<PgStore>,
}

pub async fn open_pg() -> Option<PgHarness> {
    let url = database_url()?;
    let schema = unique("cc_test");
    let store = Arc::new(PgStore::connect_in_schema(&url, &schema).await.unwrap());
    Some(PgHarness { store })
}

pub async fn close_pg(h: PgHarness) {
    let store = Arc::try_unwrap(h.store).unwrap_or_else(|arc| (*arc).clone());
    store.drop_schema().await.unwrap();
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name)
}

pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

pub fn ev(seq: u64, at_secs: i64, tenant: &str, kind: EventKind) -> Event {
    Event {
        seq,
        at: ts(at_secs),
        tenant: TenantId::new(tenant),
        kind,
    }
}

/// Enqueues every call into `support`.
#[derive(Debug)]
pub struct SupportFlow;

#[async_trait]
impl Flow for SupportFlow {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.say("Thank you for calling.").await?;
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

pub const T0: i64 = 1_700_000_000;

/// A running center on `stores` with agent `alice` (answers after 2 s) and a
/// `support` queue with 5 s of wrap-up, in virtual time.
pub async fn center(stores: Stores) -> (VirtualClock, Arc<MemoryTransport>, CenterHandle) {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "sip:alice@pbx",
        PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
    );
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .stores(stores)
        .flow("support", Arc::new(SupportFlow))
        .route("*", "support")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("support").with_wrap_up_secs(5))
        .await
        .unwrap();
    center
        .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
        .await
        .unwrap();
    center
        .set_agent_state(&"alice".into(), AgentState::Available)
        .await
        .unwrap();
    (clock, transport, center)
}

/// One inbound call: answered by alice, `talk` long, then the caller hangs
/// up. Returns the interaction id once the `ended` event was published (the
/// record may still be on its way to the store: call `center.flush()`).
pub async fn one_call(
    clock: &VirtualClock,
    transport: &MemoryTransport,
    center: &CenterHandle,
    caller: &str,
    talk: Duration,
) -> InteractionId {
    let mut events = center.subscribe();
    let far = transport.call(caller, "100");
    let script = async {
        let mut id = None;
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::InteractionCreated { interaction } = &e.kind {
                id.get_or_insert(interaction.id.clone());
            }
            if matches!(e.kind, EventKind::Connected { .. }) {
                break;
            }
        }
        clock.sleep(talk).await;
        far.hangup();
        loop {
            let e = events.recv().await.unwrap();
            if matches!(e.kind, EventKind::Ended { .. }) {
                break;
            }
        }
        id.unwrap()
    };
    let limit = clock.now() + Duration::from_secs(3600);
    drive(clock, script, limit).await
}

/// Runs `fut` in virtual time like [`VirtualClock::drive`], but waits a few
/// real milliseconds for real I/O (the database) before jumping to the next
/// timer: the center's call path awaits the store (customer lookup), and
/// virtual time must not run ahead while a query is in flight.
pub async fn drive<F: std::future::Future>(
    clock: &VirtualClock,
    fut: F,
    limit: Timestamp,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut idle_rounds = 0u32;
    loop {
        for round in 0..8 {
            for _ in 0..64 {
                if let std::task::Poll::Ready(out) = futures::poll!(fut.as_mut()) {
                    return out;
                }
                tokio::task::yield_now().await;
            }
            if round > 0 {
                // Real time for real I/O; the engine itself never sleeps.
                #[allow(clippy::disallowed_methods)]
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        match clock.next_timer() {
            Some(t) if t <= limit => {
                idle_rounds = 0;
                clock.advance_to(t);
            }
            // Nothing armed: a query may still be on its way (a new database
            // connection, a loaded machine); give it up to ~10 s of real time.
            _ if idle_rounds < 1_500 => idle_rounds += 1,
            _ => panic!(
                "stalled at {} (no timer armed, nothing runnable)",
                clock.now()
            ),
        }
    }
}
