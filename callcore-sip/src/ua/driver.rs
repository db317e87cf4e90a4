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
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use super::connections::ConnectionTable;
use super::core::{CallRef, UaConfig, UaEvent, UaOutput, UserAgent};
use super::ids::{IdGen, IdSeed};
use crate::Error;
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

#[path = "driver_streams.rs"]
mod streams;

#[path = "driver_handle.rs"]
mod handle;

pub use streams::ConnectionStats;
use streams::{Conn, NetEvent, TlsOut};

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
    connections: Arc<ConnectionStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
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
                out: TlsOut {
                    connector: t.connector(),
                    names: t.server_names.clone(),
                },
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
    let connections = Arc::new(ConnectionStats::default());
    let io = Io {
        udp,
        listener,
        tls,
        connections: connections.clone(),
    };
    tokio::spawn(run(ua, io, cmd_rx, ev_tx));
    Ok((
        SipHandle {
            cmd: cmd_tx,
            local_addr: local,
            tls_addr,
            stats,
            connections,
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
    out: TlsOut,
}

#[cfg(not(feature = "tls"))]
struct TlsGlue {
    out: TlsOut,
}

/// The endpoint's sockets and connection counters.
struct Io {
    udp: UdpSocket,
    listener: Option<TcpListener>,
    tls: Option<TlsGlue>,
    connections: Arc<ConnectionStats>,
}

/// How often silent connections are looked for.
const SWEEP: Duration = Duration::from_secs(1);

/// Closes connections past their time (see [`super::connections`]).
fn sweep(
    ua: &UserAgent,
    conns: &mut ConnectionTable<Conn>,
    stats: &ConnectionStats,
    now: Duration,
) {
    let (silent, idle) = conns.overdue(now);
    let mut closed = silent.len();
    for peer in silent {
        tracing::debug!(peer = %peer.addr, "closing a connection that sent no message");
        conns.close(peer, None);
    }
    if !idle.is_empty() {
        let in_use = ua.stream_peers_in_use(now);
        for peer in idle.into_iter().filter(|p| !in_use.contains(p)) {
            tracing::debug!(peer = %peer.addr, "closing an idle connection");
            conns.close(peer, None);
            closed += 1;
        }
    }
    stats.count_timed_out(closed);
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

/// Notes the TLS host names of trunks a command brings (SNI and certificate check).
#[cfg(feature = "tls")]
fn learn_tls_names(cmd: &Command, tls: Option<&mut TlsGlue>) {
    let Some(glue) = tls else { return };
    let mut learn = |t: &crate::trunk::Trunk| {
        if let Some(name) = &t.tls_server_name {
            glue.out.names.insert(t.peer.addr, name.clone());
        }
    };
    match cmd {
        Command::SetTrunks(router) => router.trunks().iter().for_each(&mut learn),
        Command::Register(t) => learn(t),
        _ => {}
    }
}

#[cfg(not(feature = "tls"))]
fn learn_tls_names(_: &Command, _: Option<&mut TlsGlue>) {}

/// After a failed accept (e.g. no descriptor left), when to try again.
fn accept_failed<T>(r: &io::Result<T>, now: Duration) -> Option<Duration> {
    match r {
        Ok(_) => Some(Duration::ZERO),
        Err(e) => {
            tracing::warn!(error = %e, "accepting a connection failed; pausing 100 ms");
            Some(now + Duration::from_millis(100))
        }
    }
}

async fn run(
    mut ua: UserAgent,
    io: Io,
    mut cmd_rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<UaEvent>,
) {
    let Io {
        udp,
        listener,
        mut tls,
        connections: conn_stats,
    } = io;
    let clock = GlueClock::start();
    let max = ua.config().max_size;
    let limits = ua.config().limits.streams;
    let queue_max = limits.max_write_queue;
    let (net_tx, mut net_rx) = mpsc::unbounded_channel::<NetEvent>();
    let mut conns: ConnectionTable<Conn> = ConnectionTable::new(limits);
    let mut next_sweep = SWEEP;
    // Accepting pauses briefly after a failed accept (out of descriptors) instead of spinning.
    let (mut accept_pause, mut tls_accept_pause) = (Some(Duration::ZERO), Some(Duration::ZERO));
    let mut buf = vec![0u8; 65_536];
    #[cfg(feature = "tls")]
    let tls_listener = tls.as_mut().and_then(|t| t.listener.take());
    #[cfg(not(feature = "tls"))]
    let tls_listener: Option<(TcpListener, ())> = None;
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
                NetEvent::Frame(data, peer) => {
                    let now = clock.now();
                    conns.on_message(&peer, now);
                    ua.handle_datagram(data, peer, now);
                }
                NetEvent::Connected(peer, id, w, reader) => {
                    match conns.get_mut(&peer) {
                        Some((current, conn)) if current == id => {
                            conn.set_up(w, reader, queue_max);
                            conns.restart(&peer, clock.now());
                        }
                        // closed meanwhile: dropping the writer and aborting the reader close it
                        _ => reader.abort(),
                    }
                }
                NetEvent::Closed(peer, id) => {
                    if conns.close(peer, Some(id)).is_some() {
                        // calls waiting on a connection that never came up or went away fail now
                        ua.transport_failed(peer, clock.now());
                    }
                }
            },
            r = async { match &listener {
                Some(l) => { clock.sleep_until(accept_pause).await; l.accept().await }
                None => std::future::pending().await,
            } } => {
                accept_pause = accept_failed(&r, clock.now());
                if let Ok((stream, addr)) = r {
                    if let Err(why) = conns.admit(addr.ip()) {
                        tracing::debug!(from = %addr, ?why, "TCP connection refused: connection cap");
                        conn_stats.count_refused();
                        drop(stream);
                    } else {
                        let _ = stream.set_nodelay(true);
                        let peer = Peer::tcp(addr);
                        let id = conns.open(peer, true, clock.now(), Conn::default());
                        let (w, r) = streams::spawn_connection(stream, peer, id, net_tx.clone(), max);
                        if let Some((_, conn)) = conns.get_mut(&peer) {
                            *conn = Conn::up(w, r);
                        }
                    }
                }
            }
            r = async { match &tls_listener {
                Some((l, _)) => { clock.sleep_until(tls_accept_pause).await; l.accept().await }
                None => std::future::pending().await,
            } } => {
                tls_accept_pause = accept_failed(&r, clock.now());
                #[cfg(feature = "tls")]
                if let (Ok((stream, addr)), Some((_, acceptor))) = (r, &tls_listener) {
                    if let Err(why) = conns.admit(addr.ip()) {
                        tracing::debug!(from = %addr, ?why, "TLS connection refused: connection cap");
                        conn_stats.count_refused();
                        drop(stream);
                    } else {
                        let _ = stream.set_nodelay(true);
                        let peer = Peer::tls(addr);
                        let id = conns.open(peer, true, clock.now(), Conn::default());
                        let task = streams::spawn_tls_accept(
                            acceptor.clone(), stream, peer, id, net_tx.clone(), max, limits.handshake_timeout,
                        );
                        if let Some((_, conn)) = conns.get_mut(&peer) {
                            *conn = Conn::starting(task);
                        }
                    }
                }
                #[cfg(not(feature = "tls"))]
                let _ = r;
            }
            cmd = cmd_rx.recv() => {
                let Some(cmd) = cmd else { break };
                let now = clock.now();
                learn_tls_names(&cmd, tls.as_mut());
                handle_command(&mut ua, cmd, now);
                // Answers usually come in bursts: take what is already queued.
                for _ in 0..BATCH {
                    match cmd_rx.try_recv() {
                        Ok(cmd) => {
                            learn_tls_names(&cmd, tls.as_mut());
                            handle_command(&mut ua, cmd, now);
                        }
                        Err(_) => break,
                    }
                }
            }
            () = clock.sleep_until(deadline) => ua.handle_timeout(clock.now()),
            () = clock.sleep_until(Some(next_sweep)) => {
                let now = clock.now();
                sweep(&ua, &mut conns, &conn_stats, now);
                next_sweep = now + SWEEP;
            }
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
                    _ => {
                        let sent = match conns.get_mut(&peer) {
                            Some((_, conn)) => conn.send(data, queue_max),
                            None => {
                                let id = conns.open(peer, false, clock.now(), Conn::default());
                                let task = streams::spawn_connect(
                                    peer,
                                    id,
                                    net_tx.clone(),
                                    max,
                                    limits.handshake_timeout,
                                    tls.as_ref().map(|t| &t.out),
                                );
                                match conns.get_mut(&peer) {
                                    Some((_, conn)) => {
                                        if let Some(task) = task {
                                            *conn = Conn::starting(task);
                                        }
                                        conn.send(data, queue_max)
                                    }
                                    None => Ok(()),
                                }
                            }
                        };
                        if sent.is_err() {
                            tracing::debug!(to = %peer.addr, "closing a connection whose peer does not read");
                            conn_stats.count_overflowed();
                            conns.close(peer, None);
                            ua.transport_failed(peer, clock.now());
                        }
                    }
                },
                UaOutput::Event(ev) => {
                    let _ = events.send(ev);
                }
            }
        }
        conn_stats.set_open(conns.len());
    }
}
