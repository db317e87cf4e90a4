//! SRTP and SRTCP (RFC 3711) for a leg keyed by SDES (RFC 4568): one
//! [`SrtpSession`] per leg protects what we send with our master key and
//! authenticates, replay-checks and decrypts what the far end sends with its key.
//!
//! The cipher, key derivation, rollover counter and replay windows are the
//! webrtc-rs stack's (`rtc-srtp`, the sans-IO crate behind `webrtc` 0.21, so a
//! center with browser legs carries one SRTP implementation); this module only
//! keys it from SDP's master keys and gives it callcore's buffers and errors.
//!
//! A packet that fails authentication (a wrong key, a stranger, a tampered or
//! replayed packet) is an error here; every caller drops it, counts it, and
//! neither relays, records nor latches to it.
//!
//! ```
//! use callcore_media::srtp::{SrtpParams, SrtpProfile, SrtpSession};
//! let ours = [1u8; 30];
//! let theirs = [2u8; 30];
//! let mut us = SrtpSession::new(&SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, ours, theirs))?;
//! let mut far = SrtpSession::new(&SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, theirs, ours))?;
//! let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
//! rtp.extend_from_slice(&[0xd5; 160]);
//! let (mut wire, mut back) = (Vec::new(), Vec::new());
//! us.protect_rtp(&rtp, &mut wire)?;
//! assert_eq!(wire.len(), rtp.len() + 10, "an 80-bit tag");
//! assert_ne!(&wire[12..172], &rtp[12..]);
//! far.unprotect_rtp(&wire, &mut back)?;
//! assert_eq!(back, rtp);
//! assert!(far.unprotect_rtp(&wire, &mut back).is_err(), "a replay is refused");
//! # Ok::<(), callcore_media::MediaError>(())
//! ```

use std::fmt;

use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

use crate::error::{MediaError, Result};

/// Length of a master key and salt together (AES-CM-128: 16 + 14 bytes).
pub const MASTER_LEN: usize = 30;

/// Packets remembered by each replay window (RFC 3711 §3.3.2 asks for at least 64).
const REPLAY_WINDOW: usize = 128;

/// The SRTP protection profiles carried (RFC 4568 §6.2 crypto suites).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// `AES_CM_128_HMAC_SHA1_80`.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32` (SRTP tag 32 bits, SRTCP tag 80 bits).
    AesCm128HmacSha1_32,
}

impl SrtpProfile {
    fn rtc(self) -> ProtectionProfile {
        match self {
            SrtpProfile::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpProfile::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }

    /// Bytes the authentication tag adds to an SRTP packet.
    pub fn rtp_tag_len(self) -> usize {
        self.rtc().rtp_auth_tag_len()
    }
}

/// A leg's SRTP keys: the profile, our master key and salt (sending) and the far
/// end's (receiving). `Debug` never shows the keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SrtpParams {
    /// The protection profile.
    pub profile: SrtpProfile,
    send: [u8; MASTER_LEN],
    receive: [u8; MASTER_LEN],
}

impl SrtpParams {
    /// `send` protects what we send, `receive` what the far end sends (each key
    /// then salt, as SDP's `inline:` carries them).
    pub fn new(profile: SrtpProfile, send: [u8; MASTER_LEN], receive: [u8; MASTER_LEN]) -> Self {
        SrtpParams {
            profile,
            send,
            receive,
        }
    }
}

impl fmt::Debug for SrtpParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpParams")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The SRTP state of one leg: both directions' crypto contexts, their rollover
/// counters and replay windows, and what was refused.
pub struct SrtpSession {
    params: SrtpParams,
    outbound: Context,
    inbound: Context,
    rejected: u64,
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSession")
            .field("profile", &self.params.profile)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

fn srtp_error(what: &'static str, e: impl fmt::Display) -> MediaError {
    MediaError::InvalidField {
        what,
        field: "srtp",
        detail: e.to_string(),
    }
}

/// One direction's crypto context: `inbound` uses the far end's key with replay
/// windows, outbound ours.
fn context(params: &SrtpParams, inbound: bool) -> Result<Context> {
    let provider = rtc_srtp::crypto::default_provider().map_err(|e| MediaError::Config {
        field: "srtp",
        detail: format!("no crypto provider: {e}"),
    })?;
    let master = if inbound {
        &params.receive
    } else {
        &params.send
    };
    let (key, salt) = master.split_at(16);
    let (rtp, rtcp) = if inbound {
        (
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
        )
    } else {
        (None, None)
    };
    Context::new(
        key,
        salt,
        params.profile.rtc(),
        rtp,
        rtcp,
        provider.crypto(),
    )
    .map_err(|e| MediaError::Config {
        field: "srtp",
        detail: e.to_string(),
    })
}

impl SrtpSession {
    /// Keys both directions from `params`.
    ///
    /// # Errors
    /// [`MediaError::Config`] when the crypto provider cannot be had.
    pub fn new(params: &SrtpParams) -> Result<SrtpSession> {
        Ok(SrtpSession {
            params: *params,
            outbound: context(params, false)?,
            inbound: context(params, true)?,
            rejected: 0,
        })
    }

