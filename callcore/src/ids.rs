//! Identifier newtypes.
//!
//! Every entity of a center has its own id type, so an [`AgentId`] can never be
//! passed where a [`QueueId`] is expected. Ids are short strings: they come from
//! configuration (`"support"`), from the wire (a SIP Call-ID) or from the runtime's
//! own deterministic counter (`"int-42"`).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string as this id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A tenant: one customer organisation of a (possibly shared) center.
    TenantId
);
id_type!(
    /// One customer contact on one channel (a call, a chat, an e-mail ...).
    InteractionId
);
id_type!(
    /// An agent (a human who handles interactions).
    AgentId
);
id_type!(
    /// A queue that interactions wait in until an agent takes them.
    QueueId
);
id_type!(
    /// A customer profile, shared across channels.
    CustomerId
);
id_type!(
    /// A skill an agent has and a queue can require (`"billing"`, `"mandarin"`).
    Skill
);
id_type!(
    /// A reservation: one offer of one interaction to one agent.
    ReservationId
);
id_type!(
    /// An outbound campaign.
    CampaignId
);
id_type!(
    /// A lead (a contact to call) of a campaign.
    LeadId
);
id_type!(
    /// A call recording.
    RecordingId
);
id_type!(
    /// One call leg (one side of a call, as seen by a transport).
    LegId
);
id_type!(
    /// A trunk to a carrier.
    TrunkId
);
id_type!(
    /// A flow (IVR script or bot) by name.
    FlowId
);

impl Default for TenantId {
    fn default() -> Self {
        Self::new("default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_display_debug_and_serde() {
        let a = AgentId::new("alice");
        assert_eq!(a.to_string(), "alice");
        assert_eq!(format!("{a:?}"), "AgentId(\"alice\")");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"alice\"");
        let back: AgentId = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(back, a);
        assert_eq!(TenantId::default().as_str(), "default");
    }
}
