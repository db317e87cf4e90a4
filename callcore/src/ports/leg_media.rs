//! The leg-media seam: how a signalling transport (SIP) drives the media engine
//! (RTP) of one voice leg, in neutral types — addresses, codecs, payload types
//! and directions, no SDP and no RTP stack.
//!
//! One leg's media goes through these steps:
//!
//! 1. **reserve** — [`MediaAttach::reserve`] binds the leg's RTP address before
//!    the transport writes its SDP ([`LegMediaPort::local_rtp`]).
//! 2. **apply** — [`LegMediaPort::apply`] with each [`NegotiatedMedia`] the
//!    offer/answer leaves: the first gives the leg's [`MediaControl`] (prompts,
//!    digits, speech, recording for flows); re-INVITEs update the far end's
//!    address, codec and direction (hold is `sendonly`/`inactive`).
//! 3. **bridge / tap** — [`LegMediaPort::bridge`] relays audio between two legs,
//!    recording the conversation when the caller of the port asks for it with a
//!    [`RecordingRequest`] (the runtime or the assembly decides, not the media
//!    engine); [`LegMediaPort::tap`] hands the leg's decoded audio to a
//!    [`FrameSink`] (answering-machine and SIT detection, live transcription).
//! 4. **close** — [`LegMediaPort::close`] ends the media and frees the ports.
//!
//! A recording is reported twice: [`RecordingStarted`] when the bridge starts
//! it, and [`RecordingStopped`] (with its length) once its file is complete, so
//! the runtime can emit `EventKind::RecordingStarted`/`RecordingStopped`.
//!
//! ```
//! use callcore::{AudioCodec, MediaDirection, NegotiatedMedia};
//! use std::time::Duration;
//! // what a SIP answer with `m=audio 40000 RTP/AVP 8 101` and `a=recvonly` means
//! let media = NegotiatedMedia::new(Some("192.0.2.7:40000".parse().unwrap()), AudioCodec::pcma())
//!     .with_telephone_event(Some(101))
//!     .with_direction(MediaDirection::RecvOnly);
//! assert!(!media.direction.sends(), "the far end put us on hold");
//! assert_eq!(media.ptime, Duration::from_millis(20));
//! assert!(media.codec.is("pcma"));
//! ```

use crate::{CoreError, InteractionId, LegId, MediaControl, RecordingId, TenantId};
use async_trait::async_trait;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Sample rate of tapped audio ([`FrameSink`]): 8 kHz.
pub const TAP_SAMPLE_RATE: u32 = 8000;

/// Samples in one tapped 20 ms frame at [`TAP_SAMPLE_RATE`].
pub const TAP_FRAME_SAMPLES: usize = 160;

/// Which way media flows, from our side (SDP `a=sendrecv`, `a=sendonly`,
/// `a=recvonly`, `a=inactive` of our answer or offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MediaDirection {
    /// Both ways.
    #[default]
    SendRecv,
    /// We send only: we hold the far end.
    SendOnly,
    /// We receive only: the far end holds us.
    RecvOnly,
    /// Neither way (both on hold).
    Inactive,
}

impl MediaDirection {
    /// Whether we may send audio.
    #[must_use]
    pub const fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the far end may send us audio.
    #[must_use]
    pub const fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// An audio codec as negotiated: the RTP encoding name (`PCMU`, `PCMA`,
/// `opus`), its payload type, clock rate and channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AudioCodec {
    /// Encoding name as in an `a=rtpmap` (compare with [`is`](Self::is)).
    pub encoding: String,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: u8,
}

impl AudioCodec {
    /// A mono codec.
    #[must_use]
    pub fn new(encoding: impl Into<String>, payload_type: u8, clock_rate: u32) -> Self {
        Self {
            encoding: encoding.into(),
            payload_type,
            clock_rate,
            channels: 1,
        }
    }

