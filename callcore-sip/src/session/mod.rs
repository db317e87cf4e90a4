//! Dialogs and sessions: RFC 3261 §12 dialogs, SDP (RFC 4566) with offer/answer for
//! G.711 + telephone-event (RFC 3264), hold/resume, SRTP keys by SDES (RFC 4568), and
//! RFC 4028 session timers.

mod dialog;
mod offer_answer;
mod sdes;
mod sdp;
mod timer;

pub use dialog::{Dialog, DialogFault, DialogId, DialogState, Role};
pub use offer_answer::{
    AudioCodec, LocalMedia, NegotiatedAudio, answer_offer, create_offer, process_answer,
    srtp_acceptable,
};
pub use sdes::{
    CryptoSuite, LocalSrtp, MASTER_KEY_LEN, MasterKey, NegotiatedSrtp, SdpCrypto, SrtpPolicy,
};
pub use sdp::{Direction, MediaDescription, RtpMap, SessionDescription};
pub use timer::{MIN_SE, SessionTimer, TimerDecision};
