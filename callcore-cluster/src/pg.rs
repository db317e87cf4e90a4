//! PostgreSQL glue: the lease rows a [`LeaseKeeper`](crate::LeaseKeeper)
//! asks for, the fence every routing write checks in its own transaction,
//! and the waiting interactions of each shard.
//!
//! Every time comparison uses the database's clock (`clock_timestamp()`),
//! never a node's.

use crate::{ClusterError, LeaseQuery, LeaseReply, LeaseTiming};
use callcore::RoutingRequest;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, PgConnection, Postgres, Row, Transaction};
use std::str::FromStr;

/// What a routing write proves in its transaction: `owner` holds `shard`'s
/// lease at `epoch`, and the lease has not expired by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The shard.
    pub shard: String,
    /// The node that holds it.
    pub owner: String,
    /// The epoch it holds it at.
    pub epoch: u64,
}

impl Fence {
    /// A fence for `owner` at `epoch` on `shard`.
    #[must_use]
    pub fn new(shard: impl Into<String>, owner: impl Into<String>, epoch: u64) -> Self {
        Self {
            shard: shard.into(),
            owner: owner.into(),
            epoch,
        }
    }

    fn fenced(&self) -> ClusterError {
        ClusterError::Fenced {
            shard: self.shard.clone(),
            owner: self.owner.clone(),
            epoch: self.epoch,
        }
    }
}

/// A shard's lease row as the database sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The node that holds (or last held) it.
    pub owner: String,
    /// Its epoch.
    pub epoch: u64,
    /// Milliseconds until it expires by the database's clock (negative:
    /// expired).
    pub expires_in_ms: i64,
}

/// A waiting interaction as stored: the routing request and its place.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingRow {
    /// The request as the caller enqueued it.
    pub request: RoutingRequest,
    /// The database's sequence number, the last tie-breaker of the order.
    pub seq: i64,
    /// The epoch of the owner that enqueued it.
    pub enqueued_epoch: u64,
}

/// The cluster's tables in one PostgreSQL database (or schema): shard
/// leases and waiting interactions.
#[derive(Debug, Clone)]
pub struct ClusterDb {
    pool: PgPool,
}

fn check_schema_name(name: &str) -> Result<(), ClusterError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Invalid {
            field: "schema",
            reason: format!("{name:?} must be 1-63 of [a-z0-9_], not starting with a digit"),
        })
    }
}

fn epoch_i64(epoch: u64) -> Result<i64, ClusterError> {
    i64::try_from(epoch).map_err(|_| ClusterError::Invalid {
        field: "epoch",
        reason: format!("{epoch} is out of range"),
    })
}

fn epoch_u64(epoch: i64) -> u64 {
    u64::try_from(epoch).unwrap_or(0)
}

/// The version of the cluster's tables (`cluster_schema`): raise it
/// whenever `MIGRATION` here or in `node_calls`, `mailbox` or `offer_relay`
/// changes, so that nodes of the new version run the migration once.
const SCHEMA_VERSION: i64 = 1;

const MIGRATION_LOCK: i64 = 0x636c_7573_7465_7231; // "cluster1"

/// How long PostgreSQL lets a session sit idle inside a transaction before
/// it ends the session (`idle_in_transaction_session_timeout`, set on every
/// connection of the pool). A fenced transaction share-locks its lease row
/// ([`check_fence`]) and a takeover waits for it; a node stopped in the
/// middle of one (a VM or GC pause, `SIGSTOP`) would otherwise hold the row,
/// and so the shard, for as long as it stays stopped. Half the default lease
/// TTL: a fenced write is a few statements, never a pause this long.
pub const STALLED_TRANSACTION_LIMIT: std::time::Duration = std::time::Duration::from_millis(1500);

