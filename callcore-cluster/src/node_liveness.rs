//! Whether a node is alive, decided in PostgreSQL, never by Redis alone.
//!
//! A node's calls in progress may only be closed as `node_failure` once the
//! node has been **declared dead** in `cluster_nodes`, and only a node that
//! stopped renewing its row for a whole TTL (by the database's clock) can
//! be declared dead. A Redis heartbeat that lapses (Redis restarted, a
//! network blip to Redis) therefore closes nothing.
//!
//! ```text
//! join     INSERT INTO cluster_nodes (node, epoch, expires_at) VALUES (me, 1, clock_timestamp() + ttl)
//!          ON CONFLICT (node) DO UPDATE SET epoch = epoch + 1, expires_at = …, dead_by = NULL RETURNING epoch
//! renew    UPDATE cluster_nodes SET expires_at = clock_timestamp() + ttl
//!          WHERE node = me AND epoch = $E AND dead_by IS NULL          -- no row: declared dead
//! declare  UPDATE cluster_nodes SET dead_by = survivor
//!          WHERE expires_at < clock_timestamp() AND dead_by IS NULL AND node <> survivor
//! ```
//!
//! `renew` and `declare` update the same row, so PostgreSQL orders them: a
//! renewal that commits first moves `expires_at` and the declaration
//! (re-checked on the new row version) no longer matches; a declaration
//! that commits first makes the renewal match nothing, and the node learns
//! it was declared dead.
//!
//! **The node's own deadline** is `sent + ttl − guard` on its monotonic
//! clock, `sent` being when it sent the last renewal that succeeded (the
//! database wrote `expires_at` after that). Past it the node does not
//! journal anything before a renewal succeeds ([`NodeLiveness::confirm`]):
//! a node resumed after a pause (`kill -STOP`, a long GC-like stall) asks
//! PostgreSQL first, and if it was declared dead meanwhile it learns so and
//! writes nothing more for the calls the survivors closed. Every join is a
//! new epoch, and each call row carries the epoch of the node that took
//! it, so a node that restarts with the same id never vouches for the
//! calls of its previous run.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;

use crate::{ClusterDb, ClusterError};

/// The node's monotonic clock: deadlines are durations on one clock.
#[allow(clippy::disallowed_methods)] // liveness glue: monotonic time enters here only
fn monotonic_now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)] // the renewal timer (monotonic, see above)
async fn sleep_monotonic(d: Duration) {
    tokio::time::sleep(d).await;
}

/// How a node keeps its row alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessTiming {
    /// How long a renewal keeps the row alive (database clock).
    pub ttl: Duration,
    /// How often the node renews.
    pub every: Duration,
    /// How long before `sent + ttl` the node stops journaling unconfirmed.
    pub guard: Duration,
}

impl Default for LivenessTiming {
    /// TTL 2 s, renewed every 500 ms, guard 500 ms.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(2),
            every: Duration::from_millis(500),
            guard: Duration::from_millis(500),
        }
    }
}

/// What a renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The row is this node's at its epoch and alive for another TTL.
    Alive,
    /// The node was declared dead (by the named survivor, when known) or a
    /// newer run of the same node id took the row: its calls are closed by
    /// the survivors, and it must not act for them.
    DeclaredDead {
        /// The survivor that declared it, if the row says.
        by: Option<String>,
    },
}

/// The node's own view of whether it may act, sans IO (no clock, no
/// database): the deadline `sent + ttl − guard` of the last renewal that
/// succeeded, and whether it learned it was declared dead. The database
/// wrote `expires_at = its now + ttl` after `sent`, so while the local clock
/// is before the deadline, nobody can have declared the node dead (the
/// guard covers a local clock running slow by up to `guard / ttl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessDeadline {
    timing: LivenessTiming,
    deadline: Instant,
    dead: bool,
}

impl LivenessDeadline {
    /// After a join sent at `sent` succeeded.
    #[must_use]
    pub fn new(timing: LivenessTiming, sent: Instant) -> Self {
        Self {
            timing,
            deadline: sent + timing.ttl.saturating_sub(timing.guard),
            dead: false,
        }
    }

    /// A renewal sent at `sent` succeeded (a late reply never moves the
    /// deadline back).
    pub fn renewed(&mut self, sent: Instant) {
        let deadline = sent + self.timing.ttl.saturating_sub(self.timing.guard);
        if !self.dead && deadline > self.deadline {
            self.deadline = deadline;
        }
    }

    /// A renewal found the row declared dead (or taken by a newer run).
    pub fn declared_dead(&mut self) {
        self.dead = true;
    }

    /// Whether the node learned it was declared dead.
    #[must_use]
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Whether the node may act at `now` without asking the database.
    #[must_use]
    pub fn acting_at(&self, now: Instant) -> bool {
        !self.dead && now < self.deadline
    }

