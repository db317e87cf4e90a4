//! The driver's stream connections (TCP and TLS): one reader task and one writer task
//! per connection, a byte-bounded write queue, and the handles the driver keeps in its
//! [`ConnectionTable`](super::super::connections::ConnectionTable) to close them.

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::message::StreamFramer;
use crate::transaction::{Peer, TransportKind};

/// What connection tasks tell the driver loop.
pub(super) enum NetEvent {
    /// A complete message from a connection.
    Frame(Bytes, Peer),
    /// Connection `id` is up (TLS handshake done, or our connect succeeded).
    Connected(Peer, u64, Writer, AbortHandle),
    /// Connection `id` ended (or never came up).
    Closed(Peer, u64),
}

/// Counters of the endpoint's stream connections (see
/// [`SipHandle::connection_stats`](super::SipHandle::connection_stats)).
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    refused: AtomicU64,
    timed_out: AtomicU64,
    overflowed: AtomicU64,
}

impl ConnectionStats {
    /// TCP/TLS connections open now (including TLS handshakes and our connects in
    /// progress).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Inbound connections closed at once because a connection cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections closed for silence (no first message, or idle and unused).
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Connections closed because their write queue was full (the peer did not read).
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    pub(super) fn set_open(&self, n: usize) {
        self.open.store(n, Ordering::Relaxed);
    }

