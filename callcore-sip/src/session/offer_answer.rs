//! SDP offer/answer for G.711 voice with RFC 4733 DTMF (RFC 3264), hold and resume by
//! direction (RFC 3264 §8.4), and SRTP keyed by SDES (RFC 4568) under a [`SrtpPolicy`].

use std::net::{IpAddr, SocketAddr};

use super::sdes::{CryptoSuite, LocalSrtp, MasterKey, NegotiatedSrtp, SdpCrypto, SrtpPolicy};
use super::sdp::{Direction, MediaDescription, RtpMap, SessionDescription};
use crate::Error;

/// An audio codec we can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// G.711 µ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl AudioCodec {
    /// The static payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
        }
    }

    /// The encoding name.
    pub fn name(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
        }
    }

    fn from_name(name: &str) -> Option<AudioCodec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(AudioCodec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(AudioCodec::Pcma)
        } else {
            None
        }
    }
}

/// What our side offers or accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address.
    pub rtp: SocketAddr,
    /// Codecs in our preference order.
    pub codecs: Vec<AudioCodec>,
    /// Payload type we use for telephone-event when we offer it (`None`: no DTMF).
    pub telephone_event: Option<u8>,
    /// The direction we want (SendOnly to put the other side on hold).
    pub direction: Direction,
    /// `o=` session id.
    pub session_id: u64,
    /// SRTP (SDES): our policy and key; `None` is [`SrtpPolicy::Off`].
    pub srtp: Option<LocalSrtp>,
}

impl LocalMedia {
    /// With SRTP under `policy`, `key` protecting what we send (fresh per leg:
    /// from the OS random source).
    pub fn with_srtp(mut self, policy: SrtpPolicy, key: MasterKey) -> Self {
        self.srtp = Some(LocalSrtp { policy, key });
        self
    }

    /// The SRTP policy in force.
    pub fn srtp_policy(&self) -> SrtpPolicy {
        self.srtp.map_or(SrtpPolicy::Off, |s| s.policy)
    }

    /// PCMU + PCMA + telephone-event 101, send and receive.
    pub fn g711(rtp: SocketAddr, session_id: u64) -> Self {
        LocalMedia {
            rtp,
            codecs: vec![AudioCodec::Pcmu, AudioCodec::Pcma],
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            session_id,
            srtp: None,
        }
    }
}

/// The outcome of a completed offer/answer exchange, from our point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Where to send RTP (`None` when the peer holds with 0.0.0.0 or port 0).
    pub remote_rtp: Option<SocketAddr>,
    /// The codec both sides use.
    pub codec: AudioCodec,
    /// The telephone-event payload type, when both sides support RFC 4733.
    pub telephone_event: Option<u8>,
    /// Our effective direction (SendOnly: we hold them; RecvOnly: they hold us).
    pub direction: Direction,
    /// The packet time the far end asked for (`a=ptime`, ms), if it said.
    pub ptime: Option<u32>,
    /// SRTP keys when the media is protected; `None`: plain RTP.
    pub srtp: Option<NegotiatedSrtp>,
}

fn our_audio(
    local: &LocalMedia,
    codec: AudioCodec,
    te: Option<u8>,
    direction: Direction,
) -> MediaDescription {
    let mut formats = vec![codec.payload_type().to_string()];
    let mut rtpmaps = vec![RtpMap {
        pt: codec.payload_type(),
        encoding: codec.name().into(),
        clock: 8000,
    }];
    let mut fmtps = Vec::new();
    if let Some(pt) = te {
        formats.push(pt.to_string());
        rtpmaps.push(RtpMap {
            pt,
            encoding: "telephone-event".into(),
            clock: 8000,
        });
        fmtps.push((pt, "0-16".to_owned()));
    }
    MediaDescription {
        kind: "audio".into(),
        port: local.rtp.port(),
        proto: "RTP/AVP".into(),
        formats,
        rtpmaps,
        fmtps,
        connection: None,
        direction: Some(direction),
        ptime: Some(20),
        crypto: Vec::new(),
    }
}

