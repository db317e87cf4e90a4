//! Async glue for a node that just became a shard's owner: load what the
//! takeover needs from PostgreSQL and Redis, rebuild the ACD engine at the
//! lease's epoch, and clear the rows of callers the engine refused.

use crate::{
    ClusterDb, ClusterError, Fence, Presence, Restored, restore_engine, seats_from_presence,
};
use callcore::{AgentProfile, QueueDefinition, Timestamp};
use callcore_acd::{AcdConfig, StrategyRegistry};

/// What a shard is configured with: the engine's settings and strategies,
/// its queues and its agents (the same on every node).
#[derive(Debug, Clone)]
pub struct ShardSetup {
    /// The engine's settings.
    pub config: AcdConfig,
    /// The strategies its queues may name.
    pub registry: StrategyRegistry,
    /// The shard's queues.
    pub queues: Vec<QueueDefinition>,
    /// The shard's agents.
    pub agents: Vec<AgentProfile>,
}

impl ShardSetup {
    /// A setup with the default engine settings and the built-in strategies.
    #[must_use]
    pub fn new(queues: Vec<QueueDefinition>, agents: Vec<AgentProfile>) -> Self {
        Self {
            config: AcdConfig::default(),
            registry: StrategyRegistry::builtin(),
            queues,
            agents,
        }
    }
}

/// Takes over a shard at `fence.epoch`: reads its waiting rows
/// ([`ClusterDb::load_waiting`]) and, when `presence` is given, the agents'
/// states and the live nodes (without it every agent starts offline), then
/// [`restore_engine`]; the rows of callers the engine refused (their queue
/// is gone, or full) are removed, fenced, and returned in
/// [`Restored::rejected`] for the caller to tell them.
///
/// # Errors
/// [`ClusterError::Fenced`] when the fence no longer holds (do not route);
/// [`ClusterError::Postgres`], [`ClusterError::Redis`],
/// [`ClusterError::Decode`], [`ClusterError::Acd`].
pub async fn take_over(
    db: &ClusterDb,
    presence: Option<&Presence>,
    fence: &Fence,
    setup: &ShardSetup,
    now: Timestamp,
) -> Result<Restored, ClusterError> {
    let rows = db.load_waiting(&fence.shard).await?;
    let (agents, nodes) = match presence {
        Some(p) => (p.agents().await?, p.live_nodes().await?),
        None => (Vec::new(), Vec::new()),
    };
    let seats = seats_from_presence(&setup.agents, &agents, &nodes);
    let restored = restore_engine(
        &setup.config,
        &setup.registry,
        &setup.queues,
        &seats,
        &rows,
        fence.epoch,
        now,
    )?;
    if !restored.rejected.is_empty() {
        let mut tx = db.begin_fenced(fence).await?;
        for (interaction, _) in &restored.rejected {
            crate::remove_waiting_in(&mut tx, fence, interaction.as_str()).await?;
        }
        tx.commit().await?;
    }
    tracing::info!(
        shard = %fence.shard,
        epoch = fence.epoch,
        waiting = rows.len(),
        rejected = restored.rejected.len(),
        "shard taken over"
    );
    Ok(restored)
}
