//! Agents: their live state, setting it, click-to-dial, after-call work.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use callcore::{AgentSnapshot, AgentState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AnyUser, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId};
use crate::state::AppState;

/// An agent as the desktop and the wallboard show them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// The agent's id.
    pub id: String,
    /// `offline`, `available`, `reserved`, `busy`, `wrap_up`, `not_ready`.
    pub state: String,
    /// The not-ready reason code.
    pub reason: Option<String>,
    /// Since when (milliseconds since the epoch).
    pub since: i64,
    /// Whether their phone or desktop can be reached.
    pub reachable: bool,
}

impl From<&AgentSnapshot> for AgentView {
    fn from(a: &AgentSnapshot) -> Self {
        AgentView {
            id: a.agent.to_string(),
            state: a.state.name().to_owned(),
            reason: match &a.state {
                AgentState::NotReady(r) => Some(r.clone()),
                _ => None,
            },
            since: a.since.as_millis(),
            reachable: a.reachable,
        }
    }
}

async fn snapshot(st: &AppState) -> Result<callcore::RouterSnapshot, ApiError> {
    st.0.center
        .snapshot()
        .await
        .map_err(|e| ApiError::from_core(&e, "center"))
}

/// The agents of the tenant, with their live state.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = Vec<AgentView>, description = "the agents"),
        (status = "4XX", body = ErrorBody, description = "not logged in"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn list(
    State(st): State<AppState>,
    Authed(p): AnyUser,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let snap = snapshot(&st).await?;
    let scope = st.scope(&p);
    Ok(Json(
        snap.agents
            .iter()
            .filter(|a| st.0.live.agent_tenant(&a.agent).as_ref() == Some(&p.tenant))
            .filter(|a| scope.as_ref().is_none_or(|s| s.agents.contains(&a.agent)))
            .map(AgentView::from)
            .collect(),
    ))
}

/// One agent of the tenant.
#[utoipa::path(get, path = "/api/v1/agents/{agent}", tag = "agents",
    params(("agent" = String, Path, description = "the agent's id")),
    responses((status = 200, body = AgentView, description = "the agent"),
        (status = "4XX", body = ErrorBody, description = "no such agent in the tenant"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn get(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<AgentView>, ApiError> {
    let id = st.agent_of_tenant(&p, &raw, "agent")?;
    if st.scope(&p).is_some_and(|s| !s.agents.contains(&id)) {
        return Err(crate::state::outside_scope());
    }
    let snap = snapshot(&st).await?;
    snap.agents
        .iter()
        .find(|a| a.agent == id)
        .map(|a| Json(AgentView::from(a)))
        .ok_or_else(|| ApiError::not_found("agent", "agent"))
}

/// A state asked for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    /// `ready` (or `available`), `not_ready`, `offline`.
    pub state: String,
    /// The reason code, for `not_ready` (one of the configured codes).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Sets an agent's state (an agent their own, a supervisor any of the
/// tenant's), with a reason code for not-ready.
#[utoipa::path(put, path = "/api/v1/agents/{agent}/state", tag = "agents",
    params(("agent" = String, Path, description = "the agent's id")),
    request_body = StateRequest,
    responses((status = 200, body = AgentView, description = "the agent in their new state"),
        (status = "4XX", body = ErrorBody, description = "bad state or reason, a move the state machine forbids (409)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn set_state(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<StateRequest>,
) -> Result<Json<AgentView>, ApiError> {
    let id = st.agent_for(&p, &raw)?;
    let codes = st.configuration(&p.tenant).reason_codes;
    let state = match req.state.as_str() {
        "ready" | "available" => AgentState::Available,
        "offline" => AgentState::Offline,
        "not_ready" => {
            let reason = match req.reason {
                Some(r) => r,
                None => codes.first().cloned().unwrap_or_default(),
            };
            if !codes.is_empty() && !codes.contains(&reason) {
                return Err(ApiError::bad_input(
                    "reason",
                    format!("not a reason code ({})", codes.join(", ")),
                ));
            }
            AgentState::NotReady(reason)
        }
        _ => {
            return Err(ApiError::bad_input(
                "state",
                "`ready`, `not_ready` or `offline`",
            ));
        }
    };
    st.0.center
        .set_agent_state(&id, state)
        .await
        .map_err(|e| ApiError::from_core(&e, "state"))?;
    let snap = snapshot(&st).await?;
    snap.agents
        .iter()
        .find(|a| a.agent == id)
        .map(|a| Json(AgentView::from(a)))
        .ok_or_else(|| ApiError::not_found("agent", "agent"))
}

/// A number to call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialRequest {
    /// The customer's number (`+4930123456`, digits, `*`, `#`).
    pub number: String,
}

/// The interaction a dial started.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialAnswer {
    /// Its id.
    pub interaction: String,
}

/// Click-to-dial: rings the agent's phone, then the number.
#[utoipa::path(post, path = "/api/v1/agents/{agent}/dial", tag = "agents",
    params(("agent" = String, Path, description = "the agent's id")),
    request_body = DialRequest,
    responses((status = 202, body = DialAnswer, description = "dialing"),
        (status = "4XX", body = ErrorBody, description = "bad number, agent not available (409)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn dial(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<DialRequest>,
) -> Result<(StatusCode, Json<DialAnswer>), ApiError> {
    let id = st.agent_for(&p, &raw)?;
    let n = req.number.trim();
    let digits = n.strip_prefix('+').unwrap_or(n);
    if digits.is_empty()
        || digits.len() > 32
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err(ApiError::bad_input(
            "number",
            "1-32 digits, `*` or `#`, optionally after `+`",
        ));
    }
    let interaction =
        st.0.center
            .dial(&id, n)
            .await
            .map_err(|e| ApiError::from_core(&e, "agent"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DialAnswer {
            interaction: interaction.to_string(),
        }),
    ))
}

/// Ends the agent's after-call work now.
#[utoipa::path(post, path = "/api/v1/agents/{agent}/wrap-up/end", tag = "agents",
    params(("agent" = String, Path, description = "the agent's id")),
    responses((status = 204, description = "after-call work ended"),
        (status = "4XX", body = ErrorBody, description = "not in after-call work (404)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn end_wrap_up(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<StatusCode, ApiError> {
    let id = st.agent_for(&p, &raw)?;
    st.0.center
        .end_wrap_up(&id)
        .await
        .map_err(|e| ApiError::from_core(&e, "agent"))?;
    Ok(StatusCode::NO_CONTENT)
}
