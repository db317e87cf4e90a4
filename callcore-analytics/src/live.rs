//! Live figures: a snapshot of every dimension since midnight and over sliding
//! windows, plus contacts waiting, longest wait and agents by state.

use crate::ServiceLevelFormula;
use crate::counters::MetricsSummary;
use crate::dims::Dimension;
use crate::engine::MetricsEngine;
use callcore::{AgentId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// One dimension's live figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRow {
    /// What the row is about.
    pub dimension: Dimension,
    /// Since local midnight.
    pub today: MetricsSummary,
    /// Over each sliding window asked for: (window length in seconds, figures).
    pub windows: Vec<(u64, MetricsSummary)>,
    /// Contacts waiting now (queue, tenant and channel rows).
    pub waiting: u32,
    /// The longest current wait, in seconds (0 when nobody waits).
    pub longest_wait_secs: f64,
}

/// One agent's current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLive {
    /// The tenant.
    pub tenant: TenantId,
    /// The agent.
    pub agent: AgentId,
    /// The state's name (`"available"`, `"not_ready"` ...).
    pub state: String,
    /// The not-ready reason, if any.
    pub reason: Option<String>,
    /// Seconds in the state.
    pub in_state_secs: u64,
    /// Whether the agent's phone can be reached: an agent `available` but
    /// unreachable is offered nothing.
    #[serde(default = "reachable_by_default")]
    pub reachable: bool,
}

fn reachable_by_default() -> bool {
    true
}

/// Everything a wallboard shows, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    /// When it was taken.
    pub at: Timestamp,
    /// The service-level formula used.
    pub service_level_formula: ServiceLevelFormula,
    /// One row per dimension seen (tenant, queue, agent, channel, campaign),
    /// sorted.
    pub rows: Vec<LiveRow>,
    /// Agents per state name, per tenant.
    pub agents_by_state: BTreeMap<TenantId, BTreeMap<String, u32>>,
    /// Every logged-in agent's state.
    pub agents: Vec<AgentLive>,
}

impl LiveSnapshot {
    /// The row of one dimension.
    #[must_use]
    pub fn row(&self, dim: &Dimension) -> Option<&LiveRow> {
        self.rows.iter().find(|r| &r.dimension == dim)
    }
}

impl MetricsEngine {
    /// Brings the engine to `now` and takes a snapshot with the given sliding
    /// windows (each rounded to whole buckets, at most the configured window
    /// history).
    pub fn snapshot(&mut self, now: Timestamp, windows: &[Duration]) -> LiveSnapshot {
        self.advance(now);
        let formula = self.config.service_level;
        let mut waiting: HashMap<u32, (u32, u64)> = HashMap::new();
        for c in self.contacts.values() {
            if let Some(since) = c.queued_at {
                let wait = u64::try_from(now.duration_since(since).as_millis()).unwrap_or(0);
                for d in [
                    Some(c.tenant_dim),
                    c.queue_dim,
                    c.channel_dim,
                    c.queue_channel_dim,
                ]
                .into_iter()
                .flatten()
                {
                    let e = waiting.entry(d).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(wait);
                }
            }
        }
        let mut rows = Vec::new();
        let mut id = 0u32;
        while let Some(dim) = self.dims.get(id) {
            let (n, longest) = waiting.get(&id).copied().unwrap_or_default();
            #[allow(clippy::cast_precision_loss)]
            rows.push(LiveRow {
                dimension: dim.clone(),
                today: self.since_midnight(dim, now).summary(formula),
                windows: windows
                    .iter()
                    .map(|w| (w.as_secs(), self.window(dim, now, *w).summary(formula)))
                    .collect(),
                waiting: n,
                longest_wait_secs: longest as f64 / 1000.0,
            });
            id += 1;
        }
        rows.sort_by(|a, b| a.dimension.cmp(&b.dimension));
        let mut agents_by_state: BTreeMap<TenantId, BTreeMap<String, u32>> = BTreeMap::new();
        let mut agents = Vec::new();
        for track in self.agents.values() {
            let (tenant, agent) = (&track.tenant, &track.agent);
            *agents_by_state
                .entry(tenant.clone())
                .or_default()
                .entry(track.state.name().to_owned())
                .or_default() += 1;
            if track.state.is_logged_in() {
                agents.push(AgentLive {
                    tenant: tenant.clone(),
                    agent: agent.clone(),
                    state: track.state.name().to_owned(),
                    reason: match &track.state {
                        callcore::AgentState::NotReady(r) => Some(r.clone()),
                        _ => None,
                    },
                    in_state_secs: now.duration_since(track.entered).as_secs(),
                    reachable: track.reachable,
                });
            }
        }
        agents.sort_by(|a, b| (&a.tenant, &a.agent).cmp(&(&b.tenant, &b.agent)));
        LiveSnapshot {
            at: now,
            service_level_formula: formula,
            rows,
            agents_by_state,
            agents,
        }
    }
}
