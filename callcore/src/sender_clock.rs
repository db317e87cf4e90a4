//! Where a sender's audio belongs on a receiver's timeline: by the sender's own
//! schedule (its RTP timestamps, or the count of samples it sent), anchored at
//! the packet that came soonest after it was due.
//!
//! Arrival times alone misplace audio: a packet held up (a sender stalled at its
//! first packet, a receiver that read its socket late, network jitter) arrives
//! late, and a sender that catches up sends the rest in a burst. Anchoring a
//! stream at its first packet's arrival places the whole stream late by that
//! packet's delay. [`SenderClock`] anchors each packet's *end* at its arrival the
//! first time, then moves the anchor earlier whenever a packet arrives sooner
//! than the schedule says it could have (its delay was smaller than the anchor's):
//! the anchor converges on the smallest delay seen, and a late first packet,
//! once the next on-time packet arrives, no longer shifts the stream. The
//! caller moves what it placed but has not settled yet by the same amount.
//!
//! A packet much later than the schedule (more than the late limit: the sender
//! paused without its timestamps advancing, or restarted) or far ahead of it
//! (timestamps that jumped), or from a new source, anchors the stream again at
//! its arrival. The talk meter (`callcore-analytics`) places audio this way; the
//! call recorder (`callcore-media`) does not yet (docs/premise.md).
//!
//! Positions and arrivals are in samples of one timeline (8 kHz for telephone
//! audio); timestamps wrap as RTP's do.
//!
//! ```
//! use callcore::sender_clock::{Placement, SenderClock};
//! let mut clock = SenderClock::new(2400, 1600);
//! // the first 20 ms packet (due to end at 160) was held up 100 ms: it ends at its arrival
//! assert_eq!(clock.place(7, 0, 160, 960), Placement::Anchored { start: 800 });
//! // the next arrives on time (its end, 320): the stream moves 800 samples earlier
//! assert_eq!(clock.place(7, 160, 160, 320), Placement::Earlier { start: 160, by: 800 });
//! ```

/// Where a packet goes, from [`SenderClock::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// A new stream (the first packet, a new source, or timing that jumped):
    /// the packet ends at its arrival.
    Anchored {
        /// Its first sample's position.
        start: u64,
    },
    /// Where the schedule says (at or before its arrival).
    OnSchedule {
        /// Its first sample's position.
        start: u64,
    },
    /// Sooner than the schedule allowed: the schedule moved `by` samples
    /// earlier, and so should everything placed by it and not yet settled.
    Earlier {
        /// Its first sample's position (on the moved schedule).
        start: u64,
        /// How far the schedule moved.
        by: u64,
    },
}

impl Placement {
    /// The packet's first sample's position.
    #[must_use]
    pub fn start(self) -> u64 {
        match self {
            Placement::Anchored { start }
            | Placement::OnSchedule { start }
            | Placement::Earlier { start, .. } => start,
        }
    }
}

/// Where a stream's timestamps sit on the timeline.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    source: u32,
    timestamp: u32,
    position: i64,
}

/// One sender's schedule on a receiver's timeline. See the module docs.
#[derive(Debug, Clone)]
pub struct SenderClock {
    anchor: Option<Anchor>,
    late_limit: u64,
    ahead_limit: u64,
}

impl SenderClock {
    /// A clock that anchors again when a packet ends more than `late_limit`
    /// samples after its arrival's due time, or more than `ahead_limit`
    /// samples before it.
    #[must_use]
    pub fn new(late_limit: u64, ahead_limit: u64) -> Self {
        SenderClock {
            anchor: None,
            late_limit,
            ahead_limit,
        }
    }

    /// Forgets the anchor: the next packet anchors the stream at its arrival.
    pub fn reset(&mut self) {
        self.anchor = None;
    }

