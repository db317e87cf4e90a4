//! The [`RoutingStrategy`] trait: how a queue chooses among its free agents.
//!
//! The engine keeps, for every queue (and every relaxed tier of it) and every
//! channel, an ordered pool of the agents who could take an interaction right
//! now. A strategy decides two things:
//!
//! - [`rank`](RoutingStrategy::rank): where an agent sits in that pool, computed
//!   when the agent enters it (becomes free). Lower ranks come first.
//! - [`pick`](RoutingStrategy::pick): which pooled agent gets the next offer;
//!   by default the first. Strategies with memory (round-robin) override it.
//!
//! Both are O(log n) in the pool size, so a strategy never scans every agent.
//! Ranks that arrive in non-decreasing order (an agent freed now ranks after
//! everyone freed before, as with longest-idle) are appended to a FIFO in
//! O(1); a rank that comes out of order goes into an ordered tree instead.
//! Time-like primary keys are therefore the cheapest.
//! A strategy can also ask that every pooled agent be offered the interaction
//! at once ([`OfferMode::RingAll`]).
//!
//! ```
//! use callcore_acd::{AgentPool, AgentView, LaneView, PoolEntry, Rank, RoutingStrategy};
//! use callcore::SeededRng;
//!
//! /// Agents with the fewest handled interactions first, ties by idle time.
//! #[derive(Debug, Default)]
//! struct Newcomers;
//!
//! impl RoutingStrategy for Newcomers {
//!     fn name(&self) -> &str { "newcomers" }
//!     fn rank(&self, agent: &AgentView<'_>, _lane: &LaneView<'_>, _rng: &mut SeededRng) -> Rank {
//!         Rank(i64::try_from(agent.handled).unwrap_or(i64::MAX), agent.idle_since.as_millis())
//!     }
//! }
//! ```

use callcore::{AgentId, AgentProfile, QueueDefinition, SeededRng, SkillRequirement, Timestamp};
use std::fmt;

/// Where an agent sits in a pool: compared as a pair, lower first. Ties are
/// broken by the order in which agents joined the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rank(pub i64, pub i64);

/// How an interaction is offered once a strategy has chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OfferMode {
    /// One agent at a time (every strategy but ring-all).
    Single,
    /// Every pooled agent at once, up to the engine's ring-all limit; the first
    /// to accept wins and the others' offers are rescinded.
    RingAll,
}

/// What a strategy sees of an agent when ranking it.
#[derive(Debug, Clone, Copy)]
pub struct AgentView<'a> {
    /// The agent's profile (skills, rating, capacity).
    pub profile: &'a AgentProfile,
    /// When the agent last became free (joined, or finished an interaction).
    pub idle_since: Timestamp,
    /// Total talk time so far, in milliseconds.
    pub talk_ms: u64,
    /// Interactions accepted so far.
    pub handled: u64,
    /// Interactions the agent holds right now (all channels).
    pub active: u32,
    /// The order in which the agent joined the engine (0 first): the
    /// "linear" order.
    pub order: u64,
}

impl AgentView<'_> {
    /// The agent's id.
    #[must_use]
    pub fn id(&self) -> &AgentId {
        &self.profile.id
    }

    /// Sum of the agent's proficiency over the given requirements (skills the
    /// agent lacks count 0).
    #[must_use]
    pub fn proficiency_sum(&self, requirements: &[SkillRequirement]) -> i64 {
        requirements
            .iter()
            .map(|r| i64::from(self.profile.proficiency(&r.skill).unwrap_or(0)))
            .sum()
    }
}

/// What a strategy sees of the queue (tier) it ranks for.
#[derive(Debug, Clone, Copy)]
pub struct LaneView<'a> {
    /// The queue's definition.
    pub queue: &'a QueueDefinition,
    /// The requirements in force on this tier (relaxed by escalation above tier 0).
    pub requirements: &'a [SkillRequirement],
    /// 0 for the queue's own requirements, n after the n-th relaxation.
    pub tier: u32,
}

/// One pooled agent, as a strategy sees it when picking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolEntry {
    /// Its rank.
    pub rank: Rank,
    /// The engine's index of the agent (stable while the agent is pooled).
    pub slot: u32,
}

/// The free agents of one queue tier and channel, in rank order.
#[derive(Debug, Clone, Copy)]
pub struct AgentPool<'a> {
    pub(crate) pool: &'a crate::engine::pool::Pool,
    pub(crate) stamps: &'a [u32],
}

impl AgentPool<'_> {
    /// The best-ranked agent.
    #[must_use]
    pub fn first(&self) -> Option<PoolEntry> {
        self.pool.first(self.stamps)
    }

    /// The first agent ranked strictly after `entry` (round-robin).
    #[must_use]
    pub fn first_after(&self, entry: PoolEntry) -> Option<PoolEntry> {
        self.pool.first_after(self.stamps, entry)
    }

    /// Every pooled agent in rank order.
    pub fn iter(&self) -> impl Iterator<Item = PoolEntry> + '_ {
        self.pool.iter(self.stamps)
    }

    /// How many agents are pooled.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pool.live() as usize
    }

    /// Whether no agent is pooled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pool.live() == 0
    }
}

/// A routing strategy (see the module docs). One instance serves one queue
/// tier, so a strategy may keep memory (round-robin's last agent).
///
/// Strategies are synchronous and do no I/O; randomness comes from the
/// engine's seeded RNG so that runs replay exactly.
pub trait RoutingStrategy: Send + fmt::Debug {
    /// The snake-case name queues refer to (`QueueDefinition::strategy`).
    fn name(&self) -> &str;

    /// The agent's rank in the pool, computed when it enters the pool.
    fn rank(&self, agent: &AgentView<'_>, lane: &LaneView<'_>, rng: &mut SeededRng) -> Rank;

    /// Chooses the agent for the next offer. The default takes the first.
    fn pick(&mut self, pool: &AgentPool<'_>) -> Option<PoolEntry> {
        pool.first()
    }

    /// How offers are made.
    fn offer_mode(&self) -> OfferMode {
        OfferMode::Single
    }
}
