//! Fixed contacts: phones that do not register — a desk phone, a PBX extension or a
//! load tool at a known address — rung at a configured SIP URI instead of a
//! registrar binding.
//!
//! ```
//! use callcore_sip::contact::FixedContact;
//! use callcore_sip::transaction::TransportKind;
//! let desk = FixedContact::parse("sip:2001@192.0.2.10:5070;transport=tcp").unwrap();
//! assert_eq!(desk.peer.addr.port(), 5070);
//! assert_eq!(desk.peer.transport, TransportKind::Tcp);
//! assert!(FixedContact::parse("sip:2001@pbx.example.com").is_err()); // no DNS here
//! ```

use std::net::SocketAddr;

use crate::Error;
use crate::message::{Scheme, Uri};
use crate::transaction::Peer;

/// A SIP URI rung as it is, and the hop it is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedContact {
    /// The Request-URI of the INVITE.
    pub uri: String,
    /// Where the INVITE goes: the URI's IP address and port (5060 when left out),
    /// over UDP, or TCP with `;transport=tcp`.
    pub peer: Peer,
}

impl FixedContact {
    /// Parses `sip:user@IP[:port][;transport=udp|tcp]`.
    ///
    /// # Errors
    /// [`Error::Contact`] saying what is wrong: not a `sip:` URI, a host that is not an
    /// IP address, or a transport other than UDP and TCP.
    pub fn parse(uri: &str) -> Result<FixedContact, Error> {
        let parsed = Uri::parse(uri.trim())
            .map_err(|_| Error::Contact("not a SIP URI (sip:user@host:port)"))?;
        if parsed.scheme() != Scheme::Sip {
            return Err(Error::Contact("must be a sip: URI"));
        }
        let ip = parsed
            .ip()
            .ok_or(Error::Contact("the host must be an IP address"))?;
        let port = parsed.port().unwrap_or(5060);
        if port == 0 {
            return Err(Error::Contact("port 0 cannot be rung"));
        }
        let addr = SocketAddr::new(ip, port);
        let peer = match parsed
            .params()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("transport"))
        {
            None => Peer::udp(addr),
            Some((_, Some(t))) if t.eq_ignore_ascii_case("udp") => Peer::udp(addr),
            Some((_, Some(t))) if t.eq_ignore_ascii_case("tcp") => Peer::tcp(addr),
            Some(_) => return Err(Error::Contact("transport must be udp or tcp")),
        };
        Ok(FixedContact {
            uri: parsed.without_headers().to_owned(),
            peer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::TransportKind;

    #[test]
    fn udp_by_default_and_port_5060_when_left_out() {
        let c = FixedContact::parse("sip:agent@127.0.0.1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.peer, Peer::udp(SocketAddr::from(([127, 0, 0, 1], 5060))));
        assert_eq!(c.uri, "sip:agent@127.0.0.1");
        let c =
            FixedContact::parse("sip:a@[::1]:5071;transport=UDP").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.peer.transport, TransportKind::Udp);
        assert_eq!(c.peer.addr.port(), 5071);
    }

    #[test]
    fn what_cannot_be_rung_is_refused() {
        for bad in [
            "",
            "agent@127.0.0.1",
            "tel:+15551234",
            "sips:a@127.0.0.1",
            "sip:a@pbx.example.com",
            "sip:a@127.0.0.1:0",
            "sip:a@127.0.0.1;transport=sctp",
        ] {
            assert!(FixedContact::parse(bad).is_err(), "{bad}");
        }
    }
}
