//! RTCP packets (RFC 3550 §6): sender and receiver reports, SDES, BYE, parsed from and
//! written to compound packets. Unknown packet types are kept opaque.
//!
//! ```
//! use callcore_media::rtcp::{RtcpPacket, ReceiverReport, ReportBlock, parse_compound, write_compound};
//! let rr = RtcpPacket::ReceiverReport(ReceiverReport {
//!     ssrc: 1,
//!     reports: vec![ReportBlock { ssrc: 2, fraction_lost: 64, cumulative_lost: 10, highest_seq: 70_000, jitter: 12, lsr: 0, dlsr: 0 }],
//! });
//! let mut wire = Vec::new();
//! write_compound(&[rr.clone()], &mut wire).unwrap();
//! assert_eq!(parse_compound(&wire).unwrap(), vec![rr]);
//! ```

use crate::error::{MediaError, Result};

/// RTCP packet type of a sender report.
pub const PT_SR: u8 = 200;
/// RTCP packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// RTCP packet type of source description.
pub const PT_SDES: u8 = 202;
/// RTCP packet type of goodbye.
pub const PT_BYE: u8 = 203;

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed; duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (0 if none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// A sender report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    /// Sender's SSRC.
    pub ssrc: u32,
    /// 64-bit NTP wall-clock time of this report.
    pub ntp_time: u64,
    /// RTP timestamp matching `ntp_time`.
    pub rtp_time: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
    /// Reception reports.
    pub reports: Vec<ReportBlock>,
}

/// A receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// Reporter's SSRC.
    pub ssrc: u32,
    /// Reception reports.
    pub reports: Vec<ReportBlock>,
}

/// One SDES chunk: a source and its items (type, text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: u32,
    /// Items as (type, value); type 1 is CNAME.
    pub items: Vec<(u8, Vec<u8>)>,
}

/// One RTCP packet of a compound packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket {
    /// SR.
    SenderReport(SenderReport),
    /// RR.
    ReceiverReport(ReceiverReport),
    /// SDES.
    SourceDescription(Vec<SdesChunk>),
    /// BYE with the sources leaving and an optional reason.
    Goodbye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
        /// Reason text.
        reason: Option<Vec<u8>>,
    },
    /// Any other type (APP, feedback ...), kept as its body.
    Other {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count/format field.
        count: u8,
        /// Body after the 4-byte header.
        body: Vec<u8>,
    },
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_blocks(body: &[u8], count: usize, what: &'static str) -> Result<Vec<ReportBlock>> {
    let need = count * 24;
    if body.len() < need {
        return Err(MediaError::Truncated {
            what,
            needed: need,
            have: body.len(),
        });
    }
    Ok(body[..need]
        .chunks_exact(24)
        .map(|b| {
            let raw = (u32::from(b[5]) << 16) | (u32::from(b[6]) << 8) | u32::from(b[7]);
            let cumulative_lost = ((raw << 8) as i32) >> 8; // sign-extend 24 bits
            ReportBlock {
                ssrc: be32(b, 0),
                fraction_lost: b[4],
                cumulative_lost,
                highest_seq: be32(b, 8),
                jitter: be32(b, 12),
                lsr: be32(b, 16),
                dlsr: be32(b, 20),
            }
        })
        .collect())
}

