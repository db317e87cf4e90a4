//! SDES: SRTP keys in SDP (RFC 4568). An `a=crypto:<tag> <suite> inline:<key||salt>`
//! line per crypto suite offered; the answer picks one line by its tag and sends its
//! own key for the same suite. Each side's key protects what that side sends.
//!
//! Keys are secrets: the `Debug` output of every type here leaves them out, and
//! they travel only in SDP bodies (protected when signalling is TLS).
//!
//! ```
//! use callcore_sip::session::{CryptoSuite, MasterKey, SdpCrypto};
//! let ours = SdpCrypto::new(1, CryptoSuite::AesCm128HmacSha1_80, &MasterKey::new([7; 30]));
//! let line = ours.to_value();
//! assert!(line.starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:"));
//! let parsed = SdpCrypto::parse(&line).unwrap();
//! assert_eq!(parsed.usable(), Some((CryptoSuite::AesCm128HmacSha1_80, MasterKey::new([7; 30]))));
//! assert!(!format!("{parsed:?}").contains(&line[26..]), "no key in Debug");
//! assert!(SdpCrypto::parse("x AES_CM_128_HMAC_SHA1_80 inline:abc").is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;

/// Master key and salt length of the AES-CM-128 suites (16 + 14 bytes).
pub const MASTER_KEY_LEN: usize = 30;

/// Whether a leg's media is protected with SRTP (SDES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SrtpPolicy {
    /// Plain RTP: `RTP/AVP` without `a=crypto`; an `RTP/SAVP` offer gets 488.
    #[default]
    Off,
    /// SRTP when the far end takes it: our offers are `RTP/AVP` with `a=crypto`
    /// (best effort, as many phones do); an offer with usable `a=crypto` is
    /// answered with SRTP, one without with plain RTP.
    Offer,
    /// SRTP or no call: our offers are `RTP/SAVP`; an offer without a usable
    /// `a=crypto` gets 488, and an answer without one leaves the call without media.
    Require,
}

impl SrtpPolicy {
    /// The setting's name in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Offer => "offer",
            SrtpPolicy::Require => "require",
        }
    }
}

impl FromStr for SrtpPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(SrtpPolicy::Off),
            "offer" => Ok(SrtpPolicy::Offer),
            "require" => Ok(SrtpPolicy::Require),
            other => Err(format!(
                "unknown SRTP policy {other:?} (off, offer or require)"
            )),
        }
    }
}

/// The crypto suites we carry, in our order of preference (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoSuite {
    /// `AES_CM_128_HMAC_SHA1_80` (must implement).
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`.
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    /// Every suite, preferred first.
    pub const ALL: [CryptoSuite; 2] = [
        CryptoSuite::AesCm128HmacSha1_80,
        CryptoSuite::AesCm128HmacSha1_32,
    ];

    /// The suite's name in SDP.
    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn from_name(name: &str) -> Option<CryptoSuite> {
        CryptoSuite::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A master key and salt (30 bytes); `Debug` shows `MasterKey(..)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// Key (16 bytes) then salt (14 bytes).
    pub const fn new(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKey(bytes)
    }

    /// Key then salt.
    pub const fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// One `a=crypto` attribute (its value after `crypto:`). Lines with a suite, key
/// method or session parameter we do not carry are kept (a relayed description
/// stays whole) but are not [`usable`](Self::usable).
#[derive(Clone, PartialEq, Eq)]
pub struct SdpCrypto {
    /// The tag the answer names its choice by.
    pub tag: u32,
    /// The crypto suite as written.
    pub suite: String,
    /// The key parameters as written (`inline:...`): secret.
    key_params: String,
    /// Session parameters as written (`KDR=...`, `UNENCRYPTED_SRTP`...).
    pub session_params: Vec<String>,
}

impl fmt::Debug for SdpCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdpCrypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("key_params", &"..")
            .field("session_params", &self.session_params)
            .finish()
    }
}

fn crypto_err(what: &str) -> Error {
    Error::Sdp(format!("bad a=crypto: {what}"))
}

impl SdpCrypto {
    /// Our line: `tag`, `suite`, `key` inline.
    pub fn new(tag: u32, suite: CryptoSuite, key: &MasterKey) -> Self {
        SdpCrypto {
            tag,
            suite: suite.name().to_owned(),
            key_params: format!("inline:{}", STANDARD.encode(key.0)),
            session_params: Vec::new(),
        }
    }

