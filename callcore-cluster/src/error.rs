//! The crate's error type.

/// Everything `callcore-cluster` refuses or fails at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A setting or name is unusable.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A write fenced at `epoch` was refused: this node no longer owns the
    /// shard at that epoch (another node took it, or the lease expired).
    #[error("shard {shard}: fenced, {owner} no longer holds epoch {epoch}")]
    Fenced {
        /// The shard.
        shard: String,
        /// The node that tried to write.
        owner: String,
        /// The epoch it wrote at.
        epoch: u64,
    },
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored row or message could not be read back.
    #[error("{what}: {source}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// The ACD engine refused the restore.
    #[error("acd: {0}")]
    Acd(#[from] callcore_acd::AcdError),
}
