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
