//! Reception and sending statistics for one RTP source (RFC 3550 appendices A.1, A.3
//! and A.8) and the report blocks built from them.
//!
//! Time is passed in: `now` is a [`Duration`] since an origin the caller chooses.
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::rtp_stats::ReceptionStats;
//! let mut st = ReceptionStats::new(0xABCD, 8000);
//! for seq in [1u16, 2, 4, 5] {
//!     st.on_packet(seq, u32::from(seq) * 160, Duration::from_millis(u64::from(seq) * 20));
//! }
//! let block = st.report_block(Duration::from_millis(120));
//! assert_eq!(block.cumulative_lost, 1);
//! // the first packet only opens probation (RFC 3550 A.1): 3 of 4 expected arrived
//! assert_eq!(block.fraction_lost, 64); // 1/4 in units of 1/256
//! ```

use std::time::Duration;

use crate::rtcp::{ReportBlock, SenderReport, ntp_middle};

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// What a received packet meant for the sequence tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order or an acceptable reorder/duplicate: counted.
    Valid,
    /// The source is still on probation (first packets); not yet counted.
    Probation,
    /// A jump too large to accept; a second packet following it resyncs.
    BadJump,
}

/// Statistics about one received source.
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    ssrc: u32,
    clock_rate: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i64>,
    jitter: f64,
    started: bool,
    last_sr: Option<(u32, Duration)>,
    duplicates_or_late: u64,
}

impl ReceptionStats {
    /// Tracks `ssrc`, whose timestamps run at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        ReceptionStats {
            ssrc,
            clock_rate: clock_rate.max(1),
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0.0,
            started: false,
            last_sr: None,
            duplicates_or_late: 0,
        }
    }

    /// The source tracked.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return SeqVerdict::BadJump;
            }
        } else {
            self.duplicates_or_late += 1;
        }
        self.received += 1;
        SeqVerdict::Valid
    }

    /// Accounts for one packet with sequence `seq` and timestamp `ts` arriving at `now`.
    pub fn on_packet(&mut self, seq: u16, ts: u32, now: Duration) -> SeqVerdict {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let verdict = self.update_seq(seq);
        if verdict == SeqVerdict::Valid {
            // A.8: transit in timestamp units, jitter smoothed by 1/16.
            let arrival = (now.as_micros() as i64) * i64::from(self.clock_rate) / 1_000_000;
            let transit = arrival - i64::from(ts);
            if let Some(prev) = self.transit {
                let d = (transit - prev).unsigned_abs() as f64;
                self.jitter += (d - self.jitter) / 16.0;
            }
            self.transit = Some(transit);
        }
        verdict
    }

    /// Records a sender report from this source received at `now` (for LSR/DLSR).
    pub fn on_sender_report(&mut self, sr: &SenderReport, now: Duration) {
        self.last_sr = Some((ntp_middle(sr.ntp_time), now));
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected so far.
    pub fn expected(&self) -> u32 {
        if self.received == 0 && self.probation > 0 {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received (valid ones, duplicates included as RFC 3550 counts them).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost (can be negative with duplicates).
    pub fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// Builds a report block and starts a new reporting interval (A.3).
    pub fn report_block(&mut self, now: Duration) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_sub(at);
                (
                    lsr,
                    (d.as_micros() * 65536 / 1_000_000).min(u128::from(u32::MAX)) as u32,
                )
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}

/// Counters of what we sent, for sender reports.
#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
    /// RTP timestamp of the last packet sent.
    pub last_rtp_time: u32,
}

impl SenderStats {
    /// Accounts for one packet sent.
    pub fn on_sent(&mut self, timestamp: u32, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last_rtp_time = timestamp;
    }

    /// A sender report at wall-clock `ntp_time`, with the given reception blocks.
    pub fn sender_report(
        &self,
        ssrc: u32,
        ntp_time: u64,
        reports: Vec<ReportBlock>,
    ) -> SenderReport {
        SenderReport {
            ssrc,
            ntp_time,
            rtp_time: self.last_rtp_time,
            packet_count: self.packets,
            octet_count: self.octets,
            reports,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn counts_loss_across_a_wrap() {
        let mut st = ReceptionStats::new(1, 8000);
        let mut t = 0;
        let mut sent = 0u32;
        for i in 0..200u32 {
            let seq = (65500 + i) as u16;
            sent += 1;
            t += 20;
            if i % 10 == 5 {
                continue; // lose 10%
            }
            st.on_packet(seq, i * 160, ms(t));
        }
        let b = st.report_block(ms(t));
        // RFC 3550 A.1: the packet that opens probation is not counted, so the
        // base is the second packet.
        assert_eq!(st.expected(), sent - 1);
        assert_eq!(b.cumulative_lost, 20);
        assert_eq!(b.fraction_lost, (20 * 256 / 199) as u8);
        assert_eq!(b.highest_seq, 65536 + ((65500 + 199) % 65536) as u32);
        assert_eq!(b.jitter, 0, "perfectly paced packets have no jitter");
        // next interval: nothing lost
        for i in 200..250u32 {
            t += 20;
            st.on_packet((65500 + i) as u16, i * 160, ms(t));
        }
        let b = st.report_block(ms(t));
        assert_eq!(b.fraction_lost, 0);
        assert_eq!(b.cumulative_lost, 20);
    }

    #[test]
    fn jitter_converges_to_the_mean_deviation() {
        let mut st = ReceptionStats::new(1, 8000);
        // alternate 10 ms early/late around a 20 ms cadence: |D| = 20 ms = 160 units
        for i in 0..2000u32 {
            let off = if i % 2 == 0 { 0 } else { 20 };
            st.on_packet(i as u16, i * 160, ms(u64::from(i) * 20 + off));
        }
        assert!((st.jitter() as i64 - 160).abs() <= 2, "{}", st.jitter());
        assert!((st.jitter_ms() - 20.0).abs() < 0.5);
    }

    #[test]
    fn large_jump_needs_two_packets_to_resync() {
        let mut st = ReceptionStats::new(1, 8000);
        for i in 0..10u16 {
            st.on_packet(i, u32::from(i) * 160, ms(u64::from(i) * 20));
        }
        assert_eq!(st.on_packet(20_000, 0, ms(220)), SeqVerdict::BadJump);
        assert_eq!(st.on_packet(20_001, 160, ms(240)), SeqVerdict::Valid);
        assert_eq!(st.lost(), 0);
    }

    #[test]
    fn dlsr_measures_time_since_the_sender_report() {
        let mut st = ReceptionStats::new(1, 8000);
        st.on_packet(1, 0, ms(0));
        st.on_packet(2, 160, ms(20));
        st.on_sender_report(
            &SenderReport {
                ntp_time: 0x0001_0002_0003_0004,
                ..Default::default()
            },
            ms(100),
        );
        let b = st.report_block(ms(600));
        assert_eq!(b.lsr, 0x0002_0003);
        assert_eq!(b.dlsr, 65536 / 2);
        let mut tx = SenderStats::default();
        tx.on_sent(160, 160);
        let sr = tx.sender_report(5, 7, vec![b]);
        assert_eq!(
            (sr.packet_count, sr.octet_count, sr.rtp_time),
            (1, 160, 160)
        );
    }
}
