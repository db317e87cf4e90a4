//! A call's quality evaluation, as the center's live inspection made it when
//! the conversation was over (`quality_scored`, kept in the record): score,
//! findings (forbidden words, required phrases missed, sentiment, silence and
//! talk-over), the measured shares.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AnyUser, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;

/// One rule the call broke, or a figure over its limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingView {
    /// The rule's name.
    pub rule: String,
    /// Milliseconds from the start of the interaction.
    pub offset_ms: u64,
    /// What was found (the term, the ratio).
    pub detail: String,
    /// Score points lost.
    pub penalty: f64,
    /// Raised live, while the call was on.
    pub live: bool,
}

/// A call's quality evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityView {
    /// The interaction.
    pub interaction: String,
    /// The agent who took it.
    pub agent: Option<String>,
    /// 100 minus the findings' penalties, at least 0.
    pub score: f64,
    /// The findings, in the order found.
    pub findings: Vec<FindingView>,
    /// Share of the conversation nobody spoke.
    pub silence_ratio: Option<f64>,
    /// Share of the conversation both spoke at once.
    pub talk_over_ratio: Option<f64>,
    /// The customer's mean sentiment, −1..=1.
    pub customer_sentiment: Option<f64>,
    /// Transcript segments the rules read.
    pub segments: u32,
}

/// One interaction's quality evaluation (an agent: of their own calls).
#[utoipa::path(get, path = "/api/v1/interactions/{interaction}/quality", tag = "history",
    params(("interaction" = String, Path, description = "the interaction id")),
    responses((status = 200, body = QualityView, description = "the evaluation"),
        (status = "4XX", body = ErrorBody, description = "no such interaction, or not evaluated (yet)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn get(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<QualityView>, ApiError> {
    let r = crate::api::history::record(&st, &p, &raw).await?;
    let q = r
        .quality
        .ok_or_else(|| ApiError::not_found("quality evaluation", "interaction"))?;
    Ok(Json(QualityView {
        interaction: r.id.to_string(),
        agent: r.agent.map(|a| a.to_string()),
        score: q.score,
        findings: q
            .findings
            .into_iter()
            .map(|f| FindingView {
                rule: f.rule,
                offset_ms: f.offset_ms,
                detail: f.detail,
                penalty: f.penalty,
                live: f.live,
            })
            .collect(),
        silence_ratio: q.silence_ratio,
        talk_over_ratio: q.talk_over_ratio,
        customer_sentiment: q.customer_sentiment,
        segments: q.segments,
    }))
}
