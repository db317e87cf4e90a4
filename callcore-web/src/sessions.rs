//! Cookie sessions and API tokens, in memory (a restart logs everyone out).
//!
//! Session ids and tokens are 32 random bytes from the OS, hex; a session
//! carries its own CSRF token, which every unsafe request made with the
//! cookie must repeat in the `X-CSRF-Token` header. API tokens (for
//! administrators' tools) are kept as their SHA-256 only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use callcore::Timestamp;

use sha2::{Digest, Sha256};

use crate::error::WebError;
use crate::users::Principal;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "callcore_session";
/// The header carrying the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Most sessions kept at once (the oldest go first).
const MAX_SESSIONS: usize = 10_000;

/// 32 random bytes from the OS, hex.
pub(crate) fn random_id() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| WebError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone)]
struct Session {
    principal: Principal,
    csrf: String,
    expires: Timestamp,
}

#[derive(Debug, Clone)]
struct Token {
    id: String,
    principal: Principal,
}

/// A new session: its cookie value and CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct NewSession {
    pub(crate) id: String,
    pub(crate) csrf: String,
}

/// Sessions and tokens.
#[derive(Debug)]
pub(crate) struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    tokens: Mutex<HashMap<String, Token>>,
    ttl: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Sessions {
        Sessions {
            sessions: Mutex::default(),
            tokens: Mutex::default(),
            ttl,
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Opens a session for `principal`.
    pub(crate) fn open(
        &self,
        principal: Principal,
        now: Timestamp,
    ) -> Result<NewSession, WebError> {
        let new = NewSession {
            id: random_id()?,
            csrf: random_id()?,
        };
        let mut s = lock(&self.sessions);
        s.retain(|_, v| v.expires > now);
        if s.len() >= MAX_SESSIONS
            && let Some(oldest) = s
                .iter()
                .min_by_key(|(_, v)| v.expires)
                .map(|(k, _)| k.clone())
        {
            s.remove(&oldest);
        }
        s.insert(
            new.id.clone(),
            Session {
                principal,
                csrf: new.csrf.clone(),
                expires: now + self.ttl,
            },
        );
        Ok(new)
    }

    /// The session's principal and CSRF token, while it lasts.
    pub(crate) fn session(&self, id: &str, now: Timestamp) -> Option<(Principal, String)> {
        let s = lock(&self.sessions);
        s.get(id)
            .filter(|v| v.expires > now)
            .map(|v| (v.principal.clone(), v.csrf.clone()))
    }

    /// Ends a session.
    pub(crate) fn close(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Makes an API token for `principal`: (its id, the token itself).
    pub(crate) fn issue_token(&self, principal: Principal) -> Result<(String, String), WebError> {
        let token = random_id()?;
        let id = digest(&token)[..16].to_owned();
        lock(&self.tokens).insert(
            digest(&token),
            Token {
                id: id.clone(),
                principal,
            },
        );
        Ok((id, token))
    }

    /// The principal of an API token.
    pub(crate) fn token(&self, token: &str) -> Option<Principal> {
        lock(&self.tokens)
            .get(&digest(token))
            .map(|t| t.principal.clone())
    }

    /// Revokes the token `id` of `tenant`; false when there is none.
    pub(crate) fn revoke(&self, id: &str, tenant: &callcore::TenantId) -> bool {
        let mut t = lock(&self.tokens);
        let before = t.len();
        t.retain(|_, v| !(v.id == id && &v.principal.tenant == tenant));
        t.len() != before
    }
}
