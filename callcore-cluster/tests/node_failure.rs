//! The calls of a node whose heartbeat expired are closed as `node_failure`
//! by the survivors, exactly once even when two survivors sweep at the same
//! moment; a restarting node closes only its own earlier calls.
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
use callcore_cluster::{NodeHeartbeat, NodeJournal, Presence, close_dead_nodes};

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
    // one shared journal and record store (PostgreSQL's, in production)
    let shared = Stores::in_memory();
    let dead = NodeJournal::new(shared.events.clone(), &test.db, "n1");
    let n2 = NodeJournal::new(shared.events.clone(), &test.db, "n2");
    let n3 = NodeJournal::new(shared.events.clone(), &other_db, "n3");

    presence
        .heartbeat(&beat("n1"), Duration::from_millis(300))
        .await
        .unwrap();
    presence
        .heartbeat(&beat("n2"), Duration::from_secs(30))
        .await
        .unwrap();
    presence
        .heartbeat(&beat("n3"), Duration::from_secs(30))
        .await
        .unwrap();
    // n1: two calls in progress, one ended; n2: one call in progress
    dead.append(&[created(&tenant, "a", 10), created(&tenant, "b", 11)])
        .await
        .unwrap();
    dead.append(&[created(&tenant, "c", 12), ended(&tenant, "c", 13)])
        .await
        .unwrap();
    n2.append(&[created(&tenant, "d", 14)]).await.unwrap();

    // n1 alive: nothing to close
    let early = close_dead_nodes(&test.db, &presence, &n2, &*shared.interactions, "n2")
        .await
        .unwrap();
    assert!(early.closed.is_empty(), "{early:?}");

    // n1's heartbeat expires; n2 and n3 sweep at the same moment
    let started = std::time::Instant::now();
    let mut gone = false;
    for _ in 0..50 {
        if presence
            .live_nodes()
            .await
            .unwrap()
            .iter()
            .all(|n| n.node != "n1")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "n1's heartbeat expired");
    let (s2, s3) = tokio::join!(
        close_dead_nodes(&test.db, &presence, &n2, &*shared.interactions, "n2"),
        close_dead_nodes(&other_db, &presence, &n3, &*shared.interactions, "n3"),
    );
    let mut closed: Vec<_> = s2
        .unwrap()
        .closed
        .into_iter()
        .chain(s3.unwrap().closed)
        .collect();
    closed.sort();
    println!(
        "closed {} calls of n1 {} ms after its heartbeat was seen expiring",
        closed.len(),
        started.elapsed().as_millis()
    );
    assert_eq!(
        closed,
        vec![
            (InteractionId::new("a"), "n1".to_owned()),
            (InteractionId::new("b"), "n1".to_owned())
        ]
    );
    for id in ["a", "b"] {
        let events = shared
            .events
            .for_interaction(&tenant, &InteractionId::new(id))
            .await
            .unwrap();
        let ends: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Ended { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(ends, vec![EndReason::NodeFailure], "{id}: one end");
        let record = shared
            .interactions
            .get(&tenant, &InteractionId::new(id))
            .await
            .unwrap()
            .expect("a record");
        assert_eq!(record.end_reason, Some(EndReason::NodeFailure));
    }
    // a second sweep finds nothing; n2's own call is untouched
    let again = close_dead_nodes(&test.db, &presence, &n2, &*shared.interactions, "n2")
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

    // n1 comes back: it finds none of its calls left to close, and n2's call
    // is not among what it would close as interrupted
    let window = Duration::from_secs(3600);
    assert!(dead.unended(&tenant, window).await.unwrap().is_empty());
    // n2 restarting would close its own call "d"
    assert_eq!(
        n2.unended(&tenant, window).await.unwrap(),
        vec![InteractionId::new("d")]
    );

    drop(other_db);
    test.drop_schema().await;
}