fn session(local: &LocalMedia, version: u64, media: Vec<MediaDescription>) -> SessionDescription {
    let addr = local.rtp.ip().to_string();
    SessionDescription {
        origin_user: "callcore".into(),
        session_id: local.session_id,
        version,
        origin_addr: addr.clone(),
        name: "callcore".into(),
        connection: Some(addr),
        direction: None,
        media,
    }
}

/// Builds an offer with every codec we support (`version` must rise on each new offer).
pub fn create_offer(local: &LocalMedia, version: u64) -> SessionDescription {
    let mut m = our_audio(
        local,
        local.codecs.first().copied().unwrap_or(AudioCodec::Pcmu),
        local.telephone_event,
        local.direction,
    );
    for c in local.codecs.iter().skip(1) {
        m.formats.insert(
            m.formats.len() - usize::from(local.telephone_event.is_some()),
            c.payload_type().to_string(),
        );
        m.rtpmaps.push(RtpMap {
            pt: c.payload_type(),
            encoding: c.name().into(),
            clock: 8000,
        });
    }
    if let Some(srtp) = local.srtp.filter(|s| s.policy != SrtpPolicy::Off) {
        if srtp.policy == SrtpPolicy::Require {
            m.proto = "RTP/SAVP".into();
        }
        m.crypto = (1..)
            .zip(CryptoSuite::ALL)
            .map(|(tag, suite)| SdpCrypto::new(tag, suite, &srtp.key))
            .collect();
    }
    session(local, version, vec![m])
}

/// SRTP for an offered audio stream under our policy: plain (`None`), the offer's
/// line we take (tag, suite, the offerer's key), or why the stream is refused (488).
fn sdes_answer(
    local: &LocalMedia,
    m: &MediaDescription,
) -> Result<Option<(u32, CryptoSuite, MasterKey)>, &'static str> {
    let secure_profile = m.proto.starts_with("RTP/SAVP");
    let policy = local.srtp_policy();
    if policy == SrtpPolicy::Off {
        return if secure_profile {
            Err("RTP/SAVP offered but SRTP is off here")
        } else {
            Ok(None)
        };
    }
    // the first line, in the offerer's order, with a suite and key we can use
    let taken = m
        .crypto
        .iter()
        .find_map(|c| c.usable().map(|(suite, key)| (c.tag, suite, key)));
    match taken {
        Some(t) => Ok(Some(t)),
        None if secure_profile => Err("no a=crypto with a suite and key we support"),
        None if policy == SrtpPolicy::Require => {
            Err("SRTP is required here and the offer has no usable a=crypto")
        }
        None => Ok(None),
    }
}

/// Whether SRTP lets us answer `offer` under `local`'s policy: `Err` (answer 488)
/// when no audio stream of the offer can be met, saying why; streams without a
/// codec we carry are left to [`answer_offer`] to judge.
pub fn srtp_acceptable(offer: &SessionDescription, local: &LocalMedia) -> Result<(), Error> {
    let mut refusal = None;
    for m in &offer.media {
        let rtp = m.proto.starts_with("RTP/AVP") || m.proto.starts_with("RTP/SAVP");
        if m.kind != "audio" || !rtp || m.port == 0 {
            continue;
        }
        match sdes_answer(local, m) {
            Ok(_) => return Ok(()),
            Err(why) => refusal = refusal.or(Some(why)),
        }
    }
    match refusal {
        Some(why) => Err(Error::Sdp(format!("SRTP: {why}"))),
        None => Ok(()),
    }
}

