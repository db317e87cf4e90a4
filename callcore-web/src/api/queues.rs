//! Queues and their live figures.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use callcore::QueueSnapshot;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AnyUser, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;

/// A queue's live figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// The queue's id.
    pub id: String,
    /// Interactions waiting now.
    pub waiting: u32,
    /// Age of the oldest waiting interaction, seconds.
    pub longest_wait_secs: u32,
    /// The queue's agents counted by state name.
    pub agents_by_state: BTreeMap<String, u32>,
}

impl From<&QueueSnapshot> for QueueView {
    fn from(q: &QueueSnapshot) -> Self {
        QueueView {
            id: q.queue.to_string(),
            waiting: u32::try_from(q.waiting.len()).unwrap_or(u32::MAX),
            longest_wait_secs: q.longest_wait_secs,
            agents_by_state: q.agents_by_state.clone(),
        }
    }
}

/// The tenant's queues with their live figures.
#[utoipa::path(get, path = "/api/v1/queues", tag = "queues",
    responses((status = 200, body = Vec<QueueView>, description = "the queues"),
        (status = "4XX", body = ErrorBody, description = "not logged in"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn list(
    State(st): State<AppState>,
    Authed(p): AnyUser,
) -> Result<Json<Vec<QueueView>>, ApiError> {
    let snap =
        st.0.center
            .snapshot()
            .await
            .map_err(|e| ApiError::from_core(&e, "center"))?;
    let scope = st.scope(&p);
    Ok(Json(
        snap.queues
            .iter()
            .filter(|q| st.0.live.queue_tenant(&q.queue).as_ref() == Some(&p.tenant))
            .filter(|q| scope.as_ref().is_none_or(|s| s.queues.contains(&q.queue)))
            .map(QueueView::from)
            .collect(),
    ))
}

/// One queue's live figures.
#[utoipa::path(get, path = "/api/v1/queues/{queue}", tag = "queues",
    params(("queue" = String, Path, description = "the queue's id")),
    responses((status = 200, body = QueueView, description = "the queue"),
        (status = "4XX", body = ErrorBody, description = "no such queue in the tenant"),
        (status = 503, body = ErrorBody, description = "center unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn get(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<QueueView>, ApiError> {
    let id = st.queue_of_tenant(&p, &raw, "queue")?;
    if st.scope(&p).is_some_and(|s| !s.queues.contains(&id)) {
        return Err(crate::state::outside_scope());
    }
    let snap =
        st.0.center
            .snapshot()
            .await
            .map_err(|e| ApiError::from_core(&e, "center"))?;
    snap.queues
        .iter()
        .find(|q| q.queue == id)
        .map(|q| Json(QueueView::from(q)))
        .ok_or_else(|| ApiError::not_found("queue", "queue"))
}
