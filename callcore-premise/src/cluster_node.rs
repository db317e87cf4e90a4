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
//! Routing goes through the shard's lease ([`ClusterNode::start_routing`],
//! `crate::cluster_routing`): every node contends for the shard's lease,
//! the holder runs the shard's ACD engine (`callcore_cluster::ShardOwner`)
//! and every node's center routes through it.
//!
//! Needs the `cluster` feature (which brings `postgres`); a build without it
//! refuses a `[cluster]` section with a config error naming `cluster.node`.

use std::time::Duration;

use serde::Deserialize;

use crate::PremiseError;

#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub use node::ClusterNode;

/// How often a node writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// How long a heartbeat lives: a node is dead this long after its last beat.
pub const HEARTBEAT_TTL: Duration = Duration::from_millis(2000);
/// The Request-URI parameter that marks an INVITE as an offer another node
/// places through this one (`crate::cluster_offers`; its value: the
/// reservation).
pub const OFFER_PARAM: &str = "cc-offer";

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

#[cfg(feature = "cluster")]
mod node {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use callcore::{Clock, Router, Stores};
    use callcore_cluster::{
        ClusterDb, LeaseHandle, LeaseTiming, LivenessTiming, NodeHeartbeat, NodeJournal,
        NodeLiveness, Orphan, OwnerStatus, Presence, ShardOwner, Sweep, spawn_failure_sweeper,
        spawn_heartbeat,
    };
    use tokio::sync::{mpsc, watch};
    use tokio::task::JoinHandle;