    /// A session for `params`, or `None` for plain RTP.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_params(params: Option<&SrtpParams>) -> Result<Option<SrtpSession>> {
        params.map(SrtpSession::new).transpose()
    }

    /// Brings a leg's SRTP state to `params`: none for plain RTP, a new session,
    /// or the running one re-keyed (see [`rekey`](Self::rekey)). A failure leaves
    /// the leg without a session, so nothing it receives authenticates.
    pub fn apply(session: &mut Option<SrtpSession>, params: Option<&SrtpParams>) {
        let result = match (session.as_mut(), params) {
            (_, None) => {
                *session = None;
                return;
            }
            (Some(s), Some(p)) => s.rekey(p),
            (None, Some(p)) => SrtpSession::new(p).map(|s| *session = Some(s)),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "SRTP keys not applied");
        }
    }

    /// Applies a re-negotiation (RFC 4568 §7.1.4): a direction whose key (or
    /// profile) changed starts a new crypto context; an unchanged one keeps its
    /// rollover counter and replay window.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn rekey(&mut self, params: &SrtpParams) -> Result<()> {
        let same_profile = self.params.profile == params.profile;
        if !same_profile || self.params.send != params.send {
            self.outbound = context(params, false)?;
        }
        if !same_profile || self.params.receive != params.receive {
            self.inbound = context(params, true)?;
        }
        self.params = *params;
        Ok(())
    }

    /// The keys this session was made from (a re-negotiation with other keys
    /// makes a new session).
    pub fn params(&self) -> &SrtpParams {
        &self.params
    }

    /// Received packets refused so far (authentication failed, replayed, too
    /// short).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Protects an RTP packet into `out`.
    ///
    /// # Errors
    /// When `plain` is not RTP or the key has protected 2^48 packets.
    pub fn protect_rtp(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let p = self
            .outbound
            .encrypt_rtp(plain)
            .map_err(|e| srtp_error("srtp protect", e))?;
        out.clear();
        out.extend_from_slice(&p);
        Ok(())
    }

    /// Authenticates, replay-checks and decrypts an SRTP packet into `out`.
    ///
    /// # Errors
    /// When the packet fails authentication, is a replay or is malformed (counted
    /// in [`rejected`](Self::rejected)).
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.inbound.decrypt_rtp(packet) {
            Ok(p) => {
                out.clear();
                out.extend_from_slice(&p);
                Ok(())
            }
            Err(e) => {
                self.rejected += 1;
                Err(srtp_error("srtp unprotect", e))
            }
        }
    }

    /// Protects an RTCP compound packet into `out`.
    ///
    /// # Errors
    /// When `plain` is not RTCP.
    pub fn protect_rtcp(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let p = self
            .outbound
            .encrypt_rtcp(plain)
            .map_err(|e| srtp_error("srtcp protect", e))?;
        out.clear();
        out.extend_from_slice(&p);
        Ok(())
    }

    /// Authenticates, replay-checks and decrypts an SRTCP packet into `out`.
    ///
    /// # Errors
    /// As [`unprotect_rtp`](Self::unprotect_rtp).
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.inbound.decrypt_rtcp(packet) {
            Ok(p) => {
                out.clear();
                out.extend_from_slice(&p);
                Ok(())
            }
            Err(e) => {
                self.rejected += 1;
                Err(srtp_error("srtcp unprotect", e))
            }
        }
    }
}

#[cfg(test)]
#[path = "srtp_tests.rs"]
mod tests;
