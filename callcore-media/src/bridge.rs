//! A two-leg RTP relay: what sits between a caller and an agent. Packets from one
//! leg go to the other as one continuous stream with our SSRC towards that leg (an
//! [`OutStream`] per direction: a change of source on the sending side, or a leg
//! resumed from hold, continues the sequence and timestamps instead of jumping), G.711
//! passthrough when both legs share a law and µ-law↔A-law transcoding when they do
//! not, and telephone-events (RFC 4733) forwarded with the other leg's payload type.
//! Header extensions pass through; CSRCs and padding do not. Reception statistics per
//! leg feed RTCP receiver reports.
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::bridge::{Bridge, LegConfig, Side, RelayOutcome};
//! use callcore_media::g711::Law;
//! use callcore_media::rtp::RtpPacket;
//! let mut bridge = Bridge::new(LegConfig::new(Law::Ulaw, 0xA), LegConfig::new(Law::Alaw, 0xB));
//! let mut wire = Vec::new();
//! RtpPacket::new(0, 5, 800, 0x1111, &[0xFF; 160]).write_to(&mut wire).unwrap();
//! let mut out = Vec::new();
//! let r = bridge.relay(Side::A, &wire, Duration::ZERO, &mut out).unwrap();
//! assert_eq!(r, RelayOutcome::Forwarded);
//! let p = RtpPacket::parse(&out).unwrap();
//! assert_eq!((p.payload_type, p.ssrc, p.payload[0]), (8, 0xB, 0xD5)); // µ-law silence -> A-law silence
//! ```

use std::time::Duration;

use crate::error::Result;
use crate::g711::{Law, transcode_in_place};
use crate::out_stream::OutStream;
use crate::rtp::{RTP_HEADER_LEN, RtpPacket};
use crate::rtp_stats::{ReceptionStats, SeqVerdict};

/// One side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Leg A (e.g. the caller).
    A,
    /// Leg B (e.g. the agent).
    B,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// How a leg is negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    /// The G.711 law the leg speaks.
    pub law: Law,
    /// The SSRC we use when sending to this leg.
    pub ssrc: u32,
    /// The leg's telephone-event payload type, if negotiated.
    pub telephone_event_pt: Option<u8>,
}

impl LegConfig {
    /// A leg with telephone-event on payload type 101.
    pub fn new(law: Law, ssrc: u32) -> Self {
        LegConfig {
            law,
            ssrc,
            telephone_event_pt: Some(101),
        }
    }
}

/// What happened to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayOutcome {
    /// Written to `out`, ready to send to the other leg.
    Forwarded,
    /// A telephone-event (RFC 4733) written to `out` with the other leg's payload
    /// type, ready to send.
    ForwardedEvent,
    /// A payload type the other leg did not negotiate; dropped.
    DroppedPayloadType(u8),
}

impl RelayOutcome {
    /// True if `out` holds a datagram to send.
    pub fn forwarded(self) -> bool {
        matches!(self, RelayOutcome::Forwarded | RelayOutcome::ForwardedEvent)
    }
}

/// What came from one leg.
#[derive(Debug)]
struct Direction {
    stats: Option<ReceptionStats>,
    forwarded: u64,
    transcoded: u64,
    events: u64,
}

/// The relay between two legs.
#[derive(Debug)]
pub struct Bridge {
    legs: [LegConfig; 2],
    /// Indexed by the leg the packets come from.
    dirs: [Direction; 2],
    /// Indexed by the leg the packets go to.
    outs: [OutStream; 2],
}

fn idx(s: Side) -> usize {
    match s {
        Side::A => 0,
        Side::B => 1,
    }
}

impl Bridge {
    /// A bridge between leg `a` and leg `b`; towards each leg a fresh stream with that
    /// leg's SSRC.
    pub fn new(a: LegConfig, b: LegConfig) -> Self {
        let outs = [OutStream::new(a.ssrc), OutStream::new(b.ssrc)];
        Self::with_streams(a, b, outs)
    }

    /// A bridge that continues the streams each far end already receives (`outs[0]`
    /// towards leg `a`, `outs[1]` towards `b`, e.g. from the legs' own sessions): the
    /// first relayed packet towards a leg follows on from that stream's last one.
    /// The legs' `ssrc` fields are not used; the streams keep theirs.
    pub fn with_streams(a: LegConfig, b: LegConfig, outs: [OutStream; 2]) -> Self {
        let dir = || Direction {
            stats: None,
            forwarded: 0,
            transcoded: 0,
            events: 0,
        };
        let mut outs = outs;
        for o in &mut outs {
            o.splice();
        }
        Bridge {
            legs: [a, b],
            dirs: [dir(), dir()],
            outs,
        }
    }

