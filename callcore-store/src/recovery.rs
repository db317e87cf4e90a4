//! Rebuilding call detail records the journal proves but the table lacks.
//!
//! The center's recorder journals a batch of events, then saves the record of
//! every interaction that batch ended: two commits. A process killed between
//! them leaves an `ended` event in the journal and no record. Opening a store
//! closes that gap: for every interaction that ended in the last
//! [`TAIL_EVENTS`] journal rows and has no record, the record is folded from
//! the interaction's journaled events (exactly as the recorder folds them) and
//! saved. Existing records are never touched, so later changes to them (a
//! customer merge) stay.

use callcore::{Event, EventKind, InteractionRecord};

/// How far back from the end of the journal a crash can have left an
/// unrecorded end: the recorder writes at most a few hundred events between
/// the two commits, so this is ample and keeps opening a big journal cheap
/// (a primary-key range, not a scan).
pub(crate) const TAIL_EVENTS: i64 = 10_000;

/// Ended interactions in the journal's tail without a record: (tenant, id).
/// `{TAIL}` is the dialect's placeholder for [`TAIL_EVENTS`].
pub(crate) const UNRECORDED_ENDS: &str = "SELECT DISTINCT e.tenant, e.interaction FROM events e
     WHERE e.id > (SELECT COALESCE(MAX(id), 0) FROM events) - {TAIL}
       AND e.kind = 'ended' AND e.interaction IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM interactions i
                       WHERE i.tenant = e.tenant AND i.id = e.interaction)";

/// One tenant's interactions started (`interaction_created`) within a window
/// before the tenant's last journaled event and never ended, in journal
/// order: the calls a crash interrupted ([`callcore::EventJournal::unended`]).
/// `{T}` is the tenant's placeholder, `{W}` the window's (milliseconds).
/// The time index bounds the scan to the window; each candidate's end is
/// looked up through the per-interaction index.
pub(crate) const UNENDED: &str = "SELECT c.interaction FROM events c
     WHERE c.tenant = {T}
       AND c.at_ms >= (SELECT COALESCE(MAX(at_ms), 0) FROM events WHERE tenant = {T}) - {W}
       AND c.kind = 'interaction_created' AND c.interaction IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM events e
                       WHERE e.tenant = c.tenant AND e.interaction = c.interaction
                         AND e.kind = 'ended')
     ORDER BY c.id";

/// A window in milliseconds for [`UNENDED`].
pub(crate) fn window_ms(window: std::time::Duration) -> i64 {
    i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The record the recorder would have saved from `events` (one interaction's
/// journal, in order); `None` without its `interaction_created`.
pub(crate) fn rebuild(events: &[Event]) -> Option<InteractionRecord> {
    let created = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::InteractionCreated { .. }))?;
    let EventKind::InteractionCreated { interaction } = &events[created].kind else {
        return None;
    };
    let mut record = InteractionRecord::new(interaction);
    record.apply_all(&events[created..]);
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;
    use callcore::{TenantId, Timestamp};
    use std::time::Duration;

    #[test]
    fn the_rebuilt_record_is_the_fold_of_the_journal() {
        let events = synthetic::answered_call(
            &TenantId::default(),
            1,
            "c1",
            "alice",
            "support",
            Timestamp::from_secs(100),
            Duration::from_secs(7),
            Duration::from_secs(60),
            Duration::from_secs(10),
        );
        let record = rebuild(&events).unwrap();
        assert_eq!(record.id.as_str(), "c1");
        assert_eq!((record.wait_ms, record.talk_ms), (7_000, 60_000));
        assert!(rebuild(&events[1..]).is_none(), "no interaction_created");
    }
}
