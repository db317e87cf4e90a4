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
    /// Whether the customer is known by this address.
    #[must_use]
    pub fn has_identity(&self, kind: IdentityKind, value: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.kind == kind && i.value.expose() == value)
    }
}
