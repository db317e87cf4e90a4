//! The tokio driver: owns the UDP socket, the TCP listener and connections, reads the
//! clock, and feeds the sans-IO [`UserAgent`]. Applications talk to it through a
//! [`SipHandle`] and receive [`UaEvent`]s on a channel.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use callcore_sip::session::LocalMedia;
//! use callcore_sip::ua::{UaConfig, UaEvent, driver};
//! let (sip, mut events) = driver::start(UaConfig::new("127.0.0.1:5080".parse().unwrap()), 7, true).await?;
//! while let Some(ev) = events.recv().await {
//!     if let UaEvent::IncomingCall { call, .. } = ev {
//!         sip.ring(call);
//!         let media = LocalMedia::g711("127.0.0.1:40000".parse().unwrap(), 1);
//!         let _ = sip.answer(call, media).await;
//!     }
//! }
//! # Ok(()) }
//! ```

use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use super::core::{CallRef, UaConfig, UaEvent, UaOutput, UserAgent};
use super::ids::{IdGen, IdSeed};
use crate::Error;
use crate::message::StreamFramer;
use crate::session::{LocalMedia, NegotiatedAudio};
use crate::transaction::{Peer, TransportKind};

enum Command {
    Ring(CallRef),
    Answer(
        CallRef,
        LocalMedia,
        oneshot::Sender<Result<Option<NegotiatedAudio>, Error>>,
    ),
    Reject(CallRef, u16),
    Redirect(CallRef, Vec<String>),
    Place {
        target: String,
        peer: Peer,
        from: String,
        media: LocalMedia,
        reply: oneshot::Sender<Result<CallRef, Error>>,
    },
    Hangup(CallRef),
    Hold(CallRef, bool),
    Refer(CallRef, String),
    AnswerRefer(CallRef, u16, Option<String>),
    NotifyTransfer(CallRef, u16),
    Lookup(String, oneshot::Sender<Vec<String>>),
    Routes(String, oneshot::Sender<Vec<super::ContactRoute>>),
    Register(crate::trunk::Trunk),
    SetTrunks(crate::trunk::TrunkRouter),
    TrunkHealth(oneshot::Sender<Vec<(String, bool)>>),
    Proceeding(CallRef, oneshot::Sender<bool>),
    Drain(Option<u32>),
    HangupAll,
}

#[path = "driver_trunks.rs"]
mod trunks;

enum NetEvent {
    Frame(Bytes, Peer),
    Connected(Peer, mpsc::UnboundedSender<Bytes>),
    Closed(Peer),
}

/// What the driver listens on besides UDP.
#[derive(Debug, Clone, Default)]
pub struct DriverOptions {
    /// Also accept and open TCP connections on the UDP address.
    pub tcp: bool,
    /// SIP over TLS: a listener and/or outbound connections (feature `tls`).
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::TlsOptions>,
}

/// Commands to a running SIP endpoint. Cheap to clone; the endpoint stops when every
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct SipHandle {
    cmd: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    stats: Arc<super::stats::SipStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

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
    /// `reason` as the phrase) — see [`UaEvent::TransferRequested`].
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
    /// [`UaEvent::TrunkRegistered`] reports success.
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
    pub fn stats(&self) -> &Arc<super::stats::SipStats> {
        &self.stats
    }

    /// Whether the endpoint's task is still running (its sockets bound).
    pub fn is_running(&self) -> bool {
        !self.cmd.is_closed()
    }
}

/// The glue's only clock: monotonic time since the endpoint started.
#[derive(Debug, Clone, Copy)]
struct GlueClock(Instant);

impl GlueClock {
    #[allow(clippy::disallowed_methods)] // the tokio glue is where time enters the stack
    fn start() -> Self {
        GlueClock(Instant::now())
    }

    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    #[allow(clippy::disallowed_methods)]
    async fn sleep_until(&self, at: Option<Duration>) {
        match at {
            Some(at) => tokio::time::sleep_until((self.0 + at).into()).await,
            None => std::future::pending().await,
        }
    }
}