    /// Whether the two legs need transcoding.
    pub fn transcodes(&self) -> bool {
        self.legs[0].law != self.legs[1].law
    }

    /// The leg's negotiation.
    pub fn leg(&self, side: Side) -> LegConfig {
        self.legs[idx(side)]
    }

    /// Applies a re-negotiation of one leg (law, telephone-event payload type); the
    /// stream towards it keeps its SSRC and numbering.
    pub fn set_leg(&mut self, side: Side, law: Law, telephone_event_pt: Option<u8>) {
        let leg = &mut self.legs[idx(side)];
        leg.law = law;
        leg.telephone_event_pt = telephone_event_pt;
    }

    /// The stream towards `side`.
    pub fn stream(&self, side: Side) -> &OutStream {
        &self.outs[idx(side)]
    }

    /// The next packet towards `side` starts a new talkspurt that continues the
    /// stream (a leg resumed from hold).
    pub fn splice(&mut self, side: Side) {
        self.outs[idx(side)].splice();
    }

    /// The streams towards leg A and leg B, to continue them elsewhere.
    pub fn into_streams(self) -> [OutStream; 2] {
        self.outs
    }

    /// Relays one datagram received from leg `from` at `now`; on
    /// [`RelayOutcome::Forwarded`], `out` holds the datagram for the other leg.
    pub fn relay(
        &mut self,
        from: Side,
        datagram: &[u8],
        now: Duration,
        out: &mut Vec<u8>,
    ) -> Result<RelayOutcome> {
        let p = RtpPacket::parse(datagram)?;
        let (i, j) = (idx(from), idx(from.other()));
        let (src, dst) = (self.legs[i], self.legs[j]);
        self.receive(i, &p, now);
        let dir = &mut self.dirs[i];
        let (pt, law_change, event) = if p.payload_type == src.law.payload_type() {
            (dst.law.payload_type(), src.law != dst.law, false)
        } else if Some(p.payload_type) == src.telephone_event_pt {
            match dst.telephone_event_pt {
                Some(pt) => (pt, false, true),
                None => return Ok(RelayOutcome::DroppedPayloadType(p.payload_type)),
            }
        } else {
            return Ok(RelayOutcome::DroppedPayloadType(p.payload_type));
        };
        out.clear();
        out.reserve(RTP_HEADER_LEN + p.payload.len());
        let fwd = RtpPacket {
            marker: p.marker,
            payload_type: pt,
            sequence: p.sequence,
            timestamp: p.timestamp,
            ssrc: p.ssrc,
            csrcs: Vec::new(),
            extension: p.extension, // header extensions pass through unchanged
            payload: p.payload,
            padding: 0,
        };
        fwd.write_to(out)?;
        if law_change {
            let start = out.len() - p.payload.len();
            transcode_in_place(src.law, dst.law, &mut out[start..]);
            dir.transcoded += 1;
        }
        self.outs[j].rewrite(out, now);
        dir.forwarded += 1;
        if event {
            dir.events += 1;
            return Ok(RelayOutcome::ForwardedEvent);
        }
        Ok(RelayOutcome::Forwarded)
    }

    /// Accounts for a datagram from leg `from` that is not forwarded (the other leg
    /// is on hold): reception statistics only.
    pub fn account(&mut self, from: Side, datagram: &[u8], now: Duration) -> Result<()> {
        let p = RtpPacket::parse(datagram)?;
        self.receive(idx(from), &p, now);
        Ok(())
    }

    fn receive(&mut self, i: usize, p: &RtpPacket<'_>, now: Duration) {
        let stats = self.dirs[i]
            .stats
            .get_or_insert_with(|| ReceptionStats::new(p.ssrc, 8000));
        if stats.ssrc() != p.ssrc {
            // The far end changed source (re-INVITE, failover): new statistics; the
            // stream towards the other leg continues (OutStream splices).
            *stats = ReceptionStats::new(p.ssrc, 8000);
        }
        if stats.on_packet(p.sequence, p.timestamp, now) == SeqVerdict::BadJump {
            tracing::debug!(seq = p.sequence, "sequence jump on bridged leg");
        }
    }

    /// Reception statistics of what leg `from` sent us.
    pub fn reception(&self, from: Side) -> Option<&ReceptionStats> {
        self.dirs[idx(from)].stats.as_ref()
    }

    /// Mutable reception statistics (to build report blocks).
    pub fn reception_mut(&mut self, from: Side) -> Option<&mut ReceptionStats> {
        self.dirs[idx(from)].stats.as_mut()
    }

