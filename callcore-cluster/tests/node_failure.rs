//! The calls of a node declared dead in PostgreSQL are closed as
//! `node_failure` by the survivors, exactly once even when two survivors
//! sweep at the same moment; a node with no Redis heartbeat but a live row
//! keeps its calls, and so does one paused for less than the TTL; a node
//! that comes back after being declared dead learns it and journals
//! nothing more; a restarting node closes only its own earlier calls.
//!
//! Needs `DATABASE_URL` and `REDIS_URL` (skipped with a notice otherwise,
//! failing when `CALLCORE_REQUIRE_PEERS=1`); its own schema and key prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Heartbeats expire in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use callcore::{
    Channel, Direction, EndReason, Event, EventJournal, EventKind, Interaction, InteractionId,
    Stores, TenantId, Timestamp,
};
use callcore_cluster::{
    Liveness, LivenessTiming, NodeHeartbeat, NodeJournal, NodeLiveness, Presence, close_dead_nodes,
};

fn created(tenant: &TenantId, id: &str, at: i64) -> Event {
    Event {
        seq: 1,
        at: Timestamp::from_secs(at),
        tenant: tenant.clone(),
        kind: EventKind::InteractionCreated {
            interaction: Box::new(Interaction::new(
                InteractionId::new(id),
                tenant.clone(),
                Channel::Voice,
                Direction::Inbound,
                "+15550100",
                "ivr",
                Timestamp::from_secs(at),
            )),
        },
    }
}

fn ended(tenant: &TenantId, id: &str, at: i64) -> Event {
    Event {
        seq: 2,
        at: Timestamp::from_secs(at),
        tenant: tenant.clone(),
        kind: EventKind::Ended {
            interaction: InteractionId::new(id),
            reason: EndReason::CustomerHangup,
        },
    }
}

fn beat(node: &str) -> NodeHeartbeat {
    NodeHeartbeat {
        node: node.into(),
        sip: "127.0.0.1:5060".into(),
        http: "127.0.0.1:8080".into(),
        shards: vec![],
    }
}

/// Short timings: the row lives 1.5 s, renewed every 100 ms; the node's
/// own deadline is 1 s after its last renewal was sent.
const FAST: LivenessTiming = LivenessTiming {
    ttl: Duration::from_millis(1500),
    every: Duration::from_millis(100),
    guard: Duration::from_millis(500),
};

