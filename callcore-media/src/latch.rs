//! Symmetric RTP ("latching"): where a leg's media goes. Signalling gives the far
//! end's address, but behind a NAT the packets come from somewhere else; with
//! latching on, media is sent back to where the leg's RTP comes from. The one rule,
//! used by the leg's own session and by the relay pool alike, lives here so that it
//! can be hardened in one place.

use std::net::SocketAddr;

/// Applies a datagram that parsed as RTP from `from` to a leg's destination
/// `remote`. Returns true when the destination changed.
pub(crate) fn on_rtp(enabled: bool, remote: &mut Option<SocketAddr>, from: SocketAddr) -> bool {
    if !enabled || *remote == Some(from) {
        return false;
    }
    tracing::debug!(%from, previous = ?remote, "latching media to its RTP source");
    *remote = Some(from);
    true
}

/// Where RTCP for a leg goes: the port above its RTP (RFC 3550 §11).
pub(crate) fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latches_to_the_source_only_when_enabled() {
        let a: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut remote = Some(a);
        assert!(!on_rtp(false, &mut remote, b));
        assert_eq!(remote, Some(a));
        assert!(on_rtp(true, &mut remote, b));
        assert!(!on_rtp(true, &mut remote, b));
        assert_eq!(remote, Some(b));
        assert_eq!(rtcp_of(b).port(), 5001);
    }
}
