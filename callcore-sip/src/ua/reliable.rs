//! RFC 3262 on the UAS side: when the caller requires `100rel`, provisional responses
//! carry `Require: 100rel` and an `RSeq`, are retransmitted (T1 doubling up to T2) until
//! the matching PRACK arrives, and the PRACK gets 200.

use bytes::Bytes;
use std::time::Duration;

use super::core::{CallRef, UserAgent};
use crate::message::{HeaderName, Message, ResponseSpec};
use crate::session::Dialog;
use crate::transaction::TxId;

/// A reliable provisional response waiting for its PRACK.
#[derive(Debug, Clone)]
pub(crate) struct PendingReliable {
    pub(crate) rseq: u32,
    pub(crate) cseq: u32,
    data: Bytes,
    next: Duration,
    interval: Duration,
    give_up: Duration,
}

impl UserAgent {
    /// True when the INVITE requires reliable provisionals.
    pub(crate) fn requires_100rel(invite: &Message) -> bool {
        invite
            .require()
            .iter()
            .any(|t| t.eq_ignore_ascii_case("100rel"))
    }

    /// Sends `spec` (a 18x) reliably through INVITE transaction `tx`.
    pub(crate) fn send_reliable_provisional(
        &mut self,
        call: CallRef,
        tx: TxId,
        invite: &Message,
        spec: ResponseSpec,
        now: Duration,
    ) {
        let contact = self.contact();
        let timers = self.config.timers;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let rseq = c.reliable.as_ref().map_or(1, |p| p.rseq + 1);
        let spec = spec
            .header(HeaderName::Require, "100rel")
            .header(HeaderName::RSeq, &rseq.to_string());
        let resp = invite.build_response(spec);
        // PRACK arrives inside the early dialog this response creates.
        if c.dialog.is_none() {
            c.dialog = Dialog::new_uas(invite, &c.local_tag, &contact, false).ok();
        }
        self.reliable_calls.insert(call);
        c.reliable = Some(PendingReliable {
            rseq,
            cseq: invite.cseq().map(|s| s.seq).unwrap_or(0),
            data: resp.to_bytes(),
            next: now + timers.t1,
            interval: timers.t1,
            give_up: now + timers.t1x64(),
        });
        if let Err(e) = self.layer.send_response(tx, &resp, now) {
            tracing::debug!(error = %e, "reliable provisional not sent");
        }
    }

    /// Retransmits unacknowledged reliable provisionals that are due. Only the calls
    /// that sent one are looked at (not every call).
    pub(crate) fn on_reliable_timers(&mut self, now: Duration) {
        if self.reliable_calls.is_empty() {
            return;
        }
        let t2 = self.config.timers.t2;
        let mut resend = Vec::new();
        let mut done = Vec::new();
        for call in &self.reliable_calls {
            let Some(c) = self.calls.get_mut(call) else {
                done.push(*call);
                continue;
            };
            if c.state != super::core::CallState::InboundPending {
                // A final response went out: stop retransmitting (RFC 3262 §3).
                c.reliable = None;
            }
            let Some(p) = c.reliable.as_mut() else {
                done.push(*call);
                continue;
            };
            if p.give_up <= now {
                c.reliable = None;
                done.push(*call);
            } else if p.next <= now {
                resend.push((c.peer, p.data.clone()));
                p.interval = (p.interval * 2).min(t2);
                p.next = now + p.interval;
            }
        }
        for call in done {
            self.reliable_calls.remove(&call);
        }
        for (peer, data) in resend {
            self.out
                .push_back(super::core::UaOutput::Transmit { peer, data });
        }
    }

    /// The earliest reliable-provisional retransmission (calls that sent none are not
    /// looked at; ended ones are forgotten here).
    pub(crate) fn next_reliable_deadline(&mut self) -> Option<Duration> {
        if self.reliable_calls.is_empty() {
            return None;
        }
        let calls = &self.calls;
        self.reliable_calls
            .retain(|c| calls.get(c).is_some_and(|c| c.reliable.is_some()));
        self.reliable_calls
            .iter()
            .filter_map(|c| calls.get(c)?.reliable.as_ref())
            .map(|p| p.next.min(p.give_up))
            .min()
    }

    /// A PRACK in the early dialog: 200 when its RAck matches, 481 otherwise.
    pub(crate) fn on_prack(&mut self, call: CallRef, tx: TxId, req: &Message, now: Duration) {
        let matches = match (
            self.calls.get(&call).and_then(|c| c.reliable.as_ref()),
            req.rack(),
        ) {
            (Some(p), Some((rseq, cseq, m))) => {
                p.rseq == rseq && p.cseq == cseq && m.eq_ignore_ascii_case("INVITE")
            }
            _ => false,
        };
        if matches && let Some(c) = self.calls.get_mut(&call) {
            c.reliable = None;
        }
        let code = if matches { 200 } else { 481 };
        let resp = req.build_response(ResponseSpec::code(code));
        if let Err(e) = self.layer.send_response(tx, &resp, now) {
            tracing::debug!(error = %e, "PRACK response not sent");
        }
    }
}
