//! Live calls and every call-control action of `CenterHandle`; offers
//! accepted or declined on the desktop.
//!
//! An agent sees and acts on the calls they are part of; a supervisor on
//! every call of their tenant. A call of another tenant is "not found".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use callcore::{AgentId, LegId, MonitorMode, ReservationId};
use callcore_runtime::CallTarget;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{AnyUser, Authed, SupervisorUser};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId};
use crate::live::LiveCall;
use crate::state::AppState;
use crate::users::{Principal, Role};

/// The live calls the user may see.
#[utoipa::path(get, path = "/api/v1/calls", tag = "calls",
    responses((status = 200, body = Vec<LiveCall>, description = "calls in progress"),
        (status = "4XX", body = ErrorBody, description = "not logged in")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn list(State(st): State<AppState>, Authed(p): AnyUser) -> Json<Vec<LiveCall>> {
    let live = st.0.center.live_calls();
    let scope = st.scope(&p);
    Json(
        st.0.live
            .calls(&p.tenant)
            .into_iter()
            .filter(|c| live.contains(&c.id) && AppState::may_see(&p, c))
            .filter(|c| {
                scope
                    .as_ref()
                    .is_none_or(|s| s.covers(c.queue.as_ref(), c.agents.iter().chain(&c.agent)))
            })
            .collect(),
    )
}

/// One live call.
#[utoipa::path(get, path = "/api/v1/calls/{interaction}", tag = "calls",
    params(("interaction" = String, Path, description = "the call's interaction id")),
    responses((status = 200, body = LiveCall, description = "the call"),
        (status = "4XX", body = ErrorBody, description = "no such live call for the user")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn get(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<LiveCall>, ApiError> {
    let id = st.call_for(&p, &raw)?;
    st.0.live
        .call(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("live call", "interaction"))
}

fn core(e: &callcore::CoreError) -> ApiError {
    ApiError::from_core(e, "interaction")
}

/// A call-control action without a body: a handler, its OpenAPI operation.
macro_rules! action {
    ($name:ident, $path:tt, $doc:tt, $method:ident) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "calls", description = $doc,
            params(("interaction" = String, Path, description = "the call's interaction id")),
            responses((status = 204, description = "done"),
                (status = "4XX", body = ErrorBody, description = "no such live call (404), not possible in the call's state (409)"),
                (status = 503, body = ErrorBody, description = "center unavailable")),
            security(("session" = ["agent"]), ("bearer" = ["agent"])))]
        pub(crate) async fn $name(
            State(st): State<AppState>,
            Authed(p): AnyUser,
            PathId(raw): PathId,
        ) -> Result<StatusCode, ApiError> {
            let id = st.call_for(&p, &raw)?;
            st.0.center.$method(&id).await.map_err(|e| core(&e))?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

action!(
    hold,
    "/api/v1/calls/{interaction}/hold",
    "Puts the customer on hold (music).",
    hold
);
action!(
    resume,
    "/api/v1/calls/{interaction}/resume",
    "Takes the customer off hold.",
    resume
);
action!(
    swap,
    "/api/v1/calls/{interaction}/swap",
    "Switches between the customer and the consulted party.",
    swap
);
action!(
    complete_transfer,
    "/api/v1/calls/{interaction}/complete-transfer",
    "Completes the attended transfer to the consulted party.",
    complete_transfer
);
action!(
    cancel_consult,
    "/api/v1/calls/{interaction}/cancel-consult",
    "Cancels the consultation; back with the customer.",
    cancel_consult
);
action!(
    conference,
    "/api/v1/calls/{interaction}/conference",
    "Makes the consultation a three-party conference.",
    conference
);
action!(
    leave_conference,
    "/api/v1/calls/{interaction}/conference/leave",
    "The agent leaves the conference.",
    leave_conference
);
action!(
    hang_up,
    "/api/v1/calls/{interaction}/hang-up",
    "Hangs the call up from the center's side.",
    hang_up
);

/// Mute on or off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// Mute (true) or unmute (false).
    pub on: bool,
}

/// Mutes or unmutes the agent.
#[utoipa::path(post, path = "/api/v1/calls/{interaction}/mute", tag = "calls",
    params(("interaction" = String, Path, description = "the call's interaction id")),
    request_body = MuteRequest,
    responses((status = 204, description = "done"),
        (status = "4XX", body = ErrorBody, description = "no such live call (404), not possible now (409)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn mute(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<MuteRequest>,
) -> Result<StatusCode, ApiError> {
    let id = st.call_for(&p, &raw)?;
    st.0.center.mute(&id, req.on).await.map_err(|e| core(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a target is.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// An agent of the tenant.
    Agent,
    /// A queue of the tenant.
    Queue,
    /// A phone number (through a trunk).
    Number,
}

/// Where a call goes (transfer, consultation, conference).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    /// Agent, queue or number.
    pub kind: TargetKind,
    /// The agent's or queue's id, or the number.
    pub to: String,
}

fn target(st: &AppState, p: &Principal, t: &TargetRequest) -> Result<CallTarget, ApiError> {
    Ok(match t.kind {
        TargetKind::Agent => CallTarget::Agent(st.agent_of_tenant(p, &t.to, "to")?),
        TargetKind::Queue => CallTarget::Queue(st.queue_of_tenant(p, &t.to, "to")?),
        TargetKind::Number => {
            let digits = t.to.strip_prefix('+').unwrap_or(&t.to);
            if digits.is_empty()
                || digits.len() > 32
                || !digits
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                return Err(ApiError::bad_input(
                    "to",
                    "1-32 digits, `*` or `#`, optionally after `+`",
                ));
            }
            CallTarget::Number(t.to.clone())
        }
    })
}

/// A call-control action with a target.
macro_rules! targeted {
    ($name:ident, $path:tt, $doc:tt, $method:ident) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "calls", description = $doc,
            params(("interaction" = String, Path, description = "the call's interaction id")),
            request_body = TargetRequest,
            responses((status = 204, description = "done"),
                (status = "4XX", body = ErrorBody, description = "no such live call or target (404), not possible now (409)"),
                (status = 503, body = ErrorBody, description = "center unavailable")),
            security(("session" = ["agent"]), ("bearer" = ["agent"])))]
        pub(crate) async fn $name(
            State(st): State<AppState>,
            Authed(p): AnyUser,
            PathId(raw): PathId,
            JsonBody(req): JsonBody<TargetRequest>,
        ) -> Result<StatusCode, ApiError> {
            let id = st.call_for(&p, &raw)?;
            let to = target(&st, &p, &req)?;
            st.0.center.$method(&id, to).await.map_err(|e| core(&e))?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

targeted!(
    transfer,
    "/api/v1/calls/{interaction}/transfer",
    "Blind transfer to an agent, a queue or a number.",
    transfer
);
targeted!(
    consult,
    "/api/v1/calls/{interaction}/consult",
    "Attended transfer, first step: consults an agent, a queue or a number.",
    consult
);
targeted!(
    add_to_conference,
    "/api/v1/calls/{interaction}/conference/add",
    "Adds an agent or a number to the call's conference.",
    add_to_conference
);

/// A party to hang up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KickRequest {
    /// The party's leg (as `conference_joined` named it), or a monitoring
    /// supervisor's agent id.
    pub leg: String,
}

/// Hangs up a conference party or a monitoring supervisor.
#[utoipa::path(post, path = "/api/v1/calls/{interaction}/kick", tag = "calls",
    params(("interaction" = String, Path, description = "the call's interaction id")),
    request_body = KickRequest,
    responses((status = 204, description = "done"),
        (status = "4XX", body = ErrorBody, description = "no such call or party (404), not possible now (409)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn kick(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<KickRequest>,
) -> Result<StatusCode, ApiError> {
    let id = st.call_for(&p, &raw)?;
    if req.leg.is_empty() || req.leg.len() > 128 {
        return Err(ApiError::bad_input("leg", "1-128 characters"));
    }
    st.0.center
        .kick(&id, &LegId::new(req.leg))
        .await
        .map_err(|e| ApiError::from_core(&e, "leg"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// How a supervisor monitors.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Hears both, heard by nobody.
    Listen,
    /// Heard by the agent only.
    Whisper,
    /// Heard by both.
    Barge,
}

impl From<Mode> for MonitorMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Listen => MonitorMode::Listen,
            Mode::Whisper => MonitorMode::Whisper,
            Mode::Barge => MonitorMode::Barge,
        }
    }
}

/// A monitoring request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorRequest {
    /// Listen, whisper or barge.
    pub mode: Mode,
    /// The supervisor's agent id (whose phone is rung); default: the user's.
    #[serde(default)]
    pub supervisor: Option<String>,
}

fn supervisor_of(st: &AppState, p: &Principal, req: &MonitorRequest) -> Result<AgentId, ApiError> {
    let raw = match (&req.supervisor, &p.agent) {
        (Some(s), _) => s.clone(),
        (None, Some(a)) => a.to_string(),
        (None, None) => {
            return Err(ApiError::bad_input(
                "supervisor",
                "name the supervisor's agent id (whose phone listens)",
            ));
        }
    };
    let id = st.agent_of_tenant(p, &raw, "supervisor")?;
    if p.role < Role::Administrator && p.agent.as_ref().is_some_and(|a| a != &id) {
        return Err(ApiError::forbidden(
            "a supervisor monitors from their own phone",
        ));
    }
    Ok(id)
}

/// A supervisor listens to, whispers to or barges into the call.
#[utoipa::path(post, path = "/api/v1/calls/{interaction}/monitor", tag = "calls",
    params(("interaction" = String, Path, description = "the call's interaction id")),
    request_body = MonitorRequest,
    responses((status = 204, description = "the supervisor's phone is rung"),
        (status = "4XX", body = ErrorBody, description = "no such call (404), not possible now (409)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn monitor(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<MonitorRequest>,
) -> Result<StatusCode, ApiError> {
    let id = st.call_for(&p, &raw)?;
    let sup = supervisor_of(&st, &p, &req)?;
    st.0.center
        .monitor(&id, &sup, req.mode.into())
        .await
        .map_err(|e| core(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Switches a monitoring supervisor between listen, whisper and barge.
#[utoipa::path(post, path = "/api/v1/calls/{interaction}/monitor/mode", tag = "calls",
    params(("interaction" = String, Path, description = "the call's interaction id")),
    request_body = MonitorRequest,
    responses((status = 204, description = "done"),
        (status = "4XX", body = ErrorBody, description = "no such call (404), not monitoring (409)"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn monitor_mode(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<MonitorRequest>,
) -> Result<StatusCode, ApiError> {
    let id = st.call_for(&p, &raw)?;
    let sup = supervisor_of(&st, &p, &req)?;
    st.0.center
        .set_monitor_mode(&id, &sup, req.mode.into())
        .await
        .map_err(|e| core(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Polls (20 ms apart) for an offer the live view does not know yet.
const OFFER_CATCH_UP_POLLS: u32 = 25;

/// An offer answered on the desktop.
macro_rules! offer {
    ($name:ident, $path:tt, $doc:tt, $method:ident) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "calls", description = $doc,
            params(("reservation" = String, Path, description = "the offer's reservation id")),
            responses((status = 204, description = "done"),
                (status = "4XX", body = ErrorBody, description = "no such pending offer for the user (404)"),
                (status = 503, body = ErrorBody, description = "center unavailable")),
            security(("session" = ["agent"]), ("bearer" = ["agent"])))]
        pub(crate) async fn $name(
            State(st): State<AppState>,
            Authed(p): AnyUser,
            PathId(raw): PathId,
        ) -> Result<StatusCode, ApiError> {
            let id = ReservationId::new(raw);
            // a client that saw the offer on another subscription of the
            // center's events may be ahead of the live view: give it a moment
            let mut offer = st.0.live.offer(&id);
            for _ in 0..OFFER_CATCH_UP_POLLS {
                if offer.is_some() {
                    break;
                }
                st.0.center
                    .clock()
                    .sleep(std::time::Duration::from_millis(20))
                    .await;
                offer = st.0.live.offer(&id);
            }
            let mine = offer.is_some_and(|o| {
                o.tenant == p.tenant
                    && (p.role >= Role::Supervisor || p.agent.as_ref() == Some(&o.agent))
            });
            if !mine {
                return Err(ApiError::not_found("pending offer", "reservation"));
            }
            st.0.center
                .$method(&id)
                .await
                .map_err(|e| ApiError::from_core(&e, "reservation"))?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

offer!(
    accept_offer,
    "/api/v1/offers/{reservation}/accept",
    "Accepts an offer (agents without a phone, chat).",
    accept_offer
);
offer!(
    decline_offer,
    "/api/v1/offers/{reservation}/decline",
    "Declines an offer.",
    decline_offer
);
