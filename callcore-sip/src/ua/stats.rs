//! Traffic counters of a SIP endpoint, for an operations view (Prometheus and
//! the like): messages received and sent by request method and by response
//! class, and the transactions and calls alive now. Atomics the user agent
//! bumps as messages pass through it and any thread reads; retransmissions
//! count as messages.

use std::sync::atomic::{AtomicU64, Ordering};

/// The request methods counted by name; any other counts as `OTHER`.
pub const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
    "OTHER",
];

/// The response classes, `1xx` to `6xx`.
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

#[derive(Debug, Default)]
struct Direction {
    requests: [AtomicU64; METHODS.len()],
    responses: [AtomicU64; CLASSES.len()],
}

impl Direction {
    fn count(&self, data: &[u8]) {
        if let Some(rest) = data.strip_prefix(b"SIP/2.0 ") {
            if let Some(d @ b'1'..=b'6') = rest.first() {
                self.responses[usize::from(d - b'1')].fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let method = data.split(|b| *b == b' ').next().unwrap_or_default();
        let i = METHODS[..METHODS.len() - 1]
            .iter()
            .position(|m| m.as_bytes() == method)
            .unwrap_or(METHODS.len() - 1);
        self.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> DirectionCounts {
        DirectionCounts {
            requests: std::array::from_fn(|i| self.requests[i].load(Ordering::Relaxed)),
            responses: std::array::from_fn(|i| self.responses[i].load(Ordering::Relaxed)),
        }
    }
}

/// A SIP endpoint's counters (shared: [`crate::ua::UserAgent::stats`],
/// `SipHandle::stats`).
#[derive(Debug, Default)]
pub struct SipStats {
    received: Direction,
    sent: Direction,
    transactions: AtomicU64,
    calls: AtomicU64,
}

impl SipStats {
    /// Counts a message that arrived (before parsing: malformed ones count too).
    pub(crate) fn on_received(&self, data: &[u8]) {
        self.received.count(data);
    }

    /// Counts a message handed to the network.
    pub(crate) fn on_sent(&self, data: &[u8]) {
        self.sent.count(data);
    }

    /// Records how many transactions and calls are alive.
    pub(crate) fn set_alive(&self, transactions: usize, calls: usize) {
        self.transactions
            .store(transactions as u64, Ordering::Relaxed);
        self.calls.store(calls as u64, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> SipStatsSnapshot {
        SipStatsSnapshot {
            received: self.received.read(),
            sent: self.sent.read(),
            transactions: self.transactions.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

/// Messages one way, by method and by response class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionCounts {
    /// Requests by method, in the order of [`METHODS`].
    pub requests: [u64; METHODS.len()],
    /// Responses by class, in the order of [`CLASSES`].
    pub responses: [u64; CLASSES.len()],
}

impl DirectionCounts {
    /// Requests of one method (`"INVITE"`; unknown names read `OTHER`).
    pub fn requests_of(&self, method: &str) -> u64 {
        let i = METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHODS.len() - 1);
        self.requests[i]
    }
}

/// [`SipStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SipStatsSnapshot {
    /// Messages received.
    pub received: DirectionCounts,
    /// Messages sent.
    pub sent: DirectionCounts,
    /// Transactions alive (including terminated ones kept to absorb retransmissions).
    pub transactions: u64,
    /// Calls (INVITE dialogs, ringing or established) alive.
    pub calls: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_count_by_method_and_class() {
        let s = SipStats::default();
        s.on_received(b"INVITE sip:ivr@h SIP/2.0\r\n");
        s.on_received(b"FOO sip:x SIP/2.0\r\n");
        s.on_received(b"SIP/2.0 180 Ringing\r\n");
        s.on_sent(b"SIP/2.0 503 Service Unavailable\r\n");
        s.on_sent(b"SIP/2.0 200 OK\r\n");
        s.on_sent(b"BYE sip:c@h SIP/2.0\r\n");
        s.on_received(b"garbage");
        s.set_alive(3, 1);
        let n = s.snapshot();
        assert_eq!(n.received.requests_of("INVITE"), 1);
        assert_eq!(n.received.requests_of("OTHER"), 2);
        assert_eq!(n.received.responses, [1, 0, 0, 0, 0, 0]);
        assert_eq!(n.sent.responses, [0, 1, 0, 0, 1, 0]);
        assert_eq!(n.sent.requests_of("BYE"), 1);
        assert_eq!((n.transactions, n.calls), (3, 1));
    }
}
