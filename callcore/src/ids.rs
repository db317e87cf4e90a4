//! Identifier newtypes.
//!
//! Every entity of a center has its own id type, so an [`AgentId`] can never be
//! passed where a [`QueueId`] is expected. Ids are short strings: they come from
//! configuration (`"support"`), from the wire (a SIP Call-ID) or from the runtime's
//! own deterministic counter (`"int-42"`).
//!
//! An id is an `Arc<str>` inside: cloning one (routing engines and events do it
//! on every decision) is a reference-count increment, never an allocation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a string as this id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(Arc::from(id.into()))
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
                Self(Arc::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self(Arc::from(s.as_ref())))
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
