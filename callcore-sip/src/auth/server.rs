//! Server-side digest authentication: challenges, verification, stateless nonces with
//! expiry bound to the address they were issued to, nonce-count replay protection,
//! and a lockout per account and source address (bounded table, see `lockout`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::digest::{DigestAlgorithm, DigestInput, ct_eq, response_from_ha1};
use crate::message::{AuthValue, Message};

/// Where passwords come from.
pub trait CredentialStore: Send + Sync + std::fmt::Debug {
    /// The password of `user`, if the user exists.
    fn password(&self, user: &str) -> Option<String>;

    /// The digest algorithms `user` is challenged with and may answer, preferred first;
    /// `None` (the default) means [`DigestConfig::algorithms`]. Phones differ: many
    /// deployed ones (Debian's baresip 1.0 among them) give up as soon as any SHA-256
    /// challenge is present, so an account lists SHA-256 only when its phone speaks it.
    fn algorithms(&self, user: &str) -> Option<Vec<DigestAlgorithm>> {
        let _ = user;
        None
    }

    /// HA1 = H(user:realm:password) of `user` for `algorithm`; the default derives it
    /// from [`password`](Self::password). A store that keeps hashes instead of
    /// passwords overrides this (and returns `None` from `password`).
    fn ha1(&self, user: &str, realm: &str, algorithm: DigestAlgorithm) -> Option<String> {
        self.password(user)
            .map(|p| super::digest::ha1(algorithm, user, realm, &p))
    }
}

impl CredentialStore for HashMap<String, String> {
    fn password(&self, user: &str) -> Option<String> {
        self.get(user).cloned()
    }
}

/// The key that signs nonces (so that only we can mint a nonce we accept). Its
/// `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct NonceKey(pub [u8; 32]);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// Authentication policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// Realm.
    pub realm: String,
    /// Algorithms challenged, in preference order (one WWW-Authenticate each), for
    /// users whose [`CredentialStore::algorithms`] names none.
    pub algorithms: Vec<DigestAlgorithm>,
    /// The nonce-signing key. `None`: the tokio driver draws one from the operating
    /// system's random source at start (a [`crate::ua::UserAgent`] built directly
    /// derives one from its seed, which suits tests only: the seed is predictable).
    pub nonce_key: Option<NonceKey>,
    /// Nonce lifetime; older nonces get a `stale=true` challenge.
    pub nonce_ttl: Duration,
    /// Failed attempts per account and source address allowed within
    /// `failure_window`.
    pub max_failures: u32,
    /// Window for counting failures; an account+source pair over the limit is
    /// refused for one window; each further lockout of the pair (one failure on the
    /// probation after a lockout suffices) lasts twice as long, up to `max_lockout`.
    pub failure_window: Duration,
    /// Longest lockout of an account+source pair.
    pub max_lockout: Duration,
    /// Most account+source pairs whose failures are remembered (the least recently
    /// failed are forgotten first).
    pub max_tracked_failures: usize,
    /// Challenge SHA-256 before MD5 whatever the order of the lists (RFC 8760: the
    /// strongest first); `false` keeps the lists' order (e.g. to emulate a carrier).
    pub strongest_first: bool,
}

