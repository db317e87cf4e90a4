//! Who is asking: a session cookie (with its CSRF token on unsafe methods)
//! or an API token, checked against each route's minimum role.
//!
//! Handlers take [`Authed<MIN>`] ([`AnyUser`], [`SupervisorUser`],
//! [`AdminUser`]); a route's minimum role is also written in its OpenAPI
//! operation (`security` role names), and the route-table tests check that
//! both agree for every route.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::error::ApiError;
use crate::sessions::{CSRF_HEADER, SESSION_COOKIE};
use crate::state::AppState;
use crate::users::{Principal, Role, same};

/// Maps a request's headers to the user it is authenticated as: what another
/// crate's routes (a browser phone's signalling) use to know who is calling
/// without a login of their own.
pub trait Authenticate: Send + Sync {
    /// The user of the session cookie or API token in `headers`, if valid.
    fn principal(&self, headers: &HeaderMap) -> Option<Principal>;
}

/// The web API's [`Authenticate`]: cheap to clone, valid as long as the API
/// runs; see [`WebApi::authenticator`](crate::WebApi::authenticator).
#[derive(Clone)]
pub struct Authenticator(pub(crate) AppState);

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticate for Authenticator {
    fn principal(&self, headers: &HeaderMap) -> Option<Principal> {
        self.0
            .credentials(headers)
            .ok()
            .flatten()
            .map(|c| c.principal)
    }
}

impl Authenticator {
    /// The same check as a plain function, for crates that take a closure.
    #[must_use]
    pub fn into_fn(self) -> AuthenticateFn {
        Arc::new(move |h| self.principal(h))
    }
}

/// [`Authenticate`] as a shared closure.
pub type AuthenticateFn = Arc<dyn Fn(&HeaderMap) -> Option<Principal> + Send + Sync>;

/// How a request proved who it is.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) principal: Principal,
    /// The session id, for a cookie session (with its CSRF token).
    pub(crate) session: Option<(String, String)>,
}

/// The value of cookie `name` in `headers`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl AppState {
    /// The credentials of `headers`: `Ok(None)` without any, `Err` for a bad
    /// token.
    pub(crate) fn credentials(&self, headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(ApiError::unauthenticated)?;
            let principal = self
                .0
                .sessions
                .token(token)
                .ok_or_else(ApiError::unauthenticated)?;
            return Ok(Some(Credentials {
                principal,
                session: None,
            }));
        }
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        Ok(self
            .0
            .sessions
            .session(id, self.0.center.clock().now())
            .map(|(principal, csrf)| Credentials {
                principal,
                session: Some((id.to_owned(), csrf)),
            }))
    }

    /// Authenticates a request and checks its CSRF token.
    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<Credentials, ApiError> {
        let c = self
            .credentials(headers)?
            .ok_or_else(ApiError::unauthenticated)?;
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some((_, csrf)) = &c.session
            && !safe
        {
            let given = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same(given.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "a cookie session's unsafe request needs the X-CSRF-Token header given at login",
                )
                .field(CSRF_HEADER));
            }
        }
        Ok(c)
    }
}

/// An authenticated request whose user has at least role `MIN`
/// (0 agent, 1 supervisor, 2 administrator), in their tenant.
#[derive(Debug, Clone)]
pub struct Authed<const MIN: u8>(pub Principal);

/// Any logged-in user (agent and up).
pub type AnyUser = Authed<0>;
/// A supervisor or an administrator.
pub type SupervisorUser = Authed<1>;
/// An administrator.
pub type AdminUser = Authed<2>;

const fn role_of(min: u8) -> Role {
    match min {
        0 => Role::Agent,
        1 => Role::Supervisor,
        _ => Role::Administrator,
    }
}

impl<const MIN: u8> FromRequestParts<AppState> for Authed<MIN> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let c = state.authenticate(&parts.headers, &parts.method)?;
        let need = role_of(MIN);
        if c.principal.role < need {
            return Err(ApiError::forbidden(format!(
                "needs the {} role",
                need.as_str()
            )));
        }
        parts.extensions.insert(c.clone());
        Ok(Authed(c.principal))
    }
}

/// The address a request came from (when the server gives it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