    /// G.711 µ-law: `PCMU`, payload type 0, 8 kHz.
    #[must_use]
    pub fn pcmu() -> Self {
        Self::new("PCMU", 0, 8000)
    }

    /// G.711 A-law: `PCMA`, payload type 8, 8 kHz.
    #[must_use]
    pub fn pcma() -> Self {
        Self::new("PCMA", 8, 8000)
    }

    /// The same codec with `channels` channels.
    #[must_use]
    pub const fn with_channels(mut self, channels: u8) -> Self {
        self.channels = channels;
        self
    }

    /// Whether this is `encoding` (case-insensitive, as SDP compares them).
    #[must_use]
    pub fn is(&self, encoding: &str) -> bool {
        self.encoding.eq_ignore_ascii_case(encoding)
    }
}

/// The far end's media as the last offer/answer left it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NegotiatedMedia {
    /// Where to send RTP; `None` when the far end holds with `0.0.0.0` or port
    /// 0, or is unknown until its first packet arrives.
    pub remote_rtp: Option<SocketAddr>,
    /// The codec both sides use.
    pub codec: AudioCodec,
    /// The RFC 4733 telephone-event payload type, when both sides support it.
    pub telephone_event: Option<u8>,
    /// Our direction (see [`MediaDirection`]).
    pub direction: MediaDirection,
    /// Packet time the far end asked for (`a=ptime`; 20 ms when not stated).
    pub ptime: Duration,
    /// SRTP keys when the media is protected (SDES, RFC 4568); `None`: plain RTP.
    pub srtp: Option<crate::SrtpKeys>,
}

impl NegotiatedMedia {
    /// `codec` to `remote_rtp`, both ways, no telephone-event, 20 ms packets.
    #[must_use]
    pub const fn new(remote_rtp: Option<SocketAddr>, codec: AudioCodec) -> Self {
        Self {
            remote_rtp,
            codec,
            telephone_event: None,
            direction: MediaDirection::SendRecv,
            ptime: Duration::from_millis(20),
            srtp: None,
        }
    }

    /// With the telephone-event payload type.
    #[must_use]
    pub const fn with_telephone_event(mut self, payload_type: Option<u8>) -> Self {
        self.telephone_event = payload_type;
        self
    }

    /// With our direction.
    #[must_use]
    pub const fn with_direction(mut self, direction: MediaDirection) -> Self {
        self.direction = direction;
        self
    }

    /// With the packet time.
    #[must_use]
    pub const fn with_ptime(mut self, ptime: Duration) -> Self {
        self.ptime = ptime;
        self
    }

    /// With SRTP keys (`None`: plain RTP).
    #[must_use]
    pub const fn with_srtp(mut self, keys: Option<crate::SrtpKeys>) -> Self {
        self.srtp = keys;
        self
    }
}

/// What a transport tells the media engine about a new leg.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LegMediaRequest {
    /// The leg.
    pub leg: LegId,
    /// The tenant the leg's call belongs to.
    pub tenant: TenantId,
    /// The interaction the leg carries, when the transport knows it (an
    /// inbound call); outbound legs learn theirs from the runtime later.
    pub interaction: Option<InteractionId>,
}

impl LegMediaRequest {
    /// A leg of `tenant` without a known interaction.
    #[must_use]
    pub const fn new(leg: LegId, tenant: TenantId) -> Self {
        Self {
            leg,
            tenant,
            interaction: None,
        }
    }

    /// With the interaction the leg carries.
    #[must_use]
    pub fn with_interaction(mut self, interaction: InteractionId) -> Self {
        self.interaction = Some(interaction);
        self
    }
}

/// A request to record a bridged conversation, from the caller of the port:
/// the runtime (or an assembly) decides which conversations are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingRequest {
    /// The tenant of the interaction.
    pub tenant: TenantId,
    /// The interaction the recording belongs to (its record lists it).
    pub interaction: InteractionId,
}