    /// The current deadline (local monotonic clock).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

#[derive(Debug)]
struct State {
    clock: LivenessDeadline,
    by: Option<String>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    node: String,
    epoch: i64,
    timing: LivenessTiming,
    state: Mutex<State>,
    dead_tx: watch::Sender<Option<String>>,
}

/// A node's row in `cluster_nodes` at one epoch: renewed, confirmed before
/// journaling past its deadline, and told when it was declared dead.
#[derive(Debug, Clone)]
pub struct NodeLiveness {
    inner: Arc<Inner>,
}

impl NodeLiveness {
    /// Joins as `node` at a new epoch (the row is alive for one TTL).
    ///
    /// # Errors
    /// [`ClusterError::Invalid`] for an empty node id or a zero TTL,
    /// [`ClusterError::Postgres`].
    pub async fn join(
        db: &ClusterDb,
        node: &str,
        timing: LivenessTiming,
    ) -> Result<Self, ClusterError> {
        if node.trim().is_empty() {
            return Err(ClusterError::Invalid {
                field: "node",
                reason: "empty".into(),
            });
        }
        if timing.ttl <= timing.guard || timing.every >= timing.ttl {
            return Err(ClusterError::Invalid {
                field: "ttl",
                reason: "longer than the guard and the renewal period".into(),
            });
        }
        let sent = monotonic_now();
        let (epoch,): (i64,) = sqlx::query_as(
            "INSERT INTO cluster_nodes (node, epoch, expires_at)
             VALUES ($1, 1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (node) DO UPDATE SET epoch = cluster_nodes.epoch + 1,
                 expires_at = EXCLUDED.expires_at, dead_by = NULL
             RETURNING epoch",
        )
        .bind(node)
        .bind(timing.ttl.as_secs_f64())
        .fetch_one(db.pool())
        .await?;
        let (dead_tx, _) = watch::channel(None);
        Ok(Self {
            inner: Arc::new(Inner {
                pool: db.pool().clone(),
                node: node.to_owned(),
                epoch,
                timing,
                state: Mutex::new(State {
                    clock: LivenessDeadline::new(timing, sent),
                    by: None,
                }),
                dead_tx,
            }),
        })
    }

    /// The node id.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// This run's epoch (every join is a new one).
    #[must_use]
    pub fn epoch(&self) -> i64 {
        self.inner.epoch
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the node may act at `now` without asking PostgreSQL: not
    /// declared dead and before its own deadline.
    #[must_use]
    pub fn acting_at(&self, now: Instant) -> bool {
        self.state().clock.acting_at(now)
    }

    /// Whether the node was declared dead, and by whom (when known).
    #[must_use]
    pub fn declared_dead(&self) -> Option<Option<String>> {
        let s = self.state();
        s.clock.is_dead().then(|| s.by.clone())
    }

    /// A receiver that changes to `Some(by)` once the node learns it was
    /// declared dead (`by` empty when unknown).
    #[must_use]
    pub fn watch_dead(&self) -> watch::Receiver<Option<String>> {
        self.inner.dead_tx.subscribe()
    }

    /// Renews the row now.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`] (nothing is concluded then: the node
    /// stays unconfirmed until a renewal succeeds).
    pub async fn renew(&self) -> Result<Liveness, ClusterError> {
        if let Some(by) = self.declared_dead() {
            return Ok(Liveness::DeclaredDead { by });
        }
        let sent = monotonic_now();
        let renewed = sqlx::query(
            "UPDATE cluster_nodes SET expires_at = clock_timestamp() + make_interval(secs => $3)
             WHERE node = $1 AND epoch = $2 AND dead_by IS NULL",
        )
        .bind(&self.inner.node)
        .bind(self.inner.epoch)
        .bind(self.inner.timing.ttl.as_secs_f64())
        .execute(&self.inner.pool)
        .await?
        .rows_affected();
        if renewed == 1 {
            self.state().clock.renewed(sent);
            return Ok(Liveness::Alive);
        }
        let by: Option<(Option<String>,)> =
            sqlx::query_as("SELECT dead_by FROM cluster_nodes WHERE node = $1")
                .bind(&self.inner.node)
                .fetch_optional(&self.inner.pool)
                .await?;
        let by = by.and_then(|(b,)| b);
        tracing::error!(node = %self.inner.node, epoch = self.inner.epoch, by = ?by,
            "this node was declared dead: its calls were closed by the survivors");
        {
            let mut s = self.state();
            s.clock.declared_dead();
            s.by.clone_from(&by);
        }
        self.inner
            .dead_tx
            .send_replace(Some(by.clone().unwrap_or_default()));
        Ok(Liveness::DeclaredDead { by })
    }

    /// Whether the node may act now: at once before its deadline, else
    /// after a renewal that succeeds (a resumed node asks PostgreSQL first).
    ///
    /// # Errors
    /// [`ClusterError::Postgres`] when the renewal fails (the node must not
    /// act then either).
    pub async fn confirm(&self) -> Result<bool, ClusterError> {
        if self.acting_at(monotonic_now()) {
            return Ok(true);
        }
        Ok(self.renew().await? == Liveness::Alive)
    }

    /// Renews every `timing.every` until declared dead (or aborted).
    #[must_use]
    pub fn spawn_renewals(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match me.renew().await {
                    Ok(Liveness::DeclaredDead { .. }) => return,
                    Ok(Liveness::Alive) => {}
                    Err(e) => tracing::warn!(node = %me.inner.node, error = %e, "renewal failed"),
                }
                sleep_monotonic(me.inner.timing.every).await;
            }
        })
    }
}

/// Declares dead every node (but `me`) whose row expired; returns them.
pub(crate) async fn declare_dead(pool: &PgPool, me: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "UPDATE cluster_nodes SET dead_by = $1
         WHERE expires_at < clock_timestamp() AND dead_by IS NULL AND node <> $1
         RETURNING node",
    )
    .bind(me)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// The nodes declared dead in `cluster_nodes` (at their current epoch), read
/// on `conn` (the owner's fenced transaction): their waiting callers are
/// gone. A node whose row merely expired is not in it until a survivor's
/// sweep declared it, as for its calls in progress.
pub(crate) async fn declared_dead_in(
    conn: &mut sqlx::PgConnection,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT node FROM cluster_nodes WHERE dead_by IS NOT NULL")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}
