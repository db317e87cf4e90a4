//! Real media for SIP legs: callcore-media's RTP engine behind the [`MediaAttach`]
//! port of [`crate::center`] (feature `media`, on by default).
//!
//! Each leg gets its own RTP/RTCP port pair from the configured range before its SDP
//! is written; the negotiated SDP starts a media session (prompts, RFC 4733 and
//! in-band DTMF, recording) and re-INVITEs update it; bridged legs relay through
//! callcore-media's bridge core, optionally recorded to a stereo WAV file (caller
//! left, agent right) whose metadata goes to callcore's recording store.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use callcore_sip::center_media::{RtpMedia, RtpMediaConfig};
//! let media = RtpMedia::new(RtpMediaConfig::loopback(20000..=20999));
//! // SipTransport::start(config, clock, Some(Arc::new(media))).await?
//! # let _ = Arc::new(media); Ok(()) }
//! ```

use std::any::Any;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use callcore::{
    Clock, CoreError, InteractionId, LegId, MediaControl, RecordingId, RecordingMeta,
    RecordingStore, SpeechRecognizer, SpeechSynthesizer, TenantId, Timestamp,
};
use callcore_media::g711::Law;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, LegMediaStats, Negotiated};
use callcore_media::udp::PortAllocator;

use crate::center::{LegMediaPort, MediaAttach};
use crate::session::{AudioCodec, Direction, NegotiatedAudio};

/// Settings of [`RtpMedia`].
#[derive(Debug, Clone)]
pub struct RtpMediaConfig {
    /// The address RTP binds and the SDP advertises.
    pub ip: IpAddr,
    /// RTP ports (even RTP, odd RTCP).
    pub ports: RangeInclusive<u16>,
    /// Where relative prompt names resolve.
    pub prompts_dir: PathBuf,
    /// Where recordings go (IVR `record` and bridged calls).
    pub recordings_dir: PathBuf,
    /// Record every bridged conversation (stereo WAV).
    pub record_bridged: bool,
}

impl RtpMediaConfig {
    /// 127.0.0.1, `ports`, prompts in `./prompts`, recordings in `./recordings`, bridged
    /// calls not recorded.
    pub fn loopback(ports: RangeInclusive<u16>) -> Self {
        RtpMediaConfig {
            ip: IpAddr::from([127, 0, 0, 1]),
            ports,
            prompts_dir: "prompts".into(),
            recordings_dir: "recordings".into(),
            record_bridged: false,
        }
    }
}

/// Where recordings' metadata are filed.
#[derive(Clone)]
struct Index {
    store: Arc<dyn RecordingStore>,
    clock: Arc<dyn Clock>,
    tenant: TenantId,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// callcore-media as the media engine of a [`crate::center::SipTransport`].
#[derive(Clone)]
pub struct RtpMedia {
    config: RtpMediaConfig,
    ports: Arc<PortAllocator>,
    ssrc: Arc<AtomicU32>,
    index: Option<Index>,
    tts: Option<Arc<dyn SpeechSynthesizer>>,
    asr: Option<Arc<dyn SpeechRecognizer>>,
}

impl std::fmt::Debug for RtpMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpMedia")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RtpMedia {
    /// An engine allocating from `config.ports`.
    pub fn new(config: RtpMediaConfig) -> Self {
        RtpMedia {
            ports: Arc::new(PortAllocator::new(config.ip, config.ports.clone())),
            config,
            ssrc: Arc::new(AtomicU32::new(0x0CA1_1000)),
            index: None,
            tts: None,
            asr: None,
        }
    }

    /// Files recordings (IVR and bridged) in `store` for `tenant`, stamped by `clock`.
    #[must_use]
    pub fn with_recording_store(
        mut self,
        store: Arc<dyn RecordingStore>,
        clock: Arc<dyn Clock>,
        tenant: TenantId,
    ) -> Self {
        self.index = Some(Index {
            store,
            clock,
            tenant,
        });
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
}

#[async_trait]
impl MediaAttach for RtpMedia {
    async fn reserve(
        &self,
        leg: &LegId,
        interaction: Option<&InteractionId>,
    ) -> Result<Arc<dyn LegMediaPort>, CoreError> {
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
            leg: leg.clone(),
            interaction: interaction.cloned(),
            media,
            engine: self.clone(),
            recording: Mutex::new(None),
        }))
    }
}