impl RecordingRequest {
    /// Records the conversation of `interaction` of `tenant`.
    #[must_use]
    pub const fn new(tenant: TenantId, interaction: InteractionId) -> Self {
        Self {
            tenant,
            interaction,
        }
    }
}

/// A recording that has started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingStarted {
    /// The recording.
    pub id: RecordingId,
    /// The interaction recorded.
    pub interaction: InteractionId,
    /// Where the file is being written.
    pub path: String,
    /// Audio channels: 2 for a bridged call (the leg `bridge` was called on
    /// left, the other right), 1 for a mixed recording.
    pub channels: u8,
}

impl RecordingStarted {
    /// A recording of `interaction` written to `path`.
    #[must_use]
    pub const fn new(
        id: RecordingId,
        interaction: InteractionId,
        path: String,
        channels: u8,
    ) -> Self {
        Self {
            id,
            interaction,
            path,
            channels,
        }
    }
}

/// A recording whose file is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingStopped {
    /// The recording.
    pub id: RecordingId,
    /// The interaction recorded.
    pub interaction: InteractionId,
    /// Where the file is.
    pub path: String,
    /// Length of the audio.
    pub duration_ms: u64,
    /// Audio channels.
    pub channels: u8,
}

impl RecordingStopped {
    /// The recording `started` ended after `duration_ms` of audio.
    #[must_use]
    pub fn of(started: &RecordingStarted, duration_ms: u64) -> Self {
        Self {
            id: started.id.clone(),
            interaction: started.interaction.clone(),
            path: started.path.clone(),
            duration_ms,
            channels: started.channels,
        }
    }
}

/// Completes when a recording's file is complete: `Some` with what it holds,
/// `None` when the media engine gave up on it.
pub type RecordingDone = Pin<Box<dyn Future<Output = Option<RecordingStopped>> + Send>>;

/// The recording of a bridged conversation: what started, and the end to wait
/// for (the bridge ends with either leg, or with `unbridge`).
#[non_exhaustive]
pub struct BridgeRecording {
    /// What started.
    pub started: RecordingStarted,
    /// Completes once the file is complete.
    pub stopped: RecordingDone,
}

impl BridgeRecording {
    /// `started`, ending when `stopped` completes.
    pub fn new(
        started: RecordingStarted,
        stopped: impl Future<Output = Option<RecordingStopped>> + Send + 'static,
    ) -> Self {
        Self {
            started,
            stopped: Box::pin(stopped),
        }
    }
}

impl fmt::Debug for BridgeRecording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeRecording")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

/// Which way a tapped frame travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameDirection {
    /// Heard from the far end of the leg.
    Inbound,
    /// Sent to the far end: our prompts, or the bridged leg's audio.
    Outbound,
}

/// Receives a leg's decoded audio from [`LegMediaPort::tap`]: 16-bit mono PCM
/// at [`TAP_SAMPLE_RATE`], one 20 ms frame ([`TAP_FRAME_SAMPLES`]) per
/// direction every 20 ms, silence included (a detector measures it). The sink
/// is dropped when the leg's media ends.
///
/// Any `FnMut(FrameDirection, &[i16]) -> bool + Send` closure is a sink:
///
/// ```
/// use callcore::{FrameDirection, FrameSink};
/// let mut heard = Vec::new();
/// let mut sink = move |dir: FrameDirection, pcm: &[i16]| {
///     if dir == FrameDirection::Inbound {
///         heard.extend_from_slice(pcm);
///     }
///     heard.len() < 8000 // one second is enough
/// };
/// assert!(sink.frame(FrameDirection::Inbound, &[0; 160]));
/// ```
pub trait FrameSink: Send {
    /// One frame. Called on the media engine's task: hand the frame on (to a
    /// channel) and return at once. Returning `false` detaches the sink.
    fn frame(&mut self, direction: FrameDirection, samples: &[i16]) -> bool;
}

impl<F> FrameSink for F
where
    F: FnMut(FrameDirection, &[i16]) -> bool + Send,
{
    fn frame(&mut self, direction: FrameDirection, samples: &[i16]) -> bool {
        self(direction, samples)
    }
}

