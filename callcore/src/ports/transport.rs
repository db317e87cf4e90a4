use crate::{
    BridgeRecording, Channel, CoreError, Endpoint, FrameSink, Interaction, LegEvent, LegId,
    LegMediaPort, MediaControl, RecordingRequest, TransferReport,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Why a leg ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HangupCause {
    /// The far end hung up (BYE, chat closed).
    Remote,
    /// We hung up.
    Local,
    /// The far end was busy (486).
    Busy,
    /// Nobody answered.
    NoAnswer,
    /// The far end declined (603).
    Declined,
    /// The address does not exist (404/484/604).
    InvalidNumber,
    /// Network or trunk failure (5xx, timeout).
    Failure(String),
}

/// One side of a conversation as a transport sees it: a SIP dialog, a WebRTC
/// peer, a chat session. Call control lives here; media control is reached
/// through [`Leg::media`].
///
/// Implementations must make every method safe to call after the leg ended
/// (returning [`CoreError::LegEnded`] where an action is impossible).
#[async_trait]
pub trait Leg: Send + Sync + fmt::Debug {
    /// The leg's id (unique within its transport).
    fn id(&self) -> &LegId;

    /// The channel it carries.
    fn channel(&self) -> Channel;

    /// Answers an inbound leg (200 OK). Idempotent.
    async fn answer(&self) -> Result<(), CoreError>;

    /// Puts the far end on hold (music from the transport, if any).
    async fn hold(&self) -> Result<(), CoreError>;

    /// Takes the far end off hold.
    async fn resume(&self) -> Result<(), CoreError>;

    /// Connects this leg's media to `other`'s, both ways, until either ends.
    /// A transport may only bridge legs it created ([`Leg::as_any`] lets it
    /// downcast); otherwise it returns [`CoreError::Unsupported`].
    async fn bridge(&self, other: &dyn Leg) -> Result<(), CoreError>;

    /// [`bridge`](Leg::bridge), recording the conversation for `recording`'s
    /// interaction (this leg left, `other` right, where the media engine can).
    /// Returns what started and a future of its end (for the
    /// `RecordingStarted`/`RecordingStopped` events), or `None` when the
    /// transport bridged without recording. The default bridges without one.
    ///
    /// # Errors
    /// As [`bridge`](Leg::bridge); a recording that cannot be created is an
    /// error ([`CoreError::Media`]) and leaves the legs unbridged.
    async fn bridge_recorded(
        &self,
        other: &dyn Leg,
        recording: &RecordingRequest,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        let _ = recording;
        self.bridge(other).await.map(|()| None)
    }

    /// Hands the leg's decoded audio, both directions, to `sink` until it
    /// detaches or the leg ends (answering-machine detection, live
    /// transcription). The default has no audio to give.
    ///
    /// # Errors
    /// [`CoreError::Unsupported`] when the leg carries no audio or its
    /// transport has no media engine; [`CoreError::LegEnded`] after the end.
    fn tap(&self, sink: Box<dyn FrameSink>) -> Result<(), CoreError> {
        drop(sink);
        Err(CoreError::Unsupported("this leg has no audio to tap"))
    }

    /// Blind transfer of the far end to `target` (SIP REFER or a redirect).
    async fn transfer(&self, target: &str) -> Result<(), CoreError>;

    /// Ends the leg.
    async fn hangup(&self, cause: HangupCause) -> Result<(), CoreError>;

    /// Completes when the leg has ended, for whatever reason, with the cause.
    /// May be awaited any number of times, by several tasks.
    async fn ended(&self) -> HangupCause;

    /// The next thing the far end did on its own: put the call on hold, took
    /// it off hold, asked for a transfer (see [`LegEvent`]). One reader — the
    /// owner of the call — awaits it in a loop; it must be cancel-safe (an
    /// event is never lost when the future is dropped before completing).
    /// The default never completes: a transport that reports nothing.
    async fn next_event(&self) -> LegEvent {
        std::future::pending().await
    }

    /// Answers the far end's [`LegEvent::TransferRequested`]: accepted or
    /// refused, then, once accepted, how the transfer ended.
    ///
    /// # Errors
    /// [`CoreError::Unsupported`] when the transport takes no transfer
    /// requests (the default); [`CoreError::LegEnded`].
    async fn report_transfer(&self, report: TransferReport) -> Result<(), CoreError> {
        let _ = report;
        Err(CoreError::Unsupported(
            "this leg takes no transfer requests",
        ))
    }

    /// Play, say, collect, listen and record on this leg.
    fn media(&self) -> &dyn MediaControl;

    /// The leg's media port, when its transport has a media engine behind
    /// the leg-media seam: what mixing rooms ([`crate::MixRoom`]: conferences,
    /// supervision, mute) join. The default has none.
    fn media_port(&self) -> Option<Arc<dyn LegMediaPort>> {
        None
    }

    /// How the leg was placed, in one line for the journal: for a call out
    /// through trunks with failover, each trunk tried and what came of it
    /// (`first:503 second:answered`). `None` (the default) when there is
    /// nothing to say (an inbound leg, a leg placed without trunks).
    fn placed_through(&self) -> Option<String> {
        None
    }

    /// For transports to downcast legs in [`bridge`](Leg::bridge).
    fn as_any(&self) -> &dyn Any;
}

/// A new inbound interaction and its leg.
#[derive(Debug)]
pub struct Inbound {
    /// The interaction (id, channel, from/to, attributes) as the transport saw it.
    pub interaction: Interaction,
    /// Its leg, ringing (voice) or open (chat).
    pub leg: Box<dyn Leg>,
}

/// A request to place an outbound leg (an offer ringing an agent's phone, a
/// dialer call, a callback).
#[derive(Debug, Clone)]
pub struct PlaceRequest {
    /// Who to reach.
    pub to: Endpoint,
    /// The caller id to present.
    pub from: String,
    /// Channel of the leg.
    pub channel: Channel,
    /// How long to ring before giving up with [`HangupCause::NoAnswer`].
    pub ring_timeout_secs: u32,
}

/// A transport: where interactions come from and where outbound legs go.
///
/// One trait for every channel: a voice transport's legs play audio, a chat
/// transport's legs send text; flows do not need to know which.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// A short name for logs (`"sip"`, `"memory"`).
    fn name(&self) -> &str;

    /// The next inbound interaction; `None` when the transport has shut down.
    /// Called in a loop by one task of the center.
    async fn accept(&self) -> Option<Inbound>;

    /// Whether this transport can reach `endpoint`.
    fn can_reach(&self, endpoint: &Endpoint) -> bool;

    /// Places an outbound leg and waits until it is answered.
    ///
    /// # Errors
    /// [`CoreError::NotAnswered`] with the cause when it is busy, declined, not
    /// answered within the ring timeout, or the address is invalid;
    /// [`CoreError::Unreachable`] when this transport cannot reach the endpoint.
    async fn place(&self, request: PlaceRequest) -> Result<Box<dyn Leg>, CoreError>;
}
