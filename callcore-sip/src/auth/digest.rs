//! HTTP Digest for SIP (RFC 7616 as used by RFC 3261 §22 and RFC 8760): MD5 and
//! SHA-256, `qop=auth`, hashing helpers shared by server and client.

use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5` (what most SIP phones still speak).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl DigestAlgorithm {
    /// The token in `algorithm=`.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses the token (absent means MD5).
    pub fn parse(s: Option<&str>) -> Option<DigestAlgorithm> {
        match s {
            None => Some(DigestAlgorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(DigestAlgorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(DigestAlgorithm::Sha256),
            Some(_) => None,
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            DigestAlgorithm::Md5 => to_hex(&Md5::digest(data)),
            DigestAlgorithm::Sha256 => to_hex(&Sha256::digest(data)),
        }
    }
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The inputs of a digest response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestInput<'a> {
    /// Algorithm.
    pub algorithm: DigestAlgorithm,
    /// User name.
    pub username: &'a str,
    /// Realm.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// Request method.
    pub method: &'a str,
    /// `uri` parameter (the digest-uri as the client sent it).
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// `qop=auth` fields: (nc, cnonce); `None` for the RFC 2069 form without qop.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// Computes the `response` value.
///
/// ```
/// use callcore_sip::auth::{DigestAlgorithm, DigestInput, digest_response};
/// // RFC 2617 §3.5 example values (MD5, qop=auth).
/// let r = digest_response(&DigestInput {
///     algorithm: DigestAlgorithm::Md5, username: "Mufasa", realm: "testrealm@host.com",
///     password: "Circle Of Life", method: "GET", uri: "/dir/index.html",
///     nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", qop_auth: Some(("00000001", "0a4f113b")),
/// });
/// assert_eq!(r, "6629fae49393a05397450978507c4ef1");
/// ```
pub fn digest_response(i: &DigestInput<'_>) -> String {
    let ha1 = ha1(i.algorithm, i.username, i.realm, i.password);
    response_from_ha1(&ha1, i)
}

/// HA1 = H(username:realm:password), the form a credential store may keep instead
/// of the password.
///
/// ```
/// use callcore_sip::auth::{DigestAlgorithm, ha1};
/// assert_eq!(ha1(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life"),
///            "939e7578ed9e3c518a452acee763bce9");
/// ```
pub fn ha1(algorithm: DigestAlgorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The `response` value from a stored HA1 (`i.password` is not used).
pub fn response_from_ha1(ha1: &str, i: &DigestInput<'_>) -> String {
    let ha2 = i
        .algorithm
        .hex(format!("{}:{}", i.method, i.uri).as_bytes());
    let data = match i.qop_auth {
        Some((nc, cnonce)) => format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", i.nonce),
        None => format!("{ha1}:{}:{ha2}", i.nonce),
    };
    i.algorithm.hex(data.as_bytes())
}

/// Constant-time comparison of two hex strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7616_sha256_example() {
        // RFC 7616 §3.9.1 (HTTP example; SIP uses the same computation).
        let r = digest_response(&DigestInput {
            algorithm: DigestAlgorithm::Sha256,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        });
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let r = digest_response(&DigestInput {
            algorithm: DigestAlgorithm::Md5,
            ..DigestInput {
                algorithm: DigestAlgorithm::Sha256,
                username: "Mufasa",
                realm: "http-auth@example.org",
                password: "Circle of Life",
                method: "GET",
                uri: "/dir/index.html",
                nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
            }
        });
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("ab", "abc"));
    }
}
