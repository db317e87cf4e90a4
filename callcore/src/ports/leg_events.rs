//! What the far end of an established leg does on its own — holds, resumes,
//! asks for a transfer — as [`Leg::next_event`](crate::Leg::next_event)
//! reports it, and how the leg's owner answers a transfer request
//! ([`Leg::report_transfer`](crate::Leg::report_transfer)).
//!
//! On SIP, a re-INVITE (or UPDATE) whose SDP is `sendonly` or `inactive` is
//! [`LegEvent::Held`], one back to `sendrecv` is [`LegEvent::Resumed`], and a
//! REFER is [`LegEvent::TransferRequested`]; the REFER is answered only when
//! the owner reports: [`TransferReport::Accepted`] (202, then a NOTIFY
//! `100 Trying`) or [`TransferReport::Refused`] (its status), then
//! [`TransferReport::Succeeded`] / [`TransferReport::Failed`] (the final
//! NOTIFY), as RFC 3515 has it.
//!
//! ```
//! use callcore::{HangupCause, TransferRefusal, TransferReport};
//! assert_eq!(TransferRefusal::UnknownTarget.sip_status(), 404);
//! assert_eq!(TransferReport::Failed(HangupCause::Busy).sip_status(), 486);
//! assert_eq!(TransferReport::Accepted.sip_status(), 202);
//! ```

use crate::HangupCause;

/// Something the far end of a leg did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegEvent {
    /// The far end put the call on hold.
    Held,
    /// The far end took the call off hold.
    Resumed,
    /// The far end asks for the call to be transferred to `target` (a SIP or
    /// tel URI). The owner of the leg must answer with
    /// [`Leg::report_transfer`](crate::Leg::report_transfer).
    TransferRequested {
        /// Where to (the Refer-To URI).
        target: String,
    },
}

/// Why a transfer request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferRefusal {
    /// No queue, agent or reachable number by that name (SIP 404).
    UnknownTarget,
    /// This party may not transfer the call now (SIP 403).
    Forbidden,
    /// This kind of transfer is not supported (attended, with Replaces; SIP 501).
    NotSupported,
    /// Another transfer of the call is under way (SIP 491).
    Pending,
    /// The target is known but cannot take the call now (an agent who is not
    /// available or not reachable; SIP 480).
    Unavailable,
}

impl TransferRefusal {
    /// The SIP status that carries the refusal.
    #[must_use]
    pub const fn sip_status(self) -> u16 {
        match self {
            Self::UnknownTarget => 404,
            Self::Forbidden => 403,
            Self::NotSupported => 501,
            Self::Pending => 491,
            Self::Unavailable => 480,
        }
    }

    /// A reason phrase for the refusal.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::UnknownTarget => "No Such Queue, Agent or Number",
            Self::Forbidden => "Transfer Not Allowed Here",
            Self::NotSupported => "Attended Transfer Not Supported",
            Self::Pending => "Transfer Already Under Way",
            Self::Unavailable => "Transfer Target Unavailable",
        }
    }
}

/// How the owner of a leg answers a [`LegEvent::TransferRequested`]: first
/// [`Accepted`](Self::Accepted) or [`Refused`](Self::Refused), then, after
/// accepting, [`Succeeded`](Self::Succeeded) or [`Failed`](Self::Failed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferReport {
    /// The transfer is under way.
    Accepted,
    /// The transfer is refused; nothing changes.
    Refused(TransferRefusal),
    /// The customer reached the target (a queue took them, a number answered).
    Succeeded,
    /// The transfer failed after it was accepted.
    Failed(HangupCause),
}

impl TransferReport {
    /// The SIP status that carries the report: the REFER's response for
    /// `Accepted`/`Refused`, the NOTIFY sipfrag's status for the outcome.
    #[must_use]
    pub const fn sip_status(&self) -> u16 {
        match self {
            Self::Accepted => 202,
            Self::Refused(r) => r.sip_status(),
            Self::Succeeded => 200,
            Self::Failed(cause) => match cause {
                HangupCause::Busy => 486,
                HangupCause::NoAnswer => 480,
                HangupCause::Declined => 603,
                HangupCause::InvalidNumber => 404,
                _ => 503,
            },
        }
    }
}
