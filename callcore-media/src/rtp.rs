//! RTP packets (RFC 3550 §5): parse and serialize, plus sequence-number helpers.
//!
//! ```
//! use callcore_media::rtp::RtpPacket;
//! let pkt = RtpPacket::new(0, 7, 1120, 0x1234_5678, &[0xFF; 160]);
//! let mut wire = Vec::new();
//! pkt.write_to(&mut wire).unwrap();
//! let back = RtpPacket::parse(&wire).unwrap();
//! assert_eq!((back.sequence, back.timestamp, back.payload.len()), (7, 1120, 160));
//! ```

use crate::error::{MediaError, Result};

/// Size of the fixed RTP header.
pub const RTP_HEADER_LEN: usize = 12;

/// An RTP header extension (RFC 3550 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The profile-defined 16-bit identifier.
    pub profile: u16,
    /// The extension body (a multiple of 4 bytes).
    pub data: &'a [u8],
}

/// One RTP packet, borrowing its payload from the datagram it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit (start of talkspurt for audio, start of event for RFC 4733).
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// 16-bit sequence number.
    pub sequence: u16,
    /// Media timestamp in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrcs: Vec<u32>,
    /// Header extension, if the X bit is set.
    pub extension: Option<RtpExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Number of padding bytes to append when writing (0 = none); when parsed, the
    /// padding that was present.
    pub padding: u8,
}

fn truncated(what: &'static str, needed: usize, have: usize) -> MediaError {
    MediaError::Truncated { what, needed, have }
}

impl<'a> RtpPacket<'a> {
    /// A plain packet: no CSRCs, extension or padding.
    pub fn new(
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        payload: &'a [u8],
    ) -> Self {
        RtpPacket {
            marker: false,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: Vec::new(),
            extension: None,
            payload,
            padding: 0,
        }
    }

    /// Parses a datagram. Never panics; every inconsistency is an error.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        const WHAT: &str = "rtp";
        if buf.len() < RTP_HEADER_LEN {
            return Err(truncated(WHAT, RTP_HEADER_LEN, buf.len()));
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(MediaError::InvalidField {
                what: WHAT,
                field: "version",
                detail: format!("{version}, expected 2"),
            });
        }
        let has_padding = b0 & 0x20 != 0;
        let has_ext = b0 & 0x10 != 0;
        let cc = usize::from(b0 & 0x0F);
        let marker = buf[1] & 0x80 != 0;
        let payload_type = buf[1] & 0x7F;
        let sequence = u16::from_be_bytes([buf[2], buf[3]]);
        let timestamp = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let mut off = RTP_HEADER_LEN;
        let need = off + 4 * cc;
        if buf.len() < need {
            return Err(truncated("rtp csrc list", need, buf.len()));
        }
        let csrcs = buf[off..need]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        off = need;
        let extension = if has_ext {
            if buf.len() < off + 4 {
                return Err(truncated("rtp extension header", off + 4, buf.len()));
            }
            let profile = u16::from_be_bytes([buf[off], buf[off + 1]]);
            let words = usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]]));
            let end = off + 4 + 4 * words;
            if buf.len() < end {
                return Err(truncated("rtp extension", end, buf.len()));
            }
            let data = &buf[off + 4..end];
            off = end;
            Some(RtpExtension { profile, data })
        } else {
            None
        };
        let mut end = buf.len();
        let mut padding = 0u8;
        if has_padding {
            let p = buf[buf.len() - 1];
            if p == 0 || usize::from(p) > buf.len() - off {
                return Err(MediaError::InvalidField {
                    what: WHAT,
                    field: "padding",
                    detail: format!(
                        "{p} padding bytes but only {} after the header",
                        buf.len() - off
                    ),
                });
            }
            padding = p;
            end -= usize::from(p);
        }
        Ok(RtpPacket {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs,
            extension,
            payload: &buf[off..end],
            padding,
        })
    }

    /// Serialized length in bytes.
    pub fn wire_len(&self) -> usize {
        RTP_HEADER_LEN
            + 4 * self.csrcs.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// Appends the packet to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<()> {
        const WHAT: &str = "rtp";
        if self.csrcs.len() > 15 {
            return Err(MediaError::TooLarge {
                what: WHAT,
                detail: format!("{} CSRCs, at most 15", self.csrcs.len()),
            });
        }
        if self.payload_type > 127 {
            return Err(MediaError::InvalidField {
                what: WHAT,
                field: "payload_type",
                detail: format!("{} > 127", self.payload_type),
            });
        }
        if let Some(e) = self.extension
            && (!e.data.len().is_multiple_of(4) || e.data.len() / 4 > usize::from(u16::MAX))
        {
            return Err(MediaError::InvalidField {
                what: WHAT,
                field: "extension",
                detail: format!("{} bytes is not a multiple of 4 up to 262140", e.data.len()),
            });
        }
        out.reserve(self.wire_len());
        let b0 = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | self.csrcs.len() as u8;
        out.push(b0);
        out.push(if self.marker { 0x80 } else { 0 } | self.payload_type);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in &self.csrcs {
            out.extend_from_slice(&c.to_be_bytes());
        }
        if let Some(e) = self.extension {
            out.extend_from_slice(&e.profile.to_be_bytes());
            out.extend_from_slice(&((e.data.len() / 4) as u16).to_be_bytes());
            out.extend_from_slice(e.data);
        }
        out.extend_from_slice(self.payload);
        if self.padding > 0 {
            out.extend(std::iter::repeat_n(0u8, usize::from(self.padding) - 1));
            out.push(self.padding);
        }
        Ok(())
    }
}

