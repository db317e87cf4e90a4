//! Legs between the nodes of a cluster: a leg placed to an explicit
//! Request-URI at an explicit address ([`SipTransport::place_at`]: the
//! node holding an agent's phone), and inbound calls whose Request-URI
//! carries a given parameter handed to their own receiver instead of
//! becoming interactions ([`SipTransport::divert_inbound`]: the node that
//! rings the agent for another node's caller).

use std::sync::Mutex;

use callcore::{Channel, CoreError, Leg, PlaceRequest};
use tokio::sync::mpsc;

use super::{Shared, SipLeg, SipTransport};
use crate::message::Uri;
use crate::transaction::Peer;

/// An inbound call diverted by [`SipTransport::divert_inbound`]: not
/// answered yet (answer it, bridge it, or hang it up: 480).
#[derive(Debug)]
pub struct DivertedCall {
    /// The INVITE's Request-URI, with its parameters.
    pub request_uri: String,
    /// The From URI.
    pub from: String,
    /// The address the INVITE came from.
    pub source: std::net::IpAddr,
    /// The inbound leg.
    pub leg: Box<dyn Leg>,
}

/// The parameter that diverts inbound calls, and where they go.
pub(super) type Divert = Mutex<Option<(String, mpsc::UnboundedSender<DivertedCall>)>>;

/// Whether `request_uri` carries the URI parameter `param`.
fn has_param(request_uri: &str, param: &str) -> bool {
    Uri::parse(request_uri).is_ok_and(|u| {
        u.params()
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(param))
    })
}

/// Hands `leg` to the divert receiver when its Request-URI carries the
/// divert parameter; gives it back otherwise (an ordinary inbound call).
pub(super) fn divert(
    shared: &Shared,
    request_uri: &str,
    from: &str,
    source: std::net::IpAddr,
    leg: SipLeg,
) -> Option<SipLeg> {
    let divert = shared
        .divert
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some((param, tx)) = divert.as_ref() else {
        return Some(leg);
    };
    if !has_param(request_uri, param) {
        return Some(leg);
    }
    let call = DivertedCall {
        request_uri: request_uri.to_owned(),
        from: from.to_owned(),
        source,
        leg: Box::new(leg),
    };
    if let Err(e) = tx.send(call) {
        tracing::warn!("a diverted call has no receiver: refused (480)");
        let refused = e.0.leg;
        tokio::spawn(async move {
            let _ = refused.hangup(callcore::HangupCause::Local).await;
        });
    }
    None
}

impl SipTransport {
    /// From now on, an inbound INVITE whose Request-URI carries the URI
    /// parameter `param` (`sip:2001@10.0.0.2;x-relay=…`) is not an
    /// interaction: it goes, unanswered, to the receiver returned (a
    /// cluster node ringing an agent for another node's caller). Calling
    /// it again replaces the parameter and the receiver.
    pub fn divert_inbound(&self, param: &str) -> mpsc::UnboundedReceiver<DivertedCall> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self
            .shared
            .divert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((param.to_owned(), tx));
        rx
    }

    /// Places a voice leg to `uri` at `peer` (over UDP, TCP or TLS as
    /// `peer` says), as [`callcore::Transport::place`] does for an agent's
    /// phone, without a registration or a fixed contact: another node of a
    /// cluster that rings the agent and bridges. `request.to` is not used.
    ///
    /// # Errors
    /// [`CoreError::NotAnswered`] with the cause; [`CoreError::Unsupported`]
    /// for a channel other than voice; media and transport errors.
    pub async fn place_at(
        &self,
        request: PlaceRequest,
        uri: &str,
        peer: Peer,
    ) -> Result<Box<dyn Leg>, CoreError> {
        if request.channel != Channel::Voice {
            return Err(CoreError::Unsupported("SIP carries voice only"));
        }
        self.place_to(request, Some((uri.to_owned(), peer))).await
    }
}

#[cfg(test)]
mod tests {
    use super::has_param;

    #[test]
    fn the_divert_parameter_is_found_among_the_uri_parameters() {
        assert!(has_param(
            "sip:2001@127.0.0.1:5070;cc-offer=res-e3-1;cc-epoch=3",
            "cc-offer"
        ));
        assert!(has_param("sip:2001@127.0.0.1;CC-OFFER=x", "cc-offer"));
        assert!(!has_param("sip:2001@127.0.0.1;cc-offered=x", "cc-offer"));
        assert!(!has_param("sip:cc-offer@127.0.0.1", "cc-offer"));
        assert!(!has_param("not a uri", "cc-offer"));
    }
}
