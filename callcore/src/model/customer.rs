use crate::{AgentId, CustomerId, Pii, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kind of address a customer is known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentityKind {
    /// A phone number (E.164).
    Phone,
    /// An e-mail address.
    Email,
    /// A web-chat visitor id.
    ChatId,
    /// A WeChat open id.
    WeChat,
    /// An account or contract number.
    Account,
}

impl IdentityKind {
    /// The snake-case name (`phone`, `email`, `chat_id`, `we_chat`, `account`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::ChatId => "chat_id",
            Self::WeChat => "we_chat",
            Self::Account => "account",
        }
    }

    /// The kind named `name` (as [`as_str`](Self::as_str) writes it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Phone,
            Self::Email,
            Self::ChatId,
            Self::WeChat,
            Self::Account,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// The prefix of an interaction attribute that carries an identity the
/// customer proved on its channel (`proven.email` = `ann@example.org`: a
/// chat visitor logged in on the website, whose page passed the address
/// signed). Only channel adapters set it, after checking the proof; the
/// center then files the interaction under the profile known by that
/// identity, merging profiles when the customer was known under both.
pub const PROVEN_IDENTITY: &str = "proven.";

/// One address under which a customer is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// What kind of address.
    pub kind: IdentityKind,
    /// The address itself.
    pub value: Pii<String>,
}

/// One record per customer across channels (screen pop, routing by VIP or last
/// agent). Interaction history is read from the interaction store by customer id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerProfile {
    /// Its id.
    pub id: CustomerId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: Option<Pii<String>>,
    /// Addresses across channels.
    pub identities: Vec<Identity>,
    /// A VIP customer (routed with higher priority).
    pub vip: bool,
    /// Preferences (`language=zh`, `channel=sms`).
    pub preferences: BTreeMap<String, String>,
    /// Free tags (`churn_risk`).
    pub tags: Vec<String>,
    /// The agent who served the customer last (sticky routing).
    pub last_agent: Option<AgentId>,
    /// Open business: cases, orders, tickets in progress.
    pub open_business: Vec<String>,
}

impl Default for CustomerId {
    fn default() -> Self {
        Self::new("")
    }
}

impl CustomerProfile {
    /// A profile known by one address (made on a customer's first contact).
    #[must_use]
    pub fn with_identity(
        id: CustomerId,
        tenant: TenantId,
        kind: IdentityKind,
        value: &str,
    ) -> Self {
        Self {
            id,
            tenant,
            identities: vec![Identity {
                kind,
                value: Pii::new(value.to_owned()),
            }],
            ..Self::default()
        }
    }

    /// Adds an address (once).
    pub fn add_identity(&mut self, kind: IdentityKind, value: &str) {
        if !self.has_identity(kind, value) {
            self.identities.push(Identity {
                kind,
                value: Pii::new(value.to_owned()),
            });
        }
    }

    /// This profile with `absorbed` merged in: identities, tags and open
    /// business are united; this profile's name, preferences and last agent
    /// win where both have one; VIP if either is.
    #[must_use]
    pub fn merged_with(&self, absorbed: &CustomerProfile) -> CustomerProfile {
        let mut out = self.clone();
        for i in &absorbed.identities {
            if !out.identities.contains(i) {
                out.identities.push(i.clone());
            }
        }
        for t in &absorbed.tags {
            if !out.tags.contains(t) {
                out.tags.push(t.clone());
            }
        }
        for b in &absorbed.open_business {
            if !out.open_business.contains(b) {
                out.open_business.push(b.clone());
            }
        }
        for (k, v) in &absorbed.preferences {
            out.preferences
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if out.name.is_none() {
            out.name.clone_from(&absorbed.name);
        }
        if out.last_agent.is_none() {
            out.last_agent.clone_from(&absorbed.last_agent);
        }
        out.vip |= absorbed.vip;
        out
    }

    /// Whether the customer is known by this address.
    #[must_use]
    pub fn has_identity(&self, kind: IdentityKind, value: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.kind == kind && i.value.expose() == value)
    }
}
