//! The leg-media seam as callcore-sip speaks it (feature `center`): the outcome
//! of an SDP offer/answer in callcore's neutral terms ([`callcore::NegotiatedMedia`]),
//! which any [`callcore::LegMediaPort`] understands without knowing SIP.
//!
//! ```
//! use callcore::MediaDirection;
//! use callcore_sip::media_seam::negotiated_media;
//! use callcore_sip::session::{answer_offer, LocalMedia, SessionDescription};
//! // the far end puts us on hold
//! let offer = SessionDescription::parse(b"v=0\r\no=- 1 2 IN IP4 192.0.2.7\r\ns=-\r\n\
//! c=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
//! a=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\na=sendonly\r\n").unwrap();
//! let ours = LocalMedia::g711("198.51.100.1:40000".parse().unwrap(), 1);
//! let (_answer, audio) = answer_offer(&offer, &ours, 2).unwrap();
//! let media = negotiated_media(&audio);
//! assert_eq!(media.direction, MediaDirection::RecvOnly);
//! assert!(media.codec.is("PCMA") && media.codec.payload_type == 8);
//! assert_eq!(media.telephone_event, Some(101));
//! assert_eq!(media.ptime.as_millis(), 30);
//! ```

use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    CoreError, DigitResult, DigitSpec, ListenSpec, MediaControl, MediaDirection, NegotiatedMedia,
    PlayOutcome, Prompt, RecordSpec, RecordingId, Utterance,
};

use crate::session::{AudioCodec, CryptoSuite, Direction, NegotiatedAudio, NegotiatedSrtp};

/// Packet time when the SDP does not say (RFC 3551 §4.5 for G.711).
const DEFAULT_PTIME: Duration = Duration::from_millis(20);

/// An SDP direction (ours) in neutral terms.
#[must_use]
pub fn media_direction(direction: Direction) -> MediaDirection {
    match direction {
        Direction::SendRecv => MediaDirection::SendRecv,
        Direction::SendOnly => MediaDirection::SendOnly,
        Direction::RecvOnly => MediaDirection::RecvOnly,
        Direction::Inactive => MediaDirection::Inactive,
    }
}

/// A SIP codec in neutral terms: encoding name, static payload type, 8 kHz mono.
#[must_use]
pub fn media_codec(codec: AudioCodec) -> callcore::AudioCodec {
    match codec {
        AudioCodec::Pcmu => callcore::AudioCodec::pcmu(),
        AudioCodec::Pcma => callcore::AudioCodec::pcma(),
    }
}

/// The outcome of an offer/answer in neutral terms, for a leg's media port.
#[must_use]
pub fn negotiated_media(audio: &NegotiatedAudio) -> NegotiatedMedia {
    let ptime = audio
        .ptime
        .filter(|&ms| ms > 0)
        .map_or(DEFAULT_PTIME, |ms| Duration::from_millis(u64::from(ms)));
    NegotiatedMedia::new(audio.remote_rtp, media_codec(audio.codec))
        .with_telephone_event(audio.telephone_event)
        .with_direction(media_direction(audio.direction))
        .with_ptime(ptime)
        .with_srtp(audio.srtp.as_ref().map(media_keys))
}

/// SDES keys in neutral terms.
#[must_use]
pub fn media_keys(srtp: &NegotiatedSrtp) -> callcore::SrtpKeys {
    let suite = match srtp.suite {
        CryptoSuite::AesCm128HmacSha1_80 => callcore::SrtpSuite::AesCm128HmacSha1_80,
        CryptoSuite::AesCm128HmacSha1_32 => callcore::SrtpSuite::AesCm128HmacSha1_32,
    };
    callcore::SrtpKeys::new(
        suite,
        callcore::SrtpMasterKey::new(*srtp.send.bytes()),
        callcore::SrtpMasterKey::new(*srtp.receive.bytes()),
    )
}

/// The media control of a leg without a media engine.
#[derive(Debug)]
pub(crate) struct NoMedia;

const NO_ENGINE: &str = "no media engine attached to this SIP leg";

