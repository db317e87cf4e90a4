//! Coaching: an agent's scorecard over a period against the team's, the
//! coaching items of every agent, and the reviews of new agents' first
//! scored calls (callcore-analytics' `coaching`, over the stored records).
//!
//! The team is the tenant's scored calls of the period — a supervisor
//! limited to queues: their queues' — or one queue's (`?queue=`). An agent
//! reads their own scorecard only.

use axum::Json;
use axum::extract::State;
use callcore::{EventKind, InteractionRecord, QueueId, Timestamp};
use callcore_analytics::coaching::{CoachingItem, Scorecard, Scorecards, coaching_items};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::history::{may_read, records_between};
use crate::auth::{AnyUser, Authed, SupervisorUser};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId, QueryArgs};
use crate::state::{AppState, outside_scope};
use crate::users::{Principal, Role};

/// The longest period of a scorecard.
const MAX_SPAN_MS: i64 = 92 * 24 * 3600 * 1000;
/// The period when none is given: the last seven days.
const DEFAULT_SPAN_MS: i64 = 7 * 24 * 3600 * 1000;

/// A coaching period, and the team to compare with.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// Start (milliseconds since the epoch); default: seven days before `to`.
    pub from: Option<i64>,
    /// End, exclusive (milliseconds since the epoch); default: now.
    pub to: Option<i64>,
    /// Compare within this queue only (its calls make the team).
    pub queue: Option<String>,
}

/// An agent's scorecard with its coaching items.
#[derive(Debug, Serialize)]
pub struct ScorecardView {
    /// The scorecard (callcore-analytics `Scorecard`).
    #[serde(flatten)]
    pub scorecard: Scorecard,
    /// The coaching items drawn from it.
    pub items: Vec<CoachingItem>,
}

/// One agent's coaching items over a period.
#[derive(Debug, Serialize)]
pub struct AgentCoaching {
    /// The agent.
    pub agent: String,
    /// Their scored calls.
    pub calls: u32,
    /// Their mean score.
    pub mean_score: Option<f64>,
    /// Their rank in the team by mean score (1 = best).
    pub rank: u32,
    /// The items (callcore-analytics `CoachingItem`).
    pub items: Vec<CoachingItem>,
}

/// The coaching items of every agent of the team.
#[derive(Debug, Serialize)]
pub struct CoachingView {
    /// Start of the period.
    pub from: i64,
    /// End of the period (exclusive).
    pub to: i64,
    /// The team's mean score.
    pub team_mean_score: Option<f64>,
    /// Per agent with a scored call, by agent id.
    pub agents: Vec<AgentCoaching>,
}

/// The period asked for, checked.
fn period(st: &AppState, q: &PeriodQuery) -> Result<(Timestamp, Timestamp), ApiError> {
    let to =
        q.to.unwrap_or_else(|| st.0.center.clock().now().as_millis());
    if !(1..=i64::MAX / 4).contains(&to) {
        return Err(ApiError::bad_input("to", "milliseconds since the epoch"));
    }
    let from = q.from.unwrap_or(to.saturating_sub(DEFAULT_SPAN_MS).max(0));
    if from < 0 || from >= to {
        return Err(ApiError::bad_input("from", "before `to`, 0 or more"));
    }
    if to - from > MAX_SPAN_MS {
        return Err(ApiError::bad_input("to", "at most 92 days after `from`"));
    }
    Ok((Timestamp::from_millis(from), Timestamp::from_millis(to)))
}

/// The team's records of the period: the tenant's, a limited supervisor's
/// queues', one queue's when asked.
async fn team(st: &AppState, p: &Principal, q: &PeriodQuery) -> Result<Scorecards, ApiError> {
    let (from, to) = period(st, q)?;
    let queue: Option<QueueId> = match &q.queue {
        Some(raw) => {
            let id = st.queue_of_tenant(p, raw, "queue")?;
            if st.scope(p).is_some_and(|s| !s.queues.contains(&id)) {
                return Err(outside_scope());
            }
            Some(id)
        }
        None => None,
    };
    let all = records_between(st, &p.tenant, from, to).await?;
    // an agent compares with the whole tenant's team (only means of it are
    // shown); a limited supervisor with their queues'
    let scope = st.scope(p);
    let records: Vec<InteractionRecord> = all
        .into_iter()
        .filter(|r| {
            scope
                .as_ref()
                .is_none_or(|s| s.covers(r.queue.as_ref(), r.agents.iter().chain(&r.agent)))
        })
        .filter(|r| queue.is_none() || r.queue == queue)
        .collect();
    Ok(Scorecards::build(&records, from, to))
}

