//! Bounds on TCP and TLS connections (sans-IO bookkeeping; the tokio driver does the
//! sockets): how many connections in total and per source IP address, how long a
//! connection may take to finish its TLS handshake and to send its first message, how
//! long it may stay silent afterwards, and how many bytes may wait to be written to a
//! peer that does not read.
//!
//! A silent connection is closed after [`StreamLimits::idle_timeout`] unless it carries
//! something that still needs it: a call (in any state, e.g. a caller waiting in a
//! queue over TCP with no SIP traffic for minutes) or the flow of a live registration
//! (a phone registered over TCP or TLS is rung over its connection, so that connection
//! stays while the registration lives; when the registration lapses the connection
//! goes at the next check). A connection that never sent a complete message is closed
//! after [`StreamLimits::first_message_timeout`] whatever else happens.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use super::core::UserAgent;
use crate::transaction::Peer;

/// Bounds on stream (TCP/TLS) connections, on by default (a field of
/// [`super::Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Connections open at once, inbound and outbound (inbound ones over it are closed
    /// as soon as they are accepted).
    pub max_connections: usize,
    /// Inbound connections open at once from one source IP address (an office behind
    /// one NAT address with many TCP phones needs this raised).
    pub max_connections_per_source: usize,
    /// A TLS handshake not finished this long after the connection was accepted
    /// closes the connection.
    pub handshake_timeout: Duration,
    /// An inbound connection that has not sent one complete message this long after it
    /// was accepted (TCP) or its handshake finished (TLS) is closed.
    pub first_message_timeout: Duration,
    /// A connection with no complete message for this long is closed unless a call or
    /// a live registration uses it (see the module docs).
    pub idle_timeout: Duration,
    /// Bytes waiting to be written to one connection; a message that would go over it
    /// closes the connection (the peer is not reading).
    pub max_write_queue: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_connections: 4_096,
            max_connections_per_source: 256,
            handshake_timeout: Duration::from_secs(10),
            first_message_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_write_queue: 256 * 1024,
        }
    }
}

/// Why an inbound connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// [`StreamLimits::max_connections`] reached.
    Total,
    /// [`StreamLimits::max_connections_per_source`] reached.
    PerSource,
}

#[derive(Debug)]
struct Entry<H> {
    id: u64,
    inbound: bool,
    /// When the connection was accepted or opened (TLS: handshake finished).
    since: Duration,
    last_message: Option<Duration>,
    handle: H,
}

/// Open connections with their I/O handles `H` (the driver's writer and task handles).
#[derive(Debug)]
pub(crate) struct ConnectionTable<H> {
    limits: StreamLimits,
    conns: HashMap<Peer, Entry<H>>,
    per_source: HashMap<IpAddr, usize>,
    next_id: u64,
}

impl<H> ConnectionTable<H> {
    pub(crate) fn new(limits: StreamLimits) -> Self {
        ConnectionTable {
            limits,
            conns: HashMap::new(),
            per_source: HashMap::new(),
            next_id: 1,
        }
    }

    /// Whether an inbound connection from `source` may be accepted now.
    pub(crate) fn admit(&self, source: IpAddr) -> Result<(), Refusal> {
        if self.conns.len() >= self.limits.max_connections {
            return Err(Refusal::Total);
        }
        if self.per_source.get(&source).copied().unwrap_or(0)
            >= self.limits.max_connections_per_source
        {
            return Err(Refusal::PerSource);
        }
        Ok(())
    }

    /// Records a connection (replacing any with the same peer); returns its id.
    pub(crate) fn open(&mut self, peer: Peer, inbound: bool, now: Duration, handle: H) -> u64 {
        self.close(peer, None);
        let id = self.next_id;
        self.next_id += 1;
        if inbound {
            *self.per_source.entry(peer.addr.ip()).or_insert(0) += 1;
        }
        self.conns.insert(
            peer,
            Entry {
                id,
                inbound,
                since: now,
                last_message: None,
                handle,
            },
        );
        id
    }

    /// The connection's handle and id.
    pub(crate) fn get_mut(&mut self, peer: &Peer) -> Option<(u64, &mut H)> {
        self.conns.get_mut(peer).map(|e| (e.id, &mut e.handle))
    }

    /// Restarts the first-message clock (a TLS handshake finished).
    pub(crate) fn restart(&mut self, peer: &Peer, now: Duration) {
        if let Some(e) = self.conns.get_mut(peer) {
            e.since = now;
        }
    }

    /// A complete message arrived on `peer`'s connection.
    pub(crate) fn on_message(&mut self, peer: &Peer, now: Duration) {
        if let Some(e) = self.conns.get_mut(peer) {
            e.last_message = Some(now);
        }
    }

