//! Failed digest attempts per (account, source address), in a bounded table.
//!
//! Locking per account *and* source means a password guesser locks only its own
//! tries: the account's phone at its own address keeps working. Only failures made
//! with a nonce we issued to that same address count (see
//! [`Authenticator`](super::Authenticator)), so an attacker who spoofs the phone's
//! address over UDP — and so never receives the 401 — cannot lock it out either. The
//! table holds at most `capacity` entries: expired ones go first, then the least
//! recently failed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Start of the counting window.
    since: Duration,
    /// Last failure (for eviction).
    last: Duration,
}

/// The failure table.
#[derive(Debug, Clone)]
pub(crate) struct Lockout {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    entries: HashMap<(String, IpAddr), Entry>,
}

impl Lockout {
    pub(crate) fn new(max_failures: u32, window: Duration, capacity: usize) -> Self {
        Lockout {
            max_failures,
            window,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// True when `user` from `source` has used up its failures in the window.
    pub(crate) fn locked(&mut self, user: &str, source: IpAddr, now: Duration) -> bool {
        let key = (user.to_owned(), source);
        match self.entries.get(&key) {
            Some(e) if now.saturating_sub(e.since) < self.window => e.failures >= self.max_failures,
            Some(_) => {
                self.entries.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Counts one failure of `user` from `source`.
    pub(crate) fn fail(&mut self, user: &str, source: IpAddr, now: Duration) {
        let key = (user.to_owned(), source);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let window = self.window;
        let e = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            since: now,
            last: now,
        });
        if now.saturating_sub(e.since) >= window {
            *e = Entry {
                failures: 0,
                since: now,
                last: now,
            };
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
    }

    /// A success clears the pair's failures.
    pub(crate) fn clear(&mut self, user: &str, source: IpAddr) {
        self.entries.remove(&(user.to_owned(), source));
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn make_room(&mut self, now: Duration) {
        let window = self.window;
        self.entries
            .retain(|_, e| now.saturating_sub(e.since) < window);
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lockout;
    use std::net::IpAddr;
    use std::time::Duration;

    #[test]
    fn locks_the_pair_expires_and_stays_bounded() {
        let mut l = Lockout::new(3, Duration::from_secs(60), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t = Duration::from_secs(1);
        for _ in 0..3 {
            l.fail("1001", a, t);
        }
        assert!(l.locked("1001", a, t));
        assert!(!l.locked("1001", b, t), "another address is not locked");
        assert!(!l.locked("1002", a, t), "another account is not locked");
        assert!(!l.locked("1001", a, t + Duration::from_secs(61)), "expired");
        for i in 0..10_000u32 {
            l.fail(&i.to_string(), a, t + Duration::from_millis(u64::from(i)));
        }
        assert!(l.len() <= 100, "{}", l.len());
    }
}
