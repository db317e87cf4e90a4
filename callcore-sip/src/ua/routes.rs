//! How a registered phone is reached: over the transport it registered with (its
//! TCP or TLS connection when it registered over a stream, its Contact address
//! over UDP otherwise), one route per live contact; and what a lost or refused
//! connection does to the calls waiting on it.

use std::net::SocketAddr;
use std::time::Duration;

use super::core::{CallState, UaEvent, UserAgent};
use crate::message::{ContactValue, Message, Scheme, Uri};
use crate::transaction::{Peer, TransportKind};

/// A registered contact and the hop that reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRoute {
    /// The Contact URI (the INVITE's Request-URI).
    pub uri: String,
    /// Where the INVITE goes: the registering connection for TCP/TLS, the
    /// contact's address for UDP.
    pub peer: Peer,
}

impl UserAgent {
    /// Remembers where a REGISTER's contacts came from, for the bindings the
    /// registrar holds after it (refused, removed or lapsed contacts are forgotten).
    pub(crate) fn note_contact_sources(&mut self, req: &Message, peer: Peer, now: Duration) {
        let Ok(to) = req.to() else { return };
        let aor = crate::registrar::aor_key(&to.uri());
        let live = self.registrar.lookup(&aor, now);
        let sources = self.contact_sources.entry(aor.clone()).or_default();
        sources.retain(|c, _| live.contains(c));
        for c in req.contacts().unwrap_or_default() {
            let ContactValue::Addr(a) = c else { continue };
            let uri = a.uri().to_string();
            if live.contains(&uri) {
                sources.insert(uri, peer);
            }
        }
        if sources.is_empty() {
            self.contact_sources.remove(&aor);
        }
    }

    /// Live contacts of an address of record with the hop each is rung at, best
    /// `q` first. A phone that registered over TCP or TLS is rung over that
    /// connection; over UDP, at its Contact's address (`;transport=tcp` in the
    /// Contact asks for TCP there). Contacts without an IP address that did not
    /// register over a stream are left out.
    pub fn contact_routes(&self, aor: &str, now: Duration) -> Vec<ContactRoute> {
        let key = Uri::parse(aor)
            .map(|u| crate::registrar::aor_key(&u))
            .unwrap_or_else(|_| aor.to_owned());
        self.registrar
            .lookup(aor, now)
            .into_iter()
            .filter_map(|uri| {
                let source = self
                    .contact_sources
                    .get(&key)
                    .and_then(|m| m.get(&uri))
                    .copied();
                let peer = match source {
                    Some(p) if p.transport.is_reliable() => Some(p),
                    _ => contact_peer(&uri).or(source),
                }?;
                Some(ContactRoute { uri, peer })
            })
            .collect()
    }

    /// A stream to `peer` could not be opened or was lost: outbound calls still
    /// waiting for their first answer over it fail as 503 (RFC 3261 §8.1.3.1), so
    /// that a trunk failover or a fork moves on without waiting for Timer B; a
    /// phone that had registered over it is rung at its Contact's address again
    /// until it registers over a new connection.
    pub fn transport_failed(&mut self, peer: Peer, now: Duration) {
        if peer.transport.is_reliable() {
            for sources in self.contact_sources.values_mut() {
                sources.retain(|_, p| *p != peer);
            }
            self.contact_sources.retain(|_, m| !m.is_empty());
        }
        let waiting: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                c.peer == peer && c.state == CallState::OutboundPending && c.dialog.is_none()
            })
            .map(|(r, _)| *r)
            .collect();
        for call in waiting {
            tracing::debug!(call = call.0, to = %peer.addr, "connection failed: call fails as 503");
            self.emit(UaEvent::Failed {
                call,
                status: 503,
                redirect: None,
            });
            self.reap(call);
        }
        self.pump(now);
    }
}

/// The hop a Contact URI names: its IP address and port (5060 by default, 5061
/// for `sips:`), over its `transport` parameter (UDP by default).
fn contact_peer(uri: &str) -> Option<Peer> {
    let u = Uri::parse(uri).ok()?;
    let ip = u.ip()?;
    let tls = u.scheme() == Scheme::Sips;
    let port = u.port().unwrap_or(if tls { 5061 } else { 5060 });
    let addr = SocketAddr::new(ip, port);
    let transport = u
        .params()
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("transport"))
        .and_then(|(_, v)| v)
        .map(|t| t.to_ascii_lowercase());
    Some(match (tls, transport.as_deref()) {
        (true, _) | (false, Some("tls")) => Peer {
            addr,
            transport: TransportKind::Tls,
        },
        (false, Some("tcp")) => Peer::tcp(addr),
        _ => Peer::udp(addr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ua::UaConfig;
    use bytes::Bytes;

    #[test]
    fn a_phone_is_rung_over_its_registering_connection_while_it_lasts() {
        let mut cfg = UaConfig::new("127.0.0.1:5060".parse().unwrap_or_else(|_| panic!()));
        cfg.registrar = true;
        let mut ua = UserAgent::new(cfg, 3);
        let conn = Peer::tcp("127.0.0.1:40123".parse().unwrap_or_else(|_| panic!()));
        let register = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
            Via: SIP/2.0/TCP 127.0.0.1:40123;branch=z9hG4bKreg1\r\n\
            From: <sip:1001@127.0.0.1>;tag=p1\r\nTo: <sip:1001@127.0.0.1>\r\n\
            Call-ID: reg1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n\
            Contact: <sip:1001@127.0.0.1:5070;transport=tcp>\r\nExpires: 300\r\n\
            Content-Length: 0\r\n\r\n";
        ua.handle_datagram(Bytes::from(register), conn, Duration::ZERO);
        let routes = ua.contact_routes("sip:1001@127.0.0.1", Duration::from_secs(1));
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].peer, conn, "the registering connection");
        ua.transport_failed(conn, Duration::from_secs(2));
        let routes = ua.contact_routes("sip:1001@127.0.0.1", Duration::from_secs(3));
        assert_eq!(
            routes[0].peer,
            Peer::tcp("127.0.0.1:5070".parse().unwrap_or_else(|_| panic!())),
            "the connection is gone: the Contact's own address"
        );
    }

    #[test]
    fn contact_addresses_name_their_transport() {
        let p = contact_peer("sip:1001@127.0.0.1:5070").unwrap_or_else(|| panic!());
        assert_eq!(
            p,
            Peer::udp("127.0.0.1:5070".parse().unwrap_or_else(|_| panic!()))
        );
        let p = contact_peer("sip:1001@127.0.0.1;transport=TCP").unwrap_or_else(|| panic!());
        assert_eq!(p.transport, TransportKind::Tcp);
        assert_eq!(p.addr.port(), 5060);
        let p = contact_peer("sips:1001@127.0.0.1").unwrap_or_else(|| panic!());
        assert_eq!(p.transport, TransportKind::Tls);
        assert_eq!(p.addr.port(), 5061);
        assert!(contact_peer("sip:1001@phone.example.com").is_none());
    }
}