    pub(super) fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_timed_out(&self, n: usize) {
        self.timed_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn count_overflowed(&self) {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The sending side of a connection: its writer task's queue and the bytes in it.
pub(super) struct Writer {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// The full write queue.
pub(super) struct Overflow;

impl Writer {
    /// Queues `data` unless the queue would hold more than `max` bytes.
    fn send(&self, data: Bytes, max: usize) -> Result<(), Overflow> {
        let n = data.len();
        if self.queued.load(Ordering::Relaxed) + n > max {
            return Err(Overflow);
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        // A closed queue means the connection is ending; its Closed event follows.
        let _ = self.tx.send(data);
        Ok(())
    }
}

/// What the driver holds for one connection; dropping it closes the connection (the
/// writer task ends when its queue closes, the reader or handshake task is aborted).
#[derive(Default)]
pub(super) struct Conn {
    writer: Option<Writer>,
    task: Option<AbortHandle>,
    /// Messages waiting for the connection to come up, and their bytes.
    pending: Vec<Bytes>,
    pending_bytes: usize,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Conn {
    /// A connection whose handshake or connect runs in `task`.
    pub(super) fn starting(task: AbortHandle) -> Conn {
        Conn {
            writer: None,
            task: Some(task),
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// A connection that is up.
    pub(super) fn up(writer: Writer, reader: AbortHandle) -> Conn {
        Conn {
            writer: Some(writer),
            task: Some(reader),
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// The connection came up: sends what waited.
    pub(super) fn set_up(&mut self, writer: Writer, reader: AbortHandle, max: usize) {
        if let Some(t) = self.task.replace(reader) {
            t.abort();
        }
        for b in std::mem::take(&mut self.pending) {
            let _ = writer.send(b, max);
        }
        self.pending_bytes = 0;
        self.writer = Some(writer);
    }

    /// Sends or queues `data`; `Err` when more than `max` bytes would wait.
    pub(super) fn send(&mut self, data: Bytes, max: usize) -> Result<(), Overflow> {
        match &self.writer {
            Some(w) => w.send(data, max),
            None if self.pending_bytes + data.len() > max => Err(Overflow),
            None => {
                self.pending_bytes += data.len();
                self.pending.push(data);
                Ok(())
            }
        }
    }
}

/// Starts the reader and writer tasks of a connection that is up.
pub(super) fn spawn_connection<S>(
    stream: S,
    peer: Peer,
    id: u64,
    net: mpsc::UnboundedSender<NetEvent>,
    max: usize,
) -> (Writer, AbortHandle)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer = Writer {
        tx: wtx,
        queued: queued.clone(),
    };
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            let n = b.len();
            if wr.write_all(&b).await.is_err() {
                break;
            }
            queued.fetch_sub(n, Ordering::Relaxed);
            if wrx.is_empty() {
                let _ = wr.flush().await;
            }
        }
        let _ = wr.shutdown().await;
    });
    let reader = tokio::spawn(async move {
        let mut framer = StreamFramer::new(max);
        // Small: thousands of idle connections each hold one (SIP messages are framed
        // across reads).
        let mut buf = vec![0u8; 4 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => framer.push(&buf[..n]),
            }
            loop {
                match framer.next_frame() {
                    Ok(Some(frame)) => {
                        let _ = net.send(NetEvent::Frame(frame, peer));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(peer = %peer.addr, fault = %e, "closing unframeable stream");
                        // The user agent answers it (400 for a bad Content-Length, 513
                        // when too large) before the connection closes.
                        let _ = net.send(NetEvent::Frame(framer.take_pending(), peer));
                        let _ = net.send(NetEvent::Closed(peer, id));
                        return;
                    }
                }
            }
        }
        let _ = net.send(NetEvent::Closed(peer, id));
    });
    (writer, reader.abort_handle())
}

/// Accepts a TLS connection in the background (closing it when the handshake takes
/// longer than `handshake`); `Connected` or `Closed` follows.
#[cfg(feature = "tls")]
pub(super) fn spawn_tls_accept(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: Peer,
    id: u64,
    net: mpsc::UnboundedSender<NetEvent>,
    max: usize,
    handshake: Duration,
) -> AbortHandle {
    tokio::spawn(async move {
        match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
            Ok(Ok(s)) => {
                let (w, r) = spawn_connection(s, peer, id, net.clone(), max);
                let _ = net.send(NetEvent::Connected(peer, id, w, r));
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, from = %peer.addr, "TLS handshake failed");
                let _ = net.send(NetEvent::Closed(peer, id));
            }
            Err(_) => {
                tracing::debug!(from = %peer.addr, "TLS handshake timed out");
                let _ = net.send(NetEvent::Closed(peer, id));
            }
        }
    })
    .abort_handle()
}

/// How the driver opens TLS connections: the connector and the name each address is
/// checked against (SNI and certificate); addresses without a name are checked by IP.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(super) struct TlsOut {
    pub(super) connector: tokio_rustls::TlsConnector,
    pub(super) names: std::collections::HashMap<std::net::SocketAddr, String>,
}

#[cfg(not(feature = "tls"))]
pub(super) struct TlsOut;

/// Opens a stream connection to `peer` in the background (at most `timeout` for the
/// TCP connect and TLS handshake); `Connected` or `Closed` follows.
pub(super) fn spawn_connect(
    peer: Peer,
    id: u64,
    net: mpsc::UnboundedSender<NetEvent>,
    max: usize,
    timeout: Duration,
    tls: Option<&TlsOut>,
) -> Option<AbortHandle> {
    match peer.transport {
        TransportKind::Tcp => Some(
            tokio::spawn(async move {
                match tokio::time::timeout(timeout, TcpStream::connect(peer.addr)).await {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        let (w, r) = spawn_connection(s, peer, id, net.clone(), max);
                        let _ = net.send(NetEvent::Connected(peer, id, w, r));
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, to = %peer.addr, "TCP connect failed");
                        let _ = net.send(NetEvent::Closed(peer, id));
                    }
                    Err(_) => {
                        tracing::debug!(to = %peer.addr, "TCP connect timed out");
                        let _ = net.send(NetEvent::Closed(peer, id));
                    }
                }
            })
            .abort_handle(),
        ),
        #[cfg(feature = "tls")]
        TransportKind::Tls => {
            let Some(out) = tls else {
                tracing::debug!(to = %peer.addr, "no TLS configuration: cannot connect");
                let _ = net.send(NetEvent::Closed(peer, id));
                return None;
            };
            let connector = out.connector.clone();
            let name = out.names.get(&peer.addr).cloned();
            Some(
                tokio::spawn(async move {
                    let conn = super::super::tls::connect(connector, peer.addr, name.as_deref());
                    match tokio::time::timeout(timeout, conn).await {
                        Ok(Ok(s)) => {
                            let (w, r) = spawn_connection(s, peer, id, net.clone(), max);
                            let _ = net.send(NetEvent::Connected(peer, id, w, r));
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, to = %peer.addr, "TLS connect failed");
                            let _ = net.send(NetEvent::Closed(peer, id));
                        }
                        Err(_) => {
                            tracing::debug!(to = %peer.addr, "TLS connect timed out");
                            let _ = net.send(NetEvent::Closed(peer, id));
                        }
                    }
                })
                .abort_handle(),
            )
        }
        _ => {
            let _ = tls;
            let _ = net.send(NetEvent::Closed(peer, id));
            None
        }
    }
}
