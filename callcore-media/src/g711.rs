//! G.711 µ-law (PCMU) and A-law (PCMA), table-driven and bit-exact with the ITU-T
//! reference coder (the G.191 software tools' `ulaw_compress`/`alaw_compress`).
//!
//! The reference treats a negative sample by its one's complement (`!x`), so `-1`
//! encodes as "negative zero" (µ-law `0x7F`, A-law `0x55`). The encoders here index a
//! 16 KiB (µ-law) or 4 KiB (A-law) table built at compile time from that formula;
//! [`reference`](mod@reference) keeps the formula itself, used as the benchmark baseline and to
//! prove the tables match on all 65,536 inputs.
//!
//! ```
//! use callcore_media::g711;
//! assert_eq!(g711::ulaw_encode(0), 0xFF);
//! assert_eq!(g711::alaw_decode(0xD5), 8);
//! assert_eq!(g711::ulaw_to_alaw(g711::ulaw_encode(1000)), g711::alaw_encode(g711::ulaw_decode(g711::ulaw_encode(1000))));
//! ```

/// Which G.711 law a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, RTP payload type 0 (PCMU).
    Ulaw,
    /// A-law, RTP payload type 8 (PCMA).
    Alaw,
}

impl Law {
    /// The static RTP payload type of this law.
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The law for a static RTP payload type, if it is G.711.
    pub const fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The code this law uses for silence.
    pub const fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// Encodes linear samples into `out` (cleared first).
    pub fn encode_into(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Law::Ulaw => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
            Law::Alaw => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Decodes codes into `out` (cleared first).
    pub fn decode_into(self, codes: &[u8], out: &mut Vec<i16>) {
        out.clear();
        match self {
            Law::Ulaw => out.extend(codes.iter().map(|&c| ulaw_decode(c))),
            Law::Alaw => out.extend(codes.iter().map(|&c| alaw_decode(c))),
        }
    }

    /// Decodes one code.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Ulaw => ulaw_decode(code),
            Law::Alaw => alaw_decode(code),
        }
    }

    /// Encodes one sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Ulaw => ulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }
}

/// The ITU-T reference formulas, kept as the baseline the tables are checked and
/// benchmarked against.
pub mod reference {
    /// µ-law compression of one 16-bit sample (G.191 `ulaw_compress`).
    pub const fn ulaw_encode(x: i16) -> u8 {
        let mut absno: i32 = if x < 0 {
            (!x as i32) >> 2
        } else {
            (x as i32) >> 2
        };
        absno += 33;
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut i = absno >> 6;
        let mut segno: i32 = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high = 8 - segno;
        let low = 0x0F - ((absno >> segno) & 0x0F);
        let mut out = (high << 4) | low;
        if x >= 0 {
            out |= 0x80;
        }
        out as u8
    }

    /// µ-law expansion of one code (G.191 `ulaw_expand`).
    pub const fn ulaw_decode(code: u8) -> i16 {
        let negative = code < 0x80;
        let m = !code;
        let exponent = ((m >> 4) & 0x07) as i32;
        let mantissa = (m & 0x0F) as i32;
        let segment = exponent + 1;
        let step = 4 << segment;
        let v = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
        (if negative { -v } else { v }) as i16
    }

    /// A-law compression of one 16-bit sample (G.191 `alaw_compress`).
    pub const fn alaw_encode(x: i16) -> u8 {
        let mut ix: i32 = if x < 0 {
            (!x as i32) >> 4
        } else {
            (x as i32) >> 4
        };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if x >= 0 {
            ix |= 0x80;
        }
        (ix ^ 0x55) as u8
    }

    /// A-law expansion of one code (G.191 `alaw_expand`).
    pub const fn alaw_decode(code: u8) -> i16 {
        let ix = ((code ^ 0x55) & 0x7F) as i32;
        let iexp = ix >> 4;
        let mut mant = ix & 0x0F;
        if iexp > 0 {
            mant += 16;
        }
        mant = (mant << 4) + 8;
        if iexp > 1 {
            mant <<= iexp - 1;
        }
        (if code > 127 { mant } else { -mant }) as i16
    }
}

