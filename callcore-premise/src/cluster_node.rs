//! A premise center as one node of the cloud assembly (`[cluster]`): it
//! shares PostgreSQL with the other nodes (`[storage]` must be PostgreSQL),
//! heartbeats in Redis, tracks its calls in progress
//! ([`callcore_cluster::NodeJournal`]) and closes, with the other survivors,
//! the calls of a node declared dead in PostgreSQL as `node_failure`, each
//! exactly once ([`callcore_cluster::close_dead_nodes`]).
//!
//! ```toml
//! [cluster]
//! node = "n1"                      # unique per node
//! # redis_url = "redis://127.0.0.1:6379"   # default: REDIS_URL
//! # prefix = "callcore"           # one cluster per prefix
//! ```
//!
//! Shard leases do not drive routing yet: each node routes the calls it
//! took with its own ACD engine and agents.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callcore::Stores;
use callcore_cluster::{
    ClusterDb, LivenessTiming, NodeHeartbeat, NodeJournal, NodeLiveness, Presence, Sweep,
    spawn_failure_sweeper, spawn_heartbeat,
};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::PremiseError;
use crate::storage::Database;

/// How often a node writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// How long a heartbeat lives: a node is dead this long after its last beat.
pub const HEARTBEAT_TTL: Duration = Duration::from_millis(2000);
/// How often each node looks for dead nodes' calls.
pub const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// `[cluster]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's id, unique in the cluster (`n1`).
    pub node: String,
    /// Redis; default: the `REDIS_URL` environment variable.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// The cluster's Redis key prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_prefix() -> String {
    "callcore".into()
}

fn field(name: &str, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: format!("cluster.{name}"),
        detail: detail.into(),
    }
}

/// A node's cluster tasks: heartbeat and failure sweeps.
#[derive(Debug)]
pub struct ClusterNode {
    node: String,
    beat: watch::Sender<NodeHeartbeat>,
    heartbeat: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    sweeps: std::sync::Mutex<mpsc::UnboundedReceiver<Sweep>>,
    liveness: NodeLiveness,
    renewals: JoinHandle<()>,
}

impl ClusterNode {
    /// Joins the cluster of `section`: connects to PostgreSQL (the store's
    /// database) and Redis, wraps `stores.events` with the node's journal,
    /// writes the first heartbeat and starts the sweeps.
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming `cluster.*` (no node id, no Redis
    /// URL, a SQLite store); [`PremiseError::Store`] when PostgreSQL or
    /// Redis cannot be reached.
    pub async fn join(
        section: &ClusterSection,
        database: &Database,
        stores: &mut Stores,
    ) -> Result<ClusterNode, PremiseError> {
        let node = section.node.trim().to_owned();
        if node.is_empty() || node.contains([':', '*', ' ']) {
            return Err(field("node", "a non-empty id without `:`, `*` or spaces"));
        }
        let Database::Postgres { url, schema } = database else {
            return Err(field(
                "node",
                "a cluster node needs [storage] on PostgreSQL (database_url)",
            ));
        };
        let redis_url = match &section.redis_url {
            Some(u) => u.clone(),
            None => std::env::var("REDIS_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    field("redis_url", "set it or the REDIS_URL environment variable")
                })?,
        };
        let store = |e: callcore_cluster::ClusterError| PremiseError::Store(e.to_string());
        let db = ClusterDb::connect(url, schema.as_deref())
            .await
            .map_err(store)?;
        let presence = Presence::connect(&redis_url, &section.prefix)
            .await
            .map_err(store)?;
        // alive in PostgreSQL (the truth of node death) before the first call
        let liveness = NodeLiveness::join(&db, &node, LivenessTiming::default())
            .await
            .map_err(store)?;
        let renewals = liveness.spawn_renewals();
        let journal = NodeJournal::new(stores.events.clone(), &db, node.clone())
            .with_liveness(liveness.clone());
        stores.events = Arc::new(journal.clone());
        let first = NodeHeartbeat {
            node: node.clone(),
            sip: String::new(),
            http: String::new(),
            shards: Vec::new(),
        };
        // alive before the first call is taken
        presence
            .heartbeat(&first, HEARTBEAT_TTL)
            .await
            .map_err(store)?;
        let (beat, beats) = watch::channel(first);
        let heartbeat = spawn_heartbeat(presence.clone(), beats, HEARTBEAT_EVERY, HEARTBEAT_TTL);
        let (tx, sweeps) = mpsc::unbounded_channel();
        let sweeper = spawn_failure_sweeper(
            db,
            liveness.clone(),
            Arc::new(journal),
            stores.interactions.clone(),
            SWEEP_EVERY,
            Some(tx),
        );
        tracing::info!(%node, "joined the cluster");
        Ok(ClusterNode {
            node,
            beat,
            heartbeat,
            sweeper,
            sweeps: std::sync::Mutex::new(sweeps),
            liveness,
            renewals,
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Publishes where this node is reached (in its heartbeat).
    pub fn advertise(&self, sip: SocketAddr, http: Option<SocketAddr>) {
        self.beat.send_modify(|b| {
            b.sip = sip.to_string();
            b.http = http.map(|h| h.to_string()).unwrap_or_default();
        });
    }

    /// The calls of dead nodes this node closed since the last call.
    pub fn take_closed(&self) -> Vec<(callcore::InteractionId, String)> {
        let mut out = Vec::new();
        let mut rx = self
            .sweeps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Ok(s) = rx.try_recv() {
            out.extend(s.closed);
        }
        out
    }

    /// Changes to `Some(by)` once this node learns it was declared dead
    /// (its PostgreSQL row expired, e.g. after a pause longer than the TTL):
    /// the survivors closed its calls as `node_failure` and its journal
    /// refuses every write from then on; the process should stop (the
    /// `cloud` example's nodes exit) and start again under a new epoch.
    pub fn declared_dead(&self) -> watch::Receiver<Option<String>> {
        self.liveness.watch_dead()
    }

    /// Stops the heartbeat and the sweeps (the heartbeat expires after its TTL).
    pub fn stop(&self) {
        self.heartbeat.abort();
        self.sweeper.abort();
        self.renewals.abort();
    }
}
