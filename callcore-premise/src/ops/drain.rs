//! Draining a premise center before it stops (SIGTERM, Ctrl-C, a rolling
//! restart): `/readyz` turns 503 and new INVITEs get 503 with a Retry-After at
//! once; calls in progress go on until they end by themselves or the deadline
//! passes; the rest are then hung up (BYE to established calls), and the journal
//! is flushed so that every call's record is written.

use std::time::Duration;

use callcore::Clock;
use callcore_runtime::CenterHandle;
use callcore_sip::ua::driver::SipHandle;

use super::Ops;

/// How often a drain looks at the calls still in progress.
const POLL: Duration = Duration::from_millis(100);

/// How long the calls hung up at the deadline get to end (BYE answered).
const HANGUP_GRACE: Duration = Duration::from_secs(5);

/// How a drain went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Calls (voice interactions) in progress when the drain started.
    pub calls_at_start: u64,
    /// Calls still in progress at the deadline, hung up by the center.
    pub hung_up_at_deadline: u64,
    /// Calls or SIP dialogs still alive after the hang-up grace (0 when all
    /// ended cleanly).
    pub left_over: u64,
    /// How long the drain took.
    pub took: Duration,
}

impl std::fmt::Display for DrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "drained in {:.1} s: {} call(s) in progress at the start, {} hung up at the deadline, {} left over",
            self.took.as_secs_f64(),
            self.calls_at_start,
            self.hung_up_at_deadline,
            self.left_over
        )
    }
}

/// Waits up to `limit` for every call to end; true when none is left.
async fn settle(ops: &Ops, clock: &dyn Clock, limit: Duration) -> bool {
    let mut waited = Duration::ZERO;
    while ops.live_calls() > 0 {
        if waited >= limit {
            return false;
        }
        clock.sleep(POLL).await;
        waited += POLL;
    }
    true
}

/// Drains the center (see the module docs).
pub async fn drain(
    ops: &Ops,
    sip: &SipHandle,
    center: &CenterHandle,
    deadline: Duration,
) -> DrainReport {
    let clock = center.clock().clone();
    let started = clock.now();
    ops.set_draining();
    // a caller turned away is told when to try again: after the restart
    let retry_after = u32::try_from(deadline.as_secs()).unwrap_or(u32::MAX).max(1);
    sip.drain(Some(retry_after));
    let calls_at_start = ops.calls().active;
    tracing::info!(
        calls = calls_at_start,
        deadline_secs = deadline.as_secs(),
        "draining: new calls refused"
    );
    let mut hung_up_at_deadline = 0;
    if !settle(ops, &*clock, deadline).await {
        hung_up_at_deadline = ops.calls().active;
        tracing::info!(
            calls = hung_up_at_deadline,
            "drain deadline: hanging up the calls in progress"
        );
        sip.hangup_all();
        if !settle(ops, &*clock, HANGUP_GRACE / 2).await {
            // calls that were still ringing or answering the first time
            sip.hangup_all();
            settle(ops, &*clock, HANGUP_GRACE / 2).await;
        }
    }
    center.flush().await;
    let report = DrainReport {
        calls_at_start,
        hung_up_at_deadline,
        left_over: ops.live_calls(),
        took: clock.now().duration_since(started),
    };
    tracing::info!(%report, "drained");
    report
}
