//! Who may use the API: users with a role in a tenant, and how their
//! passwords are checked.
//!
//! A password given in clear (a config file's `password`) is hashed with
//! argon2id when the account is made and the clear text dropped; an argon2
//! PHC string (`password_hash`) is taken as it is. An agent whose config has
//! only digest HA1 hashes (`H(id:realm:password)`, as SIP phones use) logs in
//! with the same password: the HA1 is computed from what they type and
//! compared.

use std::collections::HashMap;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use callcore::{AgentId, QueueId, TenantId};
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::WebError;

/// What a user may do; each role may do everything the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Handles calls: their own state, offers and calls.
    Agent,
    /// Watches and steers their tenant's queues and agents (state of any
    /// agent, monitoring, history, recordings).
    Supervisor,
    /// Everything in their tenant, configuration and API tokens included.
    Administrator,
}

impl Role {
    /// The role's name as in the config and the API (`"supervisor"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Administrator => "administrator",
        }
    }

    /// Parses `agent`, `supervisor` or `administrator`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "administrator" => Some(Role::Administrator),
            _ => None,
        }
    }
}

/// An authenticated user, as every route sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Principal {
    /// The user id they logged in with.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// The only tenant they see and act on.
    #[schema(value_type = String)]
    pub tenant: TenantId,
    /// The agent they are, when they are one (agents always; a supervisor
    /// when their user id is also an agent's).
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
    /// A supervisor limited to these queues (and the agents serving them);
    /// absent: the whole tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub queues: Option<Vec<QueueId>>,
}

/// How a password is checked.
#[derive(Clone)]
enum Secret {
    /// An argon2 PHC string.
    Argon2(String),
    /// Digest HA1 hashes (lower-case hex) with the realm they were made in.
    Ha1 {
        realm: String,
        md5: Option<String>,
        sha256: Option<String>,
    },
}

/// A user who may log in. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct UserAccount {
    principal: Principal,
    secret: Secret,
}

impl std::fmt::Debug for UserAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAccount")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

fn salt() -> Result<SaltString, WebError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| WebError::Random(e.to_string()))?;
    SaltString::encode_b64(&bytes).map_err(|e| WebError::Random(e.to_string()))
}

/// Hashes `password` with argon2id (default parameters, a random salt): the
/// PHC string to keep instead of the password.
///
/// # Errors
/// [`WebError::Random`] without OS randomness.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    let salt = salt()?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Random(e.to_string()))
}

