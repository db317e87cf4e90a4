//! What a leg's far end sent, as RFC 3550 counts it: packets expected from the
//! sequence numbers (A.1, A.3), packets received, the difference lost, and the
//! interarrival jitter (A.8) — across the far end's sources, one after another
//! (a new SSRC starts a new count; the earlier ones are kept in the totals).
//!
//! Fed by whoever moves the leg's packets (its own session, or a relay worker
//! while it is bridged), read by operations figures.
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::relay_pool::LegReception;
//! let mut r = LegReception::default();
//! let packet = |seq: u16| {
//!     let mut p = vec![0x80, 0];
//!     p.extend_from_slice(&seq.to_be_bytes());
//!     p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
//!     p.extend_from_slice(&7u32.to_be_bytes());
//!     p.extend_from_slice(&[0xFF; 160]);
//!     p
//! };
//! for seq in (1..=100u16).filter(|s| s % 10 != 0) {
//!     r.on_packet(&packet(seq), Duration::from_millis(u64::from(seq) * 20));
//! }
//! let f = r.figures();
//! assert_eq!(f.lost, 9); // 10, 20 ... 90 (100 would have been the next highest)
//! assert_eq!(f.expected - f.received, 9);
//! ```

use std::time::Duration;

use crate::rtp_stats::ReceptionStats;

/// The clock rate of the codecs a leg speaks (G.711 and telephone-event).
const CLOCK_RATE: u32 = 8000;

/// A leg's reception figures so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceptionFigures {
    /// Packets the sequence numbers say were sent (from the second packet of
    /// each source on, RFC 3550 A.1).
    pub expected: u64,
    /// Packets counted against `expected` (duplicates and late ones included).
    pub received: u64,
    /// Packets lost: expected − received, never below 0 per source.
    pub lost: u64,
    /// Interarrival jitter of the current source, in microseconds.
    pub jitter_us: u64,
}

/// The sequence and timing tracker of one leg's far end.
#[derive(Debug, Default)]
pub struct LegReception {
    current: Option<ReceptionStats>,
    /// Figures of earlier sources of the leg.
    before: ReceptionFigures,
}

/// SSRC, sequence number and timestamp of an RTP packet; `None` for anything
/// else (short, another version, RTCP multiplexed on the RTP port).
fn rtp_header(data: &[u8]) -> Option<(u32, u16, u32)> {
    if data.len() < 12 || data[0] >> 6 != 2 {
        return None;
    }
    // RFC 5761: RTCP packet types 200-204 read as payload types 72-76 with marker
    if (72..=76).contains(&(data[1] & 0x7F)) {
        return None;
    }
    let seq = u16::from_be_bytes([data[2], data[3]]);
    let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
    Some((ssrc, seq, ts))
}

fn figures_of(s: &ReceptionStats) -> ReceptionFigures {
    ReceptionFigures {
        expected: u64::from(s.expected()),
        received: u64::from(s.received()),
        lost: s.lost().max(0).unsigned_abs(),
        jitter_us: (s.jitter_ms() * 1000.0) as u64,
    }
}

impl LegReception {
    /// Accounts for one datagram from the far end, arrived at `now`.
    pub fn on_packet(&mut self, data: &[u8], now: Duration) {
        let Some((ssrc, seq, ts)) = rtp_header(data) else {
            return;
        };
        let stats = match &mut self.current {
            Some(s) if s.ssrc() == ssrc => s,
            slot => {
                if let Some(old) = slot.take() {
                    let f = figures_of(&old);
                    self.before.expected += f.expected;
                    self.before.received += f.received;
                    self.before.lost += f.lost;
                }
                slot.insert(ReceptionStats::new(ssrc, CLOCK_RATE))
            }
        };
        stats.on_packet(seq, ts, now);
    }

    /// The figures over every source so far.
    pub fn figures(&self) -> ReceptionFigures {
        let now = self.current.as_ref().map(figures_of).unwrap_or_default();
        ReceptionFigures {
            expected: self.before.expected + now.expected,
            received: self.before.received + now.received,
            lost: self.before.lost + now.lost,
            jitter_us: now.jitter_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xFF; 160]);
        p
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_new_source_keeps_the_earlier_ones_loss() {
        let mut r = LegReception::default();
        for i in 0..50u16 {
            if i % 5 != 3 {
                r.on_packet(
                    &packet(1, 1000 + i, u32::from(i) * 160),
                    ms(u64::from(i) * 20),
                );
            }
        }
        assert_eq!(r.figures().lost, 10);
        // another source (a re-INVITE to another phone), numbered from elsewhere
        for i in 0..20u16 {
            r.on_packet(&packet(2, 40_000 + i, 0), ms(1000 + u64::from(i) * 20));
        }
        let f = r.figures();
        assert_eq!(f.lost, 10, "{f:?}");
        assert_eq!(f.expected, 49 + 19, "{f:?}");
    }

    #[test]
    fn rtcp_and_garbage_are_not_counted() {
        let mut r = LegReception::default();
        let mut rtcp = packet(1, 0, 0);
        rtcp[1] = 200; // sender report
        r.on_packet(&rtcp, ms(0));
        r.on_packet(&[0x80, 0, 1], ms(0));
        r.on_packet(&[0x00; 20], ms(0));
        assert_eq!(r.figures(), ReceptionFigures::default());
    }

    #[test]
    fn jitter_is_reported_in_microseconds() {
        let mut r = LegReception::default();
        // every other packet 10 ms late: |D| = 10 ms
        for i in 0..2000u16 {
            let late = if i % 2 == 1 { 10 } else { 0 };
            r.on_packet(
                &packet(9, i, u32::from(i) * 160),
                ms(u64::from(i) * 20 + late),
            );
        }
        let j = r.figures().jitter_us;
        assert!((9_000..11_000).contains(&j), "{j}");
    }
}