/// Binds UDP (and TCP when `tcp`) on `config.local_addr` and runs the endpoint on the
/// current tokio runtime. A port of 0 picks a free port; the handle reports it.
///
/// `seed` chooses where tags, branches and Call-IDs come from: [`IdSeed::Os`] in
/// production (a key from the OS random source), a number (`IdSeed::Fixed`) for
/// deterministic tests.
pub async fn start(
    config: UaConfig,
    seed: impl Into<IdSeed>,
    tcp: bool,
) -> io::Result<(SipHandle, mpsc::UnboundedReceiver<UaEvent>)> {
    start_with(
        config,
        seed.into(),
        DriverOptions {
            tcp,
            ..DriverOptions::default()
        },
    )
    .await
}

/// Binds UDP at `addr` and, with `tcp`, TCP on the same port. With port 0 the
/// OS picks UDP's port, which a TCP socket (another process's outgoing
/// connection) may hold: then another port is tried, a bounded number of times.
async fn bind_udp_and_tcp(
    addr: SocketAddr,
    tcp: bool,
) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let attempts = if addr.port() == 0 && tcp { 32 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = bind_udp(addr)?;
        if !tcp {
            return Ok((udp, None));
        }
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// [`start`] with every transport option (TLS listener and connector).
pub async fn start_with(
    mut config: UaConfig,
    seed: impl Into<IdSeed>,
    opts: DriverOptions,
) -> io::Result<(SipHandle, mpsc::UnboundedReceiver<UaEvent>)> {
    // Nonces must be unpredictable: sign them with a key from the OS, not the seed.
    if let Some((digest, _)) = config.auth.as_mut()
        && digest.nonce_key.is_none()
    {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
        digest.nonce_key = Some(crate::auth::NonceKey(key));
    }
    let (udp, listener) = bind_udp_and_tcp(config.local_addr, opts.tcp).await?;
    let local = udp.local_addr()?;
    config.local_addr = local;
    #[cfg(feature = "tls")]
    let tls = match &opts.tls {
        Some(t) => {
            let listener = match (t.listen, t.acceptor()) {
                (Some(addr), Some(acc)) => {
                    let l = TcpListener::bind(addr).await?;
                    config.tls_addr = Some(l.local_addr()?);
                    Some((l, acc))
                }
                (Some(_), None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a TLS listener needs a server certificate",
                    ));
                }
                _ => None,
            };
            Some(TlsGlue {
                listener,
                connector: t.connector(),
            })
        }
        None => None,
    };
    #[cfg(not(feature = "tls"))]
    let tls: Option<TlsGlue> = None;
    let tls_addr = config.tls_addr;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let ids = match seed.into() {
        IdSeed::Os => {
            let mut key = [0u8; 32];
            getrandom::getrandom(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
            IdGen::keyed(key)
        }
        IdSeed::Fixed(seed) => IdGen::new(seed),
    };
    let ua = UserAgent::with_ids(config, ids);
    let stats = ua.stats().clone();
    tokio::spawn(run(ua, udp, listener, tls, cmd_rx, ev_tx));
    Ok((
        SipHandle {
            cmd: cmd_tx,
            local_addr: local,
            tls_addr,
            stats,
        },
        ev_rx,
    ))
}

/// UDP receive/send buffer we ask for: a burst of a few thousand requests must wait in
/// the kernel while the loop is busy, not be dropped (the kernel caps it at
/// `net.core.rmem_max` / `wmem_max`).
const UDP_BUFFER: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_BUFFER) {
        tracing::debug!(error = %e, "UDP receive buffer size not set");
    }
    if let Err(e) = s.set_send_buffer_size(UDP_BUFFER) {
        tracing::debug!(error = %e, "UDP send buffer size not set");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

#[cfg(feature = "tls")]
struct TlsGlue {
    listener: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    connector: tokio_rustls::TlsConnector,
}

#[cfg(not(feature = "tls"))]
struct TlsGlue;

fn spawn_connection<S>(stream: S, peer: Peer, net: mpsc::UnboundedSender<NetEvent>, max: usize)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    let _ = net.send(NetEvent::Connected(peer, wtx));
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
            let _ = wr.flush().await;
        }
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut framer = StreamFramer::new(max);
        let mut buf = vec![0u8; 16 * 1024];
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
                        let _ = net.send(NetEvent::Closed(peer));
                        return;
                    }
                }
            }
        }
        let _ = net.send(NetEvent::Closed(peer));
    });
}