    /// Packets forwarded from leg `from`.
    pub fn forwarded(&self, from: Side) -> u64 {
        self.dirs[idx(from)].forwarded
    }

    /// Packets transcoded from leg `from`.
    pub fn transcoded(&self, from: Side) -> u64 {
        self.dirs[idx(from)].transcoded
    }

    /// Telephone-events (RFC 4733 packets) forwarded from leg `from`.
    pub fn events_forwarded(&self, from: Side) -> u64 {
        self.dirs[idx(from)].events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::{alaw_decode, ulaw_encode};

    fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        RtpPacket::new(pt, seq, ts, ssrc, payload)
            .write_to(&mut v)
            .unwrap();
        v
    }

    #[test]
    fn passthrough_keeps_payload_and_rewrites_header() {
        let mut b = Bridge::new(LegConfig::new(Law::Ulaw, 10), LegConfig::new(Law::Ulaw, 20));
        assert!(!b.transcodes());
        let mut out = Vec::new();
        let payload: Vec<u8> = (0..160).map(|i| i as u8).collect();
        let mut seqs = Vec::new();
        for (i, seq) in [65534u16, 65535, 1].iter().enumerate() {
            b.relay(
                Side::B,
                &pkt(0, *seq, 1000 + 160 * i as u32, 77, &payload),
                Duration::from_millis(20 * i as u64),
                &mut out,
            )
            .unwrap();
            let p = RtpPacket::parse(&out).unwrap();
            assert_eq!((p.ssrc, p.payload), (10, &payload[..]));
            seqs.push(p.sequence);
        }
        // gaps survive the rewrite (65535 -> 1 lost seq 0)
        assert_eq!(seqs[1].wrapping_sub(seqs[0]), 1);
        assert_eq!(seqs[2].wrapping_sub(seqs[1]), 2);
        assert_eq!(b.reception(Side::B).unwrap().lost(), 1);
        assert_eq!(b.forwarded(Side::B), 3);
    }

    #[test]
    fn transcodes_both_ways_and_maps_telephone_events() {
        let mut b = Bridge::new(
            LegConfig::new(Law::Ulaw, 1),
            LegConfig {
                law: Law::Alaw,
                ssrc: 2,
                telephone_event_pt: Some(96),
            },
        );
        let mut out = Vec::new();
        let codes: Vec<u8> = (-80..80).map(|i| ulaw_encode(i * 200)).collect();
        b.relay(Side::A, &pkt(0, 1, 0, 5, &codes), Duration::ZERO, &mut out)
            .unwrap();
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!(p.payload_type, 8);
        for (i, &c) in p.payload.iter().enumerate() {
            let want = (i as i32 - 80) * 200;
            assert!(
                (i32::from(alaw_decode(c)) - want).abs() <= want.abs() / 12 + 40,
                "{i}"
            );
        }
        assert_eq!(
            b.relay(
                Side::A,
                &pkt(101, 2, 160, 5, &[1, 0x80, 0, 160]),
                Duration::ZERO,
                &mut out
            )
            .unwrap(),
            RelayOutcome::ForwardedEvent
        );
        let ev = RtpPacket::parse(&out).unwrap();
        assert_eq!((ev.payload_type, ev.payload), (96, &[1, 0x80, 0, 160][..]));
        assert_eq!(b.events_forwarded(Side::A), 1);
        assert_eq!(
            b.relay(
                Side::A,
                &pkt(18, 3, 320, 5, &[0; 20]),
                Duration::ZERO,
                &mut out
            )
            .unwrap(),
            RelayOutcome::DroppedPayloadType(18)
        );
        assert!(
            b.relay(Side::A, &[1, 2, 3], Duration::ZERO, &mut out)
                .is_err()
        );
        assert_eq!(b.transcoded(Side::A), 1);
    }

    #[test]
    fn ssrc_change_continues_the_stream_towards_the_other_leg() {
        let mut b = Bridge::new(LegConfig::new(Law::Ulaw, 1), LegConfig::new(Law::Ulaw, 2));
        let mut out = Vec::new();
        b.relay(
            Side::A,
            &pkt(0, 100, 0, 5, &[0; 160]),
            Duration::ZERO,
            &mut out,
        )
        .unwrap();
        let s1 = RtpPacket::parse(&out).unwrap().sequence;
        b.relay(
            Side::A,
            &pkt(0, 9000, 50, 6, &[0; 160]),
            Duration::ZERO,
            &mut out,
        )
        .unwrap();
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!(p.ssrc, 2);
        assert_eq!(p.sequence, s1.wrapping_add(1), "the stream goes on");
        assert!(p.marker, "as a new talkspurt");
        assert_eq!(b.reception(Side::A).unwrap().ssrc(), 6);
    }
}