/// An agent's scorecard over `[from, to)` (default the last seven days):
/// scored calls, mean score, rule findings by rule, silence, talk-over,
/// talk ratio and hold, each against the team's; rank and percentile; the
/// coaching items drawn from it. An agent reads only their own.
#[utoipa::path(get, path = "/api/v1/agents/{agent}/scorecard", tag = "coaching",
    params(("agent" = String, Path, description = "the agent's id"), PeriodQuery),
    responses((status = 200, body = Object, description = "the scorecard (callcore-analytics Scorecard) with `items` (CoachingItem)"),
        (status = "4XX", body = ErrorBody, description = "bad period, no such agent, another agent's card (403), outside the supervisor's queues (403)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn scorecard(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    QueryArgs(q): QueryArgs<PeriodQuery>,
) -> Result<Json<ScorecardView>, ApiError> {
    let id = st.agent_of_tenant(&p, &raw, "agent")?;
    if p.role == Role::Agent && p.agent.as_ref() != Some(&id) {
        return Err(ApiError::forbidden(
            "an agent reads only their own scorecard",
        ));
    }
    if st.scope(&p).is_some_and(|s| !s.agents.contains(&id)) {
        return Err(outside_scope());
    }
    let cards = team(&st, &p, &q).await?;
    let mut scorecard = cards.card_or_empty(&id);
    if p.role == Role::Agent {
        // the team's calls are other agents': only its figures are shown
        for m in scorecard.team.rule_misses.values_mut() {
            m.interactions.clear();
        }
    }
    let items = coaching_items(&scorecard, &st.0.coaching);
    Ok(Json(ScorecardView { scorecard, items }))
}

/// The coaching items of every agent of the team over `[from, to)`
/// (default the last seven days), drawn from their scorecards by the
/// `[coaching]` thresholds, each naming its calls.
#[utoipa::path(get, path = "/api/v1/coaching", tag = "coaching",
    params(PeriodQuery),
    responses((status = 200, body = Object, description = "items per agent: {from, to, team_mean_score, agents: [{agent, calls, mean_score, rank, items}]}"),
        (status = "4XX", body = ErrorBody, description = "bad period or queue"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn coaching(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    QueryArgs(q): QueryArgs<PeriodQuery>,
) -> Result<Json<CoachingView>, ApiError> {
    let cards = team(&st, &p, &q).await?;
    let scope = st.scope(&p);
    let agents = cards
        .cards
        .iter()
        .filter(|c| scope.as_ref().is_none_or(|s| s.agents.contains(&c.agent)))
        .map(|c| AgentCoaching {
            agent: c.agent.to_string(),
            calls: c.calls,
            mean_score: c.mean_score,
            rank: c.rank,
            items: coaching_items(c, &st.0.coaching),
        })
        .collect();
    Ok(Json(CoachingView {
        from: cards.from.as_millis(),
        to: cards.to.as_millis(),
        team_mean_score: cards.team.mean_score,
        agents,
    }))
}

/// Which reviews to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// Calls created at or after (milliseconds since the epoch); default 0.
    pub from: Option<i64>,
    /// Calls created before (milliseconds since the epoch); default: no end.
    pub to: Option<i64>,
    /// `pending` (default), `done` or `all`.
    pub status: Option<String>,
}

/// One agent a call was flagged for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewAgent {
    /// The agent.
    pub agent: String,
    /// Which of their scored calls it is (1 for the first).
    pub ordinal: u32,
}

/// A call flagged for review (a new agent's first scored calls).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    /// The interaction.
    pub interaction: String,
    /// The (first) agent it was flagged for.
    pub agent: Option<String>,
    /// Every agent it was flagged for (a call several agents took part in
    /// counts for each: a transfer, a conference).
    pub agents: Vec<ReviewAgent>,
    /// The queue it came through.
    pub queue: Option<String>,
    /// Which of the (first) agent's scored calls it is (1 for the first).
    pub ordinal: u32,
    /// When it was flagged (milliseconds since the epoch).
    pub flagged_at: i64,
    /// Its quality score.
    pub score: Option<f64>,
    /// When a supervisor marked it reviewed.
    pub done_at: Option<i64>,
    /// Who did.
    pub reviewer: Option<String>,
    /// Their note.
    pub note: Option<String>,
}