/// µ-law encoder table, indexed by `(x >> 2) + 8192`: µ-law only looks at the top 14 bits.
static ULAW_ENC: [u8; 16384] = {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = reference::ulaw_encode(((i as i32 - 8192) << 2) as i16);
        i += 1;
    }
    t
};

/// A-law encoder table, indexed by `(x >> 4) + 2048`: A-law only looks at the top 12 bits.
static ALAW_ENC: [u8; 4096] = {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = reference::alaw_encode(((i as i32 - 2048) << 4) as i16);
        i += 1;
    }
    t
};

static ULAW_DEC: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = reference::ulaw_decode(i as u8);
        i += 1;
    }
    t
};

static ALAW_DEC: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = reference::alaw_decode(i as u8);
        i += 1;
    }
    t
};

static U2A: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = reference::alaw_encode(reference::ulaw_decode(i as u8));
        i += 1;
    }
    t
};

static A2U: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = reference::ulaw_encode(reference::alaw_decode(i as u8));
        i += 1;
    }
    t
};

/// Encodes one 16-bit linear sample as µ-law.
#[inline]
pub fn ulaw_encode(x: i16) -> u8 {
    ULAW_ENC[((x >> 2) as i32 + 8192) as usize]
}

/// Decodes one µ-law code to 16-bit linear.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DEC[code as usize]
}

/// Encodes one 16-bit linear sample as A-law.
#[inline]
pub fn alaw_encode(x: i16) -> u8 {
    ALAW_ENC[((x >> 4) as i32 + 2048) as usize]
}

/// Decodes one A-law code to 16-bit linear.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DEC[code as usize]
}

/// Transcodes one µ-law code to A-law through its linear reconstruction value.
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    U2A[code as usize]
}

/// Transcodes one A-law code to µ-law through its linear reconstruction value.
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    A2U[code as usize]
}

