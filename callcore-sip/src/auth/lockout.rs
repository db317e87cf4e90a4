//! Failed digest attempts per (account, source address), in a bounded table, with
//! lockouts that escalate.
//!
//! Locking per account *and* source means a password guesser locks only its own
//! tries: the account's phone at its own address keeps working. Only failures made
//! with a nonce we issued to that same address count (see
//! [`Authenticator`](super::Authenticator)), so an attacker who spoofs the phone's
//! address over UDP — and so never receives the 401 — cannot lock it out either.
//!
//! `max_failures` failures within `window` lock the pair for one `window`. After a
//! lockout the pair is on probation for as long again: one more failure then locks it
//! at once for twice as long (doubling each time, up to `cap`), so a dictionary that
//! waits each lockout out gets one guess per lockout, ever fewer. A success clears the
//! pair. The table holds at most `capacity` entries: forgotten ones go first, then
//! pairs not locked, least recently failed first.

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
    /// Lockouts so far (0: never locked).
    strikes: u32,
    /// Locked until then.
    locked_until: Duration,
    /// Length of the last lockout (the probation after it lasts as long).
    locked_for: Duration,
}

impl Entry {
    fn locked(&self, now: Duration) -> bool {
        now < self.locked_until
    }

    /// After a lockout, within the probation that follows it.
    fn on_probation(&self, now: Duration) -> bool {
        self.strikes > 0 && now < self.locked_until + self.locked_for
    }

    /// Nothing left to remember at `now`.
    fn forgotten(&self, now: Duration, window: Duration) -> bool {
        !self.locked(now) && !self.on_probation(now) && now.saturating_sub(self.since) >= window
    }
}

/// The failure table.
#[derive(Debug, Clone)]
pub(crate) struct Lockout {
    max_failures: u32,
    window: Duration,
    cap: Duration,
    capacity: usize,
    entries: HashMap<(String, IpAddr), Entry>,
}

impl Lockout {
    /// `max_failures` per `window` lock for one `window`; repeated lockouts double up
    /// to `cap`.
    pub(crate) fn new(max_failures: u32, window: Duration, cap: Duration, capacity: usize) -> Self {
        Lockout {
            max_failures: max_failures.max(1),
            window,
            cap: cap.max(window),
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// True when `user` from `source` is locked out now.
    pub(crate) fn locked(&mut self, user: &str, source: IpAddr, now: Duration) -> bool {
        let key = (user.to_owned(), source);
        match self.entries.get(&key) {
            Some(e) if e.locked(now) => true,
            Some(e) if e.forgotten(now, self.window) => {
                self.entries.remove(&key);
                false
            }
            _ => false,
        }
    }

    /// How long the `strikes`-th lockout lasts: the window, doubled per strike after
    /// the first, at most the cap.
    fn lockout_length(&self, strikes: u32) -> Duration {
        let factor = 1u32 << strikes.saturating_sub(1).min(20);
        self.window.saturating_mul(factor).min(self.cap)
    }

    /// Counts one failure of `user` from `source`.
    pub(crate) fn fail(&mut self, user: &str, source: IpAddr, now: Duration) {
        let key = (user.to_owned(), source);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let fresh = Entry {
            failures: 0,
            since: now,
            last: now,
            strikes: 0,
            locked_until: Duration::ZERO,
            locked_for: Duration::ZERO,
        };
        let window = self.window;
        let mut e = *self.entries.entry(key.clone()).or_insert(fresh);
        e.last = now;
        if e.locked(now) {
            // refused before being checked: nothing more to count
        } else if e.on_probation(now) {
            e.strikes = e.strikes.saturating_add(1);
            e.locked_for = self.lockout_length(e.strikes);
            e.locked_until = now + e.locked_for;
            e.failures = 0;
        } else {
            if e.forgotten(now, window) {
                e = fresh;
            } else if now.saturating_sub(e.since) >= window {
                e.failures = 0;
                e.since = now;
            }
            e.failures = e.failures.saturating_add(1);
            if e.failures >= self.max_failures {
                e.strikes = e.strikes.saturating_add(1);
                e.locked_for = self.lockout_length(e.strikes);
                e.locked_until = now + e.locked_for;
                e.failures = 0;
            }
        }
        self.entries.insert(key, e);
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
        self.entries.retain(|_, e| !e.forgotten(now, window));
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| (e.locked(now), e.last))
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
        let mut l = Lockout::new(3, Duration::from_secs(60), Duration::from_secs(3600), 100);
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

    #[test]
    fn repeated_lockouts_double_and_are_capped() {
        let secs = Duration::from_secs;
        let mut l = Lockout::new(5, secs(60), secs(240), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let phone: IpAddr = "192.0.2.9".parse().unwrap();
        for i in 0..5 {
            assert!(!l.locked("1001", a, secs(i)));
            l.fail("1001", a, secs(i));
        }
        // locked 60 s from the 5th failure (at 4 s)
        assert!(l.locked("1001", a, secs(63)));
        assert!(!l.locked("1001", a, secs(64)));
        // on probation: the next failure locks at once, for 120 s
        l.fail("1001", a, secs(70));
        assert!(l.locked("1001", a, secs(70)));
        assert!(l.locked("1001", a, secs(189)));
        assert!(!l.locked("1001", a, secs(190)));
        // then 240 s, then the cap (240 s)
        l.fail("1001", a, secs(200));
        assert!(l.locked("1001", a, secs(439)));
        assert!(!l.locked("1001", a, secs(440)));
        l.fail("1001", a, secs(450));
        assert!(l.locked("1001", a, secs(689)));
        assert!(!l.locked("1001", a, secs(690)), "capped at 240 s");
        // the phone at its own address was never locked
        assert!(!l.locked("1001", phone, secs(100)));
        // after a probation without failure the pair starts over: 5 failures again
        let later = secs(690 + 240);
        for i in 0..4 {
            l.fail("1001", a, later + secs(i));
            assert!(!l.locked("1001", a, later + secs(i)));
        }
        // a success clears everything
        l.clear("1001", a);
        l.fail("1001", a, later + secs(10));
        assert!(!l.locked("1001", a, later + secs(10)));
    }
}