/// A bridged call's recording, filed when its first leg closes.
#[derive(Debug)]
struct BridgedRecording {
    path: PathBuf,
    started_at: Timestamp,
}

/// One SIP leg's media.
#[derive(Debug)]
pub struct RtpLeg {
    leg: LegId,
    interaction: Option<InteractionId>,
    media: LegMedia,
    engine: RtpMedia,
    recording: Mutex<Option<BridgedRecording>>,
}

impl RtpLeg {
    /// Live RTP figures of this leg.
    pub fn stats(&self) -> LegMediaStats {
        self.media.stats()
    }
}

/// callcore-media's terms for a SIP negotiation: far-end address, law,
/// telephone-event, and whether our direction lets us send.
pub fn negotiated(audio: &NegotiatedAudio) -> Negotiated {
    Negotiated {
        remote: audio.remote_rtp,
        law: match audio.codec {
            AudioCodec::Pcmu => Law::Ulaw,
            AudioCodec::Pcma => Law::Alaw,
        },
        telephone_event: audio.telephone_event,
        send: matches!(audio.direction, Direction::SendRecv | Direction::SendOnly),
    }
}

impl LegMediaPort for RtpLeg {
    fn local_rtp(&self) -> SocketAddr {
        self.media.local_rtp()
    }

    fn negotiated(&self, audio: &NegotiatedAudio) -> Option<Arc<dyn MediaControl>> {
        let control = match self.media.start(negotiated(audio)) {
            Ok(c) => c?,
            Err(e) => {
                tracing::warn!(leg = %self.leg, error = %e, "starting leg media failed");
                return None;
            }
        };
        let mut control = control;
        if let (Some(ix), Some(interaction)) = (&self.engine.index, &self.interaction) {
            control = control.with_recording_store(
                ix.store.clone(),
                ix.clock.clone(),
                ix.tenant.clone(),
                interaction.clone(),
            );
        }
        if let Some(tts) = &self.engine.tts {
            control = control.with_synthesizer(tts.clone());
        }
        if let Some(asr) = &self.engine.asr {
            control = control.with_recognizer(asr.clone());
        }
        Some(Arc::new(control))
    }

    fn bridge(&self, other: &dyn LegMediaPort) -> Result<(), CoreError> {
        let other = other
            .as_any()
            .downcast_ref::<RtpLeg>()
            .ok_or(CoreError::Unsupported(
                "bridging legs of different media engines",
            ))?;
        let path = if self.engine.config.record_bridged {
            let dir = &self.engine.config.recordings_dir;
            std::fs::create_dir_all(dir)
                .map_err(|e| CoreError::Media(format!("{}: {e}", dir.display())))?;
            // leg ids restart with the process: the start time keeps names unique
            let stamp = self.engine.index.as_ref().map_or_else(
                || format!("p{}", std::process::id()),
                |ix| ix.clock.now().as_millis().to_string(),
            );
            let name =
                format!("call-{stamp}-{}-{}.wav", self.leg, other.leg).replace(['/', ':'], "_");
            Some(dir.join(name))
        } else {
            None
        };
        self.media
            .bridge(&other.media, path.as_deref())
            .map_err(|e| CoreError::Media(e.to_string()))?;
        if let Some(path) = path {
            let started_at = self
                .engine
                .index
                .as_ref()
                .map_or(Timestamp::EPOCH, |ix| ix.clock.now());
            *self.recording.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(BridgedRecording { path, started_at });
        }
        Ok(())
    }

    fn close(&self) {
        self.media.close();
        let rec = self
            .recording
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(rec), Some(ix), Some(interaction)) =
            (rec, self.engine.index.clone(), self.interaction.clone())
        {
            tokio::spawn(async move {
                // let the legs' tasks write their last frames and patch the header
                ix.clock.sleep(std::time::Duration::from_millis(100)).await;
                let bytes = std::fs::metadata(&rec.path).map_or(0, |m| m.len());
                let meta = RecordingMeta {
                    id: RecordingId::new(
                        rec.path
                            .file_name()
                            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    ),
                    tenant: ix.tenant.clone(),
                    interaction,
                    path: rec.path.display().to_string(),
                    channels: 2,
                    started_at: rec.started_at,
                    // 16-bit stereo at 8 kHz: 32 bytes per ms after the 44-byte header
                    duration_ms: bytes.saturating_sub(44) / 32,
                };
                if let Err(e) = ix.store.save(&meta).await {
                    tracing::warn!(error = %e, "filing the call recording failed");
                }
            });
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