fn parse_one(pt: u8, count: u8, body: &[u8]) -> Result<RtcpPacket> {
    match pt {
        PT_SR => {
            if body.len() < 24 {
                return Err(MediaError::Truncated {
                    what: "rtcp sr",
                    needed: 24,
                    have: body.len(),
                });
            }
            let reports = parse_blocks(&body[24..], usize::from(count), "rtcp sr report blocks")?;
            Ok(RtcpPacket::SenderReport(SenderReport {
                ssrc: be32(body, 0),
                ntp_time: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                rtp_time: be32(body, 12),
                packet_count: be32(body, 16),
                octet_count: be32(body, 20),
                reports,
            }))
        }
        PT_RR => {
            if body.len() < 4 {
                return Err(MediaError::Truncated {
                    what: "rtcp rr",
                    needed: 4,
                    have: body.len(),
                });
            }
            let reports = parse_blocks(&body[4..], usize::from(count), "rtcp rr report blocks")?;
            Ok(RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: be32(body, 0),
                reports,
            }))
        }
        PT_SDES => {
            let mut chunks = Vec::new();
            let mut off = 0;
            for _ in 0..count {
                if body.len() < off + 4 {
                    return Err(MediaError::Truncated {
                        what: "rtcp sdes chunk",
                        needed: off + 4,
                        have: body.len(),
                    });
                }
                let ssrc = be32(body, off);
                off += 4;
                let mut items = Vec::new();
                loop {
                    let Some(&ty) = body.get(off) else {
                        return Err(MediaError::Truncated {
                            what: "rtcp sdes item",
                            needed: off + 1,
                            have: body.len(),
                        });
                    };
                    if ty == 0 {
                        off += 1;
                        off = off.div_ceil(4) * 4; // chunks end on a 32-bit boundary
                        break;
                    }
                    let Some(&len) = body.get(off + 1) else {
                        return Err(MediaError::Truncated {
                            what: "rtcp sdes item",
                            needed: off + 2,
                            have: body.len(),
                        });
                    };
                    let end = off + 2 + usize::from(len);
                    let Some(text) = body.get(off + 2..end) else {
                        return Err(MediaError::Truncated {
                            what: "rtcp sdes item",
                            needed: end,
                            have: body.len(),
                        });
                    };
                    items.push((ty, text.to_vec()));
                    off = end;
                }
                chunks.push(SdesChunk { ssrc, items });
            }
            Ok(RtcpPacket::SourceDescription(chunks))
        }
        PT_BYE => {
            let n = usize::from(count) * 4;
            if body.len() < n {
                return Err(MediaError::Truncated {
                    what: "rtcp bye",
                    needed: n,
                    have: body.len(),
                });
            }
            let ssrcs = body[..n].chunks_exact(4).map(|c| be32(c, 0)).collect();
            let reason = match body.get(n) {
                Some(&len) => {
                    let end = n + 1 + usize::from(len);
                    let Some(text) = body.get(n + 1..end) else {
                        return Err(MediaError::Truncated {
                            what: "rtcp bye reason",
                            needed: end,
                            have: body.len(),
                        });
                    };
                    Some(text.to_vec())
                }
                None => None,
            };
            Ok(RtcpPacket::Goodbye { ssrcs, reason })
        }
        _ => Ok(RtcpPacket::Other {
            packet_type: pt,
            count,
            body: body.to_vec(),
        }),
    }
}

/// Parses a compound RTCP packet (RFC 3550 §6.1, validity checks of appendix A.2:
/// version 2, the first packet an SR or RR, padding only on the last packet, lengths
/// adding up to the datagram).
pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        if buf.len() - off < 4 {
            return Err(MediaError::Truncated {
                what: "rtcp header",
                needed: off + 4,
                have: buf.len(),
            });
        }
        let b0 = buf[off];
        if b0 >> 6 != 2 {
            return Err(MediaError::InvalidField {
                what: "rtcp",
                field: "version",
                detail: format!("{}, expected 2", b0 >> 6),
            });
        }
        let padding = b0 & 0x20 != 0;
        let count = b0 & 0x1F;
        let pt = buf[off + 1];
        if out.is_empty() && pt != PT_SR && pt != PT_RR {
            return Err(MediaError::InvalidField {
                what: "rtcp",
                field: "packet_type",
                detail: format!("compound packet starts with {pt}, not SR/RR"),
            });
        }
        let len = (usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]])) + 1) * 4;
        let end = off + len;
        if end > buf.len() {
            return Err(MediaError::Truncated {
                what: "rtcp packet",
                needed: end,
                have: buf.len(),
            });
        }
        let mut body = &buf[off + 4..end];
        if padding {
            if end != buf.len() {
                return Err(MediaError::InvalidField {
                    what: "rtcp",
                    field: "padding",
                    detail: "padding before the last packet".into(),
                });
            }
            let p = usize::from(*body.last().unwrap_or(&0));
            if p == 0 || p > body.len() {
                return Err(MediaError::InvalidField {
                    what: "rtcp",
                    field: "padding",
                    detail: format!("{p} bytes of padding"),
                });
            }
            body = &body[..body.len() - p];
        }
        out.push(parse_one(pt, count, body)?);
        off = end;
    }
    if out.is_empty() {
        return Err(MediaError::Truncated {
            what: "rtcp",
            needed: 4,
            have: 0,
        });
    }
    Ok(out)
}

