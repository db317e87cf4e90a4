//! Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): server verification with
//! nonce expiry, replay protection and rate limiting, and the client answer to a
//! challenge.

mod client;
mod digest;
mod server;

pub use client::authorization_for;
pub use digest::{DigestAlgorithm, DigestInput, ct_eq, digest_response, to_hex};
pub use server::{AuthOutcome, Authenticator, CredentialStore, DigestConfig};
