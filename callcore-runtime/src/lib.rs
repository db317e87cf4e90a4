//! # callcore-runtime
//!
//! The tokio runtime of a callcore center: the [`Center`] that assembles the
//! ports of `callcore` (transports, router, flows, stores, speech providers)
//! into a running contact center, the [`FlowContext`] a [`Flow`] drives one
//! interaction through, the [`EventBus`] and the recorder that journals every
//! event and folds records, the wall [`SystemClock`], and an in-memory
//! transport ([`memory::MemoryTransport`]) for tests and simulations.
//!
//! `callcore` itself knows no async runtime: its model, ports and engines
//! (and the engine crates built on them: routing, simulation, analytics) stay
//! free of tokio. Crates that ship tokio glue depend on this one.
//!
//! ```text
//!  Transport::accept ──► interaction task (one per interaction)
//!                          │ FlowContext: say / collect / listen / enqueue ...
//!                          │ owns the interaction's sans-IO Call (see [`call`]):
//!                          │ legs, queue stays, bridge, hold, recordings, transfers
//!                          ▼
//!                      routing task ── owns Box<dyn Router>, timers via Clock
//!                          │ Offer ─► offer task: Transport::place(agent endpoint)
//!                          ▼
//!  every task ──► Emitter ──► EventBus (live, bounded, lossy for slow readers)
//!                         └─► recorder task (bounded + ordered overflow, retried
//!                             until written): journal + records
//! ```
//!
//! ## Assembling a center
//!
//! ```
//! use async_trait::async_trait;
//! use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
//! use callcore::{
//!     AgentProfile, AgentState, Clock, CoreError, Endpoint, EventKind, QueueDefinition,
//!     Timestamp, VirtualClock,
//! };
//! use callcore_runtime::{Center, Flow, FlowContext, FlowOutcome};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! struct Support;
//!
//! #[async_trait]
//! impl Flow for Support {
//!     async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
//!         call.say("Thank you for calling. Please hold.").await?;
//!         let outcome = call.enqueue("support").await?;
//!         Ok(FlowOutcome::Done(outcome.end_reason()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Virtual time: the whole call below takes microseconds.
//! let clock = VirtualClock::new(Timestamp::from_secs(1_700_000_000));
//! let transport = MemoryTransport::new(Arc::new(clock.clone()));
//! transport.add_phone("sip:alice@pbx", PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
//!
//! let center = Center::builder()
//!     .clock(Arc::new(clock.clone()))
//!     .transport(transport.clone())
//!     .flow("support", Arc::new(Support))
//!     .build()?
//!     .start()
//!     .await?;
//! center.add_queue(QueueDefinition::new("support").with_wrap_up_secs(5)).await?;
//! center
//!     .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
//!     .await?;
//! center.set_agent_state(&"alice".into(), AgentState::Available).await?;
//!
//! let mut events = center.subscribe();
//! let caller = transport.call("+4930123456", "100");
//! let talk = {
//!     let clock = clock.clone();
//!     async move {
//!         // Wait for the agent, talk for a minute, hang up.
//!         loop {
//!             let e = events.recv().await.expect("event");
//!             if matches!(e.kind, EventKind::Connected { .. }) {
//!                 break;
//!             }
//!         }
//!         clock.sleep(Duration::from_secs(60)).await;
//!         caller.hangup();
//!     }
//! };
//! clock.drive(talk, Timestamp::from_secs(1_700_001_000)).await?;
//! center.flush().await;
//! let record = center.stores().interactions.get(&"default".into(), &"mem-1".into()).await?;
//! assert_eq!(record.expect("record").talk_ms, 60_000);
//! # Ok(())
//! # }
//! ```
//!

mod agent_control;
pub mod bus;
pub mod call;
mod call_control;
mod call_glue;
mod callback;
mod center;
mod conversations;
mod dial;
mod emitter;
mod external_events;
mod flow;
mod flow_context;
mod identify;
mod interaction_task;
mod interrupted;
pub mod memory;
mod outbound;
mod recorder;
mod routing_task;
mod system_clock;
pub mod voicemail;
mod waiting;

pub use call::CallTarget;
pub use center::{Center, CenterBuilder, CenterHandle};
pub use conversations::{BridgedConversation, ConversationObserver, ConversationSinks};
pub use flow_context::{FlowContext, QueueOptions, QueueOutcome};
pub use outbound::{OutboundOptions, OutboundProgress};
pub use voicemail::{Voicemail, VoicemailOptions};
pub use waiting::WaitOptions;

pub use bus::{BusError, EventBus, EventSubscriber};
pub use emitter::{JournalStatus, RECORDER_CAPACITY};
pub use flow::{Flow, FlowOutcome};
pub use system_clock::SystemClock;

use callcore::{IntentRecognizer, SpeechRecognizer, SpeechSynthesizer};
use std::fmt;
use std::sync::Arc;

/// The speech and language providers flows may use. Each is optional: DTMF
/// and text flows need none.
#[derive(Clone, Default)]
pub struct Providers {
    /// Speech recognition.
    pub asr: Option<Arc<dyn SpeechRecognizer>>,
    /// Natural-language understanding.
    pub nlu: Option<Arc<dyn IntentRecognizer>>,
    /// Text to speech.
    pub tts: Option<Arc<dyn SpeechSynthesizer>>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("asr", &self.asr.is_some())
            .field("nlu", &self.nlu.is_some())
            .field("tts", &self.tts.is_some())
            .finish()
    }
}
