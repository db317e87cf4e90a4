//! Coaching, sans-IO: per-agent scorecards over a period from the stored
//! records' quality results, each figure against the team's; coaching items
//! generated from a scorecard by deterministic rules ([`CoachingConfig`]);
//! and the review flags of a new agent's first scored calls
//! ([`ReviewFlagger`]).
//!
//! A **scorecard** covers the scored calls (records with a quality
//! evaluation) created in `[from, to)` the agent took part in: every agent
//! of the record's `agents` (a transferred call's first agent and its
//! target, a conference's agents) and its last `agent`. Quality findings and
//! the measured audio are not kept per agent (the transcript's segments and
//! the findings name the speaker's side, not which agent spoke), so such a
//! call's score, findings, silence, talk-over, talk ratio and hold count
//! whole for each of its agents ([`CallFigures::agents`] says who shared
//! it). The **team** is every scored call of the same records (the caller
//! decides which: a tenant's, a queue's, a supervisor's queues'), each
//! counted once; its figures are call-weighted means over those calls, so
//! an agent with more calls weighs more. The **rank** orders the team's agents by mean score, best first
//! (ties share a rank); the **percentile** is the share of the team's other
//! agents whose mean score is below the agent's.
//!
//! ```
//! use callcore::{Channel, Direction, Event, EventKind, Interaction, InteractionRecord,
//!     QualityEvaluation, QualityFinding, Timestamp};
//! use callcore_analytics::coaching::{CoachingConfig, Scorecards, coaching_items};
//! let call = |id: &str, agent: &str, score: f64, missed: bool| {
//!     let i = Interaction::new(id.into(), "t".into(), Channel::Voice, Direction::Inbound,
//!         "+4930111", "100", Timestamp::from_secs(10));
//!     let mut r = InteractionRecord::new(&i);
//!     r.agent = Some(agent.into());
//!     let mut q = QualityEvaluation::new(score);
//!     if missed {
//!         q.findings.push(QualityFinding::new("required_phrase", 30_000, "not said"));
//!     }
//!     r.quality = Some(q);
//!     r
//! };
//! let records = vec![call("c1", "alice", 70.0, true), call("c2", "alice", 85.0, true),
//!     call("c3", "bob", 100.0, false), call("c4", "bob", 100.0, false)];
//! let cards = Scorecards::build(&records, Timestamp::from_secs(0), Timestamp::from_secs(60));
//! let alice = cards.card(&"alice".into()).expect("alice took calls");
//! assert_eq!((alice.calls, alice.mean_score, alice.rank), (2, Some(77.5), 2));
//! assert_eq!(alice.team.mean_score, Some(88.75));
//! let config = CoachingConfig { min_calls: 2, ..CoachingConfig::default() };
//! let items = coaching_items(alice, &config);
//! assert!(items.iter().any(|i| i.rule.as_deref() == Some("required_phrase")));
//! ```

mod items;
mod review;
#[cfg(test)]
mod tests;

pub use items::{CoachingConfig, CoachingItem, CoachingKind, coaching_items};
pub use review::ReviewFlagger;

use std::collections::BTreeMap;

use callcore::{AgentId, InteractionId, InteractionRecord, Timestamp};
use serde::Serialize;

/// How often one rule was found in the calls of a scorecard.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RuleMisses {
    /// Scored calls with at least one finding of the rule.
    pub calls: u32,
    /// Findings in all (a forbidden word said twice counts twice).
    pub findings: u32,
    /// Share of the scored calls with the rule's finding, 0..=1.
    pub share: f64,
    /// The calls, oldest first.
    pub interactions: Vec<InteractionId>,
}