/// A media engine for a transport's voice legs (callcore-media's RTP engine,
/// a test double).
#[async_trait]
pub trait MediaAttach: Send + Sync + fmt::Debug {
    /// Reserves the media of a new leg — its RTP address — before the
    /// transport writes the leg's SDP.
    ///
    /// # Errors
    /// [`CoreError::Media`] when no RTP port is free; the transport then
    /// refuses the call (SIP 503) or does not place it.
    async fn reserve(&self, request: &LegMediaRequest) -> Result<Arc<dyn LegMediaPort>, CoreError>;
}

/// One leg's media, as its transport drives it (see the module docs for the
/// order of the calls). Every method is safe to call after [`close`](Self::close).
pub trait LegMediaPort: Send + Sync + fmt::Debug {
    /// The RTP address the transport advertises for this leg.
    fn local_rtp(&self) -> SocketAddr;

    /// Applies a (re-)negotiated far end: address, codec, telephone-event,
    /// direction, packet time. The first call returns the leg's
    /// [`MediaControl`]; later ones (re-INVITE: hold, resume, a new address)
    /// return `None`.
    ///
    /// # Errors
    /// [`CoreError::Media`] when the engine cannot carry the codec or the leg's
    /// media has ended.
    fn apply(&self, media: &NegotiatedMedia) -> Result<Option<Arc<dyn MediaControl>>, CoreError>;

    /// Relays this leg's audio to `other`'s and back until either closes or
    /// [`unbridge`](Self::unbridge) is called. With `recording`, the
    /// conversation is recorded (this leg left, `other` right) and reported.
    ///
    /// # Errors
    /// [`CoreError::Unsupported`] when `other` belongs to another engine;
    /// [`CoreError::Media`] when either leg has no negotiated media or the
    /// recording cannot be created.
    fn bridge(
        &self,
        other: &dyn LegMediaPort,
        recording: Option<&RecordingRequest>,
    ) -> Result<Option<BridgeRecording>, CoreError>;

    /// Stops relaying: both legs return to their own media (prompts, digits).
    fn unbridge(&self);

    /// Hands every decoded frame of this leg, both directions, to `sink` from
    /// now until the sink detaches or the leg's media ends.
    ///
    /// # Errors
    /// [`CoreError::LegEnded`] when the leg's media has ended.
    fn tap(&self, sink: Box<dyn FrameSink>) -> Result<(), CoreError>;

    /// Ends the leg's media and frees its ports.
    fn close(&self);

    /// Opens a mixing room on this leg's media engine (conferences,
    /// supervisor listen, whisper and barge, a muted party). The leg itself
    /// is not joined: [`MixRoom::join`] it like any other. The room lives
    /// until [`MixRoom::close`] or until its last handle is dropped.
    ///
    /// # Errors
    /// [`CoreError::Unsupported`] when the engine cannot mix (the default).
    fn open_room(&self) -> Result<Arc<dyn MixRoom>, CoreError> {
        Err(CoreError::Unsupported("this media engine cannot mix"))
    }

    /// For engines to downcast `other` in [`bridge`](Self::bridge).
    fn as_any(&self) -> &dyn Any;
}

/// How a leg takes part in a [`MixRoom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MixRole {
    /// Hears every other party and is heard by everyone: a conference
    /// member, the customer and agent of a supervised call, a barging
    /// supervisor.
    Party,
    /// Hears every party, is heard by nobody: supervisor listen, a muted
    /// party.
    Listen,
    /// Hears every party, is heard only by the leg `to` (usually the agent):
    /// supervisor whisper (coaching).
    Whisper {
        /// The only leg that hears this one.
        to: LegId,
    },
}

