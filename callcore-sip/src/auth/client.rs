//! Client-side digest: answering a 401/407 challenge (for outbound registration and
//! calls through trunks that authenticate).

use super::digest::{DigestAlgorithm, DigestInput, digest_response};
use crate::message::AuthValue;

/// Picks the challenge to answer among a 401/407's `challenges`. With `allowed`
/// empty, the topmost digest challenge whose algorithm we support (RFC 8760 §2.4);
/// otherwise the local policy: the first algorithm of `allowed` (preferred first)
/// that some challenge offers, so that `[SHA-256]` never answers an MD5 challenge.
///
/// ```
/// use callcore_sip::auth::{DigestAlgorithm, choose_challenge};
/// use callcore_sip::message::AuthValue;
/// let md5 = AuthValue::parse("Digest realm=\"cc\", nonce=\"n\", algorithm=MD5").unwrap();
/// let sha = AuthValue::parse("Digest realm=\"cc\", nonce=\"n\", algorithm=SHA-256").unwrap();
/// let offered = [md5, sha];
/// let algo = |c: Option<&AuthValue<'_>>| c.and_then(|c| c.param("algorithm")).map(|a| a.into_owned());
/// assert_eq!(algo(choose_challenge(&offered, &[])).as_deref(), Some("MD5"));
/// assert_eq!(algo(choose_challenge(&offered, &[DigestAlgorithm::Sha256])).as_deref(), Some("SHA-256"));
/// assert!(choose_challenge(&offered[..1], &[DigestAlgorithm::Sha256]).is_none());
/// ```
pub fn choose_challenge<'c, 'a>(
    challenges: &'c [AuthValue<'a>],
    allowed: &[DigestAlgorithm],
) -> Option<&'c AuthValue<'a>> {
    let algorithm_of = |c: &AuthValue<'_>| {
        if c.is_digest() {
            DigestAlgorithm::parse(c.param("algorithm").as_deref())
        } else {
            None
        }
    };
    if allowed.is_empty() {
        return challenges.iter().find(|c| algorithm_of(c).is_some());
    }
    allowed
        .iter()
        .find_map(|want| challenges.iter().find(|c| algorithm_of(c) == Some(*want)))
}

/// Builds an `Authorization`/`Proxy-Authorization` value answering `challenge` for
/// `method` on `uri`, with client nonce `cnonce` and nonce count `nc`.
/// Returns `None` for a non-digest or unsupported challenge.
///
/// ```
/// use callcore_sip::auth::authorization_for;
/// use callcore_sip::message::AuthValue;
/// let ch = AuthValue::parse("Digest realm=\"cc\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"").unwrap();
/// let v = authorization_for(&ch, "1001", "secret", "REGISTER", "sip:127.0.0.1", "c0ffee", 1).unwrap();
/// assert!(v.starts_with("Digest username=\"1001\", realm=\"cc\""));
/// assert!(v.contains("nc=00000001"));
/// ```
pub fn authorization_for(
    challenge: &AuthValue<'_>,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Option<String> {
    if !challenge.is_digest() {
        return None;
    }
    let algorithm = DigestAlgorithm::parse(challenge.param("algorithm").as_deref())?;
    let realm = challenge.param("realm")?;
    let nonce = challenge.param("nonce")?;
    let qop_auth = challenge
        .param("qop")
        .is_some_and(|q| q.split(',').any(|t| t.trim() == "auth"));
    let nc_txt = format!("{nc:08x}");
    let response = digest_response(&DigestInput {
        algorithm,
        username: user,
        realm: &realm,
        password,
        method,
        uri,
        nonce: &nonce,
        qop_auth: qop_auth.then_some((nc_txt.as_str(), cnonce)),
    });
    let mut v = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
        algorithm.as_str()
    );
    if qop_auth {
        v.push_str(&format!(", qop=auth, nc={nc_txt}, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = challenge.param("opaque") {
        v.push_str(&format!(", opaque=\"{opaque}\""));
    }
    Some(v)
}
