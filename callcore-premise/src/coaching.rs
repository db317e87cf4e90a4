//! `[coaching]`: the thresholds of the coaching items the web API draws
//! from agents' scorecards (`/api/v1/agents/{id}/scorecard`,
//! `/api/v1/coaching`; callcore-analytics' `coaching`), and the review flags
//! of a new agent's first scored calls: with `[quality]` on, each agent's
//! first `new_agent_reviews` calls scored (`quality_scored`) get a
//! `review_flagged` event, kept in their records, which supervisors list at
//! `/api/v1/reviews` and mark done with a note. A call counts for every agent
//! connected to it (a transfer's first agent and its target, a conference's
//! agents), so one call may be flagged for several. The count goes on across
//! restarts (seeded from the stored records).
//!
//! ```toml
//! [coaching]
//! min_calls = 3                 # scored calls before a scorecard yields items
//! rule_share = 0.3              # a rule found in >= 30 % of the calls is an item
//! zero_tolerance = ["forbidden_words"]   # one finding of these is an item
//! score_below_team = 10         # mean score >= 10 points below the team's
//! silence_above_team = 0.10     # silence share >= 0.10 above the team's
//! talk_over_above_team = 0.05   # talk-over share >= 0.05 above the team's
//! talk_ratio_above_team = 0.15  # the agent's talk share >= 0.15 above the team's
//! hold_above_team_secs = 30     # mean hold >= 30 s above the team's
//! new_agent_reviews = 5         # each agent's first 5 scored calls are reviewed (0: none)
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use callcore::{AgentId, EventKind, InteractionId, TenantId, Timestamp};
use callcore_analytics::AnalyticsError;
use callcore_analytics::coaching::{CoachingConfig, ReviewFlagger};
use callcore_runtime::{BusError, CenterHandle};

use crate::PremiseError;

/// Checks `[coaching]`, naming the field.
pub(crate) fn validate(config: &CoachingConfig) -> Result<(), PremiseError> {
    config.validate().map_err(|e| match e {
        AnalyticsError::Config { field, reason } => PremiseError::Config {
            field: format!("coaching.{field}"),
            detail: reason,
        },
        other => PremiseError::Config {
            field: "coaching".into(),
            detail: other.to_string(),
        },
    })
}

/// Calls whose agents are remembered until they are scored.
const AGENTS_KEPT: usize = 4096;
/// Records scored this recently when the count was seeded may still come
/// by as events: not counted twice.
const SEED_OVERLAP: Duration = Duration::from_secs(600);

/// Keeps every agent connected to a call, in order, until it is scored;
/// the oldest calls forgotten beyond [`AGENTS_KEPT`].
fn remember(
    agents: &mut HashMap<InteractionId, Vec<AgentId>>,
    order: &mut VecDeque<InteractionId>,
    interaction: &InteractionId,
    agent: &AgentId,
) {
    if let Some(known) = agents.get_mut(interaction) {
        if !known.contains(agent) {
            known.push(agent.clone());
        }
        return;
    }
    agents.insert(interaction.clone(), vec![agent.clone()]);
    order.push_back(interaction.clone());
    if order.len() > AGENTS_KEPT
        && let Some(old) = order.pop_front()
    {
        agents.remove(&old);
    }
}

/// Flags each agent's first `first` scored calls of `tenant` for review,
/// until the center stops.
pub(crate) async fn flag_reviews(center: CenterHandle, tenant: TenantId, first: u32) {
    let mut events = center.subscribe();
    let mut flagger = ReviewFlagger::new(first);
    let now = center.clock().now();
    let mut seeded: HashSet<InteractionId> = HashSet::new();
    match center
        .stores()
        .interactions
        .between(
            &tenant,
            Timestamp::from_millis(0),
            now + Duration::from_secs(3600),
        )
        .await
    {
        Ok(records) => {
            flagger.seed(&records);
            seeded.extend(
                records
                    .iter()
                    .filter(|r| r.quality.is_some())
                    .filter(|r| {
                        r.ended_at
                            .is_none_or(|e| now.duration_since(e) < SEED_OVERLAP)
                    })
                    .map(|r| r.id.clone()),
            );
        }
        Err(e) => tracing::warn!(error = %e, "coaching: the stored records could not be counted"),
    }
    let mut agents: HashMap<InteractionId, Vec<AgentId>> = HashMap::new();
    let mut order: VecDeque<InteractionId> = VecDeque::new();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(BusError::Lagged(n)) => {
                tracing::warn!(dropped = n, "coaching: review flags missed events");
                continue;
            }
            Err(_) => break,
        };
        if event.tenant != tenant {
            continue;
        }
        match &event.kind {
            EventKind::Connected {
                interaction, agent, ..
            } => remember(&mut agents, &mut order, interaction, agent),
            EventKind::QualityScored { interaction, .. } => {
                if seeded.remove(interaction) {
                    continue;
                }
                let took_part = match agents.remove(interaction) {
                    Some(a) => a,
                    None => center
                        .stores()
                        .interactions
                        .get(&tenant, interaction)
                        .await
                        .ok()
                        .flatten()
                        .map(|r| callcore_analytics::coaching::participants(&r))
                        .unwrap_or_default(),
                };
                for agent in took_part {
                    if let Some(ordinal) = flagger.on_scored(&agent) {
                        center.journal_event(
                            &tenant,
                            EventKind::ReviewFlagged {
                                interaction: interaction.clone(),
                                agent,
                                ordinal,
                            },
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::PremiseConfig;

    fn error_of(toml: &str) -> Option<String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn coaching_is_checked_naming_the_field() {
        assert_eq!(error_of("[coaching]\nnew_agent_reviews = 2\n"), None);
        assert_eq!(
            error_of("[coaching]\nrule_share = 2.0\n").as_deref(),
            Some("config field `coaching.rule_share`: must be within 0 (exclusive) and 1")
        );
        assert!(
            error_of("[coaching]\nmin_calls = 0\n")
                .is_some_and(|e| e.starts_with("config field `coaching.min_calls`"))
        );
        assert!(error_of("[coaching]\ntypo = 1\n").is_some_and(|e| e.contains("typo")));
        let d = PremiseConfig::defaults();
        assert_eq!(d.coaching.new_agent_reviews, 5);
    }
}
