//! Long messages: split into concatenated segments with a user data header
//! (UDH, information element 0x00: 8-bit reference, total, sequence) going
//! out, and put back together coming in, whatever order the segments
//! arrive in.

use std::collections::HashMap;
use std::time::Duration;

use callcore::Timestamp;

use crate::ChannelError;
use crate::sms::coding::{DC_GSM7, DC_UCS2, encode_gsm7, encode_ucs2};

/// One short message to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its `data_coding`.
    pub data_coding: u8,
    /// Whether it starts with a UDH (`esm_class` UDHI bit).
    pub udhi: bool,
    /// Its `short_message` octets (UDH included).
    pub octets: Vec<u8>,
}

/// Characters of one unsegmented message: GSM 7-bit septets, UCS-2 units.
const SINGLE_GSM: usize = 160;
const SINGLE_UCS2: usize = 70;
/// Per segment of a concatenated message (6 octets of UDH).
const PART_GSM: usize = 153;
const PART_UCS2: usize = 67;
/// The most segments a message may have (the UDH counts to 255).
pub const MAX_SEGMENTS: usize = 255;

/// Splits `text` into the segments to submit: GSM 7-bit when the alphabet
/// has every character, else UCS-2; one segment when it fits, else
/// concatenated with reference `reference`. An escape pair or a surrogate
/// pair is never split.
///
/// # Errors
/// [`ChannelError::Unsendable`] when it needs more than 255 segments.
pub fn split(text: &str, reference: u8) -> Result<Vec<Segment>, ChannelError> {
    let (data_coding, units, unit_octets, single, part) = match encode_gsm7(text) {
        Some(septets) => (DC_GSM7, septets, 1, SINGLE_GSM, PART_GSM),
        None => (DC_UCS2, encode_ucs2(text), 2, SINGLE_UCS2, PART_UCS2),
    };
    if units.len() <= single * unit_octets {
        return Ok(vec![Segment {
            data_coding,
            udhi: false,
            octets: units,
        }]);
    }
    let max = part * unit_octets;
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = &units[..];
    while !rest.is_empty() {
        let mut n = max.min(rest.len());
        if n < rest.len() {
            if data_coding == DC_GSM7 && rest[n - 1] == 0x1B && !escaped(&rest[..n - 1]) {
                // keep an escape with the septet it escapes
                n -= 1;
            }
            if data_coding == DC_UCS2 {
                let last = u16::from_be_bytes([rest[n - 2], rest[n - 1]]);
                if (0xD800..0xDC00).contains(&last) {
                    n -= 2;
                }
            }
        }
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }
    if chunks.len() > MAX_SEGMENTS {
        return Err(ChannelError::Unsendable(format!(
            "{} segments, at most {MAX_SEGMENTS}",
            chunks.len()
        )));
    }
    let total = chunks.len() as u8;
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut octets = vec![0x05, 0x00, 0x03, reference, total, (i + 1) as u8];
            octets.extend_from_slice(c);
            Segment {
                data_coding,
                udhi: true,
                octets,
            }
        })
        .collect())
}

/// Whether the septets end inside an escape (an odd run of trailing escapes).
fn escaped(septets: &[u8]) -> bool {
    septets.iter().rev().take_while(|&&s| s == 0x1B).count() % 2 == 1
}

/// A concatenation header: reference, total, sequence (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The reference shared by the segments (8- or 16-bit).
    pub reference: u16,
    /// How many segments.
    pub total: u8,
    /// This one's place, from 1.
    pub sequence: u8,
}

/// Takes the UDH off `octets`: the concatenation it names (if any) and the
/// user data after it.
///
/// # Errors
/// [`ChannelError::Refused`] (`udh`) when the header runs past the message
/// or names an impossible place.
pub fn strip_udh(octets: &[u8]) -> Result<(Option<Part>, &[u8]), ChannelError> {
    let bad = |d: &str| ChannelError::refused("udh", d.to_owned());
    let len = usize::from(
        *octets
            .first()
            .ok_or_else(|| bad("empty message with UDHI set"))?,
    );
    let header = octets
        .get(1..=len)
        .ok_or_else(|| bad("the header is longer than the message"))?;
    let mut part = None;
    let mut i = 0;
    while i + 1 < header.len() {
        let (iei, l) = (header[i], usize::from(header[i + 1]));
        let data = header
            .get(i + 2..i + 2 + l)
            .ok_or_else(|| bad("an element runs past the header"))?;
        match (iei, data) {
            (0x00, [r, t, s]) => {
                part = Some(Part {
                    reference: u16::from(*r),
                    total: *t,
                    sequence: *s,
                });
            }
            (0x08, [r1, r2, t, s]) => {
                part = Some(Part {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    total: *t,
                    sequence: *s,
                });
            }
            _ => {}
        }
        i += 2 + l;
    }
    if let Some(p) = part
        && (p.total == 0 || p.sequence == 0 || p.sequence > p.total)
    {
        return Err(bad("segment number outside 1..total"));
    }
    Ok((part, &octets[len + 1..]))
}