/// Figures over a set of scored calls (an agent's, or the team's).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Figures {
    /// Scored calls.
    pub calls: u32,
    /// Mean quality score, 0..=100.
    pub mean_score: Option<f64>,
    /// Mean share of the conversation nobody spoke (calls measured).
    pub silence_share: Option<f64>,
    /// Mean share of the conversation both spoke at once (calls measured).
    pub talk_over_share: Option<f64>,
    /// The agent's share of the talking (agent / (agent + customer)),
    /// mean over the calls whose audio was measured.
    pub agent_talk_ratio: Option<f64>,
    /// Mean time on hold per call, milliseconds.
    pub mean_hold_ms: Option<f64>,
    /// Findings by rule name (`required_phrase` missed, `forbidden_words`
    /// said, …).
    pub rule_misses: BTreeMap<String, RuleMisses>,
}

/// One agent's scorecard over a period, against the team's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    /// The agent.
    pub agent: AgentId,
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// Scored calls of the agent.
    pub calls: u32,
    /// The agent's mean score.
    pub mean_score: Option<f64>,
    /// The agent's figures.
    pub figures: Figures,
    /// The team's figures over the same period.
    pub team: Figures,
    /// Place among the team's agents by mean score, 1 = best (ties share).
    pub rank: u32,
    /// Agents in the team (with at least one scored call).
    pub team_agents: u32,
    /// Share of the team's other agents whose mean score is below this
    /// agent's, 0..=100 (100 with no other agent).
    pub percentile: f64,
    /// Each scored call's figures, oldest first (the evidence of items).
    pub call_figures: Vec<CallFigures>,
}

/// Every agent's scorecard over one period and one team.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecards {
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// The team's figures.
    pub team: Figures,
    /// The cards, by agent id.
    pub cards: Vec<Scorecard>,
}

/// One scored call's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallFigures {
    /// The interaction.
    pub interaction: InteractionId,
    /// When it arrived.
    pub created_at: Timestamp,
    /// Its quality score.
    pub score: f64,
    /// Share of the conversation nobody spoke.
    pub silence: Option<f64>,
    /// Share of the conversation both spoke at once.
    pub talk_over: Option<f64>,
    /// The agent's share of the talking.
    pub agent_talk: Option<f64>,
    /// Time on hold, milliseconds.
    pub hold_ms: u64,
    /// Findings by rule name.
    pub rules: BTreeMap<String, u32>,
    /// Every agent who took part, in order (more than one: a transfer, a
    /// conference; the call counts whole for each).
    pub agents: Vec<AgentId>,
}

type Call = CallFigures;

fn call_of(r: &InteractionRecord) -> Option<Call> {
    let q = r.quality.as_ref()?;
    let audio = r.audio.as_ref();
    let ratio = |part: u64, whole: u64| {
        (whole > 0).then(|| {
            #[allow(clippy::cast_precision_loss)] // milliseconds of one call
            let v = part as f64 / whole as f64;
            v
        })
    };
    let mut rules: BTreeMap<String, u32> = BTreeMap::new();
    for f in &q.findings {
        *rules.entry(f.rule.clone()).or_default() += 1;
    }
    Some(Call {
        interaction: r.id.clone(),
        created_at: r.created_at,
        score: q.score,
        silence: q
            .silence_ratio
            .or_else(|| audio.and_then(|a| ratio(a.silence_ms, a.conversation_ms))),
        talk_over: q
            .talk_over_ratio
            .or_else(|| audio.and_then(|a| ratio(a.talk_over_ms, a.conversation_ms))),
        agent_talk: audio
            .and_then(|a| ratio(a.agent_talk_ms, a.agent_talk_ms + a.customer_talk_ms)),
        hold_ms: r.hold_ms,
        rules,
        agents: participants(r),
    })
}

