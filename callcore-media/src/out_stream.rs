//! One continuous RTP stream towards a far end, whoever produces the packets.
//!
//! A leg's far end (a phone, a trunk) sees one SSRC from us for the whole call, but
//! the packets come from different producers in turn: the leg's own session (IVR
//! prompts, music on hold), then a bridge relaying the other leg, whose far end may
//! itself change source on a re-INVITE, then the session again after a transfer back
//! to the IVR. [`OutStream::rewrite`] maps every producer's sequence numbers and
//! timestamps onto one stream: within a producer gaps and order are kept; at a change
//! of producer (or after [`OutStream::splice`], e.g. when a held leg is resumed) the
//! sequence continues at the next number, the timestamp advances by the time that
//! passed (at least one packet's worth), and the marker bit flags a new talkspurt, so
//! the far end's jitter buffer never sees a jump backwards (which it would take for
//! late packets and drop).
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::out_stream::OutStream;
//! use callcore_media::rtp::RtpPacket;
//! let mut out = OutStream::new(7);
//! let ms = Duration::from_millis;
//! let mut seen = Vec::new();
//! // our session (source 1), then a bridge (source 9) 40 ms later
//! for (seq, ts, src, at) in [(500, 8000, 1, 0), (501, 8160, 1, 20), (3, 90, 9, 60)] {
//!     let mut wire = Vec::new();
//!     RtpPacket::new(0, seq, ts, src, &[0xFF; 160]).write_to(&mut wire).unwrap();
//!     out.rewrite(&mut wire, ms(at));
//!     let p = RtpPacket::parse(&wire).unwrap();
//!     seen.push((p.sequence, p.timestamp, p.ssrc, p.marker));
//! }
//! assert_eq!(seen, [(500, 8000, 7, false), (501, 8160, 7, false), (502, 8480, 7, true)]);
//! ```

use std::time::Duration;

use crate::rtp::RTP_HEADER_LEN;

/// What was last sent on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    seq: u16,
    ts: u32,
    at: Duration,
    /// Samples the packet covered (its G.711 payload length; 160 otherwise).
    samples: u32,
}

/// The mapping of producers' packets onto one outgoing RTP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutStream {
    ssrc: u32,
    source: Option<u32>,
    seq_off: u16,
    ts_off: u32,
    last: Option<Sent>,
    splice: bool,
    packets: u32,
    octets: u32,
}

impl OutStream {
    /// A stream we send as `ssrc`. Its first packet keeps its producer's numbers.
    pub fn new(ssrc: u32) -> Self {
        OutStream {
            ssrc,
            source: None,
            seq_off: 0,
            ts_off: 0,
            last: None,
            splice: false,
            packets: 0,
            octets: 0,
        }
    }

    /// The SSRC the far end sees.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The next packet continues the stream as a new talkspurt even if it comes from
    /// the same producer (after a hold, or when packets move to another relay).
    pub fn splice(&mut self) {
        self.splice = true;
    }

    /// Packets and payload octets sent so far (for RTCP sender reports).
    pub fn sent(&self) -> (u32, u32) {
        (self.packets, self.octets)
    }

    /// The stream's RTP timestamp at `now`, extrapolated from the last packet (for
    /// RTCP sender reports); `None` before the first packet.
    pub fn timestamp_at(&self, now: Duration) -> Option<u32> {
        self.last
            .map(|l| l.ts.wrapping_add(samples_between(l.at, now)))
    }