const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS cluster_leases (
    shard       TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_waiting (
    shard          TEXT NOT NULL,
    interaction    TEXT NOT NULL,
    queue          TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    enqueued_at_ms BIGINT NOT NULL,
    seq            BIGSERIAL NOT NULL,
    enqueued_epoch BIGINT NOT NULL,
    request        JSONB NOT NULL,
    PRIMARY KEY (shard, interaction)
);
CREATE INDEX IF NOT EXISTS cluster_waiting_order
    ON cluster_waiting (shard, priority DESC, enqueued_at_ms, seq);
";

impl ClusterDb {
    /// Connects to `url`, with every table in `schema` (created if missing)
    /// or in the connection's default schema, and creates the tables.
    ///
    /// # Errors
    /// [`ClusterError::Invalid`] for a schema name outside `[a-z0-9_]`;
    /// [`ClusterError::Postgres`] when the server cannot be reached.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, ClusterError> {
        let options = PgConnectOptions::from_str(url)?;
        if let Some(s) = schema {
            check_schema_name(s)?;
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            // nodes starting together race on IF NOT EXISTS (one of them then
            // fails on pg_namespace's unique index): the schema exists either way
            match pool
                .execute(format!("CREATE SCHEMA IF NOT EXISTS {s}").as_str())
                .await
            {
                Ok(_) => {}
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("23505" | "42P06")) => {}
                Err(e) => return Err(e.into()),
            }
            pool.close().await;
        }
        let search_path = schema.map(str::to_owned);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    conn.execute(
                        format!(
                            "SET idle_in_transaction_session_timeout = {}",
                            STALLED_TRANSACTION_LIMIT.as_millis()
                        )
                        .as_str(),
                    )
                    .await?;
                    if let Some(s) = search_path {
                        conn.execute(format!("SET search_path TO {s}").as_str())
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Self { pool };
        db.migrate().await?;
        Ok(db)
    }

    /// The connection pool (for the caller's own routing writes, fenced
    /// with [`check_fence`]).
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates or updates the tables, unless they are at [`SCHEMA_VERSION`]
    /// already: a node joining a running cluster runs no DDL. (The
    /// migration's `ALTER TABLE … ADD COLUMN IF NOT EXISTS` takes an ACCESS
    /// EXCLUSIVE lock on tables the running nodes write, even when the
    /// column exists; a node added under load once failed to start on a
    /// deadlock with them.)
    async fn migrate(&self) -> Result<(), ClusterError> {
        if self.schema_version().await? >= SCHEMA_VERSION {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        tx.execute(MIGRATION).await?;
        tx.execute(crate::node_calls::MIGRATION).await?;
        tx.execute(crate::mailbox::MIGRATION).await?;
        tx.execute(crate::offer_relay::MIGRATION).await?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS cluster_schema (version BIGINT NOT NULL);
             DELETE FROM cluster_schema;",
        )
        .await?;
        sqlx::query("INSERT INTO cluster_schema (version) VALUES ($1)")
            .bind(SCHEMA_VERSION)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tables' version (`cluster_schema`), 0 before there was one.
    async fn schema_version(&self) -> Result<i64, ClusterError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('cluster_schema') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(0);
        }
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM cluster_schema")
            .fetch_one(&self.pool)
            .await?;
        Ok(version.unwrap_or(0))
    }

    /// Runs a keeper's query for `node` and turns the outcome into its
    /// reply. A database error is [`LeaseReply::Failed`] (logged), never an
    /// error: the keeper's deadline handles it.
    pub async fn run_lease_query(
        &self,
        shard: &str,
        node: &str,
        query: LeaseQuery,
        timing: &LeaseTiming,
    ) -> LeaseReply {
        let ttl = timing.ttl.as_secs_f64();
        let result = match query {
            LeaseQuery::Acquire => self.acquire(shard, node, ttl).await,
            LeaseQuery::Renew { epoch } => self.renew(shard, node, epoch, ttl).await,
            LeaseQuery::Release { epoch } => self.release(shard, node, epoch).await,
        };
        match result {
            Ok(Some(epoch)) => LeaseReply::Granted { epoch },
            Ok(None) => LeaseReply::Refused,
            Err(e) => {
                tracing::warn!(shard, node, error = %e, "lease query failed");
                LeaseReply::Failed
            }
        }
    }

    /// Takes `shard` for `node` if the row is missing, expired or already
    /// `node`'s, at a new epoch; `None` when another node holds it.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn acquire(
        &self,
        shard: &str,
        node: &str,
        ttl_secs: f64,
    ) -> Result<Option<u64>, ClusterError> {
        let row = sqlx::query(
            "INSERT INTO cluster_leases AS l (shard, owner, epoch, expires_at, acquired_at)
             VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3), clock_timestamp())
             ON CONFLICT (shard) DO UPDATE
               SET owner = EXCLUDED.owner, epoch = l.epoch + 1,
                   expires_at = clock_timestamp() + make_interval(secs => $3),
                   acquired_at = clock_timestamp()
             WHERE l.owner = EXCLUDED.owner OR l.expires_at < clock_timestamp()
             RETURNING epoch",
        )
        .bind(shard)
        .bind(node)
        .bind(ttl_secs)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<i64, _>(0).map(epoch_u64))
            .transpose()
            .map_err(Into::into)
    }

    /// Extends `node`'s lease at `epoch` if it is still live; `None` when it
    /// is not (expired, taken, another epoch).
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn renew(
        &self,
        shard: &str,
        node: &str,
        epoch: u64,
        ttl_secs: f64,
    ) -> Result<Option<u64>, ClusterError> {
        let row = sqlx::query(
            "UPDATE cluster_leases SET expires_at = clock_timestamp() + make_interval(secs => $4)
             WHERE shard = $1 AND owner = $2 AND epoch = $3 AND expires_at >= clock_timestamp()
             RETURNING epoch",
        )
        .bind(shard)
        .bind(node)
        .bind(epoch_i64(epoch)?)
        .bind(ttl_secs)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<i64, _>(0).map(epoch_u64))
            .transpose()
            .map_err(Into::into)
    }

    /// Lets `node`'s lease at `epoch` expire now; `Some(epoch)` if it was
    /// `node`'s.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn release(
        &self,
        shard: &str,
        node: &str,
        epoch: u64,
    ) -> Result<Option<u64>, ClusterError> {
        let row = sqlx::query(
            "UPDATE cluster_leases SET expires_at = clock_timestamp() - interval '1 millisecond'
             WHERE shard = $1 AND owner = $2 AND epoch = $3 RETURNING epoch",
        )
        .bind(shard)
        .bind(node)
        .bind(epoch_i64(epoch)?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<i64, _>(0).map(epoch_u64))
            .transpose()
            .map_err(Into::into)
    }

    /// The lease row of `shard`, if any.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn lease(&self, shard: &str) -> Result<Option<LeaseRow>, ClusterError> {
        let row = sqlx::query(
            "SELECT owner, epoch,
                    (EXTRACT(EPOCH FROM (expires_at - clock_timestamp())) * 1000)::BIGINT
             FROM cluster_leases WHERE shard = $1",
        )
        .bind(shard)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LeaseRow {
                owner: r.try_get(0)?,
                epoch: epoch_u64(r.try_get(1)?),
                expires_in_ms: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Begins a transaction that has passed the fence: the lease row is
    /// share-locked until it commits, so no other node can take the shard
    /// in between. Make the routing writes in it, then commit.
    ///
    /// # Errors
    /// [`ClusterError::Fenced`] when `fence.owner` no longer holds the shard
    /// at `fence.epoch`; [`ClusterError::Postgres`].
    pub async fn begin_fenced(
        &self,
        fence: &Fence,
    ) -> Result<Transaction<'static, Postgres>, ClusterError> {
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, fence).await?;
        Ok(tx)
    }

    /// Puts an interaction in its shard's waiting rows, fenced, and commits:
    /// only after this returns may the caller be told it is queued. Enqueuing
    /// the same interaction again keeps its place (a retried commit).
    ///
    /// # Errors
    /// [`ClusterError::Fenced`]; [`ClusterError::Postgres`].
    pub async fn enqueue_waiting(
        &self,
        fence: &Fence,
        request: &RoutingRequest,
    ) -> Result<i64, ClusterError> {
        let mut tx = self.begin_fenced(fence).await?;
        let seq = enqueue_waiting_in(&mut tx, fence, request).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Takes an interaction out of its shard's waiting rows (answered,
    /// abandoned, timed out), fenced; whether it was there.
    ///
    /// # Errors
    /// [`ClusterError::Fenced`]; [`ClusterError::Postgres`].
    pub async fn remove_waiting(
        &self,
        fence: &Fence,
        interaction: &str,
    ) -> Result<bool, ClusterError> {
        let mut tx = self.begin_fenced(fence).await?;
        let removed = remove_waiting_in(&mut tx, fence, interaction).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// A shard's waiting interactions in routing order: priority (highest
    /// first), enqueue time, sequence.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`]; [`ClusterError::Decode`] for a row that
    /// does not read back.
    pub async fn load_waiting(&self, shard: &str) -> Result<Vec<WaitingRow>, ClusterError> {
        let rows = sqlx::query(
            "SELECT request::text, seq, enqueued_epoch FROM cluster_waiting WHERE shard = $1
             ORDER BY priority DESC, enqueued_at_ms, seq",
        )
        .bind(shard)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let text: String = r.try_get(0)?;
                let request =
                    serde_json::from_str(&text).map_err(|source| ClusterError::Decode {
                        what: "waiting request",
                        source,
                    })?;
                Ok(WaitingRow {
                    request,
                    seq: r.try_get(1)?,
                    enqueued_epoch: epoch_u64(r.try_get(2)?),
                })
            })
            .collect()
    }
}