/// Transcodes a payload in place from one law to another (no-op when equal).
pub fn transcode_in_place(from: Law, to: Law, payload: &mut [u8]) {
    match (from, to) {
        (Law::Ulaw, Law::Alaw) => payload.iter_mut().for_each(|c| *c = ulaw_to_alaw(*c)),
        (Law::Alaw, Law::Ulaw) => payload.iter_mut().for_each(|c| *c = alaw_to_ulaw(*c)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        // Segment boundaries of the first segment: step 8, bias 132.
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0xF0), 120);
        assert_eq!(ulaw_decode(0xEF), 132);
    }

    #[test]
    fn ulaw_digital_milliwatt_is_the_g711_sequence() {
        // G.711 Table 5: the µ-law digital milliwatt (1 kHz at 0 dBm0).
        let dmw = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E];
        let lin: Vec<i16> = dmw.iter().map(|&c| ulaw_decode(c)).collect();
        assert_eq!(
            lin,
            [-8828, -20860, -20860, -8828, 8828, 20860, 20860, 8828]
        );
        // and a 1 kHz sine of that level at phase pi/8 re-encodes to the same codes
        let amp = 22_580.0_f64;
        let enc: Vec<u8> = (0..8)
            .map(|n| {
                let ph = std::f64::consts::PI * (2.0 * n as f64 + 1.0) / 8.0 + std::f64::consts::PI;
                ulaw_encode((amp * ph.sin()).round() as i16)
            })
            .collect();
        assert_eq!(enc, dmw);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn alaw_digital_milliwatt_is_the_g711_sequence() {
        // G.711 Table 6: the A-law digital milliwatt.
        let dmw = [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4];
        let lin: Vec<i16> = dmw.iter().map(|&c| alaw_decode(c)).collect();
        assert_eq!(lin[0], -lin[4]);
        assert_eq!(lin[1], -lin[5]);
        assert!(lin[4] > 0 && lin[5] > lin[4]);
        let ratio = f64::from(lin[4]) / f64::from(lin[5]);
        assert!(
            (ratio - (std::f64::consts::PI / 8.0).tan()).abs() < 0.03,
            "{ratio}"
        );
    }

    #[test]
    fn tables_match_the_reference_formula_on_every_input() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(x), reference::ulaw_encode(x), "ulaw {x}");
            assert_eq!(alaw_encode(x), reference::alaw_encode(x), "alaw {x}");
        }
    }

    #[test]
    fn all_256_codes_round_trip() {
        for c in 0..=255u8 {
            let a = alaw_decode(c);
            assert_eq!(alaw_encode(a), c, "alaw code {c:#x}");
            let u = ulaw_decode(c);
            if c == 0x7F {
                // µ-law has two zeros; "negative zero" decodes to 0 which encodes as +0.
                assert_eq!(ulaw_encode(u), 0xFF);
            } else {
                assert_eq!(ulaw_encode(u), c, "ulaw code {c:#x}");
            }
        }
    }

    #[test]
    fn encoders_are_monotonic() {
        let mut prev = ulaw_decode(ulaw_encode(i16::MIN));
        let mut prev_a = alaw_decode(alaw_encode(i16::MIN));
        for x in i16::MIN..=i16::MAX {
            let v = ulaw_decode(ulaw_encode(x));
            assert!(v >= prev);
            prev = v;
            let a = alaw_decode(alaw_encode(x));
            assert!(a >= prev_a);
            prev_a = a;
        }
    }

    #[test]
    fn quantisation_error_is_within_half_a_step() {
        for x in i16::MIN..=i16::MAX {
            let e = (i32::from(ulaw_decode(ulaw_encode(x))) - i32::from(x)).abs();
            let mag = i32::from(x).abs();
            let bound = if mag > 32124 {
                32768 - 32124
            } else {
                (mag / 16).max(8) + 4
            };
            assert!(e <= bound, "ulaw x={x} err={e}");
            let e = (i32::from(alaw_decode(alaw_encode(x))) - i32::from(x)).abs();
            let bound = if mag > 32256 {
                32768 - 32256
            } else {
                (mag / 32).max(16) + 8
            };
            assert!(e <= bound, "alaw x={x} err={e}");
        }
    }

    #[test]
    fn transcoding_preserves_the_linear_value_closely() {
        for c in 0..=255u8 {
            let a = ulaw_to_alaw(c);
            assert_eq!(a, alaw_encode(ulaw_decode(c)));
            let back = alaw_to_ulaw(a);
            let d = (i32::from(ulaw_decode(back)) - i32::from(ulaw_decode(c))).abs();
            let mag = i32::from(ulaw_decode(c)).abs();
            // A-law steps are at most twice µ-law's at the same level (and 16 near zero).
            assert!(d <= (mag / 8).max(16), "code {c:#x}: {d}");
            let u = alaw_to_ulaw(c);
            assert_eq!(u, ulaw_encode(alaw_decode(c)));
        }
        // A-law -> µ-law -> A-law lands within one A-law step of where it started.
        for c in 0..=255u8 {
            let v = i32::from(alaw_decode(c));
            let rt = i32::from(alaw_decode(ulaw_to_alaw(alaw_to_ulaw(c))));
            assert!(
                (rt - v).abs() <= (v.abs() / 16).max(16),
                "code {c:#x}: {v} -> {rt}"
            );
        }
    }

    #[test]
    fn payload_transcoding_and_law_helpers() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 397) % 20000 - 10000) as i16)
            .collect();
        let mut u = Vec::new();
        Law::Ulaw.encode_into(&pcm, &mut u);
        let mut a = u.clone();
        transcode_in_place(Law::Ulaw, Law::Alaw, &mut a);
        let mut direct = Vec::new();
        Law::Alaw.encode_into(&pcm, &mut direct);
        let mut dec_a = Vec::new();
        Law::Alaw.decode_into(&a, &mut dec_a);
        let mut dec_d = Vec::new();
        Law::Alaw.decode_into(&direct, &mut dec_d);
        for (x, y) in dec_a.iter().zip(&dec_d) {
            assert!((i32::from(*x) - i32::from(*y)).abs() <= 512);
        }
        assert_eq!(Law::from_payload_type(8), Some(Law::Alaw));
        assert_eq!(Law::from_payload_type(101), None);
        assert_eq!(Law::Ulaw.decode(Law::Ulaw.silence()), 0);
    }
}