#[async_trait]
impl MediaControl for NoMedia {
    async fn play(&self, _: &Prompt, _: bool) -> Result<PlayOutcome, CoreError> {
        Err(CoreError::Unsupported(NO_ENGINE))
    }
    async fn say(&self, _: &str, _: bool) -> Result<PlayOutcome, CoreError> {
        Err(CoreError::Unsupported(NO_ENGINE))
    }
    async fn collect_digits(&self, _: &DigitSpec) -> Result<DigitResult, CoreError> {
        Err(CoreError::Unsupported(NO_ENGINE))
    }
    async fn listen(&self, _: &ListenSpec) -> Result<Utterance, CoreError> {
        Err(CoreError::Unsupported(NO_ENGINE))
    }
    async fn record(&self, _: &RecordSpec) -> Result<RecordingId, CoreError> {
        Err(CoreError::Unsupported(NO_ENGINE))
    }
}

pub(crate) static NO_MEDIA: NoMedia = NoMedia;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{
        LocalMedia, SessionDescription, answer_offer, create_offer, process_answer,
    };
    use callcore::MediaDirection as D;

    fn ours() -> LocalMedia {
        LocalMedia::g711("127.0.0.1:40000".parse().expect("addr"), 7)
    }

    /// A SIPp-style offer with `extra` attribute lines on its audio stream.
    fn offer(conn: &str, extra: &str) -> SessionDescription {
        let text = format!(
            "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {conn}\r\n\
             t=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n{extra}"
        );
        SessionDescription::parse(text.as_bytes()).expect("offer parses")
    }

    fn answered(o: &SessionDescription) -> NegotiatedMedia {
        let (_, audio) = answer_offer(o, &ours(), 1).expect("answer");
        negotiated_media(&audio)
    }

    #[test]
    fn an_answered_offer_becomes_neutral_media() {
        let m = answered(&offer("127.0.0.1", ""));
        assert_eq!(m.remote_rtp, Some("127.0.0.1:6000".parse().expect("addr")));
        assert_eq!(m.codec, callcore::AudioCodec::pcmu());
        assert_eq!((m.codec.clock_rate, m.codec.channels), (8000, 1));
        assert_eq!(m.telephone_event, Some(101));
        assert_eq!(m.direction, D::SendRecv);
        assert_eq!(m.ptime, Duration::from_millis(20), "no a=ptime: 20 ms");
        let m = answered(&offer("127.0.0.1", "a=ptime:30\r\n"));
        assert_eq!(m.ptime, Duration::from_millis(30));
    }

    #[test]
    fn the_far_end_holding_us_is_recvonly_or_inactive() {
        // RFC 3264 hold: the offerer sends only, we receive only
        let m = answered(&offer("127.0.0.1", "a=sendonly\r\n"));
        assert_eq!(m.direction, D::RecvOnly);
        assert!(!m.direction.sends() && m.direction.receives());
        // both sides on hold
        let m = answered(&offer("127.0.0.1", "a=inactive\r\n"));
        assert_eq!(m.direction, D::Inactive);
        // the far end only listens (e.g. a recorder): we still send
        let m = answered(&offer("127.0.0.1", "a=recvonly\r\n"));
        assert_eq!(m.direction, D::SendOnly);
        // RFC 2543 hold: c=0.0.0.0, no address to send to
        let m = answered(&offer("0.0.0.0", ""));
        assert_eq!((m.direction, m.remote_rtp), (D::RecvOnly, None));
        // and the resume
        let m = answered(&offer("127.0.0.1", "a=sendrecv\r\n"));
        assert_eq!(m.direction, D::SendRecv);
    }

    #[test]
    fn our_own_hold_offer_answered_is_sendonly() {
        let mut hold = ours();
        hold.direction = Direction::SendOnly;
        let o = create_offer(&hold, 2);
        let mut far = LocalMedia::g711("127.0.0.1:6000".parse().expect("addr"), 9);
        far.codecs = vec![AudioCodec::Pcma];
        let (answer, _) = answer_offer(&o, &far, 2).expect("answer");
        let m = negotiated_media(&process_answer(&o, &answer).expect("processed"));
        assert_eq!(m.direction, D::SendOnly);
        assert!(m.codec.is("pcma") && m.codec.payload_type == 8);
        assert_eq!(m.remote_rtp, Some("127.0.0.1:6000".parse().expect("addr")));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn without_an_engine_media_is_unsupported() {
        let r = NO_MEDIA.play(&Prompt::SilenceMs(10), false).await;
        assert!(matches!(r, Err(CoreError::Unsupported(_))));
    }
}
