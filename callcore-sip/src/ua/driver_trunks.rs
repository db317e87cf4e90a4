//! [`SipHandle`] queries and commands for trunks and registered phones' routes.

use tokio::sync::oneshot;

use super::{Command, SipHandle};
use crate::ua::CallRef;

impl SipHandle {
    /// Live registered contacts of an address of record with the hop each is rung
    /// at: the phone's own TCP/TLS connection when it registered over one
    /// ([`crate::ua::ContactRoute`]).
    pub async fn contact_routes(&self, aor: &str) -> Vec<crate::ua::ContactRoute> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Routes(aor.to_owned(), tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Probes these trunks with OPTIONS at their `keepalive` interval; the outcomes
    /// make a trunk up or down ([`trunk_health`](Self::trunk_health)).
    pub fn set_trunks(&self, router: crate::trunk::TrunkRouter) {
        let _ = self.cmd.send(Command::SetTrunks(router));
    }

    /// Whether outbound `call` got a provisional response to its INVITE.
    pub async fn is_proceeding(&self, call: CallRef) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Proceeding(call, tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Each probed trunk's name and whether its OPTIONS probe has it up.
    pub async fn trunk_health(&self) -> Vec<(String, bool)> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::TrunkHealth(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}
