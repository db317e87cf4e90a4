//! The browser leg's codec: what the peer offers, which one the browser's
//! answer picked, and (with the `opus` feature) the transcoder that keeps the
//! leg's media port on PCMU while the browser talks Opus.
//!
//! The media port always carries PCMU at 8 kHz (like SIP legs). With the
//! `opus` feature the peer offers `opus/48000/2` first and PCMU second; when
//! the browser answers Opus, each packet between the browser and the port is
//! decoded and re-encoded here, sans-IO: RTP packets in, RTP packets out.
//! libopus (through callcore-media's [`OpusCodec`]) runs at 8 kHz itself, so
//! it does the 48 kHz ↔ 8 kHz resampling; the RTP clock stays 48 kHz on the
//! browser side (RFC 7587), 8 kHz on the port side.
//!
//! [`OpusCodec`]: callcore_media::codec::OpusCodec

#[cfg(feature = "opus")]
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_PCMU;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;

/// PCMU's static payload type.
pub(crate) const PCMU_PT: u8 = 0;
/// The payload type offered for Opus (dynamic; Chromium's own choice too).
#[cfg(feature = "opus")]
pub(crate) const OPUS_PT: u8 = 111;

/// The codec a browser leg carries between the peer and the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrowserCodec {
    /// G.711 µ-law, relayed to the port unchanged.
    Pcmu,
    /// Opus/48000/2, transcoded to and from the port's PCMU.
    #[cfg(feature = "opus")]
    Opus,
}

impl BrowserCodec {
    /// The codecs the peer offers, in preference order, with their payload types.
    pub(crate) fn offered() -> Vec<(BrowserCodec, u8)> {
        let opus: &[(BrowserCodec, u8)] = &[
            #[cfg(feature = "opus")]
            (BrowserCodec::Opus, OPUS_PT),
        ];
        let mut codecs = opus.to_vec();
        codecs.push((BrowserCodec::Pcmu, PCMU_PT));
        codecs
    }

    /// The preferred codec (what the peer's own track is declared with).
    pub(crate) fn preferred() -> BrowserCodec {
        Self::offered()[0].0
    }

    /// webrtc-rs's description of the codec.
    pub(crate) fn rtp_codec(self) -> RTCRtpCodec {
        match self {
            BrowserCodec::Pcmu => RTCRtpCodec {
                mime_type: MIME_TYPE_PCMU.to_owned(),
                clock_rate: 8000,
                channels: 1,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            #[cfg(feature = "opus")]
            BrowserCodec::Opus => RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
        }
    }

    /// The codec the browser's SDP answer picked: the first payload type of its
    /// audio line that we offered (PCMU when nothing else matches).
    pub(crate) fn from_answer(sdp: &str) -> BrowserCodec {
        let offered = Self::offered();
        let picked = sdp
            .lines()
            .find_map(|l| l.trim().strip_prefix("m=audio "))
            .into_iter()
            .flat_map(|m| m.split_whitespace().skip(2))
            .filter_map(|pt| pt.parse::<u8>().ok())
            .find_map(|pt| offered.iter().find(|(_, p)| *p == pt).map(|(c, _)| *c));
        picked.unwrap_or(BrowserCodec::Pcmu)
    }
}

#[cfg(feature = "opus")]
pub(crate) use transcode::OpusTranscoder;

#[cfg(feature = "opus")]
mod transcode {
    use bytes::Bytes;
    use callcore_media::codec::{OpusCodec, VoiceCodec};
    use callcore_media::g711::Law;
    use rtc::rtp::{Header, Packet};

    use super::{OPUS_PT, PCMU_PT};

    /// 48 kHz RTP ticks per 8 kHz sample.
    const TICKS: u32 = 6;
    /// Samples of one Opus frame sent to the browser (20 ms at 8 kHz).
    const FRAME: usize = 160;

    /// One direction's Opus ↔ PCMU transcoder of a browser leg.
    pub(crate) struct OpusTranscoder {
        opus: OpusCodec,
        pcm: Vec<i16>,
        out: Vec<u8>,
        /// Port audio not yet encoded (less than a frame).
        pending: Vec<i16>,
        /// The 8 kHz timestamp of `pending`'s first sample.
        next_ts: u32,
        /// The sequence number of the next packet to the browser.
        seq: u16,
    }

    impl std::fmt::Debug for OpusTranscoder {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OpusTranscoder").finish_non_exhaustive()
        }
    }

    fn header(from: &Header, payload_type: u8, timestamp: u32) -> Header {
        Header {
            version: 2,
            marker: from.marker,
            payload_type,
            sequence_number: from.sequence_number,
            timestamp,
            ssrc: from.ssrc,
            ..Default::default()
        }
    }

    impl OpusTranscoder {
        /// A transcoder with its own libopus encoder and decoder.
        pub(crate) fn new() -> Result<Self, callcore_media::MediaError> {
            Ok(Self {
                opus: OpusCodec::new()?,
                pcm: Vec::with_capacity(960),
                out: Vec::with_capacity(1275),
                pending: Vec::with_capacity(2 * FRAME),
                next_ts: 0,
                seq: 0,
            })
        }

