//! callcore-media as the media engine behind callcore's leg-media port
//! ([`callcore::MediaAttach`], [`callcore::LegMediaPort`]), for any voice
//! transport that speaks it (callcore-sip's `SipTransport`).
//!
//! Each leg gets its own RTP/RTCP port pair ([`LegMedia`]) before its SDP is
//! written; the negotiated media, in neutral terms, starts a session (prompts,
//! RFC 4733 and in-band DTMF, recording, speech) and re-negotiations update it;
//! bridged legs relay through the bridge core, recorded in stereo (this leg
//! left, the other right) when the caller of the port asks with a
//! [`callcore::RecordingRequest`]; the recording is reported back
//! ([`callcore::BridgeRecording`]) and, with a recording store, filed there.
//! [`callcore::LegMediaPort::tap`] hands a leg's decoded frames to detectors.
//!
//! [`callcore::LegMediaPort::open_room`] opens an [`RtpRoom`], callcore's
//! [`callcore::MixRoom`] over a [`crate::sip_leg::Room`]: any number of the
//! engine's legs mixed every 20 ms by role (party, listen, whisper to one
//! member), each leg leaving its bridge to join and going back to its own
//! session (prompts, music on hold) when it leaves; the room's stereo recording
//! is reported and filed like a bridge's. Music on hold is the piece of
//! [`crate::hold_music`] unless [`RtpMediaConfig::music_on_hold`] names a file.
//!
//! ```no_run
//! # async fn room(customer: &dyn callcore::Leg, agent: &dyn callcore::Leg,
//! #               supervisor: &dyn callcore::Leg) -> Result<(), callcore::CoreError> {
//! use callcore::{CoreError, MixRole};
//! let port = |leg: &dyn callcore::Leg| leg.media_port().ok_or(CoreError::Unsupported("no media port"));
//! let (c, a, s) = (port(customer)?, port(agent)?, port(supervisor)?);
//! let room = c.open_room()?;
//! room.join(customer.id(), c.as_ref(), MixRole::Party)?;
//! room.join(agent.id(), a.as_ref(), MixRole::Party)?;
//! room.join(supervisor.id(), s.as_ref(), MixRole::Whisper { to: agent.id().clone() })?;
//! room.join(supervisor.id(), s.as_ref(), MixRole::Party)?; // barge: only the role changes
//! room.leave(supervisor.id()); // back to its own session
//! room.close(); // the others too
//! # Ok(()) }
//! ```
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use callcore::MediaAttach;
//! use callcore_media::leg_port::{RtpMedia, RtpMediaConfig};
//! let media: Arc<dyn MediaAttach> = Arc::new(RtpMedia::new(RtpMediaConfig::loopback(20000..=20999)));
//! // callcore_sip::center::SipTransport::start(config, clock, Some(media)).await?
//! # Ok(()) }
//! ```

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use callcore::{
    BridgeRecording, Clock, CoreError, FrameDirection, FrameSink, LegMediaPort, LegMediaRequest,
    MediaAttach, MediaControl, NegotiatedMedia, RecordingId, RecordingMeta, RecordingRequest,
    RecordingStarted, RecordingStopped, RecordingStore, SpeechRecognizer, SpeechSynthesizer,
    Timestamp,
};

mod room;
pub use room::RtpRoom;

use crate::g711::Law;
use crate::sip_leg::{LegMedia, LegMediaConfig, LegMediaStats, Negotiated, TapDirection};
use crate::udp::PortAllocator;

