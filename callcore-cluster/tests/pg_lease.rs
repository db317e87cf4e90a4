//! Shard leases, the fence and the waiting rows against the machine's real
//! PostgreSQL (`DATABASE_URL`), each test in a schema of its own.
// Real time: TTLs expire in the services, so these tests wait past them.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    clippy::disallowed_methods
)]

mod common;

use callcore::{
    AgentProfile, AgentState, Channel, QueueDefinition, RoutingDecision, RoutingRequest, Timestamp,
};
use callcore_acd::{AcdConfig, StrategyRegistry};
use callcore_cluster::{AgentSeat, ClusterError, Fence, check_fence, restore_engine};
use common::{TestDb, database_url};
use std::time::Duration;

const TTL: f64 = 3.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_renew_release_and_a_new_epoch_at_every_acquisition() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    let (db, shard) = (&t.db, "tenant-a");
    assert_eq!(db.acquire(shard, "a", TTL).await.unwrap(), Some(1));
    assert_eq!(
        db.acquire(shard, "b", TTL).await.unwrap(),
        None,
        "a holds it"
    );
    assert_eq!(db.renew(shard, "a", 1, TTL).await.unwrap(), Some(1));
    assert_eq!(db.renew(shard, "b", 1, TTL).await.unwrap(), None);
    // The same node acquiring again (after it stopped acting) gets a new epoch.
    assert_eq!(db.acquire(shard, "a", TTL).await.unwrap(), Some(2));
    assert_eq!(
        db.renew(shard, "a", 1, TTL).await.unwrap(),
        None,
        "old epoch"
    );
    let row = db.lease(shard).await.unwrap().unwrap();
    assert_eq!((row.owner.as_str(), row.epoch), ("a", 2));
    assert!(
        row.expires_in_ms > 2_000 && row.expires_in_ms <= 3_000,
        "{row:?}"
    );
    // Released: b takes it at once, at the next epoch; a can neither renew nor write.
    assert_eq!(db.release(shard, "a", 2).await.unwrap(), Some(2));
    assert_eq!(db.renew(shard, "a", 2, TTL).await.unwrap(), None);
    assert_eq!(db.acquire(shard, "b", TTL).await.unwrap(), Some(3));
    let stale = Fence::new(shard, "a", 2);
    assert!(matches!(
        db.begin_fenced(&stale).await,
        Err(ClusterError::Fenced { epoch: 2, .. })
    ));
    db.begin_fenced(&Fence::new(shard, "b", 3))
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    // Shards are independent.
    assert_eq!(db.acquire("tenant-b", "a", TTL).await.unwrap(), Some(1));
    t.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_fences_its_owner_even_before_anyone_takes_it() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    let db = &t.db;
    assert_eq!(db.acquire("s", "a", 0.2).await.unwrap(), Some(1));
    let fence = Fence::new("s", "a", 1);
    db.begin_fenced(&fence)
        .await
        .unwrap()
        .rollback()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(
        db.begin_fenced(&fence).await,
        Err(ClusterError::Fenced { .. })
    ));
    assert_eq!(
        db.renew("s", "a", 1, TTL).await.unwrap(),
        None,
        "too late to renew"
    );
    assert_eq!(db.acquire("s", "b", TTL).await.unwrap(), Some(2));
    t.drop_schema().await;
}

/// A write that passed the fence holds the lease row: a takeover waits for
/// it to commit, then starts a new epoch; the write cannot land after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_waits_for_a_fenced_write_in_flight() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    let other = t.another().await;
    let db = &t.db;
    sqlx::query(
        "CREATE TABLE routing_log (epoch BIGINT, at TIMESTAMPTZ DEFAULT clock_timestamp())",
    )
    .execute(db.pool())
    .await
    .unwrap();
    assert_eq!(db.acquire("s", "a", 0.3).await.unwrap(), Some(1));
    let mut tx = db.pool().begin().await.unwrap();
    check_fence(&mut tx, &Fence::new("s", "a", 1))
        .await
        .unwrap();
    // b tries as soon as the lease has expired: it must wait for a's commit.
    let taker = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let epoch = other.acquire("s", "b", TTL).await.unwrap();
        let at: String = sqlx::query_scalar("SELECT clock_timestamp()::text")
            .fetch_one(other.pool())
            .await
            .unwrap();
        (epoch, at)
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !taker.is_finished(),
        "the takeover waits for the fenced transaction"
    );
    sqlx::query("INSERT INTO routing_log (epoch) VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (epoch, taken_at) = taker.await.unwrap();
    assert_eq!(epoch, Some(2));
    let before: bool = sqlx::query_scalar("SELECT max(at) < $1::timestamptz FROM routing_log")
        .bind(taken_at)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(
        before,
        "the old epoch's write landed before the new epoch began"
    );
    t.drop_schema().await;
}

