//! Session timers (RFC 4028): negotiation at the UAS and the refresh/expiry deadlines.

use std::time::Duration;

use crate::message::{HeaderName, Message, Refresher};

/// Smallest interval we accept (RFC 4028 §4: at least 90 s).
pub const MIN_SE: u32 = 90;

/// The outcome of session-timer negotiation for one dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// Session interval in seconds.
    pub interval: u32,
    /// Who refreshes.
    pub refresher: Refresher,
}

/// What a UAS does with an INVITE's session-timer headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerDecision {
    /// No session timer.
    None,
    /// Use this timer; put `Session-Expires` (and `Require: timer` when the UAC
    /// supports it) in the 2xx.
    Use(SessionTimer),
    /// The interval is below our minimum: answer 422 with `Min-SE`.
    TooSmall,
}

impl SessionTimer {
    /// UAS negotiation (RFC 4028 §9): honour the UAC's interval and refresher; when the
    /// UAC does not support timers, we refresh.
    pub fn negotiate_uas(invite: &Message) -> TimerDecision {
        Self::negotiate_uas_with(invite, MIN_SE)
    }

    /// UAS negotiation with our own smallest interval `min_se` (the RFC's 90 s unless
    /// configured lower, e.g. for tests): below it, [`TimerDecision::TooSmall`].
    pub fn negotiate_uas_with(invite: &Message, min_se: u32) -> TimerDecision {
        let Ok(Some(se)) = invite.session_expires() else {
            return TimerDecision::None;
        };
        if se.delta < min_se.max(1) {
            return TimerDecision::TooSmall;
        }
        let uac_supports = invite
            .supported()
            .iter()
            .any(|t| t.eq_ignore_ascii_case("timer"));
        let refresher = match (se.refresher, uac_supports) {
            (Some(r), true) => r,
            (None, true) => Refresher::Uac,
            (_, false) => Refresher::Uas,
        };
        TimerDecision::Use(SessionTimer {
            interval: se.delta,
            refresher,
        })
    }

    /// UAC side (RFC 4028 §7.2): the timer a 2xx to our INVITE sets, if any. Without a
    /// refresher parameter the UAC (we) refreshes.
    pub fn from_2xx(resp: &Message) -> Option<SessionTimer> {
        let se = resp.session_expires().ok().flatten()?;
        (se.delta > 0).then_some(SessionTimer {
            interval: se.delta,
            refresher: se.refresher.unwrap_or(Refresher::Uac),
        })
    }

    /// Adds the 2xx headers for this timer.
    pub fn decorate_2xx(&self, resp: &mut Message, uac_supports: bool) {
        let r = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        resp.push_header(
            HeaderName::SessionExpires,
            &format!("{};refresher={r}", self.interval),
        );
        if uac_supports {
            resp.push_header(HeaderName::Require, "timer");
        }
    }

    /// When we must send a refresh (re-INVITE/UPDATE) if we are the refresher: half the
    /// interval after the last refresh.
    pub fn refresh_at(&self, last_refresh: Duration) -> Duration {
        last_refresh + Duration::from_secs(u64::from(self.interval) / 2)
    }

    /// When the session expires without refresh and we send BYE (§10: interval minus
    /// min(32 s, interval/3)).
    pub fn expires_at(&self, last_refresh: Duration) -> Duration {
        let i = u64::from(self.interval);
        last_refresh + Duration::from_secs(i - (i / 3).min(32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn invite(extra: &str) -> Message {
        let raw = format!(
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(raw)).unwrap()
    }

    #[test]
    fn negotiation_and_deadlines() {
        assert_eq!(
            SessionTimer::negotiate_uas(&invite("")),
            TimerDecision::None
        );
        assert_eq!(
            SessionTimer::negotiate_uas(&invite("Session-Expires: 60\r\n")),
            TimerDecision::TooSmall
        );
        let TimerDecision::Use(t) = SessionTimer::negotiate_uas(&invite(
            "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
        )) else {
            panic!()
        };
        assert_eq!(t.refresher, Refresher::Uac);
        assert_eq!(t.refresh_at(Duration::ZERO), Duration::from_secs(900));
        assert_eq!(t.expires_at(Duration::ZERO), Duration::from_secs(1768));
        let TimerDecision::Use(t) =
            SessionTimer::negotiate_uas(&invite("Session-Expires: 120\r\n"))
        else {
            panic!()
        };
        assert_eq!(
            t.refresher,
            Refresher::Uas,
            "UAC without timer support: we refresh"
        );
        assert_eq!(t.expires_at(Duration::ZERO), Duration::from_secs(88));
    }
}
