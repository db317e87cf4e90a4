//! How a dial attempt ended, classified from what the network said.
//!
//! The transport reports a SIP final response, a [`HangupCause`], or early-media
//! special information tones (SIT, detected by callcore-media); this module maps
//! each to callcore's [`Disposition`], which then drives the retry rules.

use callcore::{Disposition, HangupCause};

/// Special information tones heard in early media (the classes callcore-media's
/// SIT detector reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SitTone {
    /// Number changed or disconnected.
    Intercept,
    /// Unassigned number.
    VacantCode,
    /// Equipment or switching blockage.
    Reorder,
    /// All circuits busy.
    NoCircuit,
    /// Other ineffective call.
    IneffectiveOther,
}

/// The disposition of an attempt that ended with SIP final response `status`
/// (a non-2xx: a 2xx means answered, which AMD then classifies).
///
/// ```
/// use callcore::Disposition;
/// use callcore_dialer::rules::disposition_for_sip_status;
/// assert_eq!(disposition_for_sip_status(404), Disposition::InvalidNumber);
/// assert_eq!(disposition_for_sip_status(486), Disposition::Busy);
/// assert_eq!(disposition_for_sip_status(503), Disposition::Congestion);
/// ```
#[must_use]
pub fn disposition_for_sip_status(status: u16) -> Disposition {
    match status {
        // Not found, address incomplete, does not exist anywhere, gone, ambiguous.
        404 | 484 | 604 | 410 | 485 | 416 => Disposition::InvalidNumber,
        // Busy here, busy everywhere, declined.
        486 | 600 | 603 => Disposition::Busy,
        // Temporarily unavailable, request timeout, terminated (our CANCEL at
        // the ring timeout).
        480 | 408 | 487 => Disposition::NoAnswer,
        // Anything else: a trunk, routing or server problem, worth a retry soon.
        _ => Disposition::Congestion,
    }
}

/// The disposition of an attempt the transport ended with `cause` before answer.
#[must_use]
pub fn disposition_for_cause(cause: &HangupCause) -> Disposition {
    match cause {
        HangupCause::Busy | HangupCause::Declined => Disposition::Busy,
        HangupCause::NoAnswer | HangupCause::Remote | HangupCause::Local => Disposition::NoAnswer,
        HangupCause::InvalidNumber => Disposition::InvalidNumber,
        _ => Disposition::Congestion,
    }
}

/// The disposition of an attempt whose early media carried `tone`.
#[must_use]
pub fn disposition_for_sit(tone: SitTone) -> Disposition {
    match tone {
        SitTone::Intercept | SitTone::VacantCode => Disposition::InvalidNumber,
        SitTone::Reorder | SitTone::NoCircuit | SitTone::IneffectiveOther => {
            Disposition::Congestion
        }
    }
}

/// Whether a disposition counts as "answered by a person" in the abandonment
/// rate's denominator.
#[must_use]
pub fn is_person_answer(d: &Disposition) -> bool {
    matches!(
        d,
        Disposition::AnsweredPerson | Disposition::Abandoned | Disposition::Agent(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_statuses_map_as_the_issue_lists() {
        for s in [404, 484, 604] {
            assert_eq!(disposition_for_sip_status(s), Disposition::InvalidNumber);
        }
        assert_eq!(disposition_for_sip_status(486), Disposition::Busy);
        assert_eq!(disposition_for_sip_status(600), Disposition::Busy);
        assert_eq!(disposition_for_sip_status(503), Disposition::Congestion);
        assert_eq!(disposition_for_sip_status(500), Disposition::Congestion);
        assert_eq!(disposition_for_sip_status(408), Disposition::NoAnswer);
        assert_eq!(disposition_for_sip_status(487), Disposition::NoAnswer);
    }

    #[test]
    fn causes_and_tones_map() {
        assert_eq!(disposition_for_cause(&HangupCause::Busy), Disposition::Busy);
        assert_eq!(
            disposition_for_cause(&HangupCause::Failure("timeout".into())),
            Disposition::Congestion
        );
        assert_eq!(
            disposition_for_cause(&HangupCause::InvalidNumber),
            Disposition::InvalidNumber
        );
        assert_eq!(
            disposition_for_sit(SitTone::VacantCode),
            Disposition::InvalidNumber
        );
        assert_eq!(
            disposition_for_sit(SitTone::NoCircuit),
            Disposition::Congestion
        );
        assert!(is_person_answer(&Disposition::Abandoned));
        assert!(!is_person_answer(&Disposition::AnsweringMachine));
    }
}
