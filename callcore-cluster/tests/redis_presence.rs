//! Presence, heartbeats, wallboard snapshots and shard hints against the
//! machine's real Redis (`REDIS_URL`), each test under a key prefix of its
//! own (deleted at the end).
// Real time: TTLs expire in the services, so these tests wait past them.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    clippy::disallowed_methods
)]

mod common;

use callcore::{AgentId, AgentState};
use callcore_cluster::{
    AgentPresence, LeaseHandle, LeaseTiming, NodeHeartbeat, Ownership, Presence, ShardHint,
    relay_hints,
};
use common::{redis_url, unique};
use std::time::Duration;

async fn cleanup(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in keys {
        let _: u64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

fn presence(agent: &str, node: &str, state: AgentState) -> AgentPresence {
    AgentPresence {
        agent: agent.into(),
        node: node.into(),
        contact: format!("sip:{agent}@127.0.0.1:5070"),
        state,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_nodes_are_present_until_their_ttl() {
    let Some(url) = redis_url() else { return };
    let prefix = unique("cc_cluster");
    let p = Presence::connect(&url, &prefix).await.unwrap();
    let long = Duration::from_secs(30);
    p.put_agent(&presence("alice", "n1", AgentState::Available), long)
        .await
        .unwrap();
    p.put_agent(
        &presence("bob", "n2", AgentState::NotReady("lunch".into())),
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    let alice = p.agent(&AgentId::from("alice")).await.unwrap().unwrap();
    assert_eq!(
        (alice.node.as_str(), alice.state),
        ("n1", AgentState::Available)
    );
    let all: Vec<String> = p
        .agents()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.agent.to_string())
        .collect();
    assert_eq!(all, ["alice", "bob"]);
    // bob's phone stops refreshing: gone after the TTL.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(p.agent(&AgentId::from("bob")).await.unwrap(), None);
    assert_eq!(p.agents().await.unwrap().len(), 1);
    // alice moves to n3 (her phone registered there), then logs out.
    p.put_agent(&presence("alice", "n3", AgentState::Available), long)
        .await
        .unwrap();
    assert_eq!(
        p.agent(&AgentId::from("alice"))
            .await
            .unwrap()
            .unwrap()
            .node,
        "n3"
    );
    p.remove_agent(&AgentId::from("alice")).await.unwrap();
    assert!(p.agents().await.unwrap().is_empty());

    let beat = |node: &str| NodeHeartbeat {
        node: node.into(),
        sip: "127.0.0.1:5080".into(),
        http: "127.0.0.1:8080".into(),
        shards: vec![("tenant-a".into(), 3)],
    };
    p.heartbeat(&beat("n1"), long).await.unwrap();
    p.heartbeat(&beat("n2"), Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(p.live_nodes().await.unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let live: Vec<String> = p
        .live_nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node)
        .collect();
    assert_eq!(live, ["n1"], "n2 stopped beating");

    let snapshot = serde_json::json!({"queues": {"billing": {"waiting": 3}}, "epoch": 3});
    p.put_wallboard("tenant-a", &snapshot, long).await.unwrap();
    assert_eq!(p.wallboard("tenant-a").await.unwrap(), Some(snapshot));
    assert_eq!(p.wallboard("tenant-b").await.unwrap(), None);

    assert!(Presence::connect(&url, "bad:prefix").await.is_err());
    cleanup(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_hints_reach_subscribers_of_the_same_prefix_only() {
    let Some(url) = redis_url() else { return };
    let prefix = unique("cc_cluster");
    let p = Presence::connect(&url, &prefix).await.unwrap();
    let other = Presence::connect(&url, &unique("cc_cluster"))
        .await
        .unwrap();
    let mut sub = p.subscribe_hints().await.unwrap();
    let hint = ShardHint {
        shard: "tenant-a".into(),
        owner: Some("n2".into()),
        epoch: 4,
    };
    // Published on another cluster's prefix: not seen here.
    assert_eq!(other.publish_hint(&hint).await.unwrap(), 0);
    assert_eq!(p.publish_hint(&hint).await.unwrap(), 1);
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, hint);
    cleanup(&url, &prefix).await;
}

/// A contender that polls only every 20 s takes the shard at once when the
/// owner releases it and publishes a hint: PostgreSQL and Redis together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_hint_lets_a_contender_take_over_without_waiting_for_its_poll() {
    let (Some(db_url), Some(url)) = (common::database_url(), redis_url()) else {
        return;
    };
    let t = common::TestDb::open(&db_url).await;
    let prefix = unique("cc_cluster");
    let p = Presence::connect(&url, &prefix).await.unwrap();
    let shard = "tenant-a";
    let mut a = LeaseHandle::spawn(t.db.clone(), shard, "a", LeaseTiming::default()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), a.changed())
        .await
        .unwrap();
    let Ownership::Owner { epoch: ea, .. } = a.ownership() else {
        panic!("a owns the free shard")
    };
    let mut slow = LeaseTiming::default();
    slow.contend_every = Duration::from_secs(20);
    let mut b = LeaseHandle::spawn(t.another().await, shard, "b", slow).unwrap();
    tokio::spawn(relay_hints(
        p.subscribe_hints().await.unwrap(),
        vec![b.nudger()],
    ));
    // b's first ask is refused (a holds the shard); its next poll is 20 s away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.fence_now().is_none());
    a.release().await;
    let released = std::time::Instant::now();
    let hint = ShardHint {
        shard: shard.into(),
        owner: None,
        epoch: ea,
    };
    assert_eq!(p.publish_hint(&hint).await.unwrap(), 1);
    tokio::time::timeout(Duration::from_secs(5), b.changed())
        .await
        .expect("b takes over on the hint, long before its 20 s poll");
    let Ownership::Owner { epoch: eb, .. } = b.ownership() else {
        panic!("b owns the shard")
    };
    assert!(eb > ea);
    println!(
        "b owns the shard {} ms after a released it (hint)",
        released.elapsed().as_millis()
    );
    b.release().await;
    cleanup(&url, &prefix).await;
    t.drop_schema().await;
}

/// Takeover with both services: the new owner reads the waiting rows from
/// PostgreSQL and the agents' states and phones from Redis, and restores
/// the ACD engine at its epoch; only the agent whose phone's node is alive
/// is offered the first caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_restores_from_waiting_rows_and_redis_presence() {
    use callcore::{
        AgentProfile, Channel, QueueDefinition, RoutingDecision, RoutingRequest, Timestamp,
    };
    use callcore_cluster::{Fence, ShardSetup, seats_from_presence, take_over};
    let (Some(db_url), Some(url)) = (common::database_url(), redis_url()) else {
        return;
    };
    let t = common::TestDb::open(&db_url).await;
    let prefix = unique("cc_cluster");
    let p = Presence::connect(&url, &prefix).await.unwrap();
    let long = Duration::from_secs(30);
    let ea = t.db.acquire("tenant-a", "n1", 0.3).await.unwrap().unwrap();
    for (id, at, queue) in [
        ("c1", 10, "sales"),
        ("c2", 20, "sales"),
        ("c3", 5, "support"),
    ] {
        let request = RoutingRequest {
            interaction: id.into(),
            tenant: Default::default(),
            channel: Channel::Voice,
            queue: queue.into(),
            priority: 0,
            customer: None,
            preferred_agent: None,
            attributes: Default::default(),
            required_skills: Vec::new(),
            enqueued_at: Timestamp::from_secs(at),
        };
        t.db.enqueue_waiting(&Fence::new("tenant-a", "n1", ea), &request)
            .await
            .unwrap();
    }
    // alice's phone is on n2 (alive), bob's on n1 (dead: no heartbeat), carol never logged in.
    p.put_agent(&presence("alice", "n2", AgentState::Available), long)
        .await
        .unwrap();
    p.put_agent(&presence("bob", "n1", AgentState::Available), long)
        .await
        .unwrap();
    let beat = NodeHeartbeat {
        node: "n2".into(),
        sip: "127.0.0.1:5080".into(),
        http: "127.0.0.1:8080".into(),
        shards: Vec::new(),
    };
    p.heartbeat(&beat, long).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let eb = t.db.acquire("tenant-a", "n2", 3.0).await.unwrap().unwrap();

    let profiles: Vec<AgentProfile> = ["alice", "bob", "carol"]
        .iter()
        .map(|a| AgentProfile::new(*a).with_skill("sales", 5))
        .collect();
    let seats = seats_from_presence(
        &profiles,
        &p.agents().await.unwrap(),
        &p.live_nodes().await.unwrap(),
    );
    let reachable: Vec<(&str, bool)> = seats
        .iter()
        .map(|s| (s.profile.id.as_str(), s.reachable))
        .collect();
    assert_eq!(
        reachable,
        [("alice", true), ("bob", false), ("carol", false)]
    );
    // The "support" queue was removed from the configuration meanwhile: its
    // caller is refused by the restored engine and its row cleared.
    let setup = ShardSetup::new(
        vec![QueueDefinition::new("sales").requiring("sales", 1)],
        profiles,
    );
    let fence = Fence::new("tenant-a", "n2", eb);
    let mut r = take_over(&t.db, Some(&p), &fence, &setup, Timestamp::from_secs(100))
        .await
        .unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].0.as_str(), "c3");
    let left: Vec<String> =
        t.db.load_waiting("tenant-a")
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.request.interaction.to_string())
            .collect();
    assert_eq!(left, ["c1", "c2"]);
    let offers: Vec<(String, String)> = std::iter::from_fn(|| r.engine.poll_decision())
        .filter_map(|d| match d {
            RoutingDecision::Offer {
                interaction, agent, ..
            } => Some((interaction.to_string(), agent.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(offers, [("c1".to_owned(), "alice".to_owned())]);
    assert_eq!(r.engine.epoch(), eb);
    cleanup(&url, &prefix).await;
    t.drop_schema().await;
}

/// A node beats while it runs; when it stops (its task ends, as when the
/// process dies), the others see it gone once the TTL has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_live_while_it_beats_and_gone_a_ttl_after_it_stops() {
    let Some(url) = redis_url() else { return };
    let prefix = unique("cc_cluster");
    let p = Presence::connect(&url, &prefix).await.unwrap();
    let beat = NodeHeartbeat {
        node: "n1".into(),
        sip: "127.0.0.1:5080".into(),
        http: "127.0.0.1:8080".into(),
        shards: Vec::new(),
    };
    let (tx, rx) = tokio::sync::watch::channel(beat.clone());
    let task = callcore_cluster::spawn_heartbeat(
        p.clone(),
        rx,
        Duration::from_millis(50),
        Duration::from_millis(200),
    );
    // It beats past its TTL, and the latest value is written.
    tx.send_modify(|b| b.shards = vec![("tenant-a".into(), 7)]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let live = p.live_nodes().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].shards, [("tenant-a".to_owned(), 7)]);
    task.abort();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(p.live_nodes().await.unwrap().is_empty());
    drop(tx);
    cleanup(&url, &prefix).await;
}