    /// Rewrites an RTP datagram's sequence number, timestamp and SSRC in place (and
    /// sets the marker at a splice). Returns false, leaving it untouched, if the
    /// datagram is not RTP version 2.
    pub fn rewrite(&mut self, pkt: &mut [u8], now: Duration) -> bool {
        if pkt.len() < RTP_HEADER_LEN || pkt[0] >> 6 != 2 {
            return false;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let src = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        if self.source != Some(src) || self.splice {
            if let Some(l) = self.last {
                let advance = samples_between(l.at, now).max(l.samples);
                self.seq_off = l.seq.wrapping_add(1).wrapping_sub(seq);
                self.ts_off = l.ts.wrapping_add(advance).wrapping_sub(ts);
                pkt[1] |= 0x80; // a new talkspurt
            }
            self.source = Some(src);
            self.splice = false;
        }
        let out_seq = seq.wrapping_add(self.seq_off);
        let out_ts = ts.wrapping_add(self.ts_off);
        pkt[2..4].copy_from_slice(&out_seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&out_ts.to_be_bytes());
        pkt[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let payload = payload_len(pkt);
        let samples = match pkt[1] & 0x7F {
            0 | 8 if payload > 0 => payload as u32,
            _ => 160,
        };
        // a sequence behind the last one (a reordered packet) keeps the newest
        let newer = self
            .last
            .is_none_or(|l| out_seq.wrapping_sub(l.seq) < 0x8000);
        if newer {
            self.last = Some(Sent {
                seq: out_seq,
                ts: out_ts,
                at: now,
                samples,
            });
        }
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload as u32);
        true
    }
}

/// 8 kHz samples from `from` to `to` (0 if `to` is earlier).
fn samples_between(from: Duration, to: Duration) -> u32 {
    (to.saturating_sub(from).as_micros() * 8 / 1000).min(u128::from(u32::MAX / 2)) as u32
}

/// The payload length of a well-formed RTP datagram (0 when it does not add up).
fn payload_len(pkt: &[u8]) -> usize {
    let cc = usize::from(pkt[0] & 0x0F);
    let mut off = RTP_HEADER_LEN + 4 * cc;
    if pkt[0] & 0x10 != 0 {
        let Some(words) = pkt.get(off + 2..off + 4) else {
            return 0;
        };
        off += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let pad = if pkt[0] & 0x20 != 0 {
        usize::from(*pkt.last().unwrap_or(&0))
    } else {
        0
    };
    pkt.len().saturating_sub(off + pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacket;

    fn pkt(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = RtpPacket::new(0, seq, ts, ssrc, &[0xFF; 160]).write_to(&mut v);
        v
    }

    fn run(out: &mut OutStream, input: &[(u16, u32, u32, u64)]) -> Vec<(u16, u32, u32, bool)> {
        input
            .iter()
            .map(|&(seq, ts, src, at)| {
                let mut p = pkt(seq, ts, src);
                assert!(out.rewrite(&mut p, Duration::from_millis(at)));
                let r = RtpPacket::parse(&p).unwrap();
                (r.sequence, r.timestamp, r.ssrc, r.marker)
            })
            .collect()
    }

    #[test]
    fn a_new_producer_continues_the_far_ends_stream() {
        let mut out = OutStream::new(7);
        // our session, then the bridge (another source, far-away numbers), then back
        let seen = run(
            &mut out,
            &[
                (500, 8000, 1, 0),
                (501, 8160, 1, 20),
                (0x1000, 0, 9, 40),
                (0x1001, 160, 9, 60),
                (502, 8320, 1, 80),
            ],
        );
        assert_eq!(
            seen,
            vec![
                (500, 8000, 7, false),
                (501, 8160, 7, false),
                (502, 8320, 7, true),
                (503, 8480, 7, false),
                (504, 8640, 7, true),
            ]
        );
        assert_eq!(out.sent(), (5, 800));
    }

    #[test]
    fn a_splice_after_a_pause_advances_the_timestamp_by_the_time_passed() {
        let mut out = OutStream::new(7);
        let mut seen = run(&mut out, &[(10, 1000, 1, 0), (11, 1160, 1, 20)]);
        // held for a second: the same producer goes on (its numbers ran on meanwhile)
        out.splice();
        seen.extend(run(&mut out, &[(62, 9320, 1, 1020), (63, 9480, 1, 1040)]));
        assert_eq!(
            seen,
            vec![
                (10, 1000, 7, false),
                (11, 1160, 7, false),
                (12, 9160, 7, true),
                (13, 9320, 7, false),
            ]
        );
        assert_eq!(out.timestamp_at(Duration::from_millis(1060)), Some(9480));
        // a reordered packet keeps its place and does not rewind the stream
        let late = run(&mut out, &[(61, 9160, 1, 1045)]);
        assert_eq!(late, vec![(11, 9000, 7, false)]);
        assert_eq!(out.timestamp_at(Duration::from_millis(1060)), Some(9480));
        let mut junk = vec![0u8; 5];
        assert!(!out.rewrite(&mut junk, Duration::ZERO));
    }
}
