//! The built-in strategies and the registry that maps queue strategy names to
//! them.
//!
//! | name | who gets the next interaction |
//! | --- | --- |
//! | `longest_idle` | the agent free for the longest time |
//! | `least_occupied` | the least total talk time, then longest idle |
//! | `fewest_interactions` | the fewest interactions handled, then longest idle |
//! | `round_robin` | the next agent in join order after the last one offered |
//! | `linear` | always the first free agent in join order (top-down) |
//! | `random` | a uniformly random free agent |
//! | `weighted_random` | random, weighted by proficiency in the queue's skills |
//! | `ring_all` | every free agent at once; first to accept wins |
//! | `best_proficiency` | the highest proficiency in the queue's skills, then longest idle |
//! | `rating_weighted` | random, weighted by the agent's customer rating |

use crate::strategy::{
    AgentPool, AgentView, LaneView, OfferMode, PoolEntry, Rank, RoutingStrategy,
};
use callcore::SeededRng;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

fn idle(agent: &AgentView<'_>) -> i64 {
    agent.idle_since.as_millis()
}

fn order(agent: &AgentView<'_>) -> i64 {
    i64::try_from(agent.order).unwrap_or(i64::MAX)
}

/// An exponential race key: the smallest of `E_i / w_i` wins with probability
/// `w_i / Σw` (memorylessness keeps it exact while other agents come and go).
fn race_key(rng: &mut SeededRng, weight: f64) -> i64 {
    let w = if weight.is_finite() && weight > 0.0 {
        weight
    } else {
        1e-9
    };
    let e = rng.exponential(1.0) / w;
    // Scaled to an integer key; saturates for absurd weights.
    #[allow(clippy::cast_possible_truncation)]
    let key = (e * 1e12).min(9.0e18) as i64;
    key
}

/// The agent free for the longest time.
#[derive(Debug, Default, Clone, Copy)]
pub struct LongestIdle;

impl RoutingStrategy for LongestIdle {
    fn name(&self) -> &str {
        "longest_idle"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(idle(agent), order(agent))
    }
}

/// The least total talk time, then longest idle.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastOccupied;

impl RoutingStrategy for LeastOccupied {
    fn name(&self) -> &str {
        "least_occupied"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(
            i64::try_from(agent.talk_ms).unwrap_or(i64::MAX),
            idle(agent),
        )
    }
}

/// The fewest interactions handled, then longest idle.
#[derive(Debug, Default, Clone, Copy)]
pub struct FewestInteractions;

impl RoutingStrategy for FewestInteractions {
    fn name(&self) -> &str {
        "fewest_interactions"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(
            i64::try_from(agent.handled).unwrap_or(i64::MAX),
            idle(agent),
        )
    }
}

/// Round-robin with memory: the next free agent in join order after the one
/// last offered, wrapping around.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundRobin {
    last: Option<PoolEntry>,
}

impl RoutingStrategy for RoundRobin {
    fn name(&self) -> &str {
        "round_robin"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(order(agent), 0)
    }
    fn pick(&mut self, pool: &AgentPool<'_>) -> Option<PoolEntry> {
        let next = self
            .last
            .and_then(|last| pool.first_after(last))
            .or_else(|| pool.first());
        if next.is_some() {
            self.last = next;
        }
        next
    }
}

/// Linear (top-down): always the first free agent in join order.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linear;

impl RoutingStrategy for Linear {
    fn name(&self) -> &str {
        "linear"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(order(agent), 0)
    }
}

/// A uniformly random free agent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl RoutingStrategy for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn rank(&self, _: &AgentView<'_>, _: &LaneView<'_>, rng: &mut SeededRng) -> Rank {
        Rank(race_key(rng, 1.0), 0)
    }
}

/// Random, weighted by the agent's proficiency summed over the queue's skills
/// (an agent at 10 is picked ten times as often as one at 1).
#[derive(Debug, Default, Clone, Copy)]
pub struct WeightedRandom;

impl RoutingStrategy for WeightedRandom {
    fn name(&self) -> &str {
        "weighted_random"
    }
    fn rank(&self, agent: &AgentView<'_>, lane: &LaneView<'_>, rng: &mut SeededRng) -> Rank {
        #[allow(clippy::cast_precision_loss)]
        let w = agent.proficiency_sum(lane.requirements).max(1) as f64;
        Rank(race_key(rng, w), 0)
    }
}