/// SRTP as the answer to our offer `ours` (its stream `m`) settles it.
fn sdes_of_answer(
    ours: Option<&MediaDescription>,
    m: &MediaDescription,
) -> Result<Option<NegotiatedSrtp>, Error> {
    let Some(ours) = ours.filter(|o| !o.crypto.is_empty()) else {
        return Ok(None); // we offered no SRTP
    };
    let Some(theirs) = m.crypto.first() else {
        return if ours.proto.starts_with("RTP/SAVP") {
            Err(Error::Sdp(
                "the answer to our RTP/SAVP offer has no a=crypto".into(),
            ))
        } else {
            Ok(None) // best-effort SRTP declined: plain RTP
        };
    };
    let (suite, send) = ours
        .crypto
        .iter()
        .find(|c| c.tag == theirs.tag)
        .and_then(SdpCrypto::usable)
        .ok_or_else(|| Error::Sdp("the answer's a=crypto tag is not one we offered".into()))?;
    match theirs.usable() {
        Some((s, receive)) if s == suite => Ok(Some(NegotiatedSrtp {
            suite,
            send,
            receive,
        })),
        _ => Err(Error::Sdp(
            "the answer's a=crypto has no suite and key matching our offer".into(),
        )),
    }
}

fn remote_addr(sd: &SessionDescription, i: usize, port: u16) -> Option<SocketAddr> {
    let ip = sd.address_of(i)?;
    if port == 0 || ip.is_unspecified() {
        return None;
    }
    Some(SocketAddr::new(ip, port))
}

fn remote_direction(sd: &SessionDescription, i: usize) -> Direction {
    // RFC 2543-style hold: c=0.0.0.0 means sendonly from the offerer.
    if sd.address_of(i).is_some_and(|a: IpAddr| a.is_unspecified()) {
        return Direction::SendOnly;
    }
    sd.direction_of(i)
}

/// Answers an offer: keeps the first audio stream whose codec we support (in the
/// offerer's order), echoes telephone-event with the offerer's payload type, rejects
/// every other stream with port 0. `Err` means 488 Not Acceptable Here.
pub fn answer_offer(
    offer: &SessionDescription,
    local: &LocalMedia,
    version: u64,
) -> Result<(SessionDescription, NegotiatedAudio), Error> {
    let mut chosen: Option<NegotiatedAudio> = None;
    let mut refusal = None;
    let mut media = Vec::with_capacity(offer.media.len());
    for (i, m) in offer.media.iter().enumerate() {
        let rtp = m.proto.starts_with("RTP/AVP") || m.proto.starts_with("RTP/SAVP");
        let usable = chosen.is_none() && m.kind == "audio" && rtp && m.port != 0;
        let codec = usable
            .then(|| {
                m.payload_types().find_map(|pt| {
                    let (name, clock) = m.encoding_of(pt)?;
                    let c = AudioCodec::from_name(&name)?;
                    (clock == 8000 && local.codecs.contains(&c)).then_some(c)
                })
            })
            .flatten();
        let sdes = match codec.map(|_| sdes_answer(local, m)) {
            Some(Err(why)) => {
                refusal = Some(why);
                None
            }
            other => other.and_then(Result::ok),
        };
        match codec.zip(sdes) {
            Some((codec, sdes)) => {
                let te = local.telephone_event.and_then(|_| {
                    m.payload_types().find(|pt| {
                        m.encoding_of(*pt)
                            .is_some_and(|(n, _)| n.eq_ignore_ascii_case("telephone-event"))
                    })
                });
                let direction = local
                    .direction
                    .intersect(remote_direction(offer, i).reversed());
                let mut ours = our_audio(local, codec, te, direction);
                let srtp = match (sdes, local.srtp) {
                    (Some((tag, suite, receive)), Some(l)) => {
                        if m.proto.starts_with("RTP/SAVP") {
                            ours.proto = "RTP/SAVP".into();
                        }
                        ours.crypto = vec![SdpCrypto::new(tag, suite, &l.key)];
                        Some(NegotiatedSrtp {
                            suite,
                            send: l.key,
                            receive,
                        })
                    }
                    _ => None,
                };
                media.push(ours);
                chosen = Some(NegotiatedAudio {
                    remote_rtp: remote_addr(offer, i, m.port),
                    codec,
                    telephone_event: te,
                    direction,
                    ptime: m.ptime,
                    srtp,
                });
            }
            None => {
                let mut rejected = m.clone();
                rejected.port = 0;
                rejected.connection = None;
                media.push(rejected);
            }
        }
    }
    let neg = chosen.ok_or_else(|| match refusal {
        Some(why) => Error::Sdp(format!("SRTP: {why}")),
        None => Error::Sdp("no common audio codec (PCMU/PCMA)".into()),
    })?;
    Ok((session(local, version, media), neg))
}

