//! Session timers enforced (RFC 4028): per call, when we must refresh (half the
//! interval after the last refresh, when we are the refresher) and when the session
//! expires without a refresh (BYE). Deadlines are kept in order so that the user agent
//! never scans every call.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::core::{CallRef, CallState, UaEvent, UserAgent};
use crate::message::{HeaderName, Method};
use crate::session::{SessionTimer, create_offer};

/// One call's running session timer.
#[derive(Debug, Clone, Copy)]
struct Armed {
    timer: SessionTimer,
    /// We send the refreshes.
    we_refresh: bool,
    /// The peer takes UPDATE (a refresh without a body); otherwise re-INVITE.
    use_update: bool,
    /// Time of the last successful refresh (or of the answer).
    last: Duration,
    /// Our refresh for this period is already sent.
    refresh_sent: bool,
    /// The deadline this call is filed under.
    filed: Duration,
}

impl Armed {
    fn next_deadline(&self) -> Duration {
        if self.we_refresh && !self.refresh_sent {
            self.timer.refresh_at(self.last)
        } else {
            self.timer.expires_at(self.last)
        }
    }
}

/// What a due session timer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerDue {
    /// Send a refresh (UPDATE when `use_update`, else re-INVITE).
    Refresh { interval: u32, use_update: bool },
    /// No refresh arrived in time: end the call.
    Expired,
}

/// The session timers of every call that negotiated one.
#[derive(Debug, Default)]
pub(crate) struct SessionTimers {
    armed: HashMap<CallRef, Armed>,
    due: BTreeSet<(Duration, CallRef)>,
}

impl SessionTimers {
    fn file(&mut self, call: CallRef, mut a: Armed) {
        if let Some(old) = self.armed.get(&call) {
            self.due.remove(&(old.filed, call));
        }
        a.filed = a.next_deadline();
        self.due.insert((a.filed, call));
        self.armed.insert(call, a);
    }

    /// Starts (or restarts, with new terms) `call`'s timer at `now`.
    pub(crate) fn arm(
        &mut self,
        call: CallRef,
        timer: SessionTimer,
        we_refresh: bool,
        use_update: bool,
        now: Duration,
    ) {
        let use_update = self
            .armed
            .get(&call)
            .map_or(use_update, |a| a.use_update || use_update);
        self.file(
            call,
            Armed {
                timer,
                we_refresh,
                use_update,
                last: now,
                refresh_sent: false,
                filed: now,
            },
        );
    }

    /// A refresh succeeded at `now` with the same terms.
    pub(crate) fn refreshed(&mut self, call: CallRef, now: Duration) {
        if let Some(mut a) = self.armed.get(&call).copied() {
            a.last = now;
            a.refresh_sent = false;
            self.file(call, a);
        }
    }

    /// Forgets `call`'s timer.
    pub(crate) fn disarm(&mut self, call: CallRef) {
        if let Some(a) = self.armed.remove(&call) {
            self.due.remove(&(a.filed, call));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        self.due.first().map(|(d, _)| *d)
    }

    /// Takes the timers due at `now`: refreshes to send (refiled for expiry) and
    /// expired sessions (forgotten).
    pub(crate) fn take_due(&mut self, now: Duration) -> Vec<(CallRef, TimerDue)> {
        let mut out = Vec::new();
        while let Some(&(at, call)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.remove(&(at, call));
            let Some(mut a) = self.armed.get(&call).copied() else {
                continue;
            };
            if a.we_refresh && !a.refresh_sent {
                a.refresh_sent = true;
                self.file(call, a);
                out.push((
                    call,
                    TimerDue::Refresh {
                        interval: a.timer.interval,
                        use_update: a.use_update,
                    },
                ));
            } else {
                self.armed.remove(&call);
                out.push((call, TimerDue::Expired));
            }
        }
        out
    }
}

impl UserAgent {
    /// Fires due session timers: refreshes we owe, BYE for sessions nobody refreshed.
    pub(crate) fn on_session_timers(&mut self, now: Duration) {
        for (call, due) in self.session_timers.take_due(now) {
            match due {
                TimerDue::Refresh {
                    interval,
                    use_update,
                } => {
                    if let Err(e) = self.send_session_refresh(call, interval, use_update, now) {
                        tracing::debug!(call = call.0, error = %e, "session refresh not sent");
                    }
                }
                TimerDue::Expired => {
                    tracing::debug!(call = call.0, "session expired without refresh: BYE");
                    self.emit(UaEvent::SessionExpired { call });
                    if let Err(e) = self.hangup(call, now) {
                        tracing::debug!(call = call.0, error = %e, "expired session not hung up");
                        self.end_call(call, false);
                    }
                }
            }
        }
    }

    /// Sends our refresh: UPDATE without a body, or a re-INVITE offering the current
    /// media unchanged (same SDP version).
    fn send_session_refresh(
        &mut self,
        call: CallRef,
        interval: u32,
        use_update: bool,
        now: Duration,
    ) -> Result<(), crate::Error> {
        let headers = [
            (
                HeaderName::SessionExpires,
                format!("{interval};refresher=uac"),
            ),
            (HeaderName::Supported, "timer".to_owned()),
        ];
        if use_update {
            return self.in_dialog_request(call, Method::Update, &headers, None, now);
        }
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(crate::Error::State("no such call"))?;
        if c.state != CallState::Confirmed {
            return Err(crate::Error::State("call not established"));
        }
        let local = c
            .local_media
            .clone()
            .ok_or(crate::Error::State("no local media"))?;
        let offer = create_offer(&local, c.sdp_version);
        let body = offer.to_body();
        c.offer = Some(offer);
        self.in_dialog_request(
            call,
            Method::Invite,
            &headers,
            Some(("application/sdp", body)),
            now,
        )
    }

    /// The peer refreshed `call` (its re-INVITE/UPDATE answered 2xx), or our refresh
    /// got a 2xx: the session lives another interval.
    pub(crate) fn note_session_refreshed(&mut self, call: CallRef, now: Duration) {
        self.session_timers.refreshed(call, now);
    }

    /// When the next session timer is due.
    pub(crate) fn next_session_deadline(&self) -> Option<Duration> {
        self.session_timers.next_deadline()
    }
}