    /// Forgets `peer`'s connection (only if its id is `id`, when given) and hands back
    /// its handle.
    pub(crate) fn close(&mut self, peer: Peer, id: Option<u64>) -> Option<H> {
        if id.is_some_and(|id| self.conns.get(&peer).is_some_and(|e| e.id != id)) {
            return None;
        }
        let e = self.conns.remove(&peer)?;
        if e.inbound {
            let ip = peer.addr.ip();
            if let Some(n) = self.per_source.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&ip);
                }
            }
        }
        Some(e.handle)
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// Connections past their time: `(silent, idle)` — inbound ones that never sent a
    /// message within the first-message timeout (to close at once), and ones silent
    /// past the idle timeout (to close unless in use).
    pub(crate) fn overdue(&self, now: Duration) -> (Vec<Peer>, Vec<Peer>) {
        let (mut silent, mut idle) = (Vec::new(), Vec::new());
        for (peer, e) in &self.conns {
            match e.last_message {
                None if e.inbound => {
                    if now.saturating_sub(e.since) >= self.limits.first_message_timeout {
                        silent.push(*peer);
                    }
                }
                last => {
                    let at = last.unwrap_or(e.since);
                    if now.saturating_sub(at) >= self.limits.idle_timeout {
                        idle.push(*peer);
                    }
                }
            }
        }
        (silent, idle)
    }
}

impl UserAgent {
    /// Stream peers something still needs: those of calls not yet ended and the flows
    /// of live registrations.
    pub(crate) fn stream_peers_in_use(&self, now: Duration) -> HashSet<Peer> {
        let mut used: HashSet<Peer> = self
            .calls
            .values()
            .map(|c| c.peer)
            .filter(|p| p.transport.is_reliable())
            .collect();
        for (aor, sources) in &self.contact_sources {
            let live = self.registrar.lookup(aor, now);
            used.extend(
                sources
                    .iter()
                    .filter(|(uri, _)| live.contains(uri))
                    .map(|(_, p)| *p),
            );
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> StreamLimits {
        StreamLimits {
            max_connections: 3,
            max_connections_per_source: 2,
            ..StreamLimits::default()
        }
    }

    #[test]
    fn caps_in_total_and_per_source() {
        let mut t = ConnectionTable::new(limits());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        t.open(
            Peer::tcp("10.0.0.1:1000".parse().unwrap()),
            true,
            Duration::ZERO,
            (),
        );
        t.open(
            Peer::tcp("10.0.0.1:1001".parse().unwrap()),
            true,
            Duration::ZERO,
            (),
        );
        assert_eq!(t.admit(a), Err(Refusal::PerSource));
        assert_eq!(t.admit(b), Ok(()));
        t.open(
            Peer::tcp("10.0.0.2:1000".parse().unwrap()),
            true,
            Duration::ZERO,
            (),
        );
        assert_eq!(t.admit(b), Err(Refusal::Total));
        t.close(Peer::tcp("10.0.0.1:1000".parse().unwrap()), None);
        assert_eq!(t.admit(a), Ok(()));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn silent_and_idle_connections_are_overdue() {
        let l = StreamLimits::default();
        let mut t = ConnectionTable::new(l);
        let quiet = Peer::tcp("10.0.0.1:1000".parse().unwrap());
        let talker = Peer::tcp("10.0.0.1:1001".parse().unwrap());
        let ours = Peer::tcp("10.0.0.9:5060".parse().unwrap());
        t.open(quiet, true, Duration::ZERO, ());
        t.open(talker, true, Duration::ZERO, ());
        t.open(ours, false, Duration::ZERO, ());
        t.on_message(&talker, Duration::from_secs(5));
        let (silent, idle) = t.overdue(l.first_message_timeout);
        assert_eq!((silent, idle), (vec![quiet], vec![]));
        let (_, mut idle) = t.overdue(Duration::from_secs(5) + l.idle_timeout);
        idle.sort_by_key(|p| p.addr);
        assert_eq!(idle, vec![talker, ours]);
    }

    #[test]
    fn a_stale_close_does_not_remove_a_newer_connection() {
        let mut t = ConnectionTable::new(limits());
        let p = Peer::tcp("10.0.0.1:1000".parse().unwrap());
        let old = t.open(p, true, Duration::ZERO, 1);
        let new = t.open(p, true, Duration::ZERO, 2);
        assert_eq!(t.close(p, Some(old)), None);
        assert_eq!(t.close(p, Some(new)), Some(2));
        assert_eq!(t.admit(p.addr.ip()), Ok(()));
    }
}
