//! Redis glue: short-lived cluster state, every key under one prefix.
//!
//! - agent presence (`{prefix}:agent:{id}`, with a TTL the holding node
//!   refreshes): which node holds the agent's phone or browser, the contact
//!   to reach it there, and the state last reported;
//! - node heartbeats (`{prefix}:node:{id}`, TTL): which nodes are alive and
//!   where to reach them;
//! - wallboard snapshots (`{prefix}:wallboard:{shard}`, TTL), written by
//!   the shard's owner, read by any node;
//! - pub/sub hints on `{prefix}:shards` that a shard changed owner. A hint
//!   only makes a contender ask sooner: the lease row in PostgreSQL stays
//!   the truth, and every node re-reads it at least every second (renewal or
//!   poll), so a lost hint costs at most one poll period.

use crate::{ClusterError, LeaseNudger};
use callcore::{AgentId, AgentState};
use redis::AsyncCommands;
use redis::aio::{MultiplexedConnection, PubSub};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where an agent can be reached, and their last reported state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPresence {
    /// The agent.
    pub agent: AgentId,
    /// The node that holds their phone's registration or browser session;
    /// offers to them are placed through it.
    pub node: String,
    /// Their contact on that node (a SIP URI or a session id).
    pub contact: String,
    /// The state last reported.
    pub state: AgentState,
}

/// A node's heartbeat: it is alive, and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    /// The node id (the lease rows' `owner`).
    pub node: String,
    /// Its SIP address.
    pub sip: String,
    /// Its HTTP address.
    pub http: String,
    /// The shards it owns, with their epochs.
    pub shards: Vec<(String, u64)>,
}

/// A hint that a shard's lease changed hands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardHint {
    /// The shard.
    pub shard: String,
    /// The new owner, or `None` when it was released.
    pub owner: Option<String>,
    /// The epoch concerned.
    pub epoch: u64,
}

/// A connection to the cluster's Redis under one key prefix.
#[derive(Clone)]
pub struct Presence {
    client: redis::Client,
    conn: MultiplexedConnection,
    prefix: String,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<String, ClusterError> {
    serde_json::to_string(value).map_err(|source| ClusterError::Decode { what, source })
}

fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T, ClusterError> {
    serde_json::from_str(text).map_err(|source| ClusterError::Decode { what, source })
}

impl Presence {
    /// Connects to `url` (`redis://host:port`) with every key under
    /// `prefix` (one cluster per prefix).
    ///
    /// # Errors
    /// [`ClusterError::Invalid`] for an empty prefix or one with `:`, `*`,
    /// `?`, `[` or whitespace; [`ClusterError::Redis`] when the server
    /// cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        if prefix.is_empty()
            || prefix
                .chars()
                .any(|c| matches!(c, ':' | '*' | '?' | '[' | ']') || c.is_whitespace())
        {
            return Err(ClusterError::Invalid {
                field: "prefix",
                reason: format!("{prefix:?} must be non-empty, without `:*?[]` or spaces"),
            });
        }
        let client = redis::Client::open(url)?;
        let conn = client.get_multiplexed_async_connection().await?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_owned(),
        })
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    async fn put(&self, key: String, value: String, ttl: Duration) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn get(&self, key: String) -> Result<Option<String>, ClusterError> {
        let mut conn = self.conn.clone();
        Ok(conn.get(key).await?)
    }

    async fn scan(&self, kind: &str) -> Result<Vec<String>, ClusterError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:{kind}:*", self.prefix);
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(200)
                .query_async(&mut conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            // A key may expire between SCAN and GET.
            if let Some(v) = self.get(key).await? {
                values.push(v);
            }
        }
        Ok(values)
    }

    /// Records (or refreshes) an agent's presence for `ttl`: the holding
    /// node refreshes it more often than that while the registration lasts.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn put_agent(
        &self,
        presence: &AgentPresence,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let key = self.key("agent", presence.agent.as_str());
        self.put(key, encode("agent presence", presence)?, ttl)
            .await
    }

    /// An agent's presence, if it has not expired.
    ///
    /// # Errors
    /// [`ClusterError::Redis`]; [`ClusterError::Decode`].
    pub async fn agent(&self, agent: &AgentId) -> Result<Option<AgentPresence>, ClusterError> {
        match self.get(self.key("agent", agent.as_str())).await? {
            Some(v) => Ok(Some(decode("agent presence", &v)?)),
            None => Ok(None),
        }
    }

    /// Forgets an agent's presence (unregistered, logged out).
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn remove_agent(&self, agent: &AgentId) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let _: u64 = conn.del(self.key("agent", agent.as_str())).await?;
        Ok(())
    }

    /// Every agent present, ordered by id.
    ///
    /// # Errors
    /// [`ClusterError::Redis`]; [`ClusterError::Decode`].
    pub async fn agents(&self) -> Result<Vec<AgentPresence>, ClusterError> {
        let mut all: Vec<AgentPresence> = self
            .scan("agent")
            .await?
            .iter()
            .map(|v| decode("agent presence", v))
            .collect::<Result<_, _>>()?;
        all.sort_by(|a, b| a.agent.cmp(&b.agent));
        Ok(all)
    }

    /// A node's heartbeat, valid for `ttl`.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn heartbeat(&self, beat: &NodeHeartbeat, ttl: Duration) -> Result<(), ClusterError> {
        let key = self.key("node", &beat.node);
        self.put(key, encode("node heartbeat", beat)?, ttl).await
    }

    /// Removes a node's heartbeat at once (a node leaving cleanly, or a test
    /// standing for Redis losing it). A node is never taken for dead
    /// because of this alone: death is decided in PostgreSQL
    /// ([`crate::NodeLiveness`]).
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn remove_node(&self, node: &str) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let _: u64 = conn.del(self.key("node", node)).await?;
        Ok(())
    }

    /// The nodes whose heartbeat has not expired, ordered by id.
    ///
    /// # Errors
    /// [`ClusterError::Redis`]; [`ClusterError::Decode`].
    pub async fn live_nodes(&self) -> Result<Vec<NodeHeartbeat>, ClusterError> {
        let mut all: Vec<NodeHeartbeat> = self
            .scan("node")
            .await?
            .iter()
            .map(|v| decode("node heartbeat", v))
            .collect::<Result<_, _>>()?;
        all.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(all)
    }

    /// Stores a shard's wallboard snapshot (any JSON) for `ttl`.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn put_wallboard(
        &self,
        shard: &str,
        snapshot: &serde_json::Value,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let key = self.key("wallboard", shard);
        self.put(key, encode("wallboard", snapshot)?, ttl).await
    }

    /// A shard's latest wallboard snapshot, if it has not expired.
    ///
    /// # Errors
    /// [`ClusterError::Redis`]; [`ClusterError::Decode`].
    pub async fn wallboard(&self, shard: &str) -> Result<Option<serde_json::Value>, ClusterError> {
        match self.get(self.key("wallboard", shard)).await? {
            Some(v) => Ok(Some(decode("wallboard", &v)?)),
            None => Ok(None),
        }
    }

    /// Publishes `payload` on the cluster's channel `topic` (under the
    /// prefix); how many subscribers got it.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn publish_on(&self, topic: &str, payload: &str) -> Result<u64, ClusterError> {
        let mut conn = self.conn.clone();
        Ok(conn
            .publish(format!("{}:{topic}", self.prefix), payload)
            .await?)
    }

    /// Subscribes to the cluster's channel `topic` (a connection of its own).
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn subscribe_on(&self, topic: &str) -> Result<TopicSubscription, ClusterError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(format!("{}:{topic}", self.prefix)).await?;
        Ok(TopicSubscription { pubsub })
    }

    fn hint_channel(&self) -> String {
        format!("{}:shards", self.prefix)
    }

    /// Publishes a hint that a shard changed hands; how many subscribers
    /// got it.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn publish_hint(&self, hint: &ShardHint) -> Result<u64, ClusterError> {
        let mut conn = self.conn.clone();
        Ok(conn
            .publish(self.hint_channel(), encode("shard hint", hint)?)
            .await?)
    }

    /// Subscribes to shard hints (a connection of its own).
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn subscribe_hints(&self) -> Result<HintSubscription, ClusterError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.hint_channel()).await?;
        Ok(HintSubscription { pubsub })
    }
}