/// Opens a stream connection to `peer` in the background; frames queued for it in the
/// meantime are sent once it is up.
fn spawn_connect(
    peer: Peer,
    net: mpsc::UnboundedSender<NetEvent>,
    max: usize,
    tls: Option<&TlsGlue>,
) {
    match peer.transport {
        TransportKind::Tcp => {
            tokio::spawn(async move {
                match TcpStream::connect(peer.addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        spawn_connection(s, peer, net, max)
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "TCP connect failed");
                        let _ = net.send(NetEvent::Closed(peer));
                    }
                }
            });
        }
        #[cfg(feature = "tls")]
        TransportKind::Tls => {
            let Some(connector) = tls.map(|t| t.connector.clone()) else {
                tracing::debug!(to = %peer.addr, "no TLS configuration: cannot connect");
                let _ = net.send(NetEvent::Closed(peer));
                return;
            };
            tokio::spawn(async move {
                match super::tls::connect(connector, peer.addr).await {
                    Ok(s) => spawn_connection(s, peer, net, max),
                    Err(e) => {
                        tracing::debug!(error = %e, to = %peer.addr, "TLS connect failed");
                        let _ = net.send(NetEvent::Closed(peer));
                    }
                }
            });
        }
        _ => {
            let _ = tls;
            let _ = net.send(NetEvent::Closed(peer));
        }
    }
}

fn handle_command(ua: &mut UserAgent, cmd: Command, now: Duration) {
    match cmd {
        Command::Ring(c) => {
            let _ = ua.ring(c, now);
        }
        Command::Answer(c, m, reply) => {
            let _ = reply.send(ua.answer(c, m, now));
        }
        Command::Reject(c, s) => {
            let _ = ua.reject(c, s, now);
        }
        Command::Redirect(c, t) => {
            let t: Vec<&str> = t.iter().map(String::as_str).collect();
            let _ = ua.redirect(c, &t, now);
        }
        Command::Place {
            target,
            peer,
            from,
            media,
            reply,
        } => {
            let _ = reply.send(ua.place_call(&target, peer, &from, media, now));
        }
        Command::Hangup(c) => {
            let _ = ua.hangup(c, now);
        }
        Command::Hold(c, h) => {
            let _ = ua.set_hold(c, h, now);
        }
        Command::Refer(c, t) => {
            let _ = ua.refer(c, &t, now);
        }
        Command::AnswerRefer(c, status, reason) => {
            if let Err(e) = ua.answer_refer(c, status, reason.as_deref(), now) {
                tracing::debug!(error = %e, "REFER answer not sent");
            }
        }
        Command::NotifyTransfer(c, status) => {
            if let Err(e) = ua.notify_transfer(c, status, now) {
                tracing::debug!(error = %e, "transfer NOTIFY not sent");
            }
        }
        Command::Lookup(aor, reply) => {
            let _ = reply.send(ua.registrar().lookup(&aor, now));
        }
        Command::Routes(aor, reply) => {
            let _ = reply.send(ua.contact_routes(&aor, now));
        }
        Command::SetTrunks(router) => ua.set_trunks(router, now),
        Command::Proceeding(call, reply) => {
            let _ = reply.send(ua.is_proceeding(call));
        }
        Command::TrunkHealth(reply) => {
            let health = ua
                .trunks()
                .map(|r| {
                    r.trunks()
                        .iter()
                        .map(|t| (t.name.clone(), r.is_up(&t.name)))
                        .collect()
                })
                .unwrap_or_default();
            let _ = reply.send(health);
        }
        Command::Register(t) => {
            if let Err(e) = ua.register_trunk(t, now) {
                tracing::warn!(error = %e, "registration not started");
            }
        }
        Command::Drain(retry_after) => ua.set_draining(retry_after),
        Command::HangupAll => ua.hangup_all(now),
    }
}

/// How many datagrams or commands one wake-up handles before the loop looks at the
/// other sources again.
const BATCH: usize = 256;