fn write_blocks(blocks: &[ReportBlock], out: &mut Vec<u8>) {
    for b in blocks {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        out.push(b.fraction_lost);
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&b.highest_seq.to_be_bytes());
        out.extend_from_slice(&b.jitter.to_be_bytes());
        out.extend_from_slice(&b.lsr.to_be_bytes());
        out.extend_from_slice(&b.dlsr.to_be_bytes());
    }
}

fn too_many(n: usize) -> Result<u8> {
    u8::try_from(n)
        .ok()
        .filter(|&c| c <= 31)
        .ok_or(MediaError::TooLarge {
            what: "rtcp",
            detail: format!("{n} items, at most 31"),
        })
}

impl RtcpPacket {
    /// Appends this packet (header included, padded to 32 bits) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        let (pt, count) = match self {
            RtcpPacket::SenderReport(sr) => {
                out.extend_from_slice(&sr.ssrc.to_be_bytes());
                out.extend_from_slice(&sr.ntp_time.to_be_bytes());
                out.extend_from_slice(&sr.rtp_time.to_be_bytes());
                out.extend_from_slice(&sr.packet_count.to_be_bytes());
                out.extend_from_slice(&sr.octet_count.to_be_bytes());
                write_blocks(&sr.reports, out);
                (PT_SR, too_many(sr.reports.len())?)
            }
            RtcpPacket::ReceiverReport(rr) => {
                out.extend_from_slice(&rr.ssrc.to_be_bytes());
                write_blocks(&rr.reports, out);
                (PT_RR, too_many(rr.reports.len())?)
            }
            RtcpPacket::SourceDescription(chunks) => {
                for c in chunks {
                    out.extend_from_slice(&c.ssrc.to_be_bytes());
                    for (ty, text) in &c.items {
                        let len = u8::try_from(text.len()).map_err(|_| MediaError::TooLarge {
                            what: "rtcp sdes",
                            detail: format!("item of {} bytes", text.len()),
                        })?;
                        if *ty == 0 {
                            return Err(MediaError::InvalidField {
                                what: "rtcp sdes",
                                field: "item type",
                                detail: "0 is the terminator".into(),
                            });
                        }
                        out.push(*ty);
                        out.push(len);
                        out.extend_from_slice(text);
                    }
                    out.push(0);
                    while !(out.len() - start).is_multiple_of(4) {
                        out.push(0);
                    }
                }
                (PT_SDES, too_many(chunks.len())?)
            }
            RtcpPacket::Goodbye { ssrcs, reason } => {
                for s in ssrcs {
                    out.extend_from_slice(&s.to_be_bytes());
                }
                if let Some(r) = reason {
                    let len = u8::try_from(r.len()).map_err(|_| MediaError::TooLarge {
                        what: "rtcp bye",
                        detail: format!("reason of {} bytes", r.len()),
                    })?;
                    out.push(len);
                    out.extend_from_slice(r);
                }
                (PT_BYE, too_many(ssrcs.len())?)
            }
            RtcpPacket::Other {
                packet_type,
                count,
                body,
            } => {
                out.extend_from_slice(body);
                (*packet_type, (*count).min(31))
            }
        };
        while !(out.len() - start).is_multiple_of(4) {
            out.push(0);
        }
        let words = (out.len() - start) / 4 - 1;
        let words = u16::try_from(words).map_err(|_| MediaError::TooLarge {
            what: "rtcp",
            detail: format!("{words} words"),
        })?;
        out[start] = 0x80 | count;
        out[start + 1] = pt;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
        Ok(())
    }
}