        /// The browser's Opus packet as the port's PCMU packet (same sequence
        /// number and SSRC, 8 kHz timestamp); `None` for another payload type
        /// or an undecodable payload.
        pub(crate) fn for_port(&mut self, packet: &Packet) -> Option<Packet> {
            if packet.header.payload_type != OPUS_PT {
                return None;
            }
            self.pcm.clear();
            if let Err(e) = self.opus.decode(&packet.payload, &mut self.pcm) {
                tracing::debug!(error = %e, "browser Opus packet not decoded");
                return None;
            }
            self.out.clear();
            Law::Ulaw.encode_into(&self.pcm, &mut self.out);
            Some(Packet {
                header: header(&packet.header, PCMU_PT, packet.header.timestamp / TICKS),
                payload: Bytes::copy_from_slice(&self.out),
            })
        }

        /// The port's PCMU packet as Opus packets for the browser, 20 ms each
        /// (48 kHz timestamps): the port relays whatever packet time the far
        /// end sends (30 ms from some), and Opus frames are 2.5–60 ms in fixed
        /// steps, so the audio is re-framed; none for another payload type.
        pub(crate) fn for_browser(&mut self, packet: &Packet) -> Vec<Packet> {
            let mut out = Vec::new();
            if packet.header.payload_type != PCMU_PT || packet.payload.is_empty() {
                return out;
            }
            let ts = packet.header.timestamp;
            // a gap or a jump (new talk spurt, another source): start afresh
            if self.next_ts.wrapping_add(self.pending.len() as u32) != ts {
                self.pending.clear();
                self.next_ts = ts;
            }
            self.pending
                .extend(packet.payload.iter().map(|&c| Law::Ulaw.decode(c)));
            while self.pending.len() >= FRAME {
                let frame: Vec<i16> = self.pending.drain(..FRAME).collect();
                if let Err(e) = self.opus.encode(&frame, &mut self.out) {
                    tracing::debug!(error = %e, "port audio not encoded to Opus");
                } else {
                    out.push(Packet {
                        header: Header {
                            version: 2,
                            marker: packet.header.marker && out.is_empty(),
                            payload_type: OPUS_PT,
                            sequence_number: self.seq,
                            timestamp: self.next_ts.wrapping_mul(TICKS),
                            ssrc: packet.header.ssrc,
                            ..Default::default()
                        },
                        payload: Bytes::copy_from_slice(&self.out),
                    });
                    self.seq = self.seq.wrapping_add(1);
                }
                self.next_ts = self.next_ts.wrapping_add(FRAME as u32);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_answer_picks_the_first_offered_payload_type_it_lists() {
        let pcmu = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 126\r\na=rtpmap:0 PCMU/8000\r\n";
        assert_eq!(BrowserCodec::from_answer(pcmu), BrowserCodec::Pcmu);
        assert_eq!(BrowserCodec::from_answer("v=0\r\n"), BrowserCodec::Pcmu);
        let first = BrowserCodec::offered()[0];
        let answer = format!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF {} 0\r\n", first.1);
        assert_eq!(BrowserCodec::from_answer(&answer), first.0);
        assert_eq!(BrowserCodec::preferred(), first.0);
    }

    #[cfg(not(feature = "opus"))]
    #[test]
    fn without_the_feature_only_pcmu_is_offered() {
        assert_eq!(BrowserCodec::offered(), vec![(BrowserCodec::Pcmu, 0)]);
    }

    #[cfg(feature = "opus")]
    #[test]
    fn opus_is_offered_first_and_pcmu_second() {
        assert_eq!(
            BrowserCodec::offered(),
            vec![(BrowserCodec::Opus, 111), (BrowserCodec::Pcmu, 0)]
        );
    }

    #[cfg(feature = "opus")]
    #[test]
    fn a_tone_crosses_pcmu_to_opus_and_back() {
        use rtc::rtp::{Header, Packet};
        let mut to_browser = OpusTranscoder::new().unwrap();
        let mut to_port = OpusTranscoder::new().unwrap();
        let mut energy = 0f64;
        for frame in 0..25u32 {
            let pcm: Vec<i16> = (0..160u32)
                .map(|i| {
                    let t = f64::from(frame * 160 + i) / 8000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            let mut ulaw = Vec::new();
            callcore_media::g711::Law::Ulaw.encode_into(&pcm, &mut ulaw);
            let pcmu = Packet {
                header: Header {
                    version: 2,
                    payload_type: 0,
                    sequence_number: frame as u16,
                    timestamp: frame * 160,
                    ssrc: 7,
                    ..Default::default()
                },
                payload: ulaw.into(),
            };
            let opus = to_browser.for_browser(&pcmu).pop().unwrap();
            assert_eq!(opus.header.payload_type, 111);
            assert_eq!(opus.header.timestamp, frame * 960);
            let back = to_port.for_port(&opus).unwrap();
            assert_eq!(back.header.payload_type, 0);
            assert_eq!(back.header.timestamp, frame * 160);
            assert_eq!(back.payload.len(), 160);
            if frame >= 5 {
                energy += back
                    .payload
                    .iter()
                    .map(|&c| f64::from(callcore_media::g711::Law::Ulaw.decode(c)).powi(2))
                    .sum::<f64>();
            }
        }
        let rms = (energy / (20.0 * 160.0)).sqrt();
        assert!(rms > 2000.0, "the tone survived Opus at RMS {rms}");
        // other payload types are not transcoded
        let dtmf = Packet {
            header: Header {
                payload_type: 101,
                ..Default::default()
            },
            payload: vec![1, 2, 3, 4].into(),
        };
        assert!(to_port.for_port(&dtmf).is_none());
        assert!(to_browser.for_browser(&dtmf).is_empty());
    }
}
