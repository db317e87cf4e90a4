//! Logging in and out, who am I, API tokens.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AdminUser, AnyUser, Authed, Credentials, Source};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId};
use crate::sessions::SESSION_COOKIE;
use crate::state::AppState;
use crate::users::{Principal, Role};

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user id (an agent's id, or a `[[users]]` id).
    pub user: String,
    /// The password.
    pub password: String,
}

/// A session opened: who, and the CSRF token every unsafe request with the
/// session cookie must repeat in `X-CSRF-Token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// The user id.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// Their tenant.
    pub tenant: String,
    /// The agent they are, if any.
    pub agent: Option<String>,
    /// The CSRF token of the session.
    pub csrf_token: String,
    /// How long the session lasts, seconds.
    pub expires_in_secs: u64,
}

/// Logs in: sets the `callcore_session` cookie (HttpOnly, SameSite=Strict).
/// Five failures of one user within a minute, or too many attempts from one
/// address, answer 429 until the minute is over.
#[utoipa::path(post, path = "/api/v1/login", tag = "session",
    request_body = LoginRequest,
    responses((status = 200, body = LoginAnswer, description = "logged in"),
        (status = "4XX", body = ErrorBody, description = "bad input, wrong password (401), rate limited (429)")))]
pub(crate) async fn login(
    State(st): State<AppState>,
    Source(source): Source,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    if req.user.is_empty() || req.user.len() > 64 {
        return Err(ApiError::bad_input("user", "1-64 characters"));
    }
    if req.password.is_empty() || req.password.len() > 1024 {
        return Err(ApiError::bad_input("password", "1-1024 characters"));
    }
    let now = st.0.center.clock().now();
    {
        let mut limiter =
            st.0.limiter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(which) = limiter.attempt(&req.user, source, now) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many login attempts from this {which}; try again in a minute"),
            ));
        }
    }
    let check = st.clone();
    let user = req.user.clone();
    let principal = tokio::task::spawn_blocking(move || check.0.users.check(&user, &req.password))
        .await
        .ok()
        .flatten();
    let Some(principal) = principal else {
        st.0.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .failed(&req.user, now);
        tracing::info!("web login refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "wrong user or password",
        ));
    };
    let session =
        st.0.sessions.open(principal.clone(), now).map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "no session")
        })?;
    let ttl = st.0.sessions.ttl().as_secs();
    tracing::info!(role = principal.role.as_str(), "web login");
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl}{}",
        session.id,
        if st.0.secure_cookies { "; Secure" } else { "" }
    );
    let mut r = Json(LoginAnswer {
        user: principal.user,
        role: principal.role,
        tenant: principal.tenant.to_string(),
        agent: principal.agent.map(|a| a.to_string()),
        csrf_token: session.csrf,
        expires_in_secs: ttl,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// Logs out: ends the cookie session (an API token stays valid until revoked).
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    responses((status = 204, description = "logged out"),
        (status = "4XX", body = ErrorBody, description = "not logged in, CSRF token missing")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn logout(
    State(st): State<AppState>,
    _: AnyUser,
    Extension(c): Extension<Credentials>,
) -> Response {
    if let Some((id, _)) = &c.session {
        st.0.sessions.close(id);
    }
    let gone = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&gone) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Who the session or token is.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = Principal, description = "the user"),
        (status = "4XX", body = ErrorBody, description = "not logged in")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn me(Authed(p): AnyUser) -> Json<Principal> {
    Json(p)
}

/// A new API token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenAnswer {
    /// Its id (to revoke it).
    pub id: String,
    /// The token: `Authorization: Bearer <token>`. Shown once.
    pub token: String,
}

/// Makes an API token acting as the calling administrator (kept in memory:
/// a restart revokes it).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "session",
    responses((status = 201, body = TokenAnswer, description = "the token"),
        (status = "4XX", body = ErrorBody, description = "not an administrator")),
    security(("session" = ["administrator"]), ("bearer" = ["administrator"])))]
pub(crate) async fn create_token(
    State(st): State<AppState>,
    Authed(p): AdminUser,
) -> Result<(StatusCode, Json<TokenAnswer>), ApiError> {
    let (id, token) =
        st.0.sessions.issue_token(p).map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "no token")
        })?;
    Ok((StatusCode::CREATED, Json(TokenAnswer { id, token })))
}

/// Revokes an API token of the tenant.
#[utoipa::path(delete, path = "/api/v1/tokens/{token}", tag = "session",
    params(("token" = String, Path, description = "the token's id")),
    responses((status = 204, description = "revoked"),
        (status = "4XX", body = ErrorBody, description = "no such token")),
    security(("session" = ["administrator"]), ("bearer" = ["administrator"])))]
pub(crate) async fn revoke_token(
    State(st): State<AppState>,
    Authed(p): AdminUser,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    if st.0.sessions.revoke(&id, &p.tenant) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("token", "token"))
    }
}