/// Equal without telling how much of it is (same length inputs).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl UserAccount {
    fn new(user: &str, role: Role, tenant: TenantId, secret: Secret) -> Self {
        let agent = (role == Role::Agent).then(|| AgentId::new(user));
        UserAccount {
            principal: Principal {
                user: user.to_owned(),
                role,
                tenant,
                agent,
                queues: None,
            },
            secret,
        }
    }

    /// A user whose password is given in clear: it is hashed with argon2id
    /// now and not kept.
    ///
    /// # Errors
    /// [`WebError::User`] for an empty id or a password under 6 characters.
    pub fn with_password(
        user: &str,
        role: Role,
        tenant: TenantId,
        password: &str,
    ) -> Result<Self, WebError> {
        check_id(user)?;
        if password.chars().count() < 6 {
            return Err(WebError::User {
                user: user.into(),
                detail: "password: at least 6 characters".into(),
            });
        }
        Ok(Self::new(
            user,
            role,
            tenant,
            Secret::Argon2(hash_password(password)?),
        ))
    }

    /// A user whose password is given as an argon2 PHC string
    /// (`$argon2id$v=19$m=…`).
    ///
    /// # Errors
    /// [`WebError::User`] when the string is not an argon2 hash.
    pub fn with_password_hash(
        user: &str,
        role: Role,
        tenant: TenantId,
        phc: &str,
    ) -> Result<Self, WebError> {
        check_id(user)?;
        let ok = PasswordHash::new(phc)
            .map(|h| h.algorithm.as_str().starts_with("argon2"))
            .unwrap_or(false);
        if !ok {
            return Err(WebError::User {
                user: user.into(),
                detail: "password_hash: not an argon2 PHC string ($argon2id$v=19$...)".into(),
            });
        }
        Ok(Self::new(
            user,
            role,
            tenant,
            Secret::Argon2(phc.to_owned()),
        ))
    }

    /// An agent whose phone's digest HA1 hashes are all the config holds:
    /// `hashes` by algorithm name (`MD5`, `SHA-256`), made in `realm`.
    ///
    /// # Errors
    /// [`WebError::User`] without an MD5 or SHA-256 hash.
    pub fn with_digest_ha1(
        agent: &str,
        tenant: TenantId,
        realm: &str,
        hashes: &[(String, String)],
    ) -> Result<Self, WebError> {
        check_id(agent)?;
        let find = |name: &str| {
            hashes
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(name))
                .map(|(_, h)| h.to_ascii_lowercase())
        };
        let (md5, sha256) = (find("MD5"), find("SHA-256"));
        if md5.is_none() && sha256.is_none() {
            return Err(WebError::User {
                user: agent.into(),
                detail: "ha1: neither an MD5 nor a SHA-256 hash".into(),
            });
        }
        Ok(Self::new(
            agent,
            Role::Agent,
            tenant,
            Secret::Ha1 {
                realm: realm.to_owned(),
                md5,
                sha256,
            },
        ))
    }

    /// Says which agent this user is (a supervisor who also has a phone, for
    /// monitoring from it).
    #[must_use]
    pub fn as_agent(mut self, agent: AgentId) -> Self {
        self.principal.agent = Some(agent);
        self
    }

    /// Limits a supervisor to `queues` and the agents serving them: they see
    /// only those on the event feed, the lists and the scorecards, and act
    /// only there (absent: the whole tenant).
    #[must_use]
    pub fn with_queues(mut self, queues: impl IntoIterator<Item = QueueId>) -> Self {
        self.principal.queues = Some(queues.into_iter().collect());
        self
    }

    /// Who they are once logged in.
    #[must_use]
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether `password` is theirs.
    #[must_use]
    pub fn verify(&self, password: &str) -> bool {
        match &self.secret {
            Secret::Argon2(phc) => verify_phc(phc, password),
            Secret::Ha1 { realm, md5, sha256 } => {
                let a1 = format!("{}:{realm}:{password}", self.principal.user);
                if let Some(h) = sha256 {
                    return same(hex(&Sha256::digest(a1.as_bytes())).as_bytes(), h.as_bytes());
                }
                md5.as_ref().is_some_and(|h| {
                    same(hex(&Md5::digest(a1.as_bytes())).as_bytes(), h.as_bytes())
                })
            }
        }
    }
}

fn verify_phc(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn check_id(user: &str) -> Result<(), WebError> {
    if user.is_empty()
        || user.len() > 64
        || !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(WebError::User {
            user: user.chars().take(64).collect(),
            detail: "id: 1-64 letters, digits, `.`, `_`, `-` or `@`".into(),
        });
    }
    Ok(())
}

/// Every user who may log in, by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Users {
    by_id: HashMap<String, UserAccount>,
    /// Checked against for unknown users, so that they take as long.
    decoy: Option<String>,
}

impl Users {
    pub(crate) fn new(accounts: Vec<UserAccount>) -> Result<Users, WebError> {
        let mut by_id = HashMap::new();
        for a in accounts {
            let id = a.principal.user.clone();
            if by_id.insert(id.clone(), a).is_some() {
                return Err(WebError::User {
                    user: id,
                    detail: "id: given twice (an agent and a user, or two users)".into(),
                });
            }
        }
        Ok(Users {
            by_id,
            decoy: Some(hash_password("decoy-password-never-matches")?),
        })
    }

    /// The principal of `user` when `password` is theirs.
    pub(crate) fn check(&self, user: &str, password: &str) -> Option<Principal> {
        match self.by_id.get(user) {
            Some(a) if a.verify(password) => Some(a.principal.clone()),
            Some(_) => None,
            None => {
                if let Some(d) = &self.decoy {
                    let _ = verify_phc(d, password);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_passwords_and_digest_ha1_verify() {
        let t = TenantId::new("t");
        let a = UserAccount::with_password("super", Role::Supervisor, t.clone(), "super1234");
        let a = a.unwrap_or_else(|e| panic!("{e}"));
        assert!(a.verify("super1234"));
        assert!(!a.verify("super12345"));
        assert!(!format!("{a:?}").contains("argon2"));
        // H(1001:callcore:alice1001)
        let ha1 = hex(&Md5::digest(b"1001:callcore:alice1001"));
        let b = UserAccount::with_digest_ha1("1001", t.clone(), "callcore", &[("MD5".into(), ha1)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(b.verify("alice1001"));
        assert!(!b.verify("alice1002"));
        assert_eq!(b.principal().agent, Some(AgentId::new("1001")));
        assert!(UserAccount::with_password("x", Role::Agent, t.clone(), "short").is_err());
        assert!(UserAccount::with_password_hash("x", Role::Agent, t, "plain").is_err());
    }
}
