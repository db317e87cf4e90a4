//! Server-side digest authentication: challenges, verification, stateless nonces with
//! expiry, nonce-count replay protection and per-source rate limiting of failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::digest::{DigestAlgorithm, DigestInput, ct_eq, digest_response};
use crate::message::{AuthValue, Message};

/// Where passwords come from.
pub trait CredentialStore: Send + Sync + std::fmt::Debug {
    /// The password of `user`, if the user exists.
    fn password(&self, user: &str) -> Option<String>;
}

impl CredentialStore for HashMap<String, String> {
    fn password(&self, user: &str) -> Option<String> {
        self.get(user).cloned()
    }
}

/// Authentication policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// Realm.
    pub realm: String,
    /// Algorithms challenged, in preference order (one WWW-Authenticate each).
    pub algorithms: Vec<DigestAlgorithm>,
    /// Nonce lifetime; older nonces get a `stale=true` challenge.
    pub nonce_ttl: Duration,
    /// Failed attempts per source allowed within `failure_window`.
    pub max_failures: u32,
    /// Window for counting failures; a source over the limit is refused until the
    /// window ends.
    pub failure_window: Duration,
}

impl DigestConfig {
    /// SHA-256 then MD5, 5-minute nonces, 5 failures per minute.
    pub fn new(realm: &str) -> Self {
        DigestConfig {
            realm: realm.to_owned(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_ttl: Duration::from_secs(300),
            max_failures: 5,
            failure_window: Duration::from_secs(60),
        }
    }
}

/// The verdict on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials are valid for this user.
    Authorized {
        /// The authenticated user name.
        user: String,
    },
    /// Answer 401 with these `WWW-Authenticate` values.
    Challenge {
        /// Header values.
        www_authenticate: Vec<String>,
    },
    /// Answer 403 with this reason (replay, or too many failures from this source).
    Forbidden(&'static str),
}

/// Verifies digest credentials (sans-IO: `now` and the secret come from the caller).
#[derive(Debug)]
pub struct Authenticator {
    config: DigestConfig,
    secret: Vec<u8>,
    seen_nc: HashMap<String, (u32, Duration)>,
    failures: HashMap<IpAddr, (u32, Duration)>,
}

impl Authenticator {
    /// An authenticator whose nonces are signed with `secret`.
    pub fn new(config: DigestConfig, secret: &[u8]) -> Self {
        Authenticator {
            config,
            secret: secret.to_vec(),
            seen_nc: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    fn sign(&self, stamp: &str) -> String {
        let mut data = self.secret.clone();
        data.extend_from_slice(b":");
        data.extend_from_slice(stamp.as_bytes());
        DigestAlgorithm::Sha256.hex(&data)[..24].to_owned()
    }

    /// A fresh nonce: issue time and a signature over it.
    pub fn nonce(&self, now: Duration) -> String {
        let stamp = format!("{:x}", now.as_millis());
        format!("{stamp}.{}", self.sign(&stamp))
    }

    /// `Ok(issued_at)` for our own unexpired nonce; `Err(true)` when ours but stale.
    fn check_nonce(&self, nonce: &str, now: Duration) -> Result<Duration, bool> {
        let (stamp, sig) = nonce.split_once('.').ok_or(false)?;
        if !ct_eq(sig, &self.sign(stamp)) {
            return Err(false);
        }
        let ms = u64::from_str_radix(stamp, 16).map_err(|_| false)?;
        let issued = Duration::from_millis(ms);
        if now.saturating_sub(issued) > self.config.nonce_ttl || issued > now {
            return Err(true);
        }
        Ok(issued)
    }

    /// Challenge header values (one per configured algorithm).
    pub fn challenge(&self, now: Duration, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.config
            .algorithms
            .iter()
            .map(|a| {
                let stale = if stale { ", stale=true" } else { "" };
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    self.config.realm,
                    a.as_str()
                )
            })
            .collect()
    }

    fn locked(&mut self, source: IpAddr, now: Duration) -> bool {
        match self.failures.get(&source) {
            Some((n, since)) if now.saturating_sub(*since) < self.config.failure_window => {
                *n >= self.config.max_failures
            }
            Some(_) => {
                self.failures.remove(&source);
                false
            }
            None => false,
        }
    }

    fn fail(&mut self, source: IpAddr, now: Duration) {
        let e = self.failures.entry(source).or_insert((0, now));
        if now.saturating_sub(e.1) >= self.config.failure_window {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Checks `req` (from `source`) against the credentials in `store`.
    pub fn check(
        &mut self,
        req: &Message,
        source: IpAddr,
        store: &dyn CredentialStore,
        now: Duration,
    ) -> AuthOutcome {
        if self.locked(source, now) {
            return AuthOutcome::Forbidden("Too many failed authentication attempts");
        }
        self.seen_nc
            .retain(|_, (_, issued)| now.saturating_sub(*issued) <= self.config.nonce_ttl);
        let creds = req.authorization().unwrap_or_default();
        let Some(cred) = creds.iter().find(|c| {
            c.is_digest() && c.param("realm").as_deref() == Some(self.config.realm.as_str())
        }) else {
            return AuthOutcome::Challenge {
                www_authenticate: self.challenge(now, false),
            };
        };
        match self.verify(cred, req, store, now) {
            Ok(user) => {
                self.failures.remove(&source);
                AuthOutcome::Authorized { user }
            }
            Err(Failure::Stale) => AuthOutcome::Challenge {
                www_authenticate: self.challenge(now, true),
            },
            Err(Failure::Replay) => {
                self.fail(source, now);
                AuthOutcome::Forbidden("Replayed nonce count")
            }
            Err(Failure::Wrong) => {
                self.fail(source, now);
                if self.locked(source, now) {
                    AuthOutcome::Forbidden("Too many failed authentication attempts")
                } else {
                    AuthOutcome::Challenge {
                        www_authenticate: self.challenge(now, false),
                    }
                }
            }
        }
    }

    fn verify(
        &mut self,
        cred: &AuthValue<'_>,
        req: &Message,
        store: &dyn CredentialStore,
        now: Duration,
    ) -> Result<String, Failure> {
        let p = |n: &str| cred.param(n).map(|v| v.into_owned());
        let (Some(user), Some(nonce), Some(uri), Some(response)) =
            (p("username"), p("nonce"), p("uri"), p("response"))
        else {
            return Err(Failure::Wrong);
        };
        let algorithm = DigestAlgorithm::parse(p("algorithm").as_deref()).ok_or(Failure::Wrong)?;
        if !self.config.algorithms.contains(&algorithm) {
            return Err(Failure::Wrong);
        }
        let issued = match self.check_nonce(&nonce, now) {
            Ok(t) => t,
            Err(true) => return Err(Failure::Stale),
            Err(false) => return Err(Failure::Wrong),
        };
        let qop = p("qop");
        let (nc, cnonce) = (p("nc"), p("cnonce"));
        let qop_auth = match (qop.as_deref(), &nc, &cnonce) {
            (Some("auth"), Some(nc), Some(cn)) => Some((nc.as_str(), cn.as_str())),
            (None, _, _) => None,
            _ => return Err(Failure::Wrong),
        };
        let password = store.password(&user).ok_or(Failure::Wrong)?;
        let method = req
            .method()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let expected = digest_response(&DigestInput {
            algorithm,
            username: &user,
            realm: &self.config.realm,
            password: &password,
            method: &method,
            uri: &uri,
            nonce: &nonce,
            qop_auth,
        });
        if !ct_eq(&expected, &response.to_ascii_lowercase()) {
            return Err(Failure::Wrong);
        }
        // Replay protection: the nonce count must rise for each use of a nonce.
        let count = match &nc {
            Some(nc) => u32::from_str_radix(nc, 16).map_err(|_| Failure::Wrong)?,
            None => 1,
        };
        let key = format!("{nonce}|{user}");
        match self.seen_nc.get(&key) {
            Some((last, _)) if count <= *last => return Err(Failure::Replay),
            _ => {}
        }
        self.seen_nc.insert(key, (count, issued));
        Ok(user)
    }
}

enum Failure {
    Wrong,
    Stale,
    Replay,
}
