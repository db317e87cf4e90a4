//! The call-center model: interactions, agents, queues, customers.
//!
//! Plain data types with serde, shared by every crate. The only logic here is the
//! [agent state machine](AgentState), which is pure.

mod agent;
mod agent_state;
mod campaign;
mod customer;
mod interaction;
mod queue;
mod service_level;

pub use agent::{AgentProfile, Endpoint, Proficiency};
pub use agent_state::{AgentState, AgentStateError, ReasonCode};
pub use campaign::{Campaign, DialAttempt, DialMode, Disposition, Lead, LeadStatus};
pub use customer::{CustomerProfile, Identity, IdentityKind, MergeUndo, PROVEN_IDENTITY, Unmerged};
pub use interaction::{
    Channel, Direction, EndReason, Interaction, InteractionContext, Speaker, TranscriptLine,
    mask_sensitive,
};
pub use queue::{Destination, EscalationAction, EscalationStep, QueueDefinition, SkillRequirement};
pub use service_level::{ChannelServiceLevel, WorkingHours, WorkingSpan};