    use super::{ClusterSection, HEARTBEAT_EVERY, HEARTBEAT_TTL, SWEEP_EVERY, field};
    use crate::PremiseError;
    use crate::storage::Database;

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
        db: ClusterDb,
        presence: Presence,
        shard: Option<String>,
        routing: Option<(ShardOwner, crate::cluster_routing::RoutingLink)>,
        tasks: Vec<JoinHandle<()>>,
        relays: crate::cluster_offers::RelayRoutes,
        relayed: Arc<std::sync::atomic::AtomicU64>,
        leaving: Arc<std::sync::atomic::AtomicBool>,
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
            let heartbeat =
                spawn_heartbeat(presence.clone(), beats, HEARTBEAT_EVERY, HEARTBEAT_TTL);
            let (tx, sweeps) = mpsc::unbounded_channel();
            let sweeper = spawn_failure_sweeper(
                db.clone(),
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
                db,
                presence,
                shard: None,
                routing: None,
                tasks: Vec::new(),
                relays: crate::cluster_offers::RelayRoutes::default(),
                relayed: Arc::default(),
                leaving: Arc::default(),
            })
        }

        /// Starts routing through the shard's lease: contends for the lease of
        /// the shard `tenant` (one shard per tenant), runs the shard's engine while it
        /// holds it, and returns the router this node's center is built with
        /// ([`crate::cluster_routing::ClusterRouter`]).
        ///
        /// # Errors
        /// [`PremiseError::Config`] naming `tenant` for an empty tenant.
        pub fn start_routing(
            &mut self,
            tenant: &str,
            clock: Arc<dyn Clock>,
        ) -> Result<(Box<dyn Router>, mpsc::UnboundedReceiver<Orphan>), PremiseError> {
            let shard = tenant.trim().to_owned();
            if shard.is_empty() {
                return Err(PremiseError::Config {
                    field: "tenant".into(),
                    detail: "a cluster node routes its tenant's shard: a non-empty tenant".into(),
                });
            }
            let lease =
                LeaseHandle::spawn(self.db.clone(), &shard, &self.node, LeaseTiming::default())
                    .map_err(|e| field("node", e.to_string()))?;
            let owner_wake = Arc::new(tokio::sync::Notify::new());
            let (router, decisions, link) =
                crate::cluster_routing::start(crate::cluster_routing::LinkParts {
                    db: self.db.clone(),
                    presence: self.presence.clone(),
                    shard: shard.clone(),
                    node: self.node.clone(),
                    owner_wake: owner_wake.clone(),
                    clock: clock.clone(),
                    relays: self.relays.clone(),
                    leaving: self.leaving.clone(),
                });
            let (orphans_tx, orphans) = mpsc::unbounded_channel();
            let owner = ShardOwner::spawn(
                self.db.clone(),
                self.presence.clone(),
                lease,
                clock,
                callcore_acd::AcdConfig::default(),
                callcore_cluster::OwnerLinks {
                    local: decisions,
                    wake: owner_wake,
                    orphans: orphans_tx,
                },
            );
            tracing::info!(node = %self.node, %shard, "routing through the shard's lease");
            self.shard = Some(shard);
            self.routing = Some((owner, link));
            Ok((Box::new(router), orphans))
        }

        /// Books a callback for each waiting caller of a dead node this node's
        /// owner took out of the queue (see
        /// [`crate::cluster_routing::book_orphans`]).
        pub fn call_back_orphans(
            &mut self,
            orphans: mpsc::UnboundedReceiver<Orphan>,
            events: Arc<dyn callcore::EventJournal>,
            book: callcore_ivr::flow::SharedCallbackBook,
            clock: Arc<dyn Clock>,
        ) {
            self.tasks
                .push(tokio::spawn(crate::cluster_routing::book_orphans(
                    orphans, events, book, clock,
                )));
        }

        /// The transport that rings an agent through the node holding their
        /// phone or browser while the owner's offer says so
        /// ([`crate::cluster_offers`]); the center's first transport. `None`
        /// before routing started.
        pub fn relay_transport(
            &self,
            sip: Arc<callcore_sip::center::SipTransport>,
        ) -> Option<Arc<dyn callcore::Transport>> {
            let shard = self.shard.as_deref()?;
            Some(Arc::new(crate::cluster_offers::RelayTransport::new(
                self.relays.clone(),
                sip,
                self.presence.clone(),
                shard,
            )))
        }

        /// Rings this node's agents for other nodes' callers: the offer
        /// INVITEs `diverted` from the SIP transport, each once its ticket is
        /// claimed, through `transports` (the SIP and browser transports),
        /// at each agent's `endpoints`.
        pub fn serve_relayed_offers(
            &mut self,
            diverted: mpsc::UnboundedReceiver<callcore_sip::center::DivertedCall>,
            transports: Vec<Arc<dyn callcore::Transport>>,
            endpoints: std::collections::HashMap<String, Vec<callcore::Endpoint>>,
        ) {
            let service = crate::cluster_offers::RelayService {
                db: self.db.clone(),
                node: self.node.clone(),
                transports,
                endpoints,
                relayed: self.relayed.clone(),
            };
            self.tasks.push(crate::cluster_offers::serve_relayed_offers(
                diverted, service,
            ));
        }

        /// Offers this node rang one of its agents for, for another node's
        /// caller (tickets claimed).
        pub fn offers_relayed(&self) -> u64 {
            self.relayed.load(std::sync::atomic::Ordering::Relaxed)
        }

        /// The routing shard (once routing started).
        pub fn shard(&self) -> Option<&str> {
            self.shard.as_deref()
        }

        /// What this node's shard owner does now (`None` before routing started).
        pub fn owner_status(&self) -> Option<OwnerStatus> {
            self.routing.as_ref().map(|(o, _)| o.status())
        }

        /// The cluster's tables.
        pub fn db(&self) -> &ClusterDb {
            &self.db
        }

        /// The cluster's Redis.
        pub fn presence(&self) -> &Presence {
            &self.presence
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

        /// Leaves the cluster gracefully, before the node drains and stops:
        /// gives the shard's lease up (another node routes it at its next
        /// poll, ~0.5 s, instead of after the TTL) and stops contending, and
        /// withdraws this node's phones and browsers (`reachable_on`), so no
        /// offer is placed through it any more. Its callers keep their
        /// routing (the link stays) until the node stops; its heartbeat and
        /// liveness go on until then, so nothing of it is closed as
        /// `node_failure`.
        pub async fn leave(&self) {
            self.leaving
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let Some(shard) = self.shard.as_deref() else {
                return;
            };
            if let Some((owner, _)) = &self.routing {
                owner.leave().await;
            }
            match self.db.seats(shard).await {
                Ok(seats) => {
                    for s in seats.iter().filter(|s| {
                        s.reachable_on
                            .as_ref()
                            .is_some_and(|on| on.contains(&self.node))
                    }) {
                        if let Err(e) = self
                            .db
                            .set_reachable_on(shard, &s.id, &self.node, false)
                            .await
                        {
                            tracing::warn!(agent = %s.id, error = %e, "phone not withdrawn");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "leaving: seats not read"),
            }
            tracing::info!(node = %self.node, %shard, "left the cluster's routing");
        }

        /// Stops the heartbeat and the sweeps (the heartbeat expires after its TTL).
        pub fn stop(&self) {
            self.heartbeat.abort();
            self.sweeper.abort();
            self.renewals.abort();
            if let Some((owner, link)) = &self.routing {
                owner.stop();
                link.stop();
            }
            for t in &self.tasks {
                t.abort();
            }
        }
    }
}

/// A node's cluster tasks; this build has none (no `cluster` feature), so
/// [`ClusterNode::join`] refuses and no value of this type exists.
#[cfg(not(feature = "cluster"))]
#[derive(Debug)]
pub enum ClusterNode {}

#[cfg(not(feature = "cluster"))]
impl ClusterNode {
    /// Refuses: this build has no cluster support.
    ///
    /// # Errors
    /// Always [`PremiseError::Config`] naming `cluster.node`.
    #[allow(clippy::unused_async)]
    pub async fn join(
        _section: &ClusterSection,
        _database: &crate::storage::Database,
        _stores: &mut callcore::Stores,
    ) -> Result<ClusterNode, PremiseError> {
        Err(field(
            "node",
            "this build has no cluster support (build callcore-premise with the `cluster` feature)",
        ))
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        match *self {}
    }

    /// Publishes where this node is reached (in its heartbeat).
    pub fn advertise(&self, _sip: std::net::SocketAddr, _http: Option<std::net::SocketAddr>) {
        match *self {}
    }

    /// The calls of dead nodes this node closed since the last call.
    pub fn take_closed(&self) -> Vec<(callcore::InteractionId, String)> {
        match *self {}
    }

    /// Never called: no node exists in this build.
    pub fn start_routing(
        &mut self,
        _tenant: &str,
        _clock: std::sync::Arc<dyn callcore::Clock>,
    ) -> Result<(Box<dyn callcore::Router>, NoOrphans), PremiseError> {
        match *self {}
    }

    /// Never called: no node exists in this build.
    pub fn call_back_orphans(
        &mut self,
        _orphans: NoOrphans,
        _events: std::sync::Arc<dyn callcore::EventJournal>,
        _book: callcore_ivr::flow::SharedCallbackBook,
        _clock: std::sync::Arc<dyn callcore::Clock>,
    ) {
        match *self {}
    }

    /// Never called: no node exists in this build.
    pub fn relay_transport(
        &self,
        _sip: std::sync::Arc<callcore_sip::center::SipTransport>,
    ) -> Option<std::sync::Arc<dyn callcore::Transport>> {
        match *self {}
    }

    /// Never called: no node exists in this build.
    pub fn serve_relayed_offers(
        &mut self,
        _diverted: tokio::sync::mpsc::UnboundedReceiver<callcore_sip::center::DivertedCall>,
        _transports: Vec<std::sync::Arc<dyn callcore::Transport>>,
        _endpoints: std::collections::HashMap<String, Vec<callcore::Endpoint>>,
    ) {
        match *self {}
    }

    /// Never called: no node exists in this build.
    #[allow(clippy::unused_async)]
    pub async fn leave(&self) {
        match *self {}
    }

    /// Stops the heartbeat and the sweeps.
    pub fn stop(&self) {
        match *self {}
    }
}

/// The waiting callers of dead nodes; none in a build without `cluster`.
#[cfg(not(feature = "cluster"))]
#[derive(Debug)]
pub enum NoOrphans {}
