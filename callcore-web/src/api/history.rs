//! History from the stores: interaction records with pagination, their
//! events and recordings, the recording files themselves; wrap-up.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use callcore::{Disposition, InteractionId, InteractionRecord, RecordingId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AnyUser, Authed, SupervisorUser};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId, QueryArgs};
use crate::state::{AppState, Scope};
use crate::users::{Principal, Role};

/// Most records in one page.
const MAX_PAGE: u32 = 500;

/// A page of records.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Records created at or after (milliseconds since the epoch); default 0.
    pub from: Option<i64>,
    /// Records created before (milliseconds since the epoch); default: no end.
    pub to: Option<i64>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<u32>,
    /// Records to skip (from `next_offset`).
    pub offset: Option<u32>,
}

/// One page of interaction records, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    /// The records (`InteractionRecord` as stored).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<InteractionRecord>,
    /// Records matching in all.
    pub total: u32,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<u32>,
}

/// Whether `p` may read `r`: their tenant's; an agent's own; a limited
/// supervisor's queues' (`scope`).
pub(crate) fn may_read(p: &Principal, scope: Option<&Scope>, r: &InteractionRecord) -> bool {
    r.tenant == p.tenant
        && scope.is_none_or(|s| s.covers(r.queue.as_ref(), r.agents.iter().chain(&r.agent)))
        && (p.role >= Role::Supervisor
            || p.agent
                .as_ref()
                .is_some_and(|a| r.agent.as_ref() == Some(a) || r.agents.contains(a)))
}

fn store_error(e: &callcore::CoreError) -> ApiError {
    ApiError::from_core(e, "interaction")
}

/// The tenant's records created in `[from, to)`, read after the journal is
/// flushed (so a call that just ended is among them): the history list, the
/// scorecards and the reviews read their period this way.
pub(crate) async fn records_between(
    st: &AppState,
    tenant: &TenantId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<InteractionRecord>, ApiError> {
    st.0.center.flush().await;
    st.0.center
        .stores()
        .interactions
        .between(tenant, from, to)
        .await
        .map_err(|e| store_error(&e))
}

/// Interaction records of the tenant (an agent: those they handled).
#[utoipa::path(get, path = "/api/v1/interactions", tag = "history",
    params(PageQuery),
    responses((status = 200, body = RecordPage, description = "a page of records"),
        (status = "4XX", body = ErrorBody, description = "bad query"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn list(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    QueryArgs(q): QueryArgs<PageQuery>,
) -> Result<Json<RecordPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_input("limit", format!("1-{MAX_PAGE}")));
    }
    let from = q.from.unwrap_or(0);
    let to = q.to.unwrap_or(i64::MAX / 2);
    if from < 0 {
        return Err(ApiError::bad_input(
            "from",
            "milliseconds since the epoch, 0 or more",
        ));
    }
    if to < from {
        return Err(ApiError::bad_input("to", "must not be before `from`"));
    }
    let all = records_between(
        &st,
        &p.tenant,
        Timestamp::from_millis(from),
        Timestamp::from_millis(to),
    )
    .await?;
    let scope = st.scope(&p);
    let mine: Vec<InteractionRecord> = all
        .into_iter()
        .filter(|r| may_read(&p, scope.as_ref(), r))
        .collect();
    let total = u32::try_from(mine.len()).unwrap_or(u32::MAX);
    let offset = q.offset.unwrap_or(0);
    let items: Vec<InteractionRecord> = mine
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let end = offset.saturating_add(u32::try_from(items.len()).unwrap_or(u32::MAX));
    Ok(Json(RecordPage {
        items,
        total,
        next_offset: (end < total).then_some(end),
    }))
}

pub(crate) async fn record(
    st: &AppState,
    p: &Principal,
    raw: &str,
) -> Result<InteractionRecord, ApiError> {
    let id = InteractionId::new(raw);
    // what the center emitted so far is journaled and its records saved
    st.0.center.flush().await;
    st.0.center
        .stores()
        .interactions
        .get(&p.tenant, &id)
        .await
        .map_err(|e| store_error(&e))?
        .filter(|r| may_read(p, None, r))
        .ok_or_else(|| ApiError::not_found("interaction", "interaction"))
        .and_then(|r| {
            if may_read(p, st.scope(p).as_ref(), &r) {
                Ok(r)
            } else {
                Err(crate::state::outside_scope())
            }
        })
}