/// A node stopped inside a fenced transaction (a pause, `SIGSTOP`) does not
/// hold its shard: PostgreSQL ends the idle transaction after
/// `STALLED_TRANSACTION_LIMIT`, the takeover goes through at a new epoch and
/// the stalled write can no longer land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_fenced_write_does_not_hold_the_shard() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    let other = t.another().await;
    let db = &t.db;
    sqlx::query("CREATE TABLE routing_log (epoch BIGINT)")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(db.acquire("s", "a", 0.3).await.unwrap(), Some(1));
    let mut tx = db.pool().begin().await.unwrap();
    check_fence(&mut tx, &Fence::new("s", "a", 1))
        .await
        .unwrap();
    // a stalls here, its transaction open; b contends once the lease expired.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = std::time::Instant::now();
    let epoch = tokio::time::timeout(Duration::from_secs(10), other.acquire("s", "b", TTL))
        .await
        .expect("the takeover is not held by a stalled transaction")
        .unwrap();
    assert_eq!(epoch, Some(2));
    let waited = started.elapsed();
    println!(
        "takeover waited {} ms for the stalled transaction",
        waited.as_millis()
    );
    assert!(
        waited < callcore_cluster::STALLED_TRANSACTION_LIMIT + Duration::from_secs(3),
        "waited {waited:?}"
    );
    // a resumes: its session was ended, so the old epoch's write fails.
    let late = sqlx::query("INSERT INTO routing_log (epoch) VALUES (1)")
        .execute(&mut *tx)
        .await;
    assert!(late.is_err(), "the stalled write landed: {late:?}");
    drop(tx);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM routing_log")
        .fetch_one(other.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);
    other.pool().close().await;
    t.drop_schema().await;
}

fn request(id: &str, priority: i32, at_secs: i64) -> RoutingRequest {
    RoutingRequest {
        interaction: id.into(),
        tenant: Default::default(),
        channel: Channel::Voice,
        queue: "billing".into(),
        priority,
        customer: None,
        preferred_agent: None,
        attributes: Default::default(),
        required_skills: Vec::new(),
        enqueued_at: Timestamp::from_secs(at_secs),
    }
}

/// Owner a enqueues callers (committed before they would hear "queued"),
/// one hangs up; b takes over, reloads the rows in order and restores the
/// ACD engine at its epoch with the agents' states; a's writes are fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_restores_the_waiting_callers_at_its_epoch() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    let b_db = t.another().await;
    let a_db = &t.db;
    let shard = "tenant-a";
    let ea = a_db.acquire(shard, "a", 0.5).await.unwrap().unwrap();
    let a = Fence::new(shard, "a", ea);
    let seqs = [
        a_db.enqueue_waiting(&a, &request("late", 0, 50))
            .await
            .unwrap(),
        a_db.enqueue_waiting(&a, &request("early", 0, 10))
            .await
            .unwrap(),
        a_db.enqueue_waiting(&a, &request("vip", 5, 60))
            .await
            .unwrap(),
        a_db.enqueue_waiting(&a, &request("gone", 0, 5))
            .await
            .unwrap(),
    ];
    // Enqueuing again (a retried commit) keeps the place.
    assert_eq!(
        a_db.enqueue_waiting(&a, &request("late", 0, 50))
            .await
            .unwrap(),
        seqs[0]
    );
    assert!(
        a_db.remove_waiting(&a, "gone").await.unwrap(),
        "the caller hung up"
    );
    assert!(!a_db.remove_waiting(&a, "gone").await.unwrap());

    // a stops renewing; b takes the shard after the TTL.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let eb = b_db.acquire(shard, "b", TTL).await.unwrap().unwrap();
    assert!(eb > ea);
    let stale = a_db.enqueue_waiting(&a, &request("stale", 9, 1)).await;
    assert!(
        matches!(stale, Err(ClusterError::Fenced { .. })),
        "{stale:?}"
    );
    assert!(matches!(
        a_db.remove_waiting(&a, "late").await,
        Err(ClusterError::Fenced { .. })
    ));

    let rows = b_db.load_waiting(shard).await.unwrap();
    let order: Vec<&str> = rows
        .iter()
        .map(|r| r.request.interaction.as_str())
        .collect();
    assert_eq!(order, ["vip", "early", "late"]);
    assert!(rows.iter().all(|r| r.enqueued_epoch == ea));

    let seats = [
        AgentSeat {
            profile: AgentProfile::new("alice").with_skill("billing", 5),
            state: AgentState::Available,
            reachable: true,
        },
        AgentSeat {
            profile: AgentProfile::new("bob").with_skill("billing", 5),
            state: AgentState::NotReady("lunch".into()),
            reachable: true,
        },
    ];
    let queues = [QueueDefinition::new("billing").requiring("billing", 1)];
    let now = Timestamp::from_secs(100);
    let mut restored = restore_engine(
        &AcdConfig::default(),
        &StrategyRegistry::builtin(),
        &queues,
        &seats,
        &rows,
        eb,
        now,
    )
    .unwrap();
    assert_eq!(restored.engine.epoch(), eb);
    let offers: Vec<_> = std::iter::from_fn(|| restored.engine.poll_decision())
        .filter_map(|d| match d {
            RoutingDecision::Offer {
                interaction,
                agent,
                reservation,
                ..
            } => Some((interaction, agent, reservation)),
            _ => None,
        })
        .collect();
    assert_eq!(offers.len(), 1, "{offers:?}");
    let (interaction, agent, reservation) = &offers[0];
    assert_eq!((interaction.as_str(), agent.as_str()), ("vip", "alice"));
    assert_eq!(restored.engine.reservation_epoch(reservation), Some(eb));
    // The new owner's routing writes pass its fence: the answered caller leaves the rows.
    let b = Fence::new(shard, "b", eb);
    assert!(b_db.remove_waiting(&b, "vip").await.unwrap());
    assert_eq!(b_db.load_waiting(shard).await.unwrap().len(), 2);
    b_db.pool().close().await;
    t.drop_schema().await;
}
