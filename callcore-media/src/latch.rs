//! Which datagrams a leg accepts, and where its media goes ("latching"). The one
//! rule, used by the leg's own session, the relay pool and the plain media session
//! alike, lives here so that it is hardened in one place:
//!
//! - RTP from the address signalling gave (SDP) is accepted, and locks the leg to it.
//! - Behind a NAT the far end's packets come from another address: with latching on,
//!   and only while the leg is not locked yet and within its first
//!   [`NAT_WINDOW`] packets, the first RTP source locks the leg and its media goes
//!   back there (symmetric RTP).
//! - Once locked, RTP from any other address is dropped before it is decoded,
//!   recorded or relayed, and never moves the destination: a stranger spraying the
//!   RTP range can neither hear the caller nor inject audio or digits. The SSRC the
//!   lock saw is followed when the locked peer switches streams (PBXs do, e.g. for
//!   music on hold).
//! - RTCP (BYE included) is accepted only from the locked peer: its RTP address + 1
//!   (RFC 3550 §11) or its RTP address itself (RTCP multiplexed, RFC 5761).
//! - A new address from signalling (re-INVITE) unlocks the leg and the rule starts
//!   over; the same address again changes nothing.

use std::net::SocketAddr;

use crate::srtp::SrtpSession;

/// What became of a datagram on a leg's RTP socket ([`Latch::admit_secure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// From a source the leg does not accept: dropped, nothing changed.
    Stranger,
    /// From an accepted source but failing SRTP authentication (wrong key,
    /// tampered, replayed): dropped, counted, nothing changed (no latching).
    Unauthentic,
    /// Plain RTP, accepted as received.
    Clear,
    /// SRTP, authenticated and decrypted into the caller's buffer.
    Decrypted,
}

/// How many RTP datagrams a leg may receive before it must be locked: NAT latching
/// happens within these first packets or not at all.
pub(crate) const NAT_WINDOW: u32 = 16;

/// A leg's latching state (the destination itself is kept by the caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Latch {
    /// The far end's RTP address from signalling.
    signalled: Option<SocketAddr>,
    /// The SSRC and address the leg is locked to.
    locked: Option<(SocketAddr, u32)>,
    /// RTP datagrams seen while not locked.
    seen: u32,
}

impl Latch {
    /// A leg whose far end signalled `signalled` (`None`: not known yet).
    pub(crate) fn new(signalled: Option<SocketAddr>) -> Self {
        Latch {
            signalled,
            locked: None,
            seen: 0,
        }
    }

    /// A leg handed over with its destination settled (by signalling or by an earlier
    /// latch): it accepts RTP from `remote` only.
    pub(crate) fn settled(remote: Option<SocketAddr>) -> Self {
        Latch {
            signalled: remote,
            locked: None,
            seen: NAT_WINDOW,
        }
    }

    /// Signalling gave an address (again). A new one starts the rule over (true:
    /// the destination becomes that address); the same one changes nothing.
    pub(crate) fn resignal(&mut self, signalled: SocketAddr) -> bool {
        if self.signalled == Some(signalled) {
            return false;
        }
        *self = Latch::new(Some(signalled));
        true
    }

    /// Whether the leg is locked to a peer.
    #[cfg(test)]
    pub(crate) fn is_locked(&self) -> bool {
        self.locked.is_some()
    }

    /// Decides on a datagram received on the leg's RTP socket from `from`: true when
    /// it may be processed. May lock the leg and set `remote` (the destination).
    pub(crate) fn admit_rtp(
        &mut self,
        enabled: bool,
        remote: &mut Option<SocketAddr>,
        from: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Some(ssrc) = ssrc_of(datagram) else {
            return false;
        };
        if let Some((peer, known)) = self.locked.as_mut() {
            if *peer != from {
                return false;
            }
            if *known != ssrc {
                tracing::debug!(%from, old = *known, new = ssrc, "locked peer switched SSRC");
                *known = ssrc;
            }
            return true;
        }
        let from_signalled = self.signalled == Some(from);
        let nat = enabled && self.seen < NAT_WINDOW;
        self.seen = self.seen.saturating_add(1);
        if !from_signalled && !nat {
            return false;
        }
        if *remote != Some(from) {
            tracing::debug!(%from, previous = ?remote, "latching media to its RTP source");
        }
        *remote = Some(from);
        self.locked = Some((from, ssrc));
        true
    }

    /// [`admit_rtp`](Self::admit_rtp) for a leg that may be keyed for SRTP: with a
    /// session the datagram must also authenticate (decrypted into `plain`), and
    /// only then may it lock the leg or move its destination.
    pub(crate) fn admit_secure(
        &mut self,
        enabled: bool,
        remote: &mut Option<SocketAddr>,
        from: SocketAddr,
        datagram: &[u8],
        srtp: Option<&mut SrtpSession>,
        plain: &mut Vec<u8>,
    ) -> Admission {
        let Some(srtp) = srtp else {
            return if self.admit_rtp(enabled, remote, from, datagram) {
                Admission::Clear
            } else {
                Admission::Stranger
            };
        };
        let (mut trial, mut destination) = (*self, *remote);
        if !trial.admit_rtp(enabled, &mut destination, from, datagram) {
            return Admission::Stranger;
        }
        if srtp.unprotect_rtp(datagram, plain).is_err() {
            return Admission::Unauthentic;
        }
        *self = trial;
        *remote = destination;
        Admission::Decrypted
    }