/// One interaction record.
#[utoipa::path(get, path = "/api/v1/interactions/{interaction}", tag = "history",
    params(("interaction" = String, Path, description = "the interaction id")),
    responses((status = 200, body = Object, description = "the record (InteractionRecord)"),
        (status = "4XX", body = ErrorBody, description = "no such record for the user"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn get(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<InteractionRecord>, ApiError> {
    record(&st, &p, &raw).await.map(Json)
}

/// One interaction's journaled events, in order.
#[utoipa::path(get, path = "/api/v1/interactions/{interaction}/events", tag = "history",
    params(("interaction" = String, Path, description = "the interaction id")),
    responses((status = 200, body = Vec<Object>, description = "the events (Event)"),
        (status = "4XX", body = ErrorBody, description = "no such interaction"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn events(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
) -> Result<Json<Vec<callcore::Event>>, ApiError> {
    let r = record(&st, &p, &raw).await?;
    st.0.center
        .stores()
        .events
        .for_interaction(&p.tenant, &r.id)
        .await
        .map(Json)
        .map_err(|e| store_error(&e))
}

/// A recording's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    /// Its id (for the download).
    pub id: String,
    /// The interaction recorded.
    pub interaction: String,
    /// Audio channels (2: caller left, agent right).
    pub channels: u8,
    /// When recording started (milliseconds since the epoch).
    pub started_at: i64,
    /// Length, milliseconds.
    pub duration_ms: u64,
}

/// One interaction's recordings.
#[utoipa::path(get, path = "/api/v1/interactions/{interaction}/recordings", tag = "history",
    params(("interaction" = String, Path, description = "the interaction id")),
    responses((status = 200, body = Vec<RecordingView>, description = "the recordings"),
        (status = "4XX", body = ErrorBody, description = "no such interaction"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn recordings(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
) -> Result<Json<Vec<RecordingView>>, ApiError> {
    let r = record(&st, &p, &raw).await?;
    let metas =
        st.0.center
            .stores()
            .recordings
            .for_interaction(&p.tenant, &r.id)
            .await
            .map_err(|e| store_error(&e))?;
    Ok(Json(
        metas
            .into_iter()
            .map(|m| RecordingView {
                id: m.id.to_string(),
                interaction: m.interaction.to_string(),
                channels: m.channels,
                started_at: m.started_at.as_millis(),
                duration_ms: m.duration_ms,
            })
            .collect(),
    ))
}

/// Downloads a recording (WAV), streamed.
#[utoipa::path(get, path = "/api/v1/recordings/{recording}", tag = "history",
    params(("recording" = String, Path, description = "the recording id")),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>, description = "the WAV file"),
        (status = "4XX", body = ErrorBody, description = "no such recording in the tenant"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn download(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
) -> Result<Response, ApiError> {
    let id = RecordingId::new(raw);
    let meta =
        st.0.center
            .stores()
            .recordings
            .get(&p.tenant, &id)
            .await
            .map_err(|e| ApiError::from_core(&e, "recording"))?
            .filter(|m| m.tenant == p.tenant)
            .ok_or_else(|| ApiError::not_found("recording", "recording"))?;
    let file = tokio::fs::File::open(&meta.path)
        .await
        .map_err(|_| ApiError::not_found("recording file", "recording"))?;
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.wav\"", meta.id),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// A wrap-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapUpRequest {
    /// The disposition code (1-64 characters).
    pub code: String,
    /// The agent's notes (up to 4000 characters).
    #[serde(default)]
    pub notes: Option<String>,
}

/// Sets the wrap-up (disposition code and notes) of a call, live or ended.
#[utoipa::path(post, path = "/api/v1/interactions/{interaction}/wrap-up", tag = "history",
    params(("interaction" = String, Path, description = "the interaction id")),
    request_body = WrapUpRequest,
    responses((status = 204, description = "stored"),
        (status = "4XX", body = ErrorBody, description = "bad code or notes, no such interaction for the user"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn wrap_up(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<WrapUpRequest>,
) -> Result<StatusCode, ApiError> {
    let code = req.code.trim();
    if code.is_empty() || code.len() > 64 || code.chars().any(char::is_control) {
        return Err(ApiError::bad_input("code", "1-64 characters"));
    }
    if req.notes.as_ref().is_some_and(|n| n.chars().count() > 4000) {
        return Err(ApiError::bad_input("notes", "at most 4000 characters"));
    }
    let id = match st.call_for(&p, &raw) {
        Ok(id) => id,
        Err(_) => record(&st, &p, &raw).await?.id,
    };
    let disposition = Disposition::Agent(code.to_owned());
    // an agent wraps up their own part (say, of a call they transferred);
    // a supervisor's wrap-up goes to the call's last agent
    let stored = match (&p.role, &p.agent) {
        (Role::Agent, Some(agent)) => {
            st.0.center
                .set_wrap_up_as(&id, agent, disposition, req.notes)
                .await
        }
        _ => st.0.center.set_wrap_up(&id, disposition, req.notes).await,
    };
    stored.map_err(|e| store_error(&e))?;
    Ok(StatusCode::NO_CONTENT)
}