struct Pending {
    parts: Vec<Option<String>>,
    first_at: Timestamp,
}

/// Puts concatenated messages back together, per sender and reference.
/// Incomplete messages are given up after `keep` (their parts never
/// arrived).
pub struct Reassembly {
    pending: HashMap<(String, u16, u8), Pending>,
    keep: Duration,
}

impl std::fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembly")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Reassembly {
    /// Keeps incomplete messages for `keep`.
    pub fn new(keep: Duration) -> Self {
        Self {
            pending: HashMap::new(),
            keep,
        }
    }

    /// Takes one segment's decoded text; the whole text once every segment
    /// of its message has arrived.
    pub fn take(
        &mut self,
        sender: &str,
        part: Part,
        text: String,
        now: Timestamp,
    ) -> Option<String> {
        self.expire(now);
        let key = (sender.to_owned(), part.reference, part.total);
        let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            parts: vec![None; usize::from(part.total)],
            first_at: now,
        });
        if let Some(slot) = usize::from(part.sequence)
            .checked_sub(1)
            .and_then(|i| p.parts.get_mut(i))
        {
            *slot = Some(text);
        }
        if p.parts.iter().all(Option::is_some) {
            let whole = self.pending.remove(&key)?;
            return Some(whole.parts.into_iter().flatten().collect());
        }
        None
    }

    /// Gives up messages whose segments have waited longer than `keep`.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let keep = self.keep;
        let before = self.pending.len();
        self.pending
            .retain(|_, p| now.duration_since(p.first_at) <= keep);
        let gone = before - self.pending.len();
        if gone > 0 {
            tracing::warn!(messages = gone, "incomplete concatenated SMS given up");
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::coding::decode;

    fn join(segments: &[Segment]) -> String {
        let mut r = Reassembly::new(Duration::from_secs(60));
        let mut out = None;
        // out of order
        for s in segments.iter().rev() {
            let (part, data) = strip_udh(&s.octets).unwrap();
            let text = decode(s.data_coding, data).unwrap();
            out = r.take("+100", part.unwrap(), text, Timestamp::from_secs(1));
        }
        out.unwrap()
    }

    #[test]
    fn short_text_is_one_segment() {
        let s = split("Hello", 1).unwrap();
        assert_eq!(s.len(), 1);
        assert!(!s[0].udhi);
        assert_eq!(s[0].data_coding, DC_GSM7);
        assert_eq!(split(&"a".repeat(160), 1).unwrap().len(), 1);
    }

    #[test]
    fn long_gsm_text_splits_at_153_and_joins() {
        let text = "b".repeat(152) + "€" + &"c".repeat(200);
        let s = split(&text, 7).unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|x| x.udhi && x.octets.len() <= 159));
        // the escape did not end the first segment
        assert_eq!(s[0].octets.len(), 6 + 152);
        assert_eq!(&s[1].octets[..6], &[5, 0, 3, 7, 3, 2]);
        assert_eq!(join(&s), text);
    }

    #[test]
    fn long_ucs2_text_splits_at_67_keeping_surrogates_whole() {
        let text = "退".repeat(66) + "😀" + &"订".repeat(80);
        let s = split(&text, 9).unwrap();
        assert_eq!(s[0].data_coding, DC_UCS2);
        assert!(s.iter().all(|x| x.octets.len() <= 140));
        assert_eq!(
            s[0].octets.len(),
            6 + 132,
            "the emoji moved whole to part 2"
        );
        assert_eq!(join(&s), text);
    }

    #[test]
    fn bad_headers_are_refused_and_stale_parts_expire() {
        assert!(strip_udh(&[]).is_err());
        assert!(strip_udh(&[9, 0, 3]).is_err());
        assert!(strip_udh(&[5, 0, 3, 1, 2, 3, b'x']).is_err());
        let mut r = Reassembly::new(Duration::from_secs(10));
        let p = Part {
            reference: 1,
            total: 2,
            sequence: 1,
        };
        assert!(
            r.take("+1", p, "a".into(), Timestamp::from_secs(0))
                .is_none()
        );
        assert_eq!(r.expire(Timestamp::from_secs(11)), 1);
    }
}