async fn ends_of(shared: &Stores, tenant: &TenantId, id: &str) -> Vec<EndReason> {
    shared
        .events
        .for_interaction(tenant, &InteractionId::new(id))
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ended { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_calls_are_closed_once_as_node_failure() {
    let (Some(db_url), Some(redis_url)) = (common::database_url(), common::redis_url()) else {
        return;
    };
    let test = common::TestDb::open(&db_url).await;
    let presence = Presence::connect(&redis_url, &common::unique("ccnf"))
        .await
        .unwrap();
    let other_db = test.another().await;
    let tenant = TenantId::new("acme");
    let l1 = NodeLiveness::join(&test.db, "n1", FAST).await.unwrap();
    let l2 = NodeLiveness::join(&test.db, "n2", FAST).await.unwrap();
    let l3 = NodeLiveness::join(&other_db, "n3", FAST).await.unwrap();
    let mut r1 = l1.spawn_renewals();
    let r2 = l2.spawn_renewals();
    let r3 = l3.spawn_renewals();
    // one shared journal and record store (PostgreSQL's, in production)
    let shared = Stores::in_memory();
    let dead = NodeJournal::new(shared.events.clone(), &test.db, "n1").with_liveness(l1.clone());
    let n2 = NodeJournal::new(shared.events.clone(), &test.db, "n2").with_liveness(l2.clone());
    let n3 = NodeJournal::new(shared.events.clone(), &other_db, "n3").with_liveness(l3.clone());

    // Redis knows n2 and n3 only: n1's heartbeat lapsed (Redis restarted,
    // a blip) while n1 runs and renews its row
    presence
        .heartbeat(&beat("n2"), Duration::from_secs(30))
        .await
        .unwrap();
    presence
        .heartbeat(&beat("n3"), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        presence
            .live_nodes()
            .await
            .unwrap()
            .iter()
            .all(|n| n.node != "n1")
    );
    // n1: two calls in progress, one ended; n2: one call in progress
    dead.append(&[created(&tenant, "a", 10), created(&tenant, "b", 11)])
        .await
        .unwrap();
    dead.append(&[created(&tenant, "c", 12), ended(&tenant, "c", 13)])
        .await
        .unwrap();
    n2.append(&[created(&tenant, "d", 14)]).await.unwrap();

    // n1 alive in PostgreSQL, no heartbeat in Redis: nothing is closed
    for _ in 0..3 {
        let early = close_dead_nodes(&test.db, &l2, &n2, &*shared.interactions)
            .await
            .unwrap();
        assert!(early.closed.is_empty(), "{early:?}");
        tokio::time::sleep(FAST.ttl / 2).await;
    }

    // n1 paused for less than the TTL, past its own deadline: a sweep in
    // the pause closes nothing, and n1 asks PostgreSQL before journaling
    r1.abort();
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let paused = close_dead_nodes(&test.db, &l2, &n2, &*shared.interactions)
        .await
        .unwrap();
    assert!(paused.closed.is_empty(), "{paused:?}");
    assert!(
        !l1.acting_at(std::time::Instant::now()),
        "past its deadline"
    );
    dead.append(&[created(&tenant, "e", 15)]).await.unwrap();
    assert!(
        l1.acting_at(std::time::Instant::now()),
        "renewed by confirm"
    );
    r1 = l1.spawn_renewals();
    tokio::time::sleep(FAST.every).await;

    // n1 stops for longer than the TTL; n2 and n3 sweep at the same moment
    r1.abort();
    let stopped = std::time::Instant::now();
    tokio::time::sleep(FAST.ttl + Duration::from_millis(100)).await;
    let (s2, s3) = tokio::join!(
        close_dead_nodes(&test.db, &l2, &n2, &*shared.interactions),
        close_dead_nodes(&other_db, &l3, &n3, &*shared.interactions),
    );
    let mut closed: Vec<_> = s2
        .unwrap()
        .closed
        .into_iter()
        .chain(s3.unwrap().closed)
        .collect();
    closed.sort();
    println!(
        "closed {} calls of n1 {} ms after its renewals stopped (TTL {} ms)",
        closed.len(),
        stopped.elapsed().as_millis(),
        FAST.ttl.as_millis()
    );
    let n1 = |id: &str| (InteractionId::new(id), "n1".to_owned());
    assert_eq!(closed, vec![n1("a"), n1("b"), n1("e")]);
    for id in ["a", "b", "e"] {
        assert_eq!(
            ends_of(&shared, &tenant, id).await,
            vec![EndReason::NodeFailure],
            "{id}"
        );
        let record = shared
            .interactions
            .get(&tenant, &InteractionId::new(id))
            .await
            .unwrap()
            .expect("a record");
        assert_eq!(record.end_reason, Some(EndReason::NodeFailure));
    }
    // n1 resumes: its journal refuses the hang-up it was about to write,
    // and it learns it was declared dead, by whom
    let mut told = l1.watch_dead();
    assert!(dead.append(&[ended(&tenant, "a", 20)]).await.is_err());
    assert_eq!(
        ends_of(&shared, &tenant, "a").await,
        vec![EndReason::NodeFailure]
    );
    let Liveness::DeclaredDead { by } = l1.renew().await.unwrap() else {
        panic!("n1 was declared dead")
    };
    assert!(matches!(by.as_deref(), Some("n2" | "n3")), "{by:?}");
    assert!(told.borrow_and_update().is_some());

    // a second sweep finds nothing; n2's own call is untouched
    let again = close_dead_nodes(&test.db, &l2, &n2, &*shared.interactions)
        .await
        .unwrap();
    assert!(again.closed.is_empty());
    assert!(
        shared
            .interactions
            .get(&tenant, &InteractionId::new("d"))
            .await
            .unwrap()
            .is_none()
    );
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT interaction, node FROM cluster_calls ORDER BY interaction")
            .fetch_all(test.db.pool())
            .await
            .unwrap();
    assert_eq!(rows, vec![("d".to_owned(), "n2".to_owned())]);

    // n1 restarts (a new epoch): none of its calls is left to close, and
    // n2's call is not among what it would close as interrupted
    let window = Duration::from_secs(3600);
    let l1b = NodeLiveness::join(&test.db, "n1", FAST).await.unwrap();
    assert!(l1b.epoch() > l1.epoch());
    let back = NodeJournal::new(shared.events.clone(), &test.db, "n1").with_liveness(l1b);
    assert!(back.unended(&tenant, window).await.unwrap().is_empty());
    // n2 live: its own call of this run is not "left by an earlier run"
    assert!(n2.unended(&tenant, window).await.unwrap().is_empty());
    // n2 restarting would close its own call "d"
    r2.abort();
    let l2b = NodeLiveness::join(&test.db, "n2", FAST).await.unwrap();
    let n2b = NodeJournal::new(shared.events.clone(), &test.db, "n2").with_liveness(l2b);
    assert_eq!(
        n2b.unended(&tenant, window).await.unwrap(),
        vec![InteractionId::new("d")]
    );

    r3.abort();
    drop(other_db);
    test.drop_schema().await;
}
