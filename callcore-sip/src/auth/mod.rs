//! Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): server verification with
//! nonce expiry, replay protection and rate limiting, challenges per account (MD5,
//! SHA-256 or both, because deployed phones differ), and the client answer to a
//! challenge.

mod accounts;
mod client;
mod digest;
mod lockout;
mod server;

pub use accounts::{Account, Accounts};
pub use client::{authorization_for, choose_challenge};
pub use digest::{
    DigestAlgorithm, DigestInput, ct_eq, digest_response, ha1, response_from_ha1, to_hex,
};
pub use server::{AuthOutcome, Authenticator, CredentialStore, DigestConfig, NonceKey};
