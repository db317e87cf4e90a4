//! The wall clock.

use callcore::{Clock, Sleep, Timestamp};
use std::time::Duration;

/// The wall clock, with timers from tokio. Needs a tokio runtime with the time
/// driver enabled for its timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place allowed to read the wall clock.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp::from_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    #[allow(clippy::disallowed_methods)]
    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let wait = deadline.duration_since(self.now());
        Box::pin(tokio::time::sleep(wait))
    }
}