/// Every free agent at once; the first to accept wins.
#[derive(Debug, Default, Clone, Copy)]
pub struct RingAll;

impl RoutingStrategy for RingAll {
    fn name(&self) -> &str {
        "ring_all"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(idle(agent), order(agent))
    }
    fn offer_mode(&self) -> OfferMode {
        OfferMode::RingAll
    }
}

/// The highest proficiency in the queue's skills, then longest idle.
#[derive(Debug, Default, Clone, Copy)]
pub struct BestProficiency;

impl RoutingStrategy for BestProficiency {
    fn name(&self) -> &str {
        "best_proficiency"
    }
    fn rank(&self, agent: &AgentView<'_>, lane: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(-agent.proficiency_sum(lane.requirements), idle(agent))
    }
}

/// Random, weighted by the agent's customer rating (agents without a rating
/// weigh as a rating of 1).
#[derive(Debug, Default, Clone, Copy)]
pub struct RatingWeighted;

impl RoutingStrategy for RatingWeighted {
    fn name(&self) -> &str {
        "rating_weighted"
    }
    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, rng: &mut SeededRng) -> Rank {
        let w = f64::from(agent.profile.rating.unwrap_or(1.0)).max(0.01);
        Rank(race_key(rng, w), 0)
    }
}

/// Builds a fresh strategy instance (one per queue tier).
pub type StrategyFactory = Arc<dyn Fn() -> Box<dyn RoutingStrategy> + Send + Sync>;

/// Maps strategy names to factories: the built-ins plus whatever the user
/// registers.
#[derive(Clone)]
pub struct StrategyRegistry {
    factories: BTreeMap<String, StrategyFactory>,
}

impl fmt::Debug for StrategyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Default for StrategyRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

/// The names of the built-in strategies.
pub const BUILTIN_STRATEGIES: [&str; 10] = [
    "longest_idle",
    "least_occupied",
    "fewest_interactions",
    "round_robin",
    "linear",
    "random",
    "weighted_random",
    "ring_all",
    "best_proficiency",
    "rating_weighted",
];

impl StrategyRegistry {
    /// A registry with every built-in strategy.
    #[must_use]
    pub fn builtin() -> Self {
        let mut r = Self {
            factories: BTreeMap::new(),
        };
        r.register("longest_idle", || Box::new(LongestIdle));
        r.register("least_occupied", || Box::new(LeastOccupied));
        r.register("fewest_interactions", || Box::new(FewestInteractions));
        r.register("round_robin", || Box::new(RoundRobin::default()));
        r.register("linear", || Box::new(Linear));
        r.register("random", || Box::new(Random));
        r.register("weighted_random", || Box::new(WeightedRandom));
        r.register("ring_all", || Box::new(RingAll));
        r.register("best_proficiency", || Box::new(BestProficiency));
        r.register("rating_weighted", || Box::new(RatingWeighted));
        r
    }

    /// Adds (or replaces) a strategy under `name`.
    pub fn register<F>(&mut self, name: impl Into<String>, factory: F)
    where
        F: Fn() -> Box<dyn RoutingStrategy> + Send + Sync + 'static,
    {
        self.factories.insert(name.into(), Arc::new(factory));
    }

    /// A fresh instance of the named strategy.
    #[must_use]
    pub fn create(&self, name: &str) -> Option<Box<dyn RoutingStrategy>> {
        self.factories.get(name).map(|f| f())
    }

    /// Every registered name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_registered_under_its_own_name() {
        let r = StrategyRegistry::builtin();
        for name in BUILTIN_STRATEGIES {
            let s = r.create(name).expect(name);
            assert_eq!(s.name(), name);
        }
        assert!(r.create("nope").is_none());
    }

    #[test]
    fn race_keys_pick_in_proportion_to_weight() {
        let mut rng = SeededRng::new(5);
        let n = 20_000;
        let wins = (0..n)
            .filter(|_| race_key(&mut rng, 3.0) < race_key(&mut rng, 1.0))
            .count();
        #[allow(clippy::cast_precision_loss)]
        let share = wins as f64 / f64::from(n);
        assert!((share - 0.75).abs() < 0.02, "share {share}");
    }
}
