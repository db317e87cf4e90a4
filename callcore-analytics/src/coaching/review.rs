//! Which scored calls of a new agent are flagged for review: a call counts
//! for every agent who took part in it (a transfer, a conference), so it may
//! be flagged for more than one.

use std::collections::HashMap;

use callcore::{AgentId, InteractionRecord};

/// Counts each agent's scored calls and says which are among their first
/// `first` (a new agent's calls a supervisor reviews). Sans-IO: seeded from
/// the stored records at start, then told of each call scored.
#[derive(Debug, Clone, Default)]
pub struct ReviewFlagger {
    first: u32,
    scored: HashMap<AgentId, u32>,
}

impl ReviewFlagger {
    /// Flags each agent's first `first` scored calls (0: none).
    #[must_use]
    pub fn new(first: u32) -> Self {
        ReviewFlagger {
            first,
            scored: HashMap::new(),
        }
    }

    /// Counts the scored calls among stored `records` (for every agent who
    /// took part in each, as [`super::participants`]), so that a restarted
    /// center goes on counting.
    pub fn seed<'a>(&mut self, records: impl IntoIterator<Item = &'a InteractionRecord>) {
        for r in records.into_iter().filter(|r| r.quality.is_some()) {
            for a in super::participants(r) {
                *self.scored.entry(a).or_default() += 1;
            }
        }
    }

    /// Scored calls counted for `agent`.
    #[must_use]
    pub fn scored(&self, agent: &AgentId) -> u32 {
        self.scored.get(agent).copied().unwrap_or(0)
    }

    /// One more call of `agent` was scored: its ordinal (1 for their first)
    /// when it is to be reviewed, `None` otherwise.
    pub fn on_scored(&mut self, agent: &AgentId) -> Option<u32> {
        let n = self.scored.entry(agent.clone()).or_default();
        *n = n.saturating_add(1);
        (*n <= self.first).then_some(*n)
    }
}