/// Writes a compound packet.
pub fn write_compound(packets: &[RtcpPacket], out: &mut Vec<u8>) -> Result<()> {
    for p in packets {
        p.write_to(out)?;
    }
    Ok(())
}

/// The middle 32 bits of a 64-bit NTP time, as carried in LSR.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block received at `arrival_ntp` (RFC 3550 §6.4.1),
/// in seconds, or `None` if the block carries no LSR.
pub fn round_trip_secs(block: &ReportBlock, arrival_ntp: u64) -> Option<f64> {
    if block.lsr == 0 {
        return None;
    }
    let a = ntp_middle(arrival_ntp);
    let rtt = a.wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
    if rtt > 0x8000_0000 {
        return None;
    }
    Some(f64::from(rtt) / 65536.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_round_trip() {
        let blocks = vec![ReportBlock {
            ssrc: 9,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_seq: 65_600,
            jitter: 80,
            lsr: 0x1234_5678,
            dlsr: 65536,
        }];
        let pkts = vec![
            RtcpPacket::SenderReport(SenderReport {
                ssrc: 1,
                ntp_time: 0xAAAA_BBBB_CCCC_DDDD,
                rtp_time: 160,
                packet_count: 50,
                octet_count: 8000,
                reports: blocks,
            }),
            RtcpPacket::SourceDescription(vec![SdesChunk {
                ssrc: 1,
                items: vec![(1, b"agent@callcore".to_vec())],
            }]),
            RtcpPacket::Goodbye {
                ssrcs: vec![1],
                reason: Some(b"hangup".to_vec()),
            },
        ];
        let mut wire = Vec::new();
        write_compound(&pkts, &mut wire).unwrap();
        assert_eq!(wire.len() % 4, 0);
        assert_eq!(parse_compound(&wire).unwrap(), pkts);
    }

    #[test]
    fn known_receiver_report_bytes() {
        let wire = [
            0x81, 201, 0, 7, 0, 0, 0, 1, // header, reporter ssrc
            0, 0, 0, 2, 0x40, 0xFF, 0xFF, 0xFE, // ssrc 2, fraction 64, lost -2
            0, 1, 0, 5, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let p = parse_compound(&wire).unwrap();
        let RtcpPacket::ReceiverReport(rr) = &p[0] else {
            panic!("not an RR")
        };
        assert_eq!(rr.reports[0].cumulative_lost, -2);
        assert_eq!(rr.reports[0].highest_seq, 65_541);
        assert_eq!(rr.reports[0].fraction_lost, 64);
    }

    #[test]
    fn rejects_bad_compounds() {
        assert!(parse_compound(&[]).is_err());
        assert!(
            parse_compound(&[0x80, 202, 0, 0]).is_err(),
            "must start with SR/RR"
        );
        assert!(
            parse_compound(&[0x80, 201, 0, 5, 0, 0, 0, 0]).is_err(),
            "length beyond datagram"
        );
        assert!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 0]).is_err(),
            "count beyond body"
        );
        assert!(
            parse_compound(&[0x40, 201, 0, 1, 0, 0, 0, 0]).is_err(),
            "version"
        );
    }

    #[test]
    fn rtt_from_lsr_and_dlsr() {
        let sr_ntp: u64 = 100 << 32;
        let block = ReportBlock {
            lsr: ntp_middle(sr_ntp),
            dlsr: 65536 / 2,
            ..Default::default()
        };
        let arrival = sr_ntp + (1u64 << 32); // one second later, half of it spent at the receiver
        let rtt = round_trip_secs(&block, arrival).unwrap();
        assert!((rtt - 0.5).abs() < 1e-3);
    }
}
