//! Clocks: where every timestamp and every timer comes from.
//!
//! Nothing in callcore reads wall time directly. Production code uses
//! `callcore_runtime::SystemClock`; tests and the simulator use [`VirtualClock`], whose time only
//! moves when it is told to, so a ten-minute call takes microseconds and runs the
//! same way every time.

use crate::Timestamp;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A boxed timer future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of time for a center.
///
/// Object-safe so that a `Center` can hold an `Arc<dyn Clock>`.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// A future that completes at (or right after) `deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;

    /// A future that completes after `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(self.now() + duration)
    }
}

#[derive(Debug, Default)]
struct VirtualState {
    now: Timestamp,
    next_id: u64,
    /// Pending timers by (deadline, id); the waker of the task that polled it.
    timers: BTreeMap<(Timestamp, u64), Option<Waker>>,
}

/// A clock whose time moves only when [`advance`](Self::advance) or
/// [`advance_to`](Self::advance_to) is called. Clones share the same time.
///
/// ```
/// use callcore::{Clock, Timestamp, VirtualClock};
/// use std::time::Duration;
/// let clock = VirtualClock::new(Timestamp::from_secs(1_000));
/// let _timer = clock.sleep(Duration::from_secs(5));
/// assert_eq!(clock.next_timer(), Some(Timestamp::from_secs(1_005)));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), Timestamp::from_secs(1_005));
/// ```
#[derive(Clone, Default)]
pub struct VirtualClock {
    state: Arc<Mutex<VirtualState>>,
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// [`VirtualClock::drive`] gave up: the future is still pending, no timer is
/// armed, and nothing else made progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("virtual time stalled at {at}: the future is pending and no timer is armed")]
pub struct Stalled {
    /// The virtual time at which progress stopped.
    pub at: Timestamp,
}

impl VirtualClock {
    /// A virtual clock starting at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        let clock = Self::default();
        clock.lock().now = start;
        clock
    }

    fn lock(&self) -> MutexGuard<'_, VirtualState> {
        // A poisoned lock only means a panic elsewhere; the state itself stays valid.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves time forward by `by`, firing every timer that falls due.
    pub fn advance(&self, by: Duration) {
        let target = self.now() + by;
        self.advance_to(target);
    }

    /// Moves time forward to `to` (never backwards), firing due timers.
    pub fn advance_to(&self, to: Timestamp) {
        let wakers: Vec<Waker> = {
            let mut st = self.lock();
            if to > st.now {
                st.now = to;
            }
            let now = st.now;
            let later = st.timers.split_off(&(now + Duration::from_millis(1), 0));
            let due = std::mem::replace(&mut st.timers, later);
            due.into_values().flatten().collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// The earliest armed timer, if any.
    #[must_use]
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.lock().timers.keys().next().map(|(t, _)| *t)
    }

    /// Runs `fut` to completion in virtual time on the current async runtime:
    /// whenever every task has settled (it yields `settle_yields` times to let
    /// other tasks run), time jumps to the next armed timer. Use with a
    /// current-thread runtime for fully deterministic runs.
    ///
    /// # Errors
    /// [`Stalled`] when the future is pending, nothing is runnable and no timer is
    /// armed (a deadlock in the system under test), or when virtual time would pass
    /// `limit`.
    pub async fn drive<F: Future>(&self, fut: F, limit: Timestamp) -> Result<F::Output, Stalled> {
        const SETTLE_YIELDS: usize = 64;
        let mut fut = std::pin::pin!(fut);
        loop {
            for _ in 0..SETTLE_YIELDS {
                if let Poll::Ready(out) = futures::poll!(fut.as_mut()) {
                    return Ok(out);
                }
                YieldNow(false).await;
            }
            match self.next_timer() {
                Some(t) if t <= limit => self.advance_to(t),
                _ => return Err(Stalled { at: self.now() }),
            }
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        self.lock().now
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let id = {
            let mut st = self.lock();
            st.next_id += 1;
            let id = st.next_id;
            if deadline > st.now {
                st.timers.insert((deadline, id), None);
            }
            id
        };
        Box::pin(VirtualSleep {
            clock: self.clone(),
            key: (deadline, id),
        })
    }
}

/// Gives every other runnable task a turn once: wakes itself and returns
/// `Pending` the first time it is polled (the executor puts the task at the back
/// of its run queue).
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

struct VirtualSleep {
    clock: VirtualClock,
    key: (Timestamp, u64),
}

impl Future for VirtualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.clock.lock();
        if st.now >= self.key.0 {
            st.timers.remove(&self.key);
            return Poll::Ready(());
        }
        st.timers.insert(self.key, Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        self.clock.lock().timers.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn virtual_timers_fire_in_order_and_drop_unregisters() {
        let clock = VirtualClock::new(Timestamp::from_secs(0));
        let c2 = clock.clone();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (o1, o2) = (order.clone(), order.clone());
        let c3 = clock.clone();
        let a = tokio::spawn(async move {
            c2.sleep(Duration::from_secs(10)).await;
            o1.lock().unwrap().push(c2.now());
        });
        let b = tokio::spawn(async move {
            c3.sleep(Duration::from_secs(3)).await;
            o2.lock().unwrap().push(c3.now());
        });
        let dropped = clock.sleep(Duration::from_secs(1));
        drop(dropped);
        let both = async {
            a.await.unwrap();
            b.await.unwrap();
        };
        clock.drive(both, Timestamp::from_secs(100)).await.unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            vec![Timestamp::from_secs(3), Timestamp::from_secs(10)]
        );
        assert_eq!(clock.next_timer(), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drive_reports_a_stall() {
        let clock = VirtualClock::new(Timestamp::from_secs(5));
        let never = futures::future::pending::<()>();
        let err = clock
            .drive(never, Timestamp::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(err.at, Timestamp::from_secs(5));
    }
}