/// The fence, inside the caller's transaction: passes only while
/// `fence.owner` holds `fence.shard` at `fence.epoch` and the lease has not
/// expired by the database's clock, and share-locks the lease row until the
/// transaction ends (a takeover waits for it, then sees a new epoch).
///
/// # Errors
/// [`ClusterError::Fenced`]; [`ClusterError::Postgres`].
pub async fn check_fence(conn: &mut PgConnection, fence: &Fence) -> Result<(), ClusterError> {
    let row = sqlx::query(
        "SELECT epoch FROM cluster_leases
         WHERE shard = $1 AND owner = $2 AND epoch = $3 AND expires_at >= clock_timestamp()
         FOR SHARE",
    )
    .bind(&fence.shard)
    .bind(&fence.owner)
    .bind(epoch_i64(fence.epoch)?)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(fence.fenced()),
    }
}

/// [`ClusterDb::enqueue_waiting`] inside a transaction that passed
/// [`check_fence`].
///
/// # Errors
/// [`ClusterError::Postgres`]; [`ClusterError::Invalid`] for an epoch out
/// of range.
pub async fn enqueue_waiting_in(
    conn: &mut PgConnection,
    fence: &Fence,
    request: &RoutingRequest,
) -> Result<i64, ClusterError> {
    let json = serde_json::to_string(request).map_err(|source| ClusterError::Decode {
        what: "waiting request",
        source,
    })?;
    let row = sqlx::query(
        "INSERT INTO cluster_waiting
           (shard, interaction, queue, priority, enqueued_at_ms, enqueued_epoch, request)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
         ON CONFLICT (shard, interaction) DO UPDATE SET request = EXCLUDED.request
         RETURNING seq",
    )
    .bind(&fence.shard)
    .bind(request.interaction.as_str())
    .bind(request.queue.as_str())
    .bind(request.priority)
    .bind(request.enqueued_at.as_millis())
    .bind(epoch_i64(fence.epoch)?)
    .bind(json)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// [`ClusterDb::remove_waiting`] inside a transaction that passed
/// [`check_fence`].
///
/// # Errors
/// [`ClusterError::Postgres`].
pub async fn remove_waiting_in(
    conn: &mut PgConnection,
    fence: &Fence,
    interaction: &str,
) -> Result<bool, ClusterError> {
    let done = sqlx::query("DELETE FROM cluster_waiting WHERE shard = $1 AND interaction = $2")
        .bind(&fence.shard)
        .bind(interaction)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
