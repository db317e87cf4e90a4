//! What the far end of a [`SipLeg`](crate::center::SipLeg) does on its own,
//! for the leg's owner ([`callcore::Leg::next_event`]), and the owner's answers
//! to transfer requests ([`callcore::Leg::report_transfer`]):
//!
//! - a re-INVITE or UPDATE whose SDP leaves us `recvonly` or `inactive` (the
//!   far end sent `sendonly` or `inactive`) is [`LegEvent::Held`]; one that
//!   lets it send again is [`LegEvent::Resumed`] (changes only);
//! - a REFER is [`LegEvent::TransferRequested`]; the owner's
//!   [`TransferReport`]s become the REFER's answer (`202`, or the refusal's
//!   status) and NOTIFYs with a `message/sipfrag` of the outcome (RFC 3515).
//!   A REFER on a call without an owner is refused with `403`; one the owner
//!   does not answer is refused by the user agent after
//!   [`REFER_ANSWER_WITHIN`](crate::ua::REFER_ANSWER_WITHIN).

use std::collections::HashMap;
use std::sync::Mutex;

use callcore::{LegEvent, TransferReport};
use tokio::sync::mpsc;

use crate::session::Direction;
use crate::ua::CallRef;
use crate::ua::driver::SipHandle;

#[derive(Debug)]
struct Entry {
    tx: mpsc::UnboundedSender<LegEvent>,
    held: bool,
}

/// The live legs' event channels, by call.
#[derive(Debug, Default)]
pub(crate) struct LegEventsMap {
    legs: Mutex<HashMap<CallRef, Entry>>,
}

/// The receiving end of one leg's events.
#[derive(Debug)]
pub(crate) struct LegEventQueue {
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<LegEvent>>,
}

impl LegEventQueue {
    /// The next event; cancel-safe (an event is only taken when returned).
    pub(crate) async fn next(&self) -> LegEvent {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some(e) => e,
            // the leg is over: nothing more will come
            None => std::future::pending().await,
        }
    }
}

impl LegEventsMap {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallRef, Entry>> {
        self.legs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens the event channel of `call`'s leg.
    pub(crate) fn open(&self, call: CallRef) -> LegEventQueue {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(call, Entry { tx, held: false });
        LegEventQueue {
            rx: tokio::sync::Mutex::new(rx),
        }
    }

    /// The leg is over.
    pub(crate) fn close(&self, call: CallRef) {
        self.lock().remove(&call);
    }

    /// The far end changed the session; `ours` is our negotiated direction.
    pub(crate) fn on_media_changed(&self, call: CallRef, ours: Direction) {
        let held = matches!(ours, Direction::RecvOnly | Direction::Inactive);
        let mut legs = self.lock();
        if let Some(e) = legs.get_mut(&call)
            && e.held != held
        {
            e.held = held;
            let _ = e.tx.send(if held {
                LegEvent::Held
            } else {
                LegEvent::Resumed
            });
        }
    }

    /// The far end sent a REFER to `target`: to the leg's owner, or refused.
    pub(crate) fn on_transfer_requested(&self, handle: &SipHandle, call: CallRef, target: String) {
        let delivered = self
            .lock()
            .get(&call)
            .is_some_and(|e| e.tx.send(LegEvent::TransferRequested { target }).is_ok());
        if !delivered {
            handle.answer_refer(call, 403, Some("No Owner Takes Transfers"));
        }
    }
}

/// Carries the owner's answer to a transfer request to the far end.
pub(crate) fn report(handle: &SipHandle, call: CallRef, report: &TransferReport) {
    match report {
        TransferReport::Accepted => {
            handle.answer_refer(call, 202, None);
            handle.notify_transfer(call, 100);
        }
        TransferReport::Refused(r) => handle.answer_refer(call, r.sip_status(), Some(r.reason())),
        other => handle.notify_transfer(call, other.sip_status()),
    }
}