/// Rewrites sequence number, timestamp and SSRC of a serialized RTP packet in place
/// (what a media relay does on the fast path). Errors if the buffer is not RTP.
pub fn rewrite_header(buf: &mut [u8], sequence: u16, timestamp: u32, ssrc: u32) -> Result<()> {
    if buf.len() < RTP_HEADER_LEN || buf[0] >> 6 != 2 {
        return Err(MediaError::InvalidField {
            what: "rtp",
            field: "header",
            detail: "not an RTP v2 packet".into(),
        });
    }
    buf[2..4].copy_from_slice(&sequence.to_be_bytes());
    buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

/// True when sequence `a` comes after `b` in modulo-2^16 arithmetic.
pub fn seq_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// True when timestamp `a` comes after `b` in modulo-2^32 arithmetic.
pub fn ts_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Extends 16-bit sequence numbers to 64 bits across wrap-arounds, tolerating
/// reordering within half the sequence space.
#[derive(Debug, Clone, Default)]
pub struct SequenceUnwrapper {
    last: Option<u64>,
}

impl SequenceUnwrapper {
    /// A fresh unwrapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`, relative to the highest seen so far.
    pub fn unwrap(&mut self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            let v = u64::from(seq) + (1 << 16); // start one cycle up so early reorders stay positive
            self.last = Some(v);
            return v;
        };
        let delta = seq.wrapping_sub(last as u16);
        let v = if delta < 0x8000 {
            last + u64::from(delta)
        } else {
            last.saturating_sub(u64::from(0x1_0000 - u32::from(delta)))
        };
        if v > last {
            self.last = Some(v);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_all_fields() {
        let ext = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut p = RtpPacket::new(101, 65535, u32::MAX, 42, &[1, 2, 3]);
        p.marker = true;
        p.csrcs = vec![7, 8];
        p.extension = Some(RtpExtension {
            profile: 0xBEDE,
            data: &ext,
        });
        p.padding = 4;
        let mut wire = Vec::new();
        p.write_to(&mut wire).unwrap();
        assert_eq!(wire.len(), p.wire_len());
        assert_eq!(wire.len(), 12 + 8 + 4 + 8 + 3 + 4);
        let q = RtpPacket::parse(&wire).unwrap();
        assert_eq!(p, q);
    }

    #[test]
    fn known_bytes() {
        // V=2, PT=0, seq=1, ts=160, ssrc=0xDEADBEEF, payload 0xFF
        let wire = [
            0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0xDE, 0xAD, 0xBE, 0xEF, 0xFF,
        ];
        let p = RtpPacket::parse(&wire).unwrap();
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (0, 1, 160, 0xDEAD_BEEF)
        );
        assert_eq!(p.payload, &[0xFF]);
        assert!(!p.marker);
    }

    #[test]
    fn rejects_bad_input_with_named_errors() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 5]),
            Err(MediaError::Truncated { .. })
        ));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert!(matches!(
            RtpPacket::parse(&v1),
            Err(MediaError::InvalidField {
                field: "version",
                ..
            })
        ));
        let mut cc = [0u8; 12];
        cc[0] = 0x8F;
        assert!(matches!(
            RtpPacket::parse(&cc),
            Err(MediaError::Truncated { .. })
        ));
        let mut pad = [0u8; 13];
        pad[0] = 0xA0;
        pad[12] = 9;
        assert!(matches!(
            RtpPacket::parse(&pad),
            Err(MediaError::InvalidField {
                field: "padding",
                ..
            })
        ));
        pad[12] = 0;
        assert!(RtpPacket::parse(&pad).is_err());
    }

    #[test]
    fn sequence_comparisons_wrap() {
        assert!(seq_after(1, 65535));
        assert!(!seq_after(65535, 1));
        assert!(ts_after(5, u32::MAX - 5));
        let mut u = SequenceUnwrapper::new();
        let a = u.unwrap(65534);
        let b = u.unwrap(65535);
        let c = u.unwrap(0);
        let d = u.unwrap(65533); // late, before the wrap
        let e = u.unwrap(1);
        assert_eq!((b - a, c - b, a - d, e - c), (1, 1, 1, 1));
    }

    #[test]
    fn rewrite_header_in_place() {
        let mut wire = Vec::new();
        RtpPacket::new(0, 1, 2, 3, &[9; 4])
            .write_to(&mut wire)
            .unwrap();
        rewrite_header(&mut wire, 10, 20, 30).unwrap();
        let p = RtpPacket::parse(&wire).unwrap();
        assert_eq!(
            (p.sequence, p.timestamp, p.ssrc, p.payload),
            (10, 20, 30, &[9u8; 4][..])
        );
        assert!(rewrite_header(&mut [0u8; 4], 0, 0, 0).is_err());
    }
}
