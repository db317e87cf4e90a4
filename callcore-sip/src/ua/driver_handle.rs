//! [`SipHandle`]'s commands: what an application asks of a running endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

use super::{Command, ConnectionStats, SipHandle};
use crate::Error;
use crate::session::{LocalMedia, NegotiatedAudio};
use crate::transaction::Peer;
use crate::ua::CallRef;

impl SipHandle {
    /// The bound address (UDP, and TCP when enabled).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound TLS listener address, when there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Sends 180 Ringing.
    pub fn ring(&self, call: CallRef) {
        let _ = self.cmd.send(Command::Ring(call));
    }

    /// Answers with 200 OK and an SDP answer.
    pub async fn answer(
        &self,
        call: CallRef,
        media: LocalMedia,
    ) -> Result<Option<NegotiatedAudio>, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Answer(call, media, tx))
            .map_err(|_| Error::State("endpoint stopped"))?;
        rx.await.map_err(|_| Error::State("endpoint stopped"))?
    }

    /// Rejects with a final status.
    pub fn reject(&self, call: CallRef, status: u16) {
        let _ = self.cmd.send(Command::Reject(call, status));
    }

    /// Redirects with 302 to the given URIs.
    pub fn redirect(&self, call: CallRef, targets: Vec<String>) {
        let _ = self.cmd.send(Command::Redirect(call, targets));
    }

    /// Places a call; answer, failure and end arrive as events.
    pub async fn place_call(
        &self,
        target: &str,
        peer: Peer,
        from: &str,
        media: LocalMedia,
    ) -> Result<CallRef, Error> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Place {
            target: target.to_owned(),
            peer,
            from: from.to_owned(),
            media,
            reply: tx,
        };
        self.cmd
            .send(cmd)
            .map_err(|_| Error::State("endpoint stopped"))?;
        rx.await.map_err(|_| Error::State("endpoint stopped"))?
    }

    /// Hangs up (CANCEL, 480 or BYE as appropriate).
    pub fn hangup(&self, call: CallRef) {
        let _ = self.cmd.send(Command::Hangup(call));
    }

    /// Blind-transfers the far end to `target` (REFER).
    pub fn refer(&self, call: CallRef, target: &str) {
        let _ = self.cmd.send(Command::Refer(call, target.to_owned()));
    }

    /// Answers the far end's REFER on `call` (202 accepts; 4xx-6xx refuse, with
    /// `reason` as the phrase) — see [`UaEvent::TransferRequested`](super::UaEvent::TransferRequested).
    pub fn answer_refer(&self, call: CallRef, status: u16, reason: Option<&str>) {
        let _ = self.cmd.send(Command::AnswerRefer(
            call,
            status,
            reason.map(str::to_owned),
        ));
    }

    /// Reports a transfer's progress to the far end that asked for it (NOTIFY
    /// with a sipfrag of `status`; a final status ends the subscription).
    pub fn notify_transfer(&self, call: CallRef, status: u16) {
        let _ = self.cmd.send(Command::NotifyTransfer(call, status));
    }

    /// Live registered contacts of an address of record (`sip:1001@host`).
    pub async fn lookup(&self, aor: &str) -> Vec<String> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Lookup(aor.to_owned(), tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Registers this endpoint with a registrar that wants it (a phone registering
    /// with its PBX, or a trunk), answering digest challenges and refreshing;
    /// [`UaEvent::TrunkRegistered`](super::UaEvent::TrunkRegistered) reports success.
    pub fn register(&self, registrar: crate::trunk::Trunk) {
        let _ = self.cmd.send(Command::Register(registrar));
    }

    /// Holds (`true`) or resumes the far end.
    pub fn hold(&self, call: CallRef, hold: bool) {
        let _ = self.cmd.send(Command::Hold(call, hold));
    }

    /// Drains (`Some(retry_after_secs)`): new INVITEs get 503 with that
    /// Retry-After while calls in progress go on; `None` takes calls again.
    pub fn drain(&self, retry_after: Option<u32>) {
        let _ = self.cmd.send(Command::Drain(retry_after));
    }

    /// Hangs up every call (BYE to established ones).
    pub fn hangup_all(&self) {
        let _ = self.cmd.send(Command::HangupAll);
    }

    /// The endpoint's traffic counters.
    pub fn stats(&self) -> &Arc<crate::ua::stats::SipStats> {
        &self.stats
    }

    /// The endpoint's TCP/TLS connection counters (open now, refused, timed out).
    pub fn connection_stats(&self) -> &Arc<ConnectionStats> {
        &self.connections
    }

    /// Whether the endpoint's task is still running (its sockets bound).
    pub fn is_running(&self) -> bool {
        !self.cmd.is_closed()
    }
}
