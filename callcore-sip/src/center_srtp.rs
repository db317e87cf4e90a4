//! SRTP (SDES) on the transport's legs: which policy a leg gets — a trunk's own,
//! an agent's, or the phones' default — and a fresh master key per leg from the
//! OS random source. Offers that the policy cannot meet are refused with 488
//! before the call rings anyone.

use std::collections::HashMap;
use std::net::IpAddr;

use callcore::CoreError;

use super::SipTransport;
use crate::message::Uri;
use crate::session::{LocalMedia, MasterKey, SrtpPolicy};
use crate::trunk::{Trunk, TrunkRouter};

/// The SRTP policies of the legs that are not trunks' (trunks carry their own).
#[derive(Debug, Default, Clone)]
pub(super) struct SrtpPolicies {
    /// Phones and softphones (agents, and anyone calling in who is not a trunk).
    phones: SrtpPolicy,
    /// Agents with a policy of their own, by user name.
    agents: HashMap<String, SrtpPolicy>,
}

impl SrtpPolicies {
    /// The policy of a phone whose SIP user (or address of record) is `user`.
    pub(super) fn for_phone(&self, user: &str) -> SrtpPolicy {
        let user = Uri::parse(user)
            .ok()
            .and_then(|u| u.user().map(str::to_owned))
            .unwrap_or_else(|| user.to_owned());
        self.agents.get(&user).copied().unwrap_or(self.phones)
    }
}

/// A fresh master key for one leg.
pub(super) fn fresh_key() -> Result<MasterKey, CoreError> {
    callcore::SrtpMasterKey::random().map(|k| MasterKey::new(*k.bytes()))
}

/// The trunk an inbound call from `source` belongs to: one that trusts the
/// address (IP authentication), else one whose peer is at it.
pub(super) fn inbound_trunk(trunks: &TrunkRouter, source: IpAddr) -> Option<&Trunk> {
    trunks
        .trusted_source(source)
        .or_else(|| trunks.trunks().iter().find(|t| t.peer.addr.ip() == source))
}

/// `media` under `policy` (its key kept).
pub(super) fn under(media: &LocalMedia, policy: SrtpPolicy) -> LocalMedia {
    let mut m = media.clone();
    if let Some(s) = m.srtp.as_mut() {
        s.policy = policy;
    }
    m
}

impl SipTransport {
    /// SRTP for phones (agents' phones rung by the center, and any caller that
    /// is not a trunk): off (the default), offer, or require. Keys travel in SDP:
    /// only signalling over TLS keeps them from eavesdroppers.
    pub fn set_phone_srtp(&self, policy: SrtpPolicy) {
        self.shared.srtp_policies().phones = policy;
    }

    /// SRTP for one agent's phone (its SIP user name), over the phones' default.
    pub fn set_agent_srtp(&self, user: &str, policy: SrtpPolicy) {
        self.shared
            .srtp_policies()
            .agents
            .insert(user.to_owned(), policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trunk::TrunkKind;

    #[test]
    fn a_leg_gets_its_trunks_or_its_agents_policy() {
        let mut p = SrtpPolicies {
            phones: SrtpPolicy::Offer,
            ..SrtpPolicies::default()
        };
        p.agents.insert("1001".into(), SrtpPolicy::Require);
        assert_eq!(p.for_phone("sip:1001@127.0.0.1"), SrtpPolicy::Require);
        assert_eq!(p.for_phone("<sip:1002@127.0.0.1>"), SrtpPolicy::Offer);
        assert_eq!(p.for_phone("1001"), SrtpPolicy::Require);

        let mut carrier = Trunk::new(
            "carrier",
            TrunkKind::Carrier,
            "192.0.2.10:5060".parse().unwrap_or_else(|_| unreachable!()),
            &[],
        );
        carrier.srtp = SrtpPolicy::Require;
        carrier.trusted_sources = vec![[198, 51, 100, 7].into()];
        let trunks = TrunkRouter::new(vec![carrier]);
        let from = |ip: [u8; 4]| inbound_trunk(&trunks, ip.into()).map(|t| t.srtp);
        assert_eq!(
            from([198, 51, 100, 7]),
            Some(SrtpPolicy::Require),
            "IP auth"
        );
        assert_eq!(from([192, 0, 2, 10]), Some(SrtpPolicy::Require), "its peer");
        assert_eq!(from([203, 0, 113, 1]), None, "a phone");

        let media = LocalMedia::g711(
            "127.0.0.1:4000".parse().unwrap_or_else(|_| unreachable!()),
            1,
        )
        .with_srtp(SrtpPolicy::Off, MasterKey::new([5; 30]));
        let required = under(&media, SrtpPolicy::Require);
        assert_eq!(required.srtp_policy(), SrtpPolicy::Require);
        assert_eq!(required.srtp.map(|s| s.key), media.srtp.map(|s| s.key));
    }
}