/// An N-leg mixer on a media engine (see [`LegMediaPort::open_room`]): each
/// leg hears the sum of the legs its role lets it hear, never itself.
/// Joining takes a leg out of any bridge (its partner returns to its own
/// media) or other room it is in; while in the room the leg's own media
/// pauses (a prompt or music waits; digits still reach its
/// [`MediaControl`]); leaving hands it back to its own media (prompts, music,
/// digits). Bridging a member elsewhere takes it out of the room. Every
/// method is safe to call after [`close`](Self::close) or after a member's
/// media ended (a member whose media ends simply leaves).
///
/// The runtime opens a room from any member's port
/// ([`Leg::media_port`](crate::Leg::media_port)) and joins each leg with its
/// own port:
///
/// ```no_run
/// # fn conference(legs: &[&dyn callcore::Leg]) -> Result<(), callcore::CoreError> {
/// use callcore::{CoreError, MixRole};
/// let ports = legs
///     .iter()
///     .map(|l| l.media_port().ok_or(CoreError::Unsupported("no media port")))
///     .collect::<Result<Vec<_>, _>>()?;
/// let room = ports[0].open_room()?;
/// for (leg, port) in legs.iter().zip(&ports) {
///     room.join(leg.id(), port.as_ref(), MixRole::Party)?;
/// }
/// # Ok(()) }
/// ```
pub trait MixRoom: Send + Sync + fmt::Debug {
    /// Adds `leg`, whose media is `port` (of the same engine), with `role`;
    /// a member already in the room only changes its role.
    ///
    /// # Errors
    /// [`CoreError::Unsupported`] when `port` belongs to another engine;
    /// [`CoreError::Media`] when the leg has no negotiated media or the room
    /// is closed; [`CoreError::NotFound`] when a whisper names a leg that is
    /// not a member.
    fn join(&self, leg: &LegId, port: &dyn LegMediaPort, role: MixRole) -> Result<(), CoreError>;

    /// Takes `leg` out of the room (nothing when it is not a member).
    fn leave(&self, leg: &LegId);

    /// The members and their roles, in the order they joined.
    fn members(&self) -> Vec<(LegId, MixRole)>;

    /// Records the room from now until it closes, in stereo: left what the
    /// first member to have joined (the customer; once it leaves, the
    /// earliest-joined member still there) says, right what that member
    /// hears (everyone heard by them). One recording per room.
    ///
    /// # Errors
    /// [`CoreError::Media`] when the file cannot be created or the room is
    /// closed; [`CoreError::Unsupported`] when the engine cannot record rooms.
    fn record(&self, request: &RecordingRequest) -> Result<BridgeRecording, CoreError>;

    /// Ends the room: every member leaves, a recording is finished.
    fn close(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_say_who_may_send() {
        use MediaDirection as D;
        let sends: Vec<_> = [D::SendRecv, D::SendOnly, D::RecvOnly, D::Inactive]
            .iter()
            .map(|d| (d.sends(), d.receives()))
            .collect();
        assert_eq!(
            sends,
            vec![(true, true), (true, false), (false, true), (false, false)]
        );
    }

    #[test]
    fn a_closure_is_a_sink_that_detaches_itself() {
        let mut n = 0;
        let mut sink: Box<dyn FrameSink> = Box::new(move |_: FrameDirection, _: &[i16]| {
            n += 1;
            n < 2
        });
        assert!(sink.frame(FrameDirection::Inbound, &[0; TAP_FRAME_SAMPLES]));
        assert!(!sink.frame(FrameDirection::Outbound, &[0; TAP_FRAME_SAMPLES]));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_bridge_recording_reports_its_end() {
        let started = RecordingStarted::new(
            RecordingId::new("call-1.wav"),
            InteractionId::new("i1"),
            "/rec/call-1.wav".into(),
            2,
        );
        let stopped = RecordingStopped::of(&started, 61_000);
        let rec = BridgeRecording::new(started, std::future::ready(Some(stopped.clone())));
        assert!(format!("{rec:?}").contains("call-1.wav"));
        assert_eq!(rec.stopped.await, Some(stopped));
    }
}