impl DigestConfig {
    /// SHA-256 then MD5, 5-minute nonces, 5 failures per account and source per
    /// minute, lockouts doubling up to an hour (10,000 pairs remembered), no key yet.
    pub fn new(realm: &str) -> Self {
        DigestConfig {
            realm: realm.to_owned(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_key: None,
            nonce_ttl: Duration::from_secs(300),
            max_failures: 5,
            failure_window: Duration::from_secs(60),
            max_lockout: Duration::from_secs(3600),
            max_tracked_failures: 10_000,
            strongest_first: true,
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
    /// Answer 403 with this reason (replay, or too many failures of this account from
    /// this source).
    Forbidden(&'static str),
}

/// Verifies digest credentials (sans-IO: `now` and the secret come from the caller).
pub struct Authenticator {
    config: DigestConfig,
    secret: Vec<u8>,
    /// Nonces minted so far: makes every nonce unique, even two in the same millisecond.
    minted: u64,
    seen_nc: HashMap<String, (u32, Duration)>,
    failures: super::lockout::Lockout,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("minted", &self.minted)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator whose nonces are signed with `secret` (`config.nonce_key`,
    /// when set, is used instead). Nonces are only as unpredictable as this secret:
    /// draw it from the operating system's random source.
    pub fn new(config: DigestConfig, secret: &[u8]) -> Self {
        let secret = match &config.nonce_key {
            Some(k) => k.0.to_vec(),
            None => secret.to_vec(),
        };
        let failures = super::lockout::Lockout::new(
            config.max_failures,
            config.failure_window,
            config.max_lockout,
            config.max_tracked_failures,
        );
        Authenticator {
            config,
            secret,
            minted: 0,
            seen_nc: HashMap::new(),
            failures,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    /// Account+source pairs whose failures are remembered now.
    pub fn tracked_failures(&self) -> usize {
        self.failures.len()
    }

    fn sign(&self, stamp: &str, source: IpAddr) -> String {
        let mut data = self.secret.clone();
        data.extend_from_slice(b":");
        data.extend_from_slice(stamp.as_bytes());
        data.extend_from_slice(b":");
        data.extend_from_slice(source.to_string().as_bytes());
        DigestAlgorithm::Sha256.hex(&data)[..32].to_owned()
    }

    /// A fresh nonce for `source`: issue time, a serial number and a keyed SHA-256
    /// signature over both and the address (128 bits: without the key nobody can
    /// forge or predict one, and it is good only from the address it was sent to).
    pub fn nonce(&mut self, source: IpAddr, now: Duration) -> String {
        self.minted = self.minted.wrapping_add(1);
        let stamp = format!("{:x}-{:x}", now.as_millis(), self.minted);
        format!("{stamp}.{}", self.sign(&stamp, source))
    }

    /// `Ok(issued_at)` for our own unexpired nonce issued to `source`; `Err(true)`
    /// when ours but stale.
    fn check_nonce(&self, nonce: &str, source: IpAddr, now: Duration) -> Result<Duration, bool> {
        let (stamp, sig) = nonce.split_once('.').ok_or(false)?;
        if !ct_eq(sig, &self.sign(stamp, source)) {
            return Err(false);
        }
        let ms = stamp.split_once('-').map_or(stamp, |(ms, _)| ms);
        let ms = u64::from_str_radix(ms, 16).map_err(|_| false)?;
        let issued = Duration::from_millis(ms);
        if now.saturating_sub(issued) > self.config.nonce_ttl || issued > now {
            return Err(true);
        }
        Ok(issued)
    }

    /// Challenge header values for `source` (one per configured algorithm).
    pub fn challenge(&mut self, source: IpAddr, now: Duration, stale: bool) -> Vec<String> {
        let algorithms = self.config.algorithms.clone();
        self.challenge_with(&algorithms, source, now, stale)
    }

    /// Challenge header values for `source`, one per algorithm of `algorithms`,
    /// sharing one nonce.
    pub fn challenge_with(
        &mut self,
        algorithms: &[DigestAlgorithm],
        source: IpAddr,
        now: Duration,
        stale: bool,
    ) -> Vec<String> {
        let nonce = self.nonce(source, now);
        algorithms
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

    /// The algorithms `user` is challenged with and may answer: the store's list for
    /// a known user, otherwise [`DigestConfig::algorithms`] (so an unknown user is
    /// challenged like most known ones); SHA-256 before MD5 when both are allowed
    /// (see [`DigestConfig::strongest_first`]).
    fn algorithms_for(
        &self,
        user: Option<&str>,
        store: &dyn CredentialStore,
    ) -> Vec<DigestAlgorithm> {
        let mut algorithms = user
            .and_then(|u| store.algorithms(u))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| self.config.algorithms.clone());
        if self.config.strongest_first {
            algorithms.sort_by_key(|a| match a {
                DigestAlgorithm::Sha256 => 0,
                DigestAlgorithm::Md5 => 1,
            });
        }
        algorithms
    }

    /// Checks `req` (from `source`) against the credentials in `store`. A request
    /// without credentials is challenged with the algorithms of the user in its
    /// `From` URI (see [`CredentialStore::algorithms`]); credentials must use one of
    /// their user's algorithms. Wrong credentials count against the account *from
    /// this source* only, and only when they answer a nonce issued to this source.
    pub fn check(
        &mut self,
        req: &Message,
        source: IpAddr,
        store: &dyn CredentialStore,
        now: Duration,
    ) -> AuthOutcome {
        self.seen_nc
            .retain(|_, (_, issued)| now.saturating_sub(*issued) <= self.config.nonce_ttl);
        let creds = req.authorization().unwrap_or_default();
        let cred = creds.iter().find(|c| {
            c.is_digest() && c.param("realm").as_deref() == Some(self.config.realm.as_str())
        });
        // whom to challenge: the account the credentials name, else the caller
        let user = cred
            .and_then(|c| c.param("username"))
            .map(|u| u.into_owned())
            .or_else(|| {
                req.from()
                    .ok()
                    .and_then(|f| f.uri().user().map(str::to_owned))
            });
        let algorithms = self.algorithms_for(user.as_deref(), store);
        let Some(cred) = cred else {
            return AuthOutcome::Challenge {
                www_authenticate: self.challenge_with(&algorithms, source, now, false),
            };
        };
        let account = user.unwrap_or_default();
        if self.failures.locked(&account, source, now) {
            return AuthOutcome::Forbidden("Too many failed authentication attempts");
        }
        match self.verify(cred, req, source, store, &algorithms, now) {
            Ok(user) => {
                self.failures.clear(&user, source);
                AuthOutcome::Authorized { user }
            }
            Err(Failure::Stale) => AuthOutcome::Challenge {
                www_authenticate: self.challenge_with(&algorithms, source, now, true),
            },
            // Not a nonce we gave this address: proves nothing, counts nothing.
            Err(Failure::ForeignNonce) => AuthOutcome::Challenge {
                www_authenticate: self.challenge_with(&algorithms, source, now, false),
            },
            Err(Failure::Replay) => {
                self.failures.fail(&account, source, now);
                AuthOutcome::Forbidden("Replayed nonce count")
            }
            Err(Failure::Wrong) => {
                self.failures.fail(&account, source, now);
                if self.failures.locked(&account, source, now) {
                    AuthOutcome::Forbidden("Too many failed authentication attempts")
                } else {
                    AuthOutcome::Challenge {
                        www_authenticate: self.challenge_with(&algorithms, source, now, false),
                    }
                }
            }
        }
    }

    fn verify(
        &mut self,
        cred: &AuthValue<'_>,
        req: &Message,
        source: IpAddr,
        store: &dyn CredentialStore,
        algorithms: &[DigestAlgorithm],
        now: Duration,
    ) -> Result<String, Failure> {
        let p = |n: &str| cred.param(n).map(|v| v.into_owned());
        // The nonce first: nothing counts against an address that has not shown it
        // receives what we send there.
        let issued = match p("nonce").map(|n| self.check_nonce(&n, source, now)) {
            Some(Ok(t)) => t,
            Some(Err(true)) => return Err(Failure::Stale),
            Some(Err(false)) | None => return Err(Failure::ForeignNonce),
        };
        let (Some(user), Some(nonce), Some(uri), Some(response)) =
            (p("username"), p("nonce"), p("uri"), p("response"))
        else {
            return Err(Failure::Wrong);
        };
        let algorithm = DigestAlgorithm::parse(p("algorithm").as_deref()).ok_or(Failure::Wrong)?;
        if !algorithms.contains(&algorithm) {
            return Err(Failure::Wrong);
        }
        let qop = p("qop");
        let (nc, cnonce) = (p("nc"), p("cnonce"));
        let qop_auth = match (qop.as_deref(), &nc, &cnonce) {
            (Some("auth"), Some(nc), Some(cn)) => Some((nc.as_str(), cn.as_str())),
            (None, _, _) => None,
            _ => return Err(Failure::Wrong),
        };
        let ha1 = store
            .ha1(&user, &self.config.realm, algorithm)
            .ok_or(Failure::Wrong)?;
        let method = req
            .method()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let expected = response_from_ha1(
            &ha1,
            &DigestInput {
                algorithm,
                username: &user,
                realm: &self.config.realm,
                password: "",
                method: &method,
                uri: &uri,
                nonce: &nonce,
                qop_auth,
            },
        );
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
    /// A nonce we did not issue to this address (or not ours at all).
    ForeignNonce,
    Stale,
    Replay,
}