    /// Decides on a datagram received on the leg's RTCP socket from `from`.
    pub(crate) fn admit_rtcp(&self, remote: Option<SocketAddr>, from: SocketAddr) -> bool {
        let peer = match self.locked {
            Some((peer, _)) => Some(peer),
            None => remote.filter(|r| Some(*r) == self.signalled),
        };
        peer.is_some_and(|p| from == p || from == rtcp_of(p))
    }
}

/// The SSRC of a datagram that looks like RTP version 2 (at least a fixed header).
fn ssrc_of(datagram: &[u8]) -> Option<u32> {
    if datagram.len() < 12 || datagram[0] >> 6 != 2 {
        return None;
    }
    Some(u32::from_be_bytes([
        datagram[8],
        datagram[9],
        datagram[10],
        datagram[11],
    ]))
}

/// Where RTCP for a leg goes: the port above its RTP (RFC 3550 §11).
pub(crate) fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    #[test]
    fn locks_to_the_signalled_address_and_ignores_strangers() {
        let far: SocketAddr = "192.0.2.10:4000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.5:5000".parse().unwrap();
        let mut remote = Some(far);
        let mut l = Latch::new(Some(far));
        assert!(l.admit_rtp(true, &mut remote, far, &rtp(1)));
        assert!(l.is_locked());
        assert!(!l.admit_rtp(true, &mut remote, stranger, &rtp(1)));
        assert!(!l.admit_rtp(true, &mut remote, stranger, &rtp(9)));
        assert_eq!(remote, Some(far));
        assert!(l.admit_rtcp(remote, rtcp_of(far)));
        assert!(!l.admit_rtcp(remote, stranger));
        assert!(!l.admit_rtp(true, &mut remote, far, b"not rtp"));
    }

    #[test]
    fn nat_latching_happens_once_within_the_first_packets() {
        let signalled: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let nat: SocketAddr = "198.51.100.20:61000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.5:5000".parse().unwrap();
        let mut remote = Some(signalled);
        let mut l = Latch::new(Some(signalled));
        assert!(l.admit_rtp(true, &mut remote, nat, &rtp(7)));
        assert_eq!(remote, Some(nat));
        assert!(!l.admit_rtp(true, &mut remote, stranger, &rtp(7)));
        assert_eq!(remote, Some(nat));
        // latching off: only the signalled address
        let mut remote = Some(signalled);
        let mut l = Latch::new(Some(signalled));
        assert!(!l.admit_rtp(false, &mut remote, nat, &rtp(7)));
        assert!(l.admit_rtp(false, &mut remote, signalled, &rtp(7)));
        // past the window nobody new is latched
        let mut remote = Some(signalled);
        let mut l = Latch::settled(Some(signalled));
        assert!(!l.admit_rtp(true, &mut remote, nat, &rtp(7)));
        assert_eq!(remote, Some(signalled));
        // a new signalled address starts over
        l.resignal(nat);
        assert!(l.admit_rtp(true, &mut remote, nat, &rtp(7)));
        assert_eq!(rtcp_of(nat).port(), 61001);
    }

    #[test]
    fn an_unauthentic_srtp_packet_neither_latches_nor_moves_the_destination() {
        use crate::srtp::{SrtpParams, SrtpProfile};
        let signalled: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let nat: SocketAddr = "198.51.100.20:61000".parse().unwrap();
        let keys = |send, receive| SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, send, receive);
        let mut ours = SrtpSession::new(&keys([1; 30], [2; 30])).unwrap();
        let mut far = SrtpSession::new(&keys([2; 30], [1; 30])).unwrap();
        let mut forger = SrtpSession::new(&keys([3; 30], [1; 30])).unwrap();
        let (mut wire, mut plain) = (Vec::new(), Vec::new());
        let mut remote = Some(signalled);
        let mut l = Latch::new(Some(signalled));
        forger.protect_rtp(&rtp(7), &mut wire).unwrap();
        let a = l.admit_secure(true, &mut remote, nat, &wire, Some(&mut ours), &mut plain);
        assert_eq!(a, Admission::Unauthentic);
        assert_eq!((remote, l.is_locked()), (Some(signalled), false));
        far.protect_rtp(&rtp(7), &mut wire).unwrap();
        let a = l.admit_secure(true, &mut remote, nat, &wire, Some(&mut ours), &mut plain);
        assert_eq!(a, Admission::Decrypted);
        assert_eq!((remote, plain), (Some(nat), rtp(7)));
        let a = l.admit_secure(true, &mut remote, nat, &rtp(7), None, &mut Vec::new());
        assert_eq!(a, Admission::Clear);
    }
}
