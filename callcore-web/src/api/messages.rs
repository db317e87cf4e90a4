//! Messages of e-mail and SMS conversations: read and reply.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AnyUser, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId};
use crate::messages::{DeskError, DeskMessage};
use crate::state::AppState;

/// The largest reply, in characters.
const MAX_TEXT: usize = 20_000;

/// The messages of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// Oldest first.
    pub messages: Vec<DeskMessage>,
}

/// A reply to the customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The text (1-20000 characters).
    pub text: String,
    /// End the conversation once sent (the agent is released).
    #[serde(default)]
    pub close: bool,
}

fn desk(st: &AppState) -> Result<&dyn crate::messages::MessageDesk, ApiError> {
    st.0.messages
        .as_deref()
        .ok_or_else(|| ApiError::not_found("message conversation", "interaction"))
}

/// Lists the messages of an e-mail or SMS conversation the user may see.
#[utoipa::path(get, path = "/api/v1/interactions/{interaction}/messages", tag = "messages",
    params(("interaction" = String, Path, description = "the interaction id")),
    responses((status = 200, body = MessageList, description = "the messages"),
        (status = "4XX", body = ErrorBody, description = "no such conversation for the user (404)")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn list(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<MessageList>, ApiError> {
    let id = st.call_for(&p, &raw)?;
    let messages = desk(&st)?
        .messages(&id)
        .ok_or_else(|| ApiError::not_found("message conversation", "interaction"))?;
    Ok(Json(MessageList { messages }))
}

/// Sends the agent's reply to the customer of an open conversation,
/// threaded (e-mail) or as one or more text messages (SMS).
#[utoipa::path(post, path = "/api/v1/interactions/{interaction}/messages", tag = "messages",
    params(("interaction" = String, Path, description = "the interaction id")),
    request_body = ReplyRequest,
    responses((status = 201, body = DeskMessage, description = "sent"),
        (status = "4XX", body = ErrorBody, description = "bad text, no such open conversation for the user, the customer opted out (409)"),
        (status = 502, body = ErrorBody, description = "the channel's server failed")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn reply(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<ReplyRequest>,
) -> Result<(StatusCode, Json<DeskMessage>), ApiError> {
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return Err(ApiError::bad_input("text", "1-20000 characters"));
    }
    let id = st.call_for(&p, &raw)?;
    match desk(&st)?.reply(&id, text, req.close).await {
        Ok(m) => Ok((StatusCode::CREATED, Json(m))),
        Err(DeskError::NotFound) => Err(ApiError::not_found("open conversation", "interaction")),
        Err(DeskError::Refused(why)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "conflict", why).field("interaction"))
        }
        Err(DeskError::Peer(why)) => {
            tracing::warn!(interaction = %id, error = %why, "reply not sent");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "peer", why))
        }
    }
}