/// Keeps a node's heartbeat alive: writes the latest value of `beat` every
/// `every` with `ttl` (a few times `every`), until the task is aborted or
/// `beat`'s sender is dropped. A failed write is logged and retried at the
/// next beat; the node's heartbeat expires `ttl` after the last one that
/// landed, which is how the other nodes learn it died.
pub fn spawn_heartbeat(
    presence: Presence,
    beat: tokio::sync::watch::Receiver<NodeHeartbeat>,
    every: Duration,
    ttl: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if beat.has_changed().is_err() {
                return;
            }
            let current = beat.borrow().clone();
            if let Err(e) = presence.heartbeat(&current, ttl).await {
                tracing::warn!(node = %current.node, error = %e, "heartbeat not written");
            }
        }
    })
}

/// Messages of one topic as they are published (see [`Presence::subscribe_on`]).
pub struct TopicSubscription {
    pubsub: PubSub,
}

impl std::fmt::Debug for TopicSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicSubscription").finish_non_exhaustive()
    }
}

impl TopicSubscription {
    /// The next message (unreadable ones skipped); `None` when the
    /// connection closed (subscribe again, and rely on polling meanwhile).
    pub async fn next(&mut self) -> Option<String> {
        use futures::StreamExt;
        loop {
            let msg = self.pubsub.on_message().next().await?;
            if let Ok(text) = msg.get_payload::<String>() {
                return Some(text);
            }
        }
    }
}

/// Shard hints as they are published (see [`Presence::subscribe_hints`]).
pub struct HintSubscription {
    pubsub: PubSub,
}

impl std::fmt::Debug for HintSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HintSubscription").finish_non_exhaustive()
    }
}

impl HintSubscription {
    /// The next hint; `None` when the connection closed (resubscribe, and
    /// rely on polling meanwhile).
    pub async fn next(&mut self) -> Option<Result<ShardHint, ClusterError>> {
        use futures::StreamExt;
        let msg = self.pubsub.on_message().next().await?;
        Some(match msg.get_payload::<String>() {
            Ok(text) => decode("shard hint", &text),
            Err(e) => Err(ClusterError::Redis(e)),
        })
    }
}

/// Passes every hint of `subscription` to the leases of its shard, until the
/// subscription ends or every lease has stopped. A contender nudged so asks
/// for the lease at once instead of at its next poll.
pub async fn relay_hints(mut subscription: HintSubscription, mut leases: Vec<LeaseNudger>) {
    while let Some(hint) = subscription.next().await {
        let hint = match hint {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable shard hint");
                continue;
            }
        };
        leases.retain(|l| l.shard() != hint.shard || l.nudge());
        if leases.is_empty() {
            return;
        }
    }
}