    /// Parses the value of an `a=crypto` attribute (`<tag> <suite> <key-params>
    /// [<session-params>]`).
    ///
    /// # Errors
    /// [`Error::Sdp`] naming what is wrong: a tag that is not a 1-9 digit number,
    /// a missing suite, missing key parameters.
    pub fn parse(value: &str) -> Result<SdpCrypto, Error> {
        let mut it = value.split_ascii_whitespace();
        let tag = it.next().ok_or_else(|| crypto_err("missing tag"))?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(crypto_err("the tag must be a number of 1 to 9 digits"));
        }
        let tag = tag.parse().map_err(|_| crypto_err("tag"))?;
        let suite = it
            .next()
            .ok_or_else(|| crypto_err("missing crypto suite"))?;
        let key_params = it
            .next()
            .ok_or_else(|| crypto_err("missing key parameters"))?;
        if !key_params.contains(':') {
            return Err(crypto_err("key parameters must be <method>:<info>"));
        }
        Ok(SdpCrypto {
            tag,
            suite: suite.to_owned(),
            key_params: key_params.to_owned(),
            session_params: it.map(str::to_owned).collect(),
        })
    }

    /// The attribute value, as [`parse`](Self::parse) reads it.
    pub fn to_value(&self) -> String {
        let mut s = format!("{} {} {}", self.tag, self.suite, self.key_params);
        for p in &self.session_params {
            s.push(' ');
            s.push_str(p);
        }
        s
    }

    /// The suite and key when we can use this line: a suite we carry, one
    /// `inline:` key of 30 bytes (base64), no MKI, no session parameters (they
    /// change the transform: unencrypted or unauthenticated SRTP, a key
    /// derivation rate, FEC order), a lifetime of 2^31 packets or more if any.
    pub fn usable(&self) -> Option<(CryptoSuite, MasterKey)> {
        let suite = CryptoSuite::from_name(&self.suite)?;
        if !self.session_params.is_empty() || self.key_params.contains(';') {
            return None;
        }
        let inline = self.key_params.strip_prefix("inline:")?;
        let mut parts = inline.split('|');
        let key = parts.next()?;
        for extra in parts {
            // MKI ("1:4") is not supported; a lifetime ("2^31" or a number) is
            if extra.contains(':') || !lifetime_is_long(extra) {
                return None;
            }
        }
        let bytes = STANDARD.decode(key).ok()?;
        let bytes: [u8; MASTER_KEY_LEN] = bytes.try_into().ok()?;
        Some((suite, MasterKey(bytes)))
    }
}

/// A key lifetime (`2^31`, or a decimal packet count) of at least 2^31 packets:
/// shorter ones would need re-keying we do not do.
fn lifetime_is_long(s: &str) -> bool {
    match s.strip_prefix("2^") {
        Some(exp) => exp.parse::<u32>().is_ok_and(|e| (31..=48).contains(&e)),
        None => s.parse::<u64>().is_ok_and(|n| n >= 1 << 31),
    }
}

/// What our side brings to SDES: the policy and our master key (fresh per leg;
/// kept across its re-INVITEs, as RFC 4568 §7.1.4 allows, so that the far end's
/// crypto context goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSrtp {
    /// Off, offer or require.
    pub policy: SrtpPolicy,
    /// Our master key (protects what we send).
    pub key: MasterKey,
}

/// SRTP as an offer/answer settled it: the suite, our key (sending) and the far
/// end's (receiving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedSrtp {
    /// The agreed suite.
    pub suite: CryptoSuite,
    /// Protects what we send.
    pub send: MasterKey,
    /// Authenticates and decrypts what the far end sends.
    pub receive: MasterKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_clear_errors() {
        for (bad, says) in [
            ("", "missing tag"),
            ("abc AES_CM_128_HMAC_SHA1_80 inline:x", "tag"),
            ("1234567890 AES_CM_128_HMAC_SHA1_80 inline:x", "tag"),
            ("1", "missing crypto suite"),
            ("1 AES_CM_128_HMAC_SHA1_80", "missing key parameters"),
            ("1 AES_CM_128_HMAC_SHA1_80 inlineonly", "<method>:<info>"),
        ] {
            let e = SdpCrypto::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("a=crypto") && e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn unusable_lines_parse_but_are_not_chosen() {
        let key = STANDARD.encode([1u8; 30]);
        let usable = |v: &str| SdpCrypto::parse(v).expect(v).usable().is_some();
        assert!(usable(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}")));
        assert!(usable(&format!(
            "1 AES_CM_128_HMAC_SHA1_32 inline:{key}|2^31"
        )));
        assert!(!usable(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20"
        )));
        assert!(!usable(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31|1:4"
        )));
        assert!(!usable(&format!("1 F8_128_HMAC_SHA1_80 inline:{key}")));
        assert!(!usable(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{key} UNENCRYPTED_SRTP"
        )));
        assert!(
            !usable("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ="),
            "16-byte key"
        );
        assert!(!usable("1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!"));
        assert!(!usable(&format!("1 AES_CM_128_HMAC_SHA1_80 uri:{key}")));
    }

    proptest::proptest! {
        /// Any attribute value parses or is a clear error; a parsed one judges its
        /// key and writes itself back without panicking.
        #[test]
        fn any_crypto_value_is_handled_without_panic(v in "[ -~]{0,120}") {
            if let Ok(c) = SdpCrypto::parse(&v) {
                let _ = c.usable();
                proptest::prop_assert!(SdpCrypto::parse(&c.to_value()).is_ok());
            }
        }
    }

    #[test]
    fn lines_round_trip_and_policies_parse() {
        let c = SdpCrypto::new(
            3,
            CryptoSuite::AesCm128HmacSha1_32,
            &MasterKey::new([9; 30]),
        );
        assert_eq!(SdpCrypto::parse(&c.to_value()).expect("parses"), c);
        for p in [SrtpPolicy::Off, SrtpPolicy::Offer, SrtpPolicy::Require] {
            assert_eq!(p.as_str().parse::<SrtpPolicy>(), Ok(p));
        }
        assert!("mandatory".parse::<SrtpPolicy>().is_err());
    }
}