async fn run(
    mut ua: UserAgent,
    udp: UdpSocket,
    listener: Option<TcpListener>,
    tls: Option<TlsGlue>,
    mut cmd_rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<UaEvent>,
) {
    let clock = GlueClock::start();
    let max = ua.config().max_size;
    let (net_tx, mut net_rx) = mpsc::unbounded_channel::<NetEvent>();
    let mut conns: HashMap<Peer, mpsc::UnboundedSender<Bytes>> = HashMap::new();
    let mut pending: HashMap<Peer, Vec<Bytes>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    #[cfg(feature = "tls")]
    let tls_listener = tls.as_ref().and_then(|t| t.listener.as_ref());
    #[cfg(not(feature = "tls"))]
    let tls_listener: Option<&(TcpListener, ())> = None;
    loop {
        let deadline = ua.poll_timeout();
        tokio::select! {
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    let now = clock.now();
                    ua.handle_datagram(Bytes::copy_from_slice(&buf[..n]), Peer::udp(from), now);
                    // Drain what else is already queued before going round the loop.
                    for _ in 0..BATCH {
                        match udp.try_recv_from(&mut buf) {
                            Ok((n, from)) => ua.handle_datagram(Bytes::copy_from_slice(&buf[..n]), Peer::udp(from), now),
                            Err(_) => break,
                        }
                    }
                }
            }
            Some(ev) = net_rx.recv() => match ev {
                NetEvent::Frame(data, peer) => ua.handle_datagram(data, peer, clock.now()),
                NetEvent::Connected(peer, w) => {
                    for b in pending.remove(&peer).unwrap_or_default() {
                        let _ = w.send(b);
                    }
                    conns.insert(peer, w);
                }
                NetEvent::Closed(peer) => {
                    conns.remove(&peer);
                    // calls waiting on a connection that never came up or went away fail now
                    pending.remove(&peer);
                    ua.transport_failed(peer, clock.now());
                }
            },
            r = async { match &listener { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                if let Ok((stream, addr)) = r {
                    let _ = stream.set_nodelay(true);
                    spawn_connection(stream, Peer::tcp(addr), net_tx.clone(), max);
                }
            }
            r = async { match tls_listener { Some((l, _)) => l.accept().await, None => std::future::pending().await } } => {
                #[cfg(feature = "tls")]
                if let (Ok((stream, addr)), Some((_, acceptor))) = (r, tls_listener) {
                    let _ = stream.set_nodelay(true);
                    let (acceptor, net) = (acceptor.clone(), net_tx.clone());
                    tokio::spawn(async move {
                        match acceptor.accept(stream).await {
                            Ok(s) => spawn_connection(s, Peer::tls(addr), net, max),
                            Err(e) => tracing::debug!(error = %e, from = %addr, "TLS handshake failed"),
                        }
                    });
                }
                #[cfg(not(feature = "tls"))]
                let _ = r;
            }
            cmd = cmd_rx.recv() => {
                let Some(cmd) = cmd else { break };
                let now = clock.now();
                handle_command(&mut ua, cmd, now);
                // Answers usually come in bursts: take what is already queued.
                for _ in 0..BATCH {
                    match cmd_rx.try_recv() {
                        Ok(cmd) => handle_command(&mut ua, cmd, now),
                        Err(_) => break,
                    }
                }
            }
            () = clock.sleep_until(deadline) => ua.handle_timeout(clock.now()),
        }
        while let Some(out) = ua.poll_output() {
            match out {
                UaOutput::Transmit { peer, data } => match peer.transport {
                    TransportKind::Udp => {
                        // Non-blocking first; wait for the socket only when its buffer is full.
                        let sent = match udp.try_send_to(&data, peer.addr) {
                            Ok(_) => Ok(()),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                udp.send_to(&data, peer.addr).await.map(|_| ())
                            }
                            Err(e) => Err(e),
                        };
                        if let Err(e) = sent {
                            tracing::debug!(error = %e, to = %peer.addr, "UDP send failed");
                        }
                    }
                    _ => match conns.get(&peer) {
                        Some(w) => {
                            let _ = w.send(data);
                        }
                        None => {
                            let first = !pending.contains_key(&peer);
                            pending.entry(peer).or_default().push(data);
                            if first {
                                spawn_connect(peer, net_tx.clone(), max, tls.as_ref());
                            }
                        }
                    },
                },
                UaOutput::Event(ev) => {
                    let _ = events.send(ev);
                }
            }
        }
    }
}
