//! Ports: the traits at the seams of a center.
//!
//! A center is assembled from implementations of these traits: transports (SIP,
//! WebRTC, chat), a router (the ACD), flows (IVR, bots), speech providers and
//! stores. Each trait is small, object-safe and `Send + Sync`.

mod ids;
mod media;
mod router;
mod speech;
mod transport;

pub use ids::{IdSource, UuidV7Ids};
pub use media::{
    DigitResult, DigitSpec, DigitTermination, ListenSpec, MediaControl, PlayOutcome, Prompt,
    RecordSpec, Utterance,
};
pub use router::{
    AgentSnapshot, QueueSnapshot, RejectReason, ReservationOutcome, Router, RouterInput,
    RouterSnapshot, RoutingDecision, RoutingRequest,
};
pub use speech::{
    AudioClip, IntentRecognizer, IntentResult, IntentScore, NluContext, RecognitionOptions,
    RecognitionResult, RecognitionSession, Slot, SpeechRecognizer, SpeechSynthesizer, VoiceOptions,
};
pub use transport::{HangupCause, Inbound, Leg, PlaceRequest, Transport};