    /// Places a packet of `len` samples from `source` stamped `timestamp`
    /// that arrived at `arrival` (its end is no later than that).
    pub fn place(&mut self, source: u32, timestamp: u32, len: u32, arrival: u64) -> Placement {
        let arrival_at = i64::try_from(arrival).unwrap_or(i64::MAX);
        let len = i64::from(len);
        let anchored = |clock: &mut Self| {
            let start = (arrival_at - len).max(0);
            clock.anchor = Some(Anchor {
                source,
                timestamp,
                position: start,
            });
            Placement::Anchored {
                start: u64::try_from(start).unwrap_or(0),
            }
        };
        let Some(anchor) = self.anchor.filter(|a| a.source == source) else {
            return anchored(self);
        };
        // RTP timestamps wrap: the signed distance from the anchor's
        #[allow(clippy::cast_possible_wrap)]
        let delta = i64::from(timestamp.wrapping_sub(anchor.timestamp) as i32);
        let start = anchor.position + delta;
        // how long after it was due the packet arrived (negative: before)
        let late = arrival_at - (start + len);
        let late_limit = i64::try_from(self.late_limit).unwrap_or(i64::MAX);
        let ahead_limit = i64::try_from(self.ahead_limit).unwrap_or(i64::MAX);
        if late > late_limit || late < -ahead_limit || start < 0 {
            return anchored(self);
        }
        if late >= 0 {
            return Placement::OnSchedule {
                start: u64::try_from(start).unwrap_or(0),
            };
        }
        // sooner than the anchor allowed: the anchor's delay was not the least
        let by = -late;
        let moved = Anchor {
            position: anchor.position - by,
            ..anchor
        };
        if moved.position + delta < 0 {
            return anchored(self);
        }
        self.anchor = Some(moved);
        Placement::Earlier {
            start: u64::try_from(start - by).unwrap_or(0),
            by: u64::try_from(by).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_first_packet_does_not_shift_the_stream() {
        let mut clock = SenderClock::new(2400, 1600);
        // due at 0..160; the first arrives 150 ms late, the next four in a
        // burst right after it, then each on time
        let mut starts = Vec::new();
        for k in 0..20u32 {
            let due_end = u64::from(k + 1) * 160;
            let arrival = due_end.max(1200 + 160 + u64::from(k));
            starts.push(clock.place(1, 1000 + k * 160, 160, arrival + 8000));
        }
        assert_eq!(starts[0], Placement::Anchored { start: 8000 + 1200 });
        // the first on-time packet (k = 8, due end 1440) moves the stream back
        let moved: u64 = starts
            .iter()
            .filter_map(|p| match p {
                Placement::Earlier { by, .. } => Some(*by),
                _ => None,
            })
            .sum();
        assert_eq!(moved, 1200);
        for (k, p) in starts.iter().enumerate().skip(9) {
            assert_eq!(p.start(), 8000 + k as u64 * 160, "packet {k}");
        }
    }

    #[test]
    fn jitter_keeps_the_schedule_and_a_long_pause_or_a_new_source_anchors_again() {
        let mut clock = SenderClock::new(2400, 1600);
        assert_eq!(clock.place(1, 0, 160, 160).start(), 0);
        // 30 ms late: still where its timestamp says
        assert_eq!(
            clock.place(1, 160, 160, 320 + 240),
            Placement::OnSchedule { start: 160 }
        );
        // a timestamp wrap is only a step
        let mut wrap = SenderClock::new(2400, 1600);
        wrap.place(1, u32::MAX - 159, 160, 1000);
        assert_eq!(wrap.place(1, 0, 160, 1160).start(), 1000);
        // the sender stopped 1 s without advancing its timestamps
        assert_eq!(
            clock.place(1, 320, 160, 480 + 8000),
            Placement::Anchored { start: 8320 }
        );
        // a new source anchors at its arrival
        assert_eq!(
            clock.place(2, 320, 160, 9000),
            Placement::Anchored { start: 8840 }
        );
        // timestamps far ahead of the clock: anchored again
        assert_eq!(
            clock.place(2, 320 + 16_000, 160, 9160),
            Placement::Anchored { start: 9000 }
        );
    }
}