fn view(r: &InteractionRecord) -> Option<ReviewView> {
    let review = r.review.as_ref()?;
    Some(ReviewView {
        interaction: r.id.to_string(),
        agent: review
            .agent
            .as_ref()
            .or(r.agent.as_ref())
            .map(ToString::to_string),
        agents: review
            .flags()
            .into_iter()
            .map(|f| ReviewAgent {
                agent: f.agent.to_string(),
                ordinal: f.ordinal,
            })
            .collect(),
        queue: r.queue.as_ref().map(ToString::to_string),
        ordinal: review.ordinal,
        flagged_at: review.flagged_at.as_millis(),
        score: r.quality.as_ref().map(|q| q.score),
        done_at: review.done_at.map(Timestamp::as_millis),
        reviewer: review.reviewer.clone(),
        note: review.note.clone(),
    })
}

/// Calls flagged for review (a new agent's first scored calls), oldest
/// first: pending ones by default.
#[utoipa::path(get, path = "/api/v1/reviews", tag = "coaching",
    params(ReviewQuery),
    responses((status = 200, body = Vec<ReviewView>, description = "the flagged calls"),
        (status = "4XX", body = ErrorBody, description = "bad query"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn reviews(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    QueryArgs(q): QueryArgs<ReviewQuery>,
) -> Result<Json<Vec<ReviewView>>, ApiError> {
    let from = q.from.unwrap_or(0);
    let to = q.to.unwrap_or(i64::MAX / 2);
    if from < 0 {
        return Err(ApiError::bad_input(
            "from",
            "milliseconds since the epoch, 0 or more",
        ));
    }
    if to < from || to > i64::MAX / 2 {
        return Err(ApiError::bad_input("to", "must not be before `from`"));
    }
    let status = q.status.as_deref().unwrap_or("pending");
    if !matches!(status, "pending" | "done" | "all") {
        return Err(ApiError::bad_input("status", "`pending`, `done` or `all`"));
    }
    let all = records_between(
        &st,
        &p.tenant,
        Timestamp::from_millis(from),
        Timestamp::from_millis(to),
    )
    .await?;
    let scope = st.scope(&p);
    Ok(Json(
        all.iter()
            .filter(|r| may_read(&p, scope.as_ref(), r))
            .filter_map(view)
            .filter(|v| match status {
                "pending" => v.done_at.is_none(),
                "done" => v.done_at.is_some(),
                _ => true,
            })
            .collect(),
    ))
}

/// A review done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// What the supervisor noted for the agent (1-4000 characters).
    pub note: String,
}

/// Marks a flagged call reviewed, with a note (kept in its record; a
/// `review_completed` event).
#[utoipa::path(post, path = "/api/v1/reviews/{interaction}", tag = "coaching",
    params(("interaction" = String, Path, description = "the interaction id")),
    request_body = ReviewRequest,
    responses((status = 200, body = ReviewView, description = "the review, done"),
        (status = "4XX", body = ErrorBody, description = "bad note, no such flagged call (404), outside the supervisor's queues (403), already reviewed (409)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn complete_review(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<ReviewRequest>,
) -> Result<Json<ReviewView>, ApiError> {
    let note = req.note.trim();
    if note.is_empty() || note.chars().count() > 4000 {
        return Err(ApiError::bad_input("note", "1-4000 characters"));
    }
    let mut r = crate::api::history::record(&st, &p, &raw).await?;
    if r.review.is_none() {
        return Err(ApiError::not_found(
            "call flagged for review",
            "interaction",
        ));
    }
    if r.review.as_ref().is_some_and(|v| v.done_at.is_some()) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            "this call was reviewed already",
        )
        .field("interaction"));
    }
    let kind = EventKind::ReviewCompleted {
        interaction: r.id.clone(),
        reviewer: p.user.clone(),
        note: note.to_owned(),
    };
    st.0.center.journal_event(&p.tenant, kind.clone());
    // what the record will hold once the recorder folds the event
    r.apply(&callcore::Event {
        seq: 0,
        at: st.0.center.clock().now(),
        tenant: p.tenant.clone(),
        kind,
    });
    view(&r)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("call flagged for review", "interaction"))
}
