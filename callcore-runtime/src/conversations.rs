//! A seam for whoever listens to conversations as they happen (live
//! transcription, quality inspection from the audio): when the center bridges
//! a customer to an agent (or a transfer target), a [`ConversationObserver`]
//! may hand back one [`FrameSink`] per leg; each then receives what its party
//! says (the leg's inbound frames), so the two speakers are never mixed.
//!
//! ```
//! use callcore::{FrameDirection, FrameSink};
//! use callcore_runtime::{BridgedConversation, ConversationObserver, ConversationSinks};
//! #[derive(Debug)]
//! struct CountFrames;
//! impl ConversationObserver for CountFrames {
//!     fn bridged(&self, c: &BridgedConversation) -> Option<ConversationSinks> {
//!         let sink = |who: &'static str| -> Box<dyn FrameSink> {
//!             let mut n = 0u64;
//!             Box::new(move |dir: FrameDirection, _pcm: &[i16]| {
//!                 n += u64::from(dir == FrameDirection::Inbound);
//!                 let _ = who;
//!                 true
//!             })
//!         };
//!         Some(ConversationSinks { customer: sink("customer"), other: sink("agent") })
//!     }
//! }
//! let _center = callcore_runtime::Center::builder().conversations(std::sync::Arc::new(CountFrames));
//! ```

use callcore::{AgentId, FrameSink, InteractionId, TenantId, Timestamp};

/// A conversation the center just bridged.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BridgedConversation {
    /// The tenant.
    pub tenant: TenantId,
    /// The interaction.
    pub interaction: InteractionId,
    /// When the interaction arrived (the origin of events' `offset_ms`).
    pub created_at: Timestamp,
    /// When the legs were bridged.
    pub bridged_at: Timestamp,
    /// The agent connected, if the other leg is an agent's.
    pub agent: Option<AgentId>,
}

/// Where each leg's audio goes: the customer's leg and the other party's.
/// Both see both directions; the leg's inbound frames are its party's voice.
pub struct ConversationSinks {
    /// Taps the customer's leg.
    pub customer: Box<dyn FrameSink>,
    /// Taps the agent's (or transfer target's) leg.
    pub other: Box<dyn FrameSink>,
}

impl std::fmt::Debug for ConversationSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationSinks").finish_non_exhaustive()
    }
}

/// Told of every bridged conversation; see the module docs. Called on the
/// call's task: return at once (spawn the work).
pub trait ConversationObserver: Send + Sync + std::fmt::Debug {
    /// `conversation` was bridged: the sinks to tap its legs with, or `None`
    /// to leave it alone.
    fn bridged(&self, conversation: &BridgedConversation) -> Option<ConversationSinks>;
}
