//! A logged-in visitor's identity, signed by the website that embeds the
//! chat widget: the page opens `/chat?identity=email:ann@example.org&expires=<unix s>&signature=<hex>`
//! (or sends the same as the socket's `identify` op), where the signature is
//! HMAC-SHA256 of `<identity>|<expires>` under `[chat] identity_secret`
//! ([`sign_identity`]). A valid, unexpired signature makes the identity
//! proven for the session; anything else is refused with a reason and a log
//! line, and the visitor stays anonymous.

use callcore::IdentityKind;
use sha2::{Digest, Sha256};

/// The longest validity a signature may claim (a day): a leaked link does
/// not prove an identity for ever.
const MAX_VALIDITY_SECS: i64 = 24 * 3600;

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature a website gives a visitor's `identity` (`kind:value`,
/// e.g. `email:ann@example.org`) valid until `expires` (Unix seconds):
/// lowercase hex of HMAC-SHA256 of `identity|expires` under `secret`.
#[must_use]
pub fn sign_identity(secret: &str, identity: &str, expires: i64) -> String {
    hex(&hmac_sha256(
        secret.as_bytes(),
        format!("{identity}|{expires}").as_bytes(),
    ))
}

/// Checks a signed identity at `now_secs`; the identity's kind and value.
///
/// # Errors
/// Why it is refused (no secret set, a malformed identity, expired, too
/// long-lived, a wrong signature).
pub(crate) fn verify(
    secret: Option<&str>,
    identity: &str,
    expires: i64,
    signature: &str,
    now_secs: i64,
) -> Result<(IdentityKind, String), String> {
    let secret = secret.ok_or("this chat takes no signed identities")?;
    let (kind, value) = identity
        .split_once(':')
        .ok_or("an identity is kind:value")?;
    let kind = match IdentityKind::from_name(kind) {
        Some(k @ (IdentityKind::Email | IdentityKind::Phone | IdentityKind::Account)) => k,
        _ => return Err(format!("identity kind `{kind}`: email, phone or account")),
    };
    let value = value.trim();
    if value.is_empty() || value.len() > 256 {
        return Err("an identity's value is 1-256 bytes".into());
    }
    if expires <= now_secs {
        return Err("the signed identity has expired".into());
    }
    if expires - now_secs > MAX_VALIDITY_SECS {
        return Err("the signed identity is valid for longer than a day".into());
    }
    let want = sign_identity(secret, identity, expires);
    let got = signature.trim().to_ascii_lowercase();
    // compared in full whatever differs first
    let same = want.len() == got.len()
        && want
            .bytes()
            .zip(got.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err("the identity's signature does not match".into());
    }
    let value = if kind == IdentityKind::Email {
        value.to_ascii_lowercase()
    } else {
        value.to_owned()
    };
    Ok((kind, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe"
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signed_identity_is_proven_and_a_forged_one_refused() {
        let secret = Some("site-secret-0123456789");
        let sig = sign_identity("site-secret-0123456789", "email:Ann@Example.org", 1_000);
        assert_eq!(
            verify(secret, "email:Ann@Example.org", 1_000, &sig, 900),
            Ok((IdentityKind::Email, "ann@example.org".into()))
        );
        for (identity, expires, signature, now, why) in [
            (
                "email:bob@example.org",
                1_000,
                sig.as_str(),
                900,
                "does not match",
            ),
            (
                "email:Ann@Example.org",
                1_000,
                sig.as_str(),
                1_000,
                "expired",
            ),
            ("chat_id:v-1", 1_000, sig.as_str(), 900, "kind"),
            ("nokind", 1_000, sig.as_str(), 900, "kind:value"),
            ("email:Ann@Example.org", 1_000, "00", 900, "does not match"),
            (
                "email:Ann@Example.org",
                200_000,
                sig.as_str(),
                0,
                "longer than a day",
            ),
        ] {
            let e = verify(secret, identity, expires, signature, now).unwrap_err();
            assert!(e.contains(why), "{identity}: {e}");
        }
        assert!(verify(None, "email:a@b", 1_000, &sig, 900).is_err());
    }
}
