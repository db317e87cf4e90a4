//! Coaching items: deterministic rules over one scorecard, each naming the
//! calls it rests on.

use callcore::{AgentId, InteractionId};
use serde::{Deserialize, Serialize};

use super::{CallFigures, Scorecard};
use crate::AnalyticsError;

/// The thresholds of the coaching rules and of new agents' reviews
/// (`[coaching]` in the premise config). Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoachingConfig {
    /// Scored calls a scorecard needs before it yields items (fewer is not
    /// enough evidence; a new agent's first calls are reviewed instead).
    /// Default 3.
    pub min_calls: u32,
    /// A rule found (a required phrase missed, a forbidden word said, …)
    /// in at least this share of the agent's scored calls is an item.
    /// Default 0.3 (30 %).
    pub rule_share: f64,
    /// Rules of which a single finding is an item, whatever the share.
    /// Default `["forbidden_words"]`.
    pub zero_tolerance: Vec<String>,
    /// The agent's mean score this many points or more below the team's is
    /// an item. Default 10.
    pub score_below_team: f64,
    /// The agent's mean silence share this much or more above the team's
    /// (0.10 = ten points of the conversation) is an item. Default 0.10.
    pub silence_above_team: f64,
    /// The agent's mean talk-over share this much or more above the team's
    /// is an item. Default 0.05.
    pub talk_over_above_team: f64,
    /// The agent's share of the talking this much or more above the team's
    /// is an item (they talk over the customer's needs). Default 0.15.
    pub talk_ratio_above_team: f64,
    /// The agent's mean hold this many seconds or more above the team's is
    /// an item. Default 30.
    pub hold_above_team_secs: f64,
    /// A new agent's first scored calls flagged for a supervisor's review;
    /// 0: none. Default 5.
    pub new_agent_reviews: u32,
}

impl Default for CoachingConfig {
    fn default() -> Self {
        CoachingConfig {
            min_calls: 3,
            rule_share: 0.3,
            zero_tolerance: vec!["forbidden_words".to_owned()],
            score_below_team: 10.0,
            silence_above_team: 0.10,
            talk_over_above_team: 0.05,
            talk_ratio_above_team: 0.15,
            hold_above_team_secs: 30.0,
            new_agent_reviews: 5,
        }
    }
}

impl CoachingConfig {
    /// Checks the thresholds.
    ///
    /// # Errors
    /// [`AnalyticsError::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let bad = |field: &'static str, reason: &str| {
            Err(AnalyticsError::Config {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.min_calls == 0 || self.min_calls > 10_000 {
            return bad("min_calls", "must be within 1..=10000");
        }
        if self.new_agent_reviews > 1000 {
            return bad("new_agent_reviews", "must be within 0..=1000");
        }
        if !(self.rule_share > 0.0 && self.rule_share <= 1.0) {
            return bad("rule_share", "must be within 0 (exclusive) and 1");
        }
        for (field, v, max) in [
            ("score_below_team", self.score_below_team, 100.0),
            ("silence_above_team", self.silence_above_team, 1.0),
            ("talk_over_above_team", self.talk_over_above_team, 1.0),
            ("talk_ratio_above_team", self.talk_ratio_above_team, 1.0),
            ("hold_above_team_secs", self.hold_above_team_secs, 86_400.0),
        ] {
            if !(v > 0.0 && v <= max) {
                return bad(field, &format!("must be above 0 and at most {max}"));
            }
        }
        if self.zero_tolerance.iter().any(|r| r.trim().is_empty()) {
            return bad("zero_tolerance", "an empty rule name");
        }
        Ok(())
    }
}

/// What a coaching item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CoachingKind {
    /// A quality rule found too often (`rule` names it).
    RuleMissed,
    /// Mean score below the team's.
    ScoreBelowTeam,
    /// More silence (dead air) than the team.
    SilenceAboveTeam,
    /// More talk-over than the team.
    TalkOverAboveTeam,
    /// A larger share of the talking than the team.
    TalkRatioAboveTeam,
    /// Longer holds than the team.
    HoldAboveTeam,
}

/// One thing to coach an agent on, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoachingItem {
    /// The agent.
    pub agent: AgentId,
    /// What it is about.
    pub kind: CoachingKind,
    /// The quality rule, for [`CoachingKind::RuleMissed`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A sentence for the supervisor and the agent.
    pub detail: String,
    /// The agent's figure (a share, points, seconds).
    pub value: f64,
    /// The team's figure, when compared with it.
    pub team_value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The calls it rests on, oldest first.
    pub interactions: Vec<InteractionId>,
}

