//! Phone accounts held in memory: a password or HA1 hashes, and the digest
//! algorithms each account is challenged with. `Debug` shows neither.

use std::collections::HashMap;

use super::digest::DigestAlgorithm;
use super::server::CredentialStore;

/// One phone account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The digest password (empty: the account has HA1 hashes only).
    pub password: String,
    /// HA1 = H(user:realm:password) by algorithm, used before the password.
    pub ha1: Vec<(DigestAlgorithm, String)>,
    /// Algorithms the account is challenged with and may answer, preferred first;
    /// empty: the authenticator's default ([`super::DigestConfig::algorithms`]).
    pub algorithms: Vec<DigestAlgorithm>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("password", &"..")
            .field("ha1", &self.ha1.iter().map(|(a, _)| *a).collect::<Vec<_>>())
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// Accounts by user name, as a [`CredentialStore`] with per-account algorithms.
///
/// ```
/// use callcore_sip::auth::{Accounts, CredentialStore, DigestAlgorithm};
/// let accounts = Accounts::default()
///     .with("1001", "alice1001", &[])
///     .with("1002", "bob1002", &[DigestAlgorithm::Sha256, DigestAlgorithm::Md5]);
/// assert_eq!(accounts.password("1001").as_deref(), Some("alice1001"));
/// assert_eq!(accounts.algorithms("1001"), None); // the default
/// assert_eq!(accounts.algorithms("1002").map(|a| a.len()), Some(2));
/// assert_eq!(accounts.password("9999"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_user: HashMap<String, Account>,
}

impl Accounts {
    /// Adds (or replaces) `user`'s account; `algorithms` empty means the default.
    pub fn insert(&mut self, user: &str, password: &str, algorithms: &[DigestAlgorithm]) {
        self.by_user.insert(
            user.to_owned(),
            Account {
                password: password.to_owned(),
                ha1: Vec::new(),
                algorithms: algorithms.to_vec(),
            },
        );
    }

    /// Adds (or replaces) `user`'s account from HA1 hashes (by algorithm) and no
    /// password: the phone may answer only the algorithms with a hash (of these,
    /// `algorithms`, when not empty). The hashes must be for the authenticator's realm.
    pub fn insert_ha1(
        &mut self,
        user: &str,
        ha1: &[(DigestAlgorithm, String)],
        algorithms: &[DigestAlgorithm],
    ) {
        let hashed: Vec<DigestAlgorithm> = ha1.iter().map(|(a, _)| *a).collect();
        let algorithms: Vec<DigestAlgorithm> = if algorithms.is_empty() {
            hashed
        } else {
            algorithms
                .iter()
                .copied()
                .filter(|a| hashed.contains(a))
                .collect()
        };
        self.by_user.insert(
            user.to_owned(),
            Account {
                password: String::new(),
                ha1: ha1
                    .iter()
                    .map(|(a, h)| (*a, h.to_ascii_lowercase()))
                    .collect(),
                algorithms,
            },
        );
    }

    /// [`insert`](Self::insert), builder style.
    #[must_use]
    pub fn with(mut self, user: &str, password: &str, algorithms: &[DigestAlgorithm]) -> Self {
        self.insert(user, password, algorithms);
        self
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }
}

impl CredentialStore for Accounts {
    fn password(&self, user: &str) -> Option<String> {
        self.by_user
            .get(user)
            .filter(|a| !a.password.is_empty())
            .map(|a| a.password.clone())
    }

    fn ha1(&self, user: &str, realm: &str, algorithm: DigestAlgorithm) -> Option<String> {
        let account = self.by_user.get(user)?;
        match account.ha1.iter().find(|(a, _)| *a == algorithm) {
            Some((_, h)) => Some(h.clone()),
            None if !account.password.is_empty() => Some(super::digest::ha1(
                algorithm,
                user,
                realm,
                &account.password,
            )),
            None => None,
        }
    }

    fn algorithms(&self, user: &str) -> Option<Vec<DigestAlgorithm>> {
        self.by_user
            .get(user)
            .filter(|a| !a.algorithms.is_empty())
            .map(|a| a.algorithms.clone())
    }
}
