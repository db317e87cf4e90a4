//! Login rate limits: failed logins per user and attempts per source
//! address, in fixed windows. Sans-IO: the time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use callcore::Timestamp;

/// How many logins are allowed.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed logins of one user id per window before it is refused (429).
    pub failures_per_user: u32,
    /// Login attempts (good or bad) from one address per window.
    pub attempts_per_source: u32,
    /// The window.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            failures_per_user: 5,
            attempts_per_source: 30,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Timestamp,
    count: u32,
}

/// Counts attempts and failures.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    users: HashMap<String, Window>,
    sources: HashMap<Option<IpAddr>, Window>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            ..LoginLimiter::default()
        }
    }

    fn count<K: std::hash::Hash + Eq>(
        map: &mut HashMap<K, Window>,
        key: K,
        now: Timestamp,
        window: Duration,
    ) -> &mut Window {
        let w = map.entry(key).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(w.start) >= window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w
    }

    /// An attempt from `source` for `user`: `Err(which)` when it must be
    /// refused (`"source"` or `"user"`), before the password is checked.
    pub(crate) fn attempt(
        &mut self,
        user: &str,
        source: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<(), &'static str> {
        let window = self.limits.window;
        if self.sources.len() > 100_000 {
            self.sources
                .retain(|_, w| now.duration_since(w.start) < window);
        }
        if self.users.len() > 100_000 {
            self.users
                .retain(|_, w| now.duration_since(w.start) < window);
        }
        let s = Self::count(&mut self.sources, source, now, window);
        s.count = s.count.saturating_add(1);
        if s.count > self.limits.attempts_per_source {
            return Err("source");
        }
        let u = Self::count(&mut self.users, user.to_owned(), now, window);
        if u.count >= self.limits.failures_per_user {
            return Err("user");
        }
        Ok(())
    }

    /// A failed attempt for `user`.
    pub(crate) fn failed(&mut self, user: &str, now: Timestamp) {
        let window = self.limits.window;
        let u = Self::count(&mut self.users, user.to_owned(), now, window);
        u.count = u.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_user_for_the_window_and_sources_are_counted() {
        let mut l = LoginLimiter::new(LoginLimits {
            attempts_per_source: 8,
            ..LoginLimits::default()
        });
        let t0 = Timestamp::from_secs(1_000);
        for _ in 0..5 {
            assert!(l.attempt("1001", None, t0).is_ok());
            l.failed("1001", t0);
        }
        assert_eq!(l.attempt("1001", None, t0), Err("user"));
        assert!(l.attempt("1002", None, t0).is_ok());
        assert!(l.attempt("1003", None, t0).is_ok());
        assert_eq!(l.attempt("1004", None, t0), Err("source"));
        let later = t0 + Duration::from_secs(61);
        assert!(l.attempt("1001", None, later).is_ok());
    }
}