/// Settings of [`RtpMedia`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RtpMediaConfig {
    /// The address RTP binds and the SDP advertises.
    pub ip: IpAddr,
    /// RTP ports (even RTP, odd RTCP).
    pub ports: RangeInclusive<u16>,
    /// Where relative prompt names resolve.
    pub prompts_dir: PathBuf,
    /// Where recordings go (IVR `record`, bridged calls and rooms).
    pub recordings_dir: PathBuf,
    /// The music on hold ([`callcore::Prompt::MusicOnHold`]): an audio file
    /// (WAV, MP3, OGG/Vorbis, FLAC; resampled to 8 kHz mono, at most
    /// [`MAX_MUSIC_SECS`] kept), decoded once by [`RtpMedia::new`]. `None`, or
    /// a file that cannot be decoded (a warning says why): the piece of
    /// [`crate::hold_music`].
    pub music_on_hold: Option<PathBuf>,
}

/// The longest music on hold kept from a file, in seconds (it loops).
pub const MAX_MUSIC_SECS: usize = 600;

impl RtpMediaConfig {
    /// 127.0.0.1, `ports`, prompts in `./prompts`, recordings in `./recordings`.
    #[must_use]
    pub fn loopback(ports: RangeInclusive<u16>) -> Self {
        RtpMediaConfig {
            ip: IpAddr::from([127, 0, 0, 1]),
            ports,
            prompts_dir: "prompts".into(),
            recordings_dir: "recordings".into(),
            music_on_hold: None,
        }
    }

    /// With the music on hold from the audio file `path`.
    #[must_use]
    pub fn with_music_on_hold(mut self, path: impl Into<PathBuf>) -> Self {
        self.music_on_hold = Some(path.into());
        self
    }
}

/// The music on hold `path` names, at 8 kHz; `None` (with a warning) when it
/// cannot be decoded or holds no sound.
fn load_music(path: &std::path::Path) -> Option<Arc<[i16]>> {
    match crate::prompt::Prompt::load(path) {
        Ok(p) if p.samples.iter().any(|&s| s != 0) => {
            let keep = p.samples.len().min(MAX_MUSIC_SECS * 8000);
            Some(p.samples[..keep].into())
        }
        Ok(_) => {
            tracing::warn!(file = %path.display(), "music on hold is silent; using the default");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "music on hold cannot be decoded; using the default");
            None
        }
    }
}

/// Where recordings' metadata are filed.
#[derive(Clone)]
struct Index {
    store: Arc<dyn RecordingStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").finish_non_exhaustive()
    }
}

/// callcore-media's RTP engine behind callcore's [`MediaAttach`].
#[derive(Clone)]
pub struct RtpMedia {
    config: RtpMediaConfig,
    ports: Arc<PortAllocator>,
    ssrc: Arc<AtomicU32>,
    index: Option<Index>,
    tts: Option<Arc<dyn SpeechSynthesizer>>,
    asr: Option<Arc<dyn SpeechRecognizer>>,
    /// Music on hold from the configured file (else each leg's default).
    music: Option<Arc<[i16]>>,
}

