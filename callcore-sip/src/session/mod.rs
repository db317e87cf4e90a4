//! Dialogs and sessions: RFC 3261 §12 dialogs, SDP (RFC 4566) with offer/answer for
//! G.711 + telephone-event (RFC 3264), hold/resume, and RFC 4028 session timers.

mod dialog;
mod offer_answer;
mod sdp;
mod timer;

pub use dialog::{Dialog, DialogFault, DialogId, DialogState, Role};
pub use offer_answer::{
    AudioCodec, LocalMedia, NegotiatedAudio, answer_offer, create_offer, process_answer,
};
pub use sdp::{Direction, MediaDescription, RtpMap, SessionDescription};
pub use timer::{MIN_SE, SessionTimer, TimerDecision};