fn pct(v: f64) -> String {
    format!("{:.0} %", v * 100.0)
}

/// The coaching items of one scorecard, by the rules of `config`: rules
/// found in `rule_share` of the calls or more (any finding of a
/// `zero_tolerance` rule), then the figures over the team's by their
/// thresholds. None below `min_calls` scored calls. Deterministic: the same
/// scorecard gives the same items in the same order.
#[must_use]
pub fn coaching_items(card: &Scorecard, config: &CoachingConfig) -> Vec<CoachingItem> {
    let mut out = Vec::new();
    if card.calls < config.min_calls.max(1) {
        return out;
    }
    let item = |kind, rule, detail, value, team_value, threshold, interactions| CoachingItem {
        agent: card.agent.clone(),
        kind,
        rule,
        detail,
        value,
        team_value,
        threshold,
        interactions,
    };
    for (rule, m) in &card.figures.rule_misses {
        let zero = config.zero_tolerance.iter().any(|r| r == rule);
        if zero || m.share + 1e-9 >= config.rule_share {
            let team = card.team.rule_misses.get(rule).map_or(0.0, |t| t.share);
            out.push(item(
                CoachingKind::RuleMissed,
                Some(rule.clone()),
                format!(
                    "`{rule}` found in {} of {} calls ({}; team {})",
                    m.calls,
                    card.calls,
                    pct(m.share),
                    pct(team)
                ),
                m.share,
                Some(team),
                if zero { 0.0 } else { config.rule_share },
                m.interactions.clone(),
            ));
        }
    }
    let calls = &card.call_figures;
    let evidence = |pick: &dyn Fn(&CallFigures) -> Option<f64>, above: bool, team: f64| {
        calls
            .iter()
            .filter(|c| pick(c).is_some_and(|v| if above { v > team } else { v < team }))
            .map(|c| c.interaction.clone())
            .collect::<Vec<_>>()
    };
    if let (Some(me), Some(team)) = (card.figures.mean_score, card.team.mean_score)
        && team - me + 1e-9 >= config.score_below_team
    {
        out.push(item(
            CoachingKind::ScoreBelowTeam,
            None,
            format!(
                "mean score {me:.1}, {:.1} points below the team's {team:.1}",
                team - me
            ),
            me,
            Some(team),
            config.score_below_team,
            evidence(&|c: &CallFigures| Some(c.score), false, team),
        ));
    }
    // kind, what, the agent's figure, the team's, the threshold, each call's
    type Pick<'p> = &'p dyn Fn(&CallFigures) -> Option<f64>;
    type Share<'p> = (
        CoachingKind,
        &'p str,
        Option<f64>,
        Option<f64>,
        f64,
        Pick<'p>,
    );
    let shares: [Share<'_>; 3] = [
        (
            CoachingKind::SilenceAboveTeam,
            "silence",
            card.figures.silence_share,
            card.team.silence_share,
            config.silence_above_team,
            &|c: &CallFigures| c.silence,
        ),
        (
            CoachingKind::TalkOverAboveTeam,
            "talk-over",
            card.figures.talk_over_share,
            card.team.talk_over_share,
            config.talk_over_above_team,
            &|c: &CallFigures| c.talk_over,
        ),
        (
            CoachingKind::TalkRatioAboveTeam,
            "the agent's share of the talking",
            card.figures.agent_talk_ratio,
            card.team.agent_talk_ratio,
            config.talk_ratio_above_team,
            &|c: &CallFigures| c.agent_talk,
        ),
    ];
    for (kind, what, me, team, threshold, pick) in shares {
        if let (Some(me), Some(team)) = (me, team)
            && me - team + 1e-9 >= threshold
        {
            out.push(item(
                kind,
                None,
                format!("{what} {} of the conversation, team {}", pct(me), pct(team)),
                me,
                Some(team),
                threshold,
                evidence(pick, true, team),
            ));
        }
    }
    if let (Some(me), Some(team)) = (card.figures.mean_hold_ms, card.team.mean_hold_ms)
        && (me - team) / 1000.0 + 1e-9 >= config.hold_above_team_secs
    {
        #[allow(clippy::cast_precision_loss)] // milliseconds on hold
        let hold = |c: &CallFigures| Some(c.hold_ms as f64);
        out.push(item(
            CoachingKind::HoldAboveTeam,
            None,
            format!(
                "mean hold {:.0} s per call, team {:.0} s",
                me / 1000.0,
                team / 1000.0
            ),
            me / 1000.0,
            Some(team / 1000.0),
            config.hold_above_team_secs,
            evidence(&hold, true, team),
        ));
    }
    out
}
