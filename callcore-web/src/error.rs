//! Errors: [`WebError`] when assembling the API, [`ApiError`] in answers.
//!
//! Every error answer has one shape, whatever the route:
//!
//! ```json
//! {"error": {"code": "bad_request", "message": "…", "field": "state"}}
//! ```
//!
//! `field` names the input at fault (a path segment, a query parameter or a
//! JSON body field, dotted) when there is one. Bad input is always a 4xx.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callcore::CoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Why [`WebApiBuilder::build`](crate::WebApiBuilder::build) refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// A user entry is invalid (the field is named).
    #[error("web user `{user}`: {detail}")]
    User {
        /// The user's id.
        user: String,
        /// What is wrong.
        detail: String,
    },
    /// A required part was not given to the builder.
    #[error("the web API needs {0}")]
    Missing(&'static str),
    /// The OS gave no random bytes (session ids, salts).
    #[error("no random bytes from the OS: {0}")]
    Random(String),
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `bad_request`, `unauthenticated`,
    /// `forbidden`, `csrf`, `not_found`, `method_not_allowed`, `conflict`, `rate_limited`,
    /// `unsupported_media_type`, `unavailable`, `internal`.
    pub code: String,
    /// A sentence for people (no personal data).
    pub message: String,
    /// The input at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorDetail,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: None,
            },
        }
    }

    /// Names the input at fault.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// 400: `field` is wrong because `message`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message).field(field)
    }

    /// 404 for `what`, named by `field`.
    pub fn not_found(what: &str, field: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
        .field(field)
    }

    /// 401.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in (session cookie) or give an API token (Authorization: Bearer)",
        )
    }

    /// 403 with a reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Maps a center error for an action on the resource named by `field`.
    pub fn from_core(e: &CoreError, field: &str) -> Self {
        match e {
            CoreError::NotFound { what, .. } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {what}"),
            )
            .field(field),
            CoreError::InvalidState { .. }
            | CoreError::AgentState(_)
            | CoreError::AlreadyExists { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", e.to_string()).field(field)
            }
            CoreError::Forbidden(m) => Self::forbidden(m.clone()),
            CoreError::Config(c) => Self::bad_input(field, c.to_string()),
            CoreError::Invalid { field, reason } => Self::bad_input(*field, reason.clone()),
            CoreError::Unreachable(_) | CoreError::NotAnswered(_) => {
                Self::new(StatusCode::CONFLICT, "unreachable", e.to_string()).field(field)
            }
            CoreError::Unsupported(m) => Self::new(
                StatusCode::CONFLICT,
                "unsupported",
                format!("not supported: {m}"),
            ),
            CoreError::Shutdown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the center is shutting down",
            ),
            other => {
                // store or transport trouble: the server's fault, said without detail
                tracing::warn!(error = %other, "web API: center error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the center could not do it now; try again",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(ErrorBody { error: self.body })).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
        }
        r
    }
}