/// Every agent who took part in `r`: its `agents` in order, and its last
/// `agent` when not among them.
#[must_use]
pub fn participants(r: &InteractionRecord) -> Vec<AgentId> {
    let mut all: Vec<AgentId> = Vec::new();
    for a in r.agents.iter().chain(&r.agent) {
        if !all.contains(a) {
            all.push(a.clone());
        }
    }
    all
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

fn figures(calls: &[&Call]) -> Figures {
    let n = u32::try_from(calls.len()).unwrap_or(u32::MAX);
    let mut rule_misses: BTreeMap<String, RuleMisses> = BTreeMap::new();
    for c in calls {
        for (rule, hits) in &c.rules {
            let m = rule_misses.entry(rule.clone()).or_default();
            m.calls += 1;
            m.findings += hits;
            m.interactions.push(c.interaction.clone());
        }
    }
    for m in rule_misses.values_mut() {
        m.share = f64::from(m.calls) / f64::from(n.max(1));
    }
    #[allow(clippy::cast_precision_loss)] // milliseconds on hold
    let hold = mean(calls.iter().map(|c| c.hold_ms as f64));
    Figures {
        calls: n,
        mean_score: mean(calls.iter().map(|c| c.score)),
        silence_share: mean(calls.iter().filter_map(|c| c.silence)),
        talk_over_share: mean(calls.iter().filter_map(|c| c.talk_over)),
        agent_talk_ratio: mean(calls.iter().filter_map(|c| c.agent_talk)),
        mean_hold_ms: hold,
        rule_misses,
    }
}

impl Scorecards {
    /// The scorecards of every agent with a scored call among `records`
    /// created in `[from, to)`; the team is all of those calls, each once.
    /// A call counts for every agent who took part ([`participants`]).
    /// Records without a quality evaluation or an agent are left out.
    #[must_use]
    pub fn build(records: &[InteractionRecord], from: Timestamp, to: Timestamp) -> Scorecards {
        let mut scored: Vec<&InteractionRecord> = records
            .iter()
            .filter(|r| r.created_at >= from && r.created_at < to)
            .filter(|r| r.quality.is_some() && (r.agent.is_some() || !r.agents.is_empty()))
            .collect();
        scored.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let calls: Vec<Call> = scored.iter().filter_map(|r| call_of(r)).collect();
        let team = figures(&calls.iter().collect::<Vec<_>>());
        let mut by_agent: BTreeMap<&AgentId, Vec<&Call>> = BTreeMap::new();
        for c in &calls {
            for a in &c.agents {
                by_agent.entry(a).or_default().push(c);
            }
        }
        let means: Vec<f64> = by_agent
            .values()
            .filter_map(|c| mean(c.iter().map(|c| c.score)))
            .collect();
        let team_agents = u32::try_from(means.len()).unwrap_or(u32::MAX);
        let cards = by_agent
            .into_iter()
            .map(|(agent, calls)| {
                let f = figures(&calls);
                let my = f.mean_score.unwrap_or(0.0);
                let better = means.iter().filter(|m| **m > my).count();
                let below = means.iter().filter(|m| **m < my).count();
                #[allow(clippy::cast_precision_loss)] // agents of one team
                let percentile = if team_agents > 1 {
                    below as f64 * 100.0 / f64::from(team_agents - 1)
                } else {
                    100.0
                };
                Scorecard {
                    agent: agent.clone(),
                    from,
                    to,
                    calls: f.calls,
                    mean_score: f.mean_score,
                    rank: u32::try_from(better + 1).unwrap_or(u32::MAX),
                    team_agents,
                    percentile,
                    call_figures: calls.iter().map(|c| (*c).clone()).collect(),
                    figures: f,
                    team: team.clone(),
                }
            })
            .collect();
        Scorecards {
            from,
            to,
            team,
            cards,
        }
    }

    /// The scorecard of `agent`, if they have a scored call in the period.
    #[must_use]
    pub fn card(&self, agent: &AgentId) -> Option<&Scorecard> {
        self.cards.iter().find(|c| &c.agent == agent)
    }

    /// The scorecard of `agent`, or an empty one (no scored call) against
    /// the team.
    #[must_use]
    pub fn card_or_empty(&self, agent: &AgentId) -> Scorecard {
        self.card(agent).cloned().unwrap_or_else(|| Scorecard {
            agent: agent.clone(),
            from: self.from,
            to: self.to,
            calls: 0,
            mean_score: None,
            figures: Figures::default(),
            team: self.team.clone(),
            rank: 0,
            team_agents: u32::try_from(self.cards.len()).unwrap_or(u32::MAX),
            percentile: 0.0,
            call_figures: Vec::new(),
        })
    }
}
