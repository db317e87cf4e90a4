//! Ports: the traits at the seams of a center.
//!
//! A center is assembled from implementations of these traits: transports (SIP,
//! WebRTC, chat), a router (the ACD), flows (IVR, bots), speech providers and
//! stores, and the leg-media seam between a voice transport and its media
//! engine ([`MediaAttach`], [`LegMediaPort`]). Each trait is small, object-safe
//! and `Send + Sync`.

mod ids;
mod leg_events;
mod leg_media;
mod media;
mod media_keys;
mod router;
mod speech;
mod transport;

pub use ids::{IdSource, UuidV7Ids};
pub use leg_events::{LegEvent, TransferRefusal, TransferReport};
pub use leg_media::{
    AudioCodec, BridgeRecording, FrameDirection, FrameSink, LegMediaPort, LegMediaRequest,
    MediaAttach, MediaDirection, MixRole, MixRoom, NegotiatedMedia, RecordingDone,
    RecordingRequest, RecordingStarted, RecordingStopped, TAP_FRAME_SAMPLES, TAP_SAMPLE_RATE,
};
pub use media::{
    DigitResult, DigitSpec, DigitTermination, ListenSpec, MediaControl, PlayOutcome, Prompt,
    RecordSpec, Utterance,
};
pub use media_keys::{SRTP_MASTER_LEN, SrtpKeys, SrtpMasterKey, SrtpSuite};
pub use router::{
    AgentSnapshot, QueuePosition, QueueSnapshot, RejectReason, ReservationOutcome, Router,
    RouterInput, RouterSnapshot, RoutingDecision, RoutingRequest,
};
pub use speech::{
    AudioClip, IntentRecognizer, IntentResult, IntentScore, NluContext, RecognitionOptions,
    RecognitionResult, RecognitionSession, Slot, SpeechRecognizer, SpeechSynthesizer, VoiceOptions,
};
pub use transport::{HangupCause, Inbound, Leg, PlaceRequest, Transport};