impl std::fmt::Debug for RtpMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpMedia")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RtpMedia {
    /// An engine allocating from `config.ports`; decodes the configured music on
    /// hold (a blocking file read: call it at start-up).
    #[must_use]
    pub fn new(config: RtpMediaConfig) -> Self {
        RtpMedia {
            music: config.music_on_hold.as_deref().and_then(load_music),
            ports: Arc::new(PortAllocator::new(config.ip, config.ports.clone())),
            config,
            ssrc: Arc::new(AtomicU32::new(0x0CA1_1000)),
            index: None,
            tts: None,
            asr: None,
        }
    }

    /// Files recordings (IVR and bridged) in `store`, stamped by `clock`, under
    /// their leg's or request's tenant.
    #[must_use]
    pub fn with_recording_store(
        mut self,
        store: Arc<dyn RecordingStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        self.index = Some(Index { store, clock });
        self
    }

    /// Speech synthesis for `say`.
    #[must_use]
    pub fn with_synthesizer(mut self, tts: Arc<dyn SpeechSynthesizer>) -> Self {
        self.tts = Some(tts);
        self
    }

    /// Speech recognition for `listen`.
    #[must_use]
    pub fn with_recognizer(mut self, asr: Arc<dyn SpeechRecognizer>) -> Self {
        self.asr = Some(asr);
        self
    }

    fn now(&self) -> Option<Timestamp> {
        self.index.as_ref().map(|ix| ix.clock.now())
    }

    /// A unique stamp for recording names: leg ids restart with the process.
    fn stamp(&self) -> String {
        self.now().map_or_else(
            || format!("p{}", std::process::id()),
            |t| t.as_millis().to_string(),
        )
    }

    /// The recordings directory, created if missing (owner only, 0700 on Unix).
    fn recordings_dir(&self) -> Result<&std::path::Path, CoreError> {
        let dir = &self.config.recordings_dir;
        crate::wav::create_private_dir(dir)
            .map_err(|e| CoreError::Media(format!("{}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Reports a recording (of a bridge or a room) named `name` at `path`: what
    /// started now, and its end once `finished` says the file is complete, filed
    /// in the recording store when there is one.
    fn report_recording(
        &self,
        runtime: &tokio::runtime::Handle,
        request: &RecordingRequest,
        name: String,
        path: &std::path::Path,
        finished: tokio::sync::oneshot::Receiver<crate::wav::RecordingInfo>,
    ) -> BridgeRecording {
        let started_at = self.now().unwrap_or(Timestamp::EPOCH);
        let started = RecordingStarted::new(
            RecordingId::new(name),
            request.interaction.clone(),
            path.display().to_string(),
            2,
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (index, tenant, report) = (self.index.clone(), request.tenant.clone(), started.clone());
        runtime.spawn(async move {
            let stopped = finished
                .await
                .ok()
                .map(|info| RecordingStopped::of(&report, info.duration_ms));
            if let (Some(stopped), Some(ix)) = (&stopped, index) {
                let meta = RecordingMeta {
                    id: stopped.id.clone(),
                    tenant,
                    interaction: stopped.interaction.clone(),
                    path: stopped.path.clone(),
                    channels: stopped.channels,
                    started_at,
                    duration_ms: stopped.duration_ms,
                };
                if let Err(e) = ix.store.save(&meta).await {
                    tracing::warn!(error = %e, "filing the call recording failed");
                }
            }
            let _ = tx.send(stopped);
        });
        BridgeRecording::new(started, async move { rx.await.ok().flatten() })
    }
}

#[async_trait]
impl MediaAttach for RtpMedia {
    async fn reserve(&self, request: &LegMediaRequest) -> Result<Arc<dyn LegMediaPort>, CoreError> {
        let config = LegMediaConfig {
            ssrc: self.ssrc.fetch_add(0x0101, Ordering::Relaxed),
            prompts_dir: self.config.prompts_dir.clone(),
            recordings_dir: self.config.recordings_dir.clone(),
            ..LegMediaConfig::default()
        };
        let media = LegMedia::reserve(&self.ports, config)
            .await
            .map_err(|e| CoreError::Media(e.to_string()))?;
        Ok(Arc::new(RtpLeg {
            request: request.clone(),
            media,
            engine: self.clone(),
        }))
    }
}

/// One leg's media under [`RtpMedia`].
#[derive(Debug)]
pub struct RtpLeg {
    request: LegMediaRequest,
    media: LegMedia,
    engine: RtpMedia,
}

impl RtpLeg {
    /// Live RTP figures of this leg.
    #[must_use]
    pub fn stats(&self) -> LegMediaStats {
        self.media.stats()
    }

    /// What the transport said about the leg when reserving it.
    #[must_use]
    pub const fn request(&self) -> &LegMediaRequest {
        &self.request
    }

    /// Where this bridge's recording goes: unique per process start and legs.
    fn recording_path(&self, other: &RtpLeg) -> Result<(String, PathBuf), CoreError> {
        let dir = self.engine.recordings_dir()?;
        let name = format!(
            "call-{}-{}-{}.wav",
            self.engine.stamp(),
            self.request.leg,
            other.request.leg
        )
        .replace(['/', ':', '\\'], "_");
        let path = dir.join(&name);
        Ok((name, path))
    }
}

/// callcore-media's terms for negotiated media: far-end address, G.711 law,
/// telephone-event, and whether our direction lets us send. We send 20 ms
/// packets whatever the far end's packet time; we receive any.
///
/// # Errors
/// [`CoreError::Media`] for a codec other than G.711 at 8 kHz mono.
pub fn negotiated(media: &NegotiatedMedia) -> Result<Negotiated, CoreError> {
    let codec = &media.codec;
    let law = if codec.is("PCMU") {
        Law::Ulaw
    } else if codec.is("PCMA") {
        Law::Alaw
    } else {
        return Err(CoreError::Media(format!(
            "codec {} is not carried on RTP legs (PCMU, PCMA)",
            codec.encoding
        )));
    };
    if codec.clock_rate != 8000 || codec.channels != 1 {
        return Err(CoreError::Media(format!(
            "{} at {} Hz with {} channels: G.711 is 8000 Hz mono",
            codec.encoding, codec.clock_rate, codec.channels
        )));
    }
    Ok(Negotiated {
        remote: media.remote_rtp,
        law,
        telephone_event: media.telephone_event,
        send: media.direction.sends(),
        srtp: media.srtp.as_ref().map(srtp_params).transpose()?,
    })
}

/// callcore's neutral SRTP keys in this engine's terms.
fn srtp_params(keys: &callcore::SrtpKeys) -> Result<crate::srtp::SrtpParams, CoreError> {
    use crate::srtp::SrtpProfile;
    let profile = match keys.suite {
        callcore::SrtpSuite::AesCm128HmacSha1_80 => SrtpProfile::AesCm128HmacSha1_80,
        callcore::SrtpSuite::AesCm128HmacSha1_32 => SrtpProfile::AesCm128HmacSha1_32,
        other => {
            return Err(CoreError::Media(format!(
                "SRTP suite {other:?} is not carried on RTP legs"
            )));
        }
    };
    Ok(crate::srtp::SrtpParams::new(
        profile,
        *keys.send.bytes(),
        *keys.receive.bytes(),
    ))
}

fn media_error(e: crate::MediaError) -> CoreError {
    CoreError::Media(e.to_string())
}

impl LegMediaPort for RtpLeg {
    fn local_rtp(&self) -> SocketAddr {
        self.media.local_rtp()
    }

    fn apply(&self, media: &NegotiatedMedia) -> Result<Option<Arc<dyn MediaControl>>, CoreError> {
        let Some(mut control) = self.media.start(negotiated(media)?).map_err(media_error)? else {
            return Ok(None);
        };
        if let (Some(ix), Some(interaction)) = (&self.engine.index, &self.request.interaction) {
            control = control.with_recording_store(
                ix.store.clone(),
                ix.clock.clone(),
                self.request.tenant.clone(),
                interaction.clone(),
            );
        }
        if let Some(tts) = &self.engine.tts {
            control = control.with_synthesizer(tts.clone());
        }
        if let Some(asr) = &self.engine.asr {
            control = control.with_recognizer(asr.clone());
        }
        if let Some(music) = &self.engine.music {
            control = control.with_music_on_hold(music.clone());
        }
        Ok(Some(Arc::new(control)))
    }

    fn bridge(
        &self,
        other: &dyn LegMediaPort,
        recording: Option<&RecordingRequest>,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        let other = other
            .as_any()
            .downcast_ref::<RtpLeg>()
            .ok_or(CoreError::Unsupported(
                "bridging legs of different media engines",
            ))?;
        let Some(request) = recording else {
            self.media.bridge(&other.media, None).map_err(media_error)?;
            return Ok(None);
        };
        // the filing task needs the runtime the legs' tasks run on
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| CoreError::Media("bridging outside a tokio runtime".into()))?;
        let (name, path) = self.recording_path(other)?;
        let finished = self
            .media
            .bridge_recorded(&other.media, &path)
            .map_err(media_error)?;
        tracing::debug!(leg = %self.request.leg, recording = %name, "recording the bridge");
        Ok(Some(self.engine.report_recording(
            &runtime, request, name, &path, finished,
        )))
    }

    fn unbridge(&self) {
        self.media.unbridge();
    }

    fn tap(&self, mut sink: Box<dyn FrameSink>) -> Result<(), CoreError> {
        self.media
            .tap(Box::new(move |direction, frame| {
                let direction = match direction {
                    TapDirection::Received => FrameDirection::Inbound,
                    TapDirection::Sent => FrameDirection::Outbound,
                };
                sink.frame(direction, frame)
            }))
            .map_err(|_| CoreError::LegEnded)
    }

    fn close(&self) {
        self.media.close();
    }

    fn open_room(&self) -> Result<Arc<dyn callcore::MixRoom>, CoreError> {
        Ok(Arc::new(RtpRoom::open(
            self.engine.clone(),
            self.request.clone(),
        )?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{AudioCodec, MediaDirection};

    #[test]
    fn neutral_media_becomes_a_g711_session() {
        let far = NegotiatedMedia::new(
            Some("127.0.0.1:6000".parse().expect("addr")),
            AudioCodec::pcma(),
        )
        .with_telephone_event(Some(101))
        .with_direction(MediaDirection::RecvOnly);
        let n = negotiated(&far).expect("G.711");
        assert_eq!(n.law, Law::Alaw);
        assert_eq!(n.telephone_event, Some(101));
        assert!(!n.send, "held by the far end: we send nothing");
        let n = negotiated(&far.clone().with_direction(MediaDirection::SendOnly)).expect("G.711");
        assert!(n.send);
        let mu = NegotiatedMedia::new(None, AudioCodec::new("pcmu", 0, 8000));
        assert_eq!(negotiated(&mu).map(|n| n.law).ok(), Some(Law::Ulaw));
    }

    /// A mono 16-bit WAV of `hz` at `rate` for `secs`.
    fn tone_wav(rate: u32, hz: f64, secs: u32) -> Vec<u8> {
        let n = rate * secs;
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + n * 2).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes()); // PCM
        w.extend_from_slice(&1u16.to_le_bytes()); // mono
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * 2).to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(n * 2).to_le_bytes());
        for i in 0..n {
            let t = f64::from(i) / f64::from(rate);
            let s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
            w.extend_from_slice(&s.to_le_bytes());
        }
        w
    }

    #[test]
    fn music_on_hold_comes_from_a_file_at_8_khz_or_falls_back() {
        let dir = std::env::temp_dir().join(format!("callcore-moh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let file = dir.join("hold.wav");
        std::fs::write(&file, tone_wav(16_000, 440.0, 2)).expect("written");
        let media =
            RtpMedia::new(RtpMediaConfig::loopback(31900..=31909).with_music_on_hold(&file));
        let music = media.music.as_ref().expect("decoded");
        assert!(
            (15_900..=16_100).contains(&music.len()),
            "2 s at 8 kHz: {}",
            music.len()
        );
        assert!(music.iter().any(|&s| s.abs() > 5000));
        let missing =
            RtpMediaConfig::loopback(31900..=31909).with_music_on_hold(dir.join("none.mp3"));
        assert!(
            RtpMedia::new(missing).music.is_none(),
            "the default plays instead"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn other_codecs_are_refused_with_their_name() {
        let opus = NegotiatedMedia::new(None, AudioCodec::new("opus", 111, 48000).with_channels(2));
        let err = negotiated(&opus).expect_err("not G.711");
        assert!(err.to_string().contains("opus"), "{err}");
        let wide = NegotiatedMedia::new(None, AudioCodec::new("PCMA", 8, 16000));
        assert!(negotiated(&wide).is_err());
    }
}
