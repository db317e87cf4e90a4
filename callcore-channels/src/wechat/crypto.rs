//! WeChat's callback signatures and message encryption (sans-IO).
//!
//! - Signatures: the SHA-1 (lower-case hex) of the token, the timestamp, the
//!   nonce — and, for an encrypted message, its `Encrypt` text — sorted as
//!   byte strings and concatenated.
//! - Encryption ("safe mode"): the 43-character EncodingAESKey plus `=` is
//!   base64 for a 32-byte AES-256 key whose first 16 bytes are the CBC IV.
//!   The plaintext is 16 random bytes, the message's length as 4 big-endian
//!   bytes, the message and the app id, padded PKCS#7-style to a multiple of
//!   32 bytes (not AES's 16); the ciphertext travels in base64.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The padding block of WeChat's PKCS#7 variant.
const BLOCK: usize = 32;

/// Why a callback's cryptography failed; messages never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters of a 32-byte key.
    #[error("the EncodingAESKey is not 43 base64 characters of a 32-byte key")]
    Key,
    /// The ciphertext is not base64 or not whole AES blocks.
    #[error("the ciphertext is not base64 of whole AES blocks")]
    Ciphertext,
    /// The padding, the length prefix or the UTF-8 of the message is wrong.
    #[error("the decrypted message is malformed: {0}")]
    Malformed(&'static str),
    /// The message was encrypted for another app id.
    #[error("the message is for another app id")]
    AppId,
}

/// The signature of `parts` (token, timestamp, nonce and, for an encrypted
/// message, the `Encrypt` text): SHA-1 of the sorted parts, lower-case hex.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut h = Sha1::new();
    for p in sorted {
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the signature of `parts`, compared in constant time.
pub fn signature_matches(given: &str, parts: &[&str]) -> bool {
    let want = signature(parts);
    let given = given.as_bytes();
    given.len() == want.len()
        && given
            .iter()
            .zip(want.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The message cipher of one app: its AES key and app id.
#[derive(Clone)]
pub struct MsgCrypt {
    key: [u8; 32],
    appid: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the key stays out of logs
        f.debug_struct("MsgCrypt")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl MsgCrypt {
    /// The cipher of `encoding_aes_key` (43 characters, as the WeChat admin
    /// console shows it) for `appid`.
    ///
    /// # Errors
    /// [`CryptoError::Key`] when the key is not 43 base64 characters.
    pub fn new(encoding_aes_key: &str, appid: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::Key);
        }
        // the 43rd character carries 4 bits of which base64 keeps 2: decoders
        // that insist on zero trailing bits refuse keys WeChat issues, so the
        // bits are checked by length only
        let decoded = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        )
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| CryptoError::Key)?;
        let key: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::Key)?;
        Ok(Self {
            key,
            appid: appid.to_owned(),
        })
    }

    /// The app id messages are encrypted for.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Encrypts `message` after the 16 bytes `random`; base64.
    pub fn encrypt_with(&self, random: &[u8; 16], message: &str) -> String {
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let mut plain = Vec::with_capacity(20 + message.len() + self.appid.len() + BLOCK);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = BLOCK - plain.len() % BLOCK;
        // pad is 1..=32: fits a byte
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let n = plain.len();
        let enc = Encryptor::new(&self.key.into(), &self.iv().into());
        match enc.encrypt_padded_mut::<NoPadding>(&mut plain, n) {
            Ok(ct) => STANDARD.encode(ct),
            // whole blocks by construction
            Err(_) => String::new(),
        }
    }

    /// Encrypts `message` after 16 random bytes (OS entropy); base64.
    ///
    /// # Errors
    /// [`CryptoError::Key`] when the system has no entropy to give.
    pub fn encrypt(&self, message: &str) -> Result<String, CryptoError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|_| CryptoError::Key)?;
        Ok(self.encrypt_with(&random, message))
    }

    /// Decrypts a base64 ciphertext; the message, once its app id is checked.
    ///
    /// # Errors
    /// [`CryptoError`] naming what is wrong.
    pub fn decrypt(&self, ciphertext: &str) -> Result<String, CryptoError> {
        let (message, appid) = self.decrypt_any(ciphertext)?;
        if appid != self.appid {
            return Err(CryptoError::AppId);
        }
        Ok(message)
    }

    /// Decrypts a base64 ciphertext into its message and the app id it names.
    ///
    /// # Errors
    /// [`CryptoError`] naming what is wrong.
    pub fn decrypt_any(&self, ciphertext: &str) -> Result<(String, String), CryptoError> {
        let mut data = STANDARD
            .decode(ciphertext.trim())
            .map_err(|_| CryptoError::Ciphertext)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(CryptoError::Ciphertext);
        }
        let dec = Decryptor::new(&self.key.into(), &self.iv().into());
        let plain = dec
            .decrypt_padded_mut::<NoPadding>(&mut data)
            .map_err(|_| CryptoError::Ciphertext)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::Malformed("empty"))?);
        if pad == 0 || pad > BLOCK || pad > plain.len() {
            return Err(CryptoError::Malformed("padding"));
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(CryptoError::Malformed("shorter than its header"));
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&body[16..20]);
        let len = u32::from_be_bytes(len) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(CryptoError::Malformed("length"));
        }
        let message = std::str::from_utf8(&rest[..len])
            .map_err(|_| CryptoError::Malformed("message not UTF-8"))?;
        let appid = std::str::from_utf8(&rest[len..])
            .map_err(|_| CryptoError::Malformed("app id not UTF-8"))?;
        Ok((message.to_owned(), appid.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding_to_32_bytes() {
        let c = MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxapp").unwrap();
        for n in [0usize, 1, 11, 12, 13, 44, 100] {
            let m = "x".repeat(n);
            let ct = c.encrypt_with(&[7; 16], &m);
            let raw = STANDARD.decode(&ct).unwrap();
            assert_eq!(raw.len() % 32, 0, "{n}");
            assert!(raw.len() > 20 + n + 5, "{n}");
            assert_eq!(c.decrypt(&ct).unwrap(), m);
        }
        let other =
            MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxother").unwrap();
        assert_eq!(
            other.decrypt(&c.encrypt_with(&[1; 16], "hi")),
            Err(CryptoError::AppId)
        );
        assert_eq!(c.decrypt("not base64!"), Err(CryptoError::Ciphertext));
        assert_eq!(c.decrypt("AAAA"), Err(CryptoError::Ciphertext));
        assert!(MsgCrypt::new("short", "x").is_err());
    }
}
