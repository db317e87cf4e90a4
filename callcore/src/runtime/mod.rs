//! The `Center` runtime: tokio glue around the sans-IO router and the flows.
//!
//! ```text
//!  Transport::accept ──► interaction task (one per interaction)
//!                          │ FlowContext: say / collect / listen / enqueue ...
//!                          ▼
//!                      routing task ── owns Box<dyn Router>, timers via Clock
//!                          │ Offer ─► offer task: Transport::place(agent endpoint)
//!                          ▼
//!  every task ──► Emitter ──► EventBus (live, bounded, lossy for slow readers)
//!                         └─► recorder task (unbounded, ordered): journal + records
//! ```

mod center;
mod emitter;
mod flow_context;
mod interaction_task;
mod outbound;
mod recorder;
mod routing_task;

pub use center::{Center, CenterBuilder, CenterHandle};
pub use flow_context::{FlowContext, QueueOptions, QueueOutcome};
pub use outbound::{OutboundOptions, OutboundProgress};

use crate::{IntentRecognizer, SpeechRecognizer, SpeechSynthesizer};
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