/// Reads the answer to our offer.
pub fn process_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<NegotiatedAudio, Error> {
    for (i, m) in answer.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 {
            continue;
        }
        let codec = m
            .payload_types()
            .find_map(|pt| {
                m.encoding_of(pt)
                    .and_then(|(n, _)| AudioCodec::from_name(&n))
            })
            .ok_or_else(|| Error::Sdp("answer has no G.711 codec".into()))?;
        let te = m.payload_types().find(|pt| {
            m.encoding_of(*pt)
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case("telephone-event"))
        });
        let ours = offer.direction_of(i);
        let direction = ours.intersect(remote_direction(answer, i).reversed());
        let srtp = sdes_of_answer(offer.media.get(i), m)?;
        return Ok(NegotiatedAudio {
            remote_rtp: remote_addr(answer, i, m.port),
            codec,
            telephone_event: te,
            direction,
            ptime: m.ptime,
            srtp,
        });
    }
    Err(Error::Sdp("answer accepts no audio stream".into()))
}

#[cfg(test)]
#[path = "offer_answer_srtp_tests.rs"]
mod srtp_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\nm=video 6002 RTP/AVP 31\r\n";

    fn local() -> LocalMedia {
        LocalMedia::g711("127.0.0.1:40000".parse().unwrap(), 7)
    }

    #[test]
    fn answer_follows_offerer_codec_order_and_rejects_video() {
        let offer = SessionDescription::parse(SIPP_OFFER.as_bytes()).unwrap();
        let (answer, neg) = answer_offer(&offer, &local(), 1).unwrap();
        assert_eq!(neg.codec, AudioCodec::Pcma);
        assert_eq!(neg.telephone_event, Some(101));
        assert_eq!(neg.remote_rtp, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(answer.media.len(), 2);
        assert_eq!(answer.media[1].port, 0);
        let body = answer.to_body();
        assert!(body.contains("m=audio 40000 RTP/AVP 8 101\r\n"), "{body}");
        let reparsed = SessionDescription::parse(body.as_bytes()).unwrap();
        assert_eq!(reparsed, answer);
    }

    #[test]
    fn hold_and_resume_by_direction() {
        let mut caller = local();
        caller.rtp = "127.0.0.1:30000".parse().unwrap();
        caller.direction = Direction::SendOnly; // caller puts us on hold
        let offer = create_offer(&caller, 2);
        let (answer, neg) = answer_offer(&offer, &local(), 2).unwrap();
        assert_eq!(neg.direction, Direction::RecvOnly);
        assert_eq!(answer.direction_of(0), Direction::RecvOnly);
        assert_eq!(
            process_answer(&offer, &answer).unwrap().direction,
            Direction::SendOnly
        );
        caller.direction = Direction::SendRecv;
        let (_, neg) = answer_offer(&create_offer(&caller, 3), &local(), 3).unwrap();
        assert_eq!(neg.direction, Direction::SendRecv);
        // Old-style hold: c=0.0.0.0.
        let mut o = create_offer(&caller, 4);
        o.connection = Some("0.0.0.0".into());
        let (_, neg) = answer_offer(&o, &local(), 4).unwrap();
        assert_eq!(neg.direction, Direction::RecvOnly);
        assert_eq!(neg.remote_rtp, None);
    }

    #[test]
    fn no_common_codec_is_an_error() {
        let offer = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n").unwrap();
        assert!(answer_offer(&offer, &local(), 1).is_err());
        assert!(SessionDescription::parse(b"garbage").is_err());
    }
}
