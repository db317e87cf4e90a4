//! SRTP keys of a leg in neutral terms (RFC 3711, keyed by SDES, RFC 4568): the
//! crypto suite both sides agreed on and one master key (key and salt) per
//! direction. A signalling transport (SIP with `a=crypto`) fills them into
//! [`NegotiatedMedia::srtp`](crate::NegotiatedMedia::srtp); the media engine
//! protects what it sends with [`SrtpKeys::send`] and authenticates and decrypts
//! what it receives with [`SrtpKeys::receive`].
//!
//! Keys never appear in `Debug` output or logs:
//!
//! ```
//! use callcore::{SrtpKeys, SrtpMasterKey, SrtpSuite};
//! let keys = SrtpKeys::new(
//!     SrtpSuite::AesCm128HmacSha1_80,
//!     SrtpMasterKey::new([7; 30]),
//!     SrtpMasterKey::new([9; 30]),
//! );
//! let shown = format!("{keys:?}");
//! assert!(shown.contains("AesCm128HmacSha1_80") && !shown.contains('7'));
//! assert_eq!(keys.send.key(), &[7; 16]);
//! assert_eq!(keys.send.salt(), &[7; 14]);
//! ```

use std::fmt;

/// Length of an AES-CM-128 master key and its salt together (16 + 14 bytes), the
/// `inline:` key material of RFC 4568 §6.1.
pub const SRTP_MASTER_LEN: usize = 30;

/// The SRTP crypto suites callcore carries (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`: AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: as above with a 32-bit tag on SRTP (SRTCP keeps
    /// 80 bits).
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// Every suite, in our order of preference.
    pub const ALL: [SrtpSuite; 2] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// The suite's name in SDP.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite named `name` in SDP (case-sensitive, as RFC 4568 registers them).
    #[must_use]
    pub fn from_name(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One master key and salt (30 bytes), shown as `SrtpMasterKey(..)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SrtpMasterKey([u8; SRTP_MASTER_LEN]);

impl SrtpMasterKey {
    /// Key (16 bytes) then salt (14 bytes).
    #[must_use]
    pub const fn new(key_and_salt: [u8; SRTP_MASTER_LEN]) -> Self {
        Self(key_and_salt)
    }

    /// A fresh key from the operating system's random source.
    ///
    /// # Errors
    /// [`crate::CoreError::Media`] when the OS has no randomness to give.
    pub fn random() -> Result<Self, crate::CoreError> {
        let mut bytes = [0u8; SRTP_MASTER_LEN];
        getrandom::fill(&mut bytes)
            .map_err(|e| crate::CoreError::Media(format!("no OS randomness for SRTP keys: {e}")))?;
        Ok(Self(bytes))
    }

    /// The 128-bit master key.
    #[must_use]
    pub fn key(&self) -> &[u8] {
        &self.0[..16]
    }

    /// The 112-bit master salt.
    #[must_use]
    pub fn salt(&self) -> &[u8] {
        &self.0[16..]
    }

    /// Key and salt, as SDP's `inline:` carries them.
    #[must_use]
    pub const fn bytes(&self) -> &[u8; SRTP_MASTER_LEN] {
        &self.0
    }
}

impl fmt::Debug for SrtpMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpMasterKey(..)")
    }
}

/// The SRTP keys of one leg: the suite, our sending key (what we put in our SDP)
/// and the far end's (from its SDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SrtpKeys {
    /// The agreed crypto suite.
    pub suite: SrtpSuite,
    /// Protects what we send.
    pub send: SrtpMasterKey,
    /// Authenticates and decrypts what the far end sends.
    pub receive: SrtpMasterKey,
}

impl SrtpKeys {
    /// Keys of `suite` for both directions.
    #[must_use]
    pub const fn new(suite: SrtpSuite, send: SrtpMasterKey, receive: SrtpMasterKey) -> Self {
        Self {
            suite,
            send,
            receive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_round_trip_their_sdp_names() {
        for s in SrtpSuite::ALL {
            assert_eq!(SrtpSuite::from_name(s.name()), Some(s));
        }
        assert_eq!(SrtpSuite::from_name("F8_128_HMAC_SHA1_80"), None);
    }

    #[test]
    fn random_keys_differ_and_never_show() -> Result<(), crate::CoreError> {
        let (a, b) = (SrtpMasterKey::random()?, SrtpMasterKey::random()?);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "SrtpMasterKey(..)");
        Ok(())
    }
}
