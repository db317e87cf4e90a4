//! RFC 3515 on the recipient's side: a REFER is not answered by the user agent
//! itself but by the application that owns the call, once it has decided —
//! `202 Accepted` (then NOTIFYs with the new call's progress,
//! [`UserAgent::notify_transfer`]) or a refusal (`403`, `404`, `501` ...) with
//! [`UserAgent::answer_refer`]. A REFER nobody answers within
//! [`REFER_ANSWER_WITHIN`] is refused with `480`, so the far end is never left
//! waiting; a second REFER while one waits gets `491`.

use std::time::Duration;

use super::core::{CallRef, UaEvent, UserAgent};
use crate::Error;
use crate::message::{Message, ResponseSpec};
use crate::transaction::TxId;

/// How long a REFER waits for the application's answer.
pub const REFER_ANSWER_WITHIN: Duration = Duration::from_secs(8);

/// A REFER waiting for the application's answer.
#[derive(Debug)]
pub(crate) struct PendingRefer {
    tx: TxId,
    req: Message,
    deadline: Duration,
}

impl UserAgent {
    /// An in-dialog REFER on `call`: reported as [`UaEvent::TransferRequested`],
    /// answered later.
    pub(crate) fn on_refer(&mut self, call: CallRef, tx: TxId, req: Message, now: Duration) {
        let Some(target) = req.refer_to().ok().flatten().map(|r| r.uri().to_string()) else {
            self.respond(tx, &req, ResponseSpec::new(400, "Missing Refer-To"), now);
            return;
        };
        if self.pending_refers.contains_key(&call) {
            self.respond(tx, &req, ResponseSpec::code(491), now);
            return;
        }
        self.pending_refers.insert(
            call,
            PendingRefer {
                tx,
                req,
                deadline: now + REFER_ANSWER_WITHIN,
            },
        );
        self.emit(UaEvent::TransferRequested { call, target });
    }

    /// Answers the far end's REFER on `call`: `202` accepts it (report the
    /// outcome with [`notify_transfer`](Self::notify_transfer)), a 4xx-6xx
    /// refuses it, with `reason` as the reason phrase when given.
    ///
    /// # Errors
    /// [`Error::State`] when no REFER of `call` waits for an answer.
    pub fn answer_refer(
        &mut self,
        call: CallRef,
        status: u16,
        reason: Option<&str>,
        now: Duration,
    ) -> Result<(), Error> {
        let p = self
            .pending_refers
            .remove(&call)
            .ok_or(Error::State("no REFER waits for an answer"))?;
        let spec = match reason {
            Some(r) => ResponseSpec::new(status, r),
            None => ResponseSpec::code(status),
        };
        self.respond(p.tx, &p.req, spec, now);
        self.pump(now);
        Ok(())
    }

    /// Refuses the REFERs nobody answered in time.
    pub(crate) fn on_refer_timers(&mut self, now: Duration) {
        let due: Vec<CallRef> = self
            .pending_refers
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for call in due {
            tracing::warn!(?call, "a REFER nobody answered is refused");
            let _ = self.answer_refer(call, 480, Some("Transfer Not Handled"), now);
        }
    }

    /// When the next unanswered REFER is due.
    pub(crate) fn next_refer_deadline(&self) -> Option<Duration> {
        self.pending_refers.values().map(|p| p.deadline).min()
    }
}
