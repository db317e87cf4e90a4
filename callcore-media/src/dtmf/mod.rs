//! DTMF: digits, an audio generator, RFC 4733 telephone-events ([`rfc4733`]) and an
//! in-band Goertzel detector ([`inband`]).
//!
//! ```
//! use callcore_media::dtmf::{Digit, DtmfGenerator, inband::{DtmfDetector, DetectorConfig}};
//! let audio = DtmfGenerator::default().digits("159#").unwrap();
//! let mut det = DtmfDetector::new(DetectorConfig::default());
//! let events = det.process(&audio);
//! let digits: String = events.iter().filter_map(|e| e.started()).map(Digit::to_char).collect();
//! assert_eq!(digits, "159#");
//! ```

pub mod inband;
pub mod rfc4733;

pub use rfc4733::{TelephoneEvent, TelephoneEventReceiver, TelephoneEventSender};

use crate::error::{MediaError, Result};
use crate::level::dbm0_to_peak;

/// Low-group (row) frequencies in Hz.
pub const ROW_FREQS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz.
pub const COL_FREQS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// One DTMF digit, stored as its RFC 4733 event code (0–9, `*`=10, `#`=11, A–D=12–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digit(u8);

impl Digit {
    /// The digit for an RFC 4733 event code 0..=15.
    pub fn from_event(code: u8) -> Option<Digit> {
        (code <= 15).then_some(Digit(code))
    }

    /// The digit for a keypad character (`0-9`, `*`, `#`, `A-D`, case-insensitive).
    pub fn from_char(c: char) -> Option<Digit> {
        Some(Digit(match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            d @ 'A'..='D' => d as u8 - b'A' + 12,
            _ => return None,
        }))
    }

    /// The RFC 4733 event code.
    pub fn event_code(self) -> u8 {
        self.0
    }

    /// The keypad character.
    pub fn to_char(self) -> char {
        match self.0 {
            d @ 0..=9 => (b'0' + d) as char,
            10 => '*',
            11 => '#',
            d => (b'A' + d - 12) as char,
        }
    }

    /// (row, column) on the keypad.
    pub fn position(self) -> (usize, usize) {
        let c = self.to_char();
        for (r, row) in KEYPAD.iter().enumerate() {
            if let Some(col) = row.iter().position(|&k| k == c) {
                return (r, col);
            }
        }
        (3, 1) // unreachable for valid digits; '0'
    }

    /// The digit at (row, column).
    pub fn at(row: usize, col: usize) -> Option<Digit> {
        KEYPAD
            .get(row)
            .and_then(|r| r.get(col))
            .and_then(|&c| Digit::from_char(c))
    }

    /// (low, high) frequencies in Hz.
    pub fn frequencies(self) -> (f64, f64) {
        let (r, c) = self.position();
        (ROW_FREQS[r], COL_FREQS[c])
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

/// Parses a digit string, naming the first bad character.
pub fn parse_digits(s: &str) -> Result<Vec<Digit>> {
    s.chars()
        .map(|c| {
            Digit::from_char(c).ok_or_else(|| MediaError::InvalidField {
                what: "dtmf",
                field: "digit",
                detail: format!("{c:?} is not a DTMF digit"),
            })
        })
        .collect()
}

/// Generates in-band DTMF audio at 8 kHz.
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    /// Tone length in ms.
    pub on_ms: u32,
    /// Pause after each tone in ms.
    pub off_ms: u32,
    /// Low-group level in dBm0.
    pub low_dbm0: f64,
    /// High-group level in dBm0 (typically 2 dB above the low group).
    pub high_dbm0: f64,
    /// Relative frequency error applied to both tones (0.01 = +1%).
    pub freq_error: f64,
}

impl Default for DtmfGenerator {
    fn default() -> Self {
        DtmfGenerator {
            on_ms: 70,
            off_ms: 70,
            low_dbm0: -10.0,
            high_dbm0: -8.0,
            freq_error: 0.0,
        }
    }
}

impl DtmfGenerator {
    /// Appends one digit's tone (no pause) to `out`.
    pub fn tone(&self, digit: Digit, ms: u32, out: &mut Vec<i16>) {
        let (lo, hi) = digit.frequencies();
        let (lo, hi) = (lo * (1.0 + self.freq_error), hi * (1.0 + self.freq_error));
        let (al, ah) = (dbm0_to_peak(self.low_dbm0), dbm0_to_peak(self.high_dbm0));
        let n = ms as usize * 8;
        let w = 2.0 * std::f64::consts::PI / 8000.0;
        out.extend((0..n).map(|i| {
            let t = i as f64;
            (al * (w * lo * t).sin() + ah * (w * hi * t).sin())
                .round()
                .clamp(-32768.0, 32767.0) as i16
        }));
    }

    /// Audio for a digit string: each digit `on_ms` of tone then `off_ms` of silence.
    pub fn digits(&self, s: &str) -> Result<Vec<i16>> {
        let mut out = Vec::new();
        for d in parse_digits(s)? {
            self.tone(d, self.on_ms, &mut out);
            out.resize(out.len() + self.off_ms as usize * 8, 0);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_mapping() {
        let all = "0123456789*#ABCD";
        for (i, c) in all.chars().enumerate() {
            let d = Digit::from_char(c).unwrap();
            assert_eq!(d.event_code() as usize, i);
            assert_eq!(d.to_char(), c);
            let (r, col) = d.position();
            assert_eq!(Digit::at(r, col), Some(d));
        }
        assert_eq!(
            Digit::from_char('5').unwrap().frequencies(),
            (770.0, 1336.0)
        );
        assert_eq!(
            Digit::from_char('#').unwrap().frequencies(),
            (941.0, 1477.0)
        );
        assert!(Digit::from_event(16).is_none());
        assert!(parse_digits("12x").is_err());
    }
}
