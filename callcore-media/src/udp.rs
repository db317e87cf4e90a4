//! Thin tokio glue: UDP sockets from a port range, a two-leg RTP relay task around
//! [`Bridge`], and a media session task around [`MediaEndpoint`]. All media logic
//! lives in the sans-IO cores; these tasks only move datagrams and read the clock.
//!
//! ```no_run
//! # async fn demo() -> callcore_media::Result<()> {
//! use callcore_media::udp::{PortAllocator, MediaSession, MediaSessionConfig, SessionCommand};
//! let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 20000..=20999);
//! let mut session = MediaSession::start(&ports, MediaSessionConfig::default()).await?;
//! println!("put {} in the SDP", session.local_rtp());
//! session.command(SessionCommand::Digits("123#".into()));
//! while let Some(event) = session.next_event().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::bridge::{Bridge, Side};
use crate::dtmf::parse_digits;
use crate::endpoint::{EndpointConfig, EndpointEvent, EndpointStats, MediaEndpoint, Transmit};
use crate::error::{MediaError, Result};
use crate::jitter::FrameKind;

/// The glue's clock: monotonic time since a task's start, passed into the cores.
#[derive(Debug, Clone, Copy)]
pub struct GlueClock {
    origin: Instant,
}

impl GlueClock {
    /// Starts a clock now.
    #[allow(clippy::disallowed_methods)] // the tokio glue is where wall time enters the media core
    pub fn start() -> Self {
        GlueClock {
            origin: Instant::now(),
        }
    }

    /// The clock every media thread of the process shares (the relay pool's workers
    /// and the legs' tasks), so that times one of them records mean the same to the
    /// others (a stream moving between them continues its timestamps by the time
    /// that passed).
    #[allow(clippy::disallowed_methods)] // the tokio glue is where wall time enters the media core
    pub fn process() -> Self {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        GlueClock {
            origin: *ORIGIN.get_or_init(Instant::now),
        }
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The instant at `d` after the start.
    pub fn at(&self, d: Duration) -> Instant {
        self.origin + d
    }

    /// A timer firing at `d` after the start.
    #[allow(clippy::disallowed_methods)] // the glue owns the timers of the sans-IO cores
    pub fn sleep_until(&self, d: Duration) -> tokio::time::Sleep {
        tokio::time::sleep_until(self.at(d).into())
    }
}

/// Hands out RTP/RTCP port pairs (even RTP port, RTCP on the next) from a range.
#[derive(Debug)]
pub struct PortAllocator {
    ip: IpAddr,
    range: RangeInclusive<u16>,
    next: Mutex<u16>,
}

impl PortAllocator {
    /// An allocator binding `ip` within `range`.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Self {
        let start = *range.start() + (*range.start() & 1);
        PortAllocator {
            ip,
            range,
            next: Mutex::new(start),
        }
    }

    fn candidate(&self) -> u16 {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let p = *next;
        let mut n = p.wrapping_add(2);
        if n < *self.range.start() || n >= *self.range.end() {
            n = *self.range.start() + (*self.range.start() & 1);
        }
        *next = n;
        p
    }

    /// Binds an RTP socket and its RTCP companion, skipping ports in use.
    pub async fn bind_pair(&self) -> Result<(UdpSocket, UdpSocket)> {
        let span = (usize::from(*self.range.end()) + 1)
            .saturating_sub(usize::from(*self.range.start()))
            / 2;
        for _ in 0..span.max(1) {
            let port = self.candidate();
            let Some(rtcp_port) = port.checked_add(1) else {
                continue;
            };
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, rtcp_port)).await else {
                continue;
            };
            return Ok((rtp, rtcp));
        }
        Err(MediaError::Config {
            field: "port range",
            detail: format!("no free RTP/RTCP pair in {:?} on {}", self.range, self.ip),
        })
    }

    /// Binds one socket (for relays that do not terminate RTCP).
    pub async fn bind_one(&self) -> Result<UdpSocket> {
        let span =
            (usize::from(*self.range.end()) + 1).saturating_sub(usize::from(*self.range.start()));
        for _ in 0..span.max(1) {
            let port = self.candidate();
            if let Ok(s) = UdpSocket::bind(SocketAddr::new(self.ip, port)).await {
                return Ok(s);
            }
        }
        Err(MediaError::Config {
            field: "port range",
            detail: format!("no free port in {:?} on {}", self.range, self.ip),
        })
    }
}

/// One leg of a relayed call: the socket facing the leg and where the leg is.
#[derive(Debug)]
pub struct RelayLeg {
    /// Our socket facing this leg.
    pub socket: UdpSocket,
    /// The leg's address from signalling (updated by latching).
    pub remote: Option<SocketAddr>,
}

/// Relay options.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Symmetric RTP: send to wherever the leg's packets come from (NAT).
    pub latch: bool,
    /// End the relay after this long without packets from either leg.
    pub media_timeout: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            latch: true,
            media_timeout: Duration::from_secs(30),
        }
    }
}

/// Why and how a relay ended: the figures of one bridged call. Arrays are indexed by
/// leg, A then B (for `forwarded`, `events_forwarded`, `transcoded`: packets that
/// came *from* that leg; for `held`: packets not sent *to* it).
#[derive(Debug, Clone, Default)]
pub struct RelayReport {
    /// Packets forwarded A→B and B→A.
    pub forwarded: [u64; 2],
    /// Datagrams dropped (malformed, unknown payload type, no destination yet).
    pub dropped: u64,
    /// True if it ended by media timeout.
    pub timed_out: bool,
    /// RFC 4733 telephone-event packets forwarded from each leg (included in
    /// `forwarded`).
    pub events_forwarded: [u64; 2],
    /// Packets transcoded µ-law⇄A-law from each leg.
    pub transcoded: [u64; 2],
    /// Packets not sent to a leg because it was on hold (its direction forbade it).
    pub held: [u64; 2],
    /// Legs that went silent (no RTP for the media timeout while not on hold).
    pub media_timeout: [bool; 2],
    /// RTCP compound packets sent to each leg.
    pub rtcp_sent: [u64; 2],
    /// RTCP compound packets received from each leg.
    pub rtcp_received: [u64; 2],
    /// Legs whose far end said RTCP BYE.
    pub remote_bye: [bool; 2],
    /// SRTP/SRTCP packets from each leg dropped because they failed
    /// authentication (never relayed, recorded or latched to).
    pub srtp_rejected: [u64; 2],
    /// Where each leg's media went at the end (signalled or latched).
    pub remotes: [Option<SocketAddr>; 2],
    /// How long the call was relayed.
    pub duration: Duration,
    /// The stereo recording (caller left, agent right), finished: written to its
    /// end and its WAV header patched, before this report is handed out.
    pub recording: Option<crate::wav::RecordingInfo>,
}

/// Runs a two-leg relay until `stop` turns true (or its sender is dropped) or media
/// times out.
///
/// Each wake-up drains the ready socket without blocking (`try_recv_from`) and sends
/// with `try_send_to`: a full socket buffer drops the datagram, as a network would,
/// instead of stalling the other direction.
pub async fn run_relay(
    mut bridge: Bridge,
    a: RelayLeg,
    b: RelayLeg,
    opts: RelayOptions,
    mut stop: watch::Receiver<bool>,
) -> RelayReport {
    let clock = GlueClock::start();
    let mut remotes = [a.remote, b.remote];
    let mut locks = [
        crate::latch::Latch::new(a.remote),
        crate::latch::Latch::new(b.remote),
    ];
    let socks = [a.socket, b.socket];
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::with_capacity(2048);
    let mut report = RelayReport::default();
    let mut last_rx = clock.now();
    let timer = clock.sleep_until(last_rx + opts.media_timeout);
    tokio::pin!(timer);
    // Ends when `stop` turns true or its sender is dropped.
    let stopped = async move {
        while stop.changed().await.is_ok() {
            if *stop.borrow() {
                return;
            }
        }
    };
    tokio::pin!(stopped);
    enum Wake {
        Stop,
        Timer,
        Ready(usize),
    }
    loop {
        // One poll function instead of select!: `poll_recv_ready` keeps a single
        // waker per socket, avoiding the per-wake-up waiter registration of
        // `readable()` futures.
        let wake = std::future::poll_fn(|cx| {
            use std::future::Future;
            use std::task::Poll;
            if stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Stop);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Timer);
            }
            for (i, sock) in socks.iter().enumerate() {
                if let Poll::Ready(r) = sock.poll_recv_ready(cx) {
                    if r.is_err() {
                        report.dropped += 1;
                    }
                    return Poll::Ready(Wake::Ready(i));
                }
            }
            Poll::Pending
        })
        .await;
        let ready = match wake {
            Wake::Stop => break,
            Wake::Timer => {
                if clock.now() >= last_rx + opts.media_timeout {
                    report.timed_out = true;
                    break;
                }
                timer
                    .as_mut()
                    .reset(clock.at(last_rx + opts.media_timeout).into());
                continue;
            }
            Wake::Ready(i) => i,
        };
        let now = clock.now();
        // drain the leg that woke us (the other one's readiness wakes us next)
        {
            let i = ready;
            let side = if i == 0 { Side::A } else { Side::B };
            // bounded drain so one busy leg cannot starve the other
            for _ in 0..64 {
                let (n, from) = match socks[i].try_recv_from(&mut buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        report.dropped += 1;
                        break;
                    }
                };
                // a stranger's datagram is neither relayed nor followed
                if !locks[i].admit_rtp(opts.latch, &mut remotes[i], from, &buf[..n]) {
                    report.dropped += 1;
                    continue;
                }
                last_rx = now;
                match bridge.relay(side, &buf[..n], now, &mut out) {
                    Ok(o) if o.forwarded() => {
                        let j = 1 - i;
                        match remotes[j].map(|dst| socks[j].try_send_to(&out, dst)) {
                            Some(Ok(_)) => report.forwarded[i] += 1,
                            _ => report.dropped += 1,
                        }
                    }
                    Ok(_) | Err(_) => report.dropped += 1,
                }
            }
        }
    }
    report
}

/// Settings of a [`MediaSession`].
#[derive(Debug, Clone)]
pub struct MediaSessionConfig {
    /// The endpoint core's settings.
    pub endpoint: EndpointConfig,
    /// The far end's RTP address from signalling, if known.
    pub remote: Option<SocketAddr>,
    /// Symmetric RTP (latch to the source of received packets).
    pub latch: bool,
    /// Deliver received audio frames as [`SessionEvent::Audio`].
    pub deliver_audio: bool,
    /// Send silence when nothing is playing (keeps NAT bindings and the far end's
    /// jitter buffer alive).
    pub send_silence: bool,
}

impl Default for MediaSessionConfig {
    fn default() -> Self {
        MediaSessionConfig {
            endpoint: EndpointConfig::default(),
            remote: None,
            latch: true,
            deliver_audio: true,
            send_silence: true,
        }
    }
}

/// What the owner asks a session to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionCommand {
    /// Queue audio (8 kHz linear) to play after what is already queued.
    Play(Vec<i16>),
    /// Stop playing and drop the queue (barge-in).
    StopPlayback,
    /// Send RFC 4733 digits (100 ms each).
    Digits(String),
    /// End the session (sends RTCP BYE).
    Hangup,
}

/// What a session reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// 20 ms of received audio (after the jitter buffer), with how it was produced;
    /// one every 20 ms from the start (silence before media arrives).
    Audio(Vec<i16>, FrameKind),
    /// An event from the endpoint core (digits, reports, timeout, BYE).
    Endpoint(EndpointEvent),
    /// The play queue ran empty.
    PlaybackDone,
    /// The session ended; final figures.
    Ended(EndpointStats),
}

/// A running media session on a UDP port pair.
#[derive(Debug)]
pub struct MediaSession {
    local_rtp: SocketAddr,
    cmds: mpsc::UnboundedSender<SessionCommand>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    /// Events taken so far, for a producer that holds back audio while nobody reads.
    consumed: Option<Arc<AtomicU64>>,
}

impl MediaSession {
    /// Binds a port pair and starts the session task.
    pub async fn start(ports: &PortAllocator, cfg: MediaSessionConfig) -> Result<MediaSession> {
        let (rtp, rtcp) = ports.bind_pair().await?;
        let local_rtp = rtp.local_addr()?;
        let endpoint = MediaEndpoint::new(cfg.endpoint.clone())?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        tokio::spawn(session_task(endpoint, rtp, rtcp, cfg, cmd_rx, ev_tx));
        Ok(MediaSession {
            local_rtp,
            cmds: cmd_tx,
            events: ev_rx,
            consumed: None,
        })
    }

    /// A session run by another task of this crate that speaks the same
    /// command/event protocol (the SIP leg media in [`crate::sip_leg`], which owns
    /// its sockets so that it can also relay to a bridged leg).
    pub(crate) fn from_channels(
        local_rtp: SocketAddr,
        cmds: mpsc::UnboundedSender<SessionCommand>,
        events: mpsc::UnboundedReceiver<SessionEvent>,
        consumed: Arc<AtomicU64>,
    ) -> MediaSession {
        MediaSession {
            local_rtp,
            cmds,
            events,
            consumed: Some(consumed),
        }
    }

    /// Our RTP address (for the SDP).
    pub fn local_rtp(&self) -> SocketAddr {
        self.local_rtp
    }

    /// Sends a command; false if the session has ended.
    pub fn command(&self, cmd: SessionCommand) -> bool {
        self.cmds.send(cmd).is_ok()
    }

    /// A second way in for commands, for whoever must stop playback while
    /// the session itself is borrowed (a prompt whose future is dropped).
    pub(crate) fn commands(&self) -> mpsc::UnboundedSender<SessionCommand> {
        self.cmds.clone()
    }

    /// The next event; `None` after [`SessionEvent::Ended`].
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        let e = self.events.recv().await;
        if let (Some(_), Some(c)) = (&e, &self.consumed) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        e
    }
}

async fn session_task(
    mut ep: MediaEndpoint,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    cfg: MediaSessionConfig,
    mut cmds: mpsc::UnboundedReceiver<SessionCommand>,
    events: mpsc::UnboundedSender<SessionEvent>,
) {
    let clock = GlueClock::start();
    let mut remote = cfg.remote;
    let mut lock = crate::latch::Latch::new(remote);
    let mut buf = vec![0u8; 2048];
    let mut rbuf = vec![0u8; 2048];
    let mut wire = Vec::with_capacity(256);
    let mut frame = Vec::with_capacity(160);
    let mut queue: std::collections::VecDeque<i16> = std::collections::VecDeque::new();
    let mut playing = false;
    let mut started = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let ended = AtomicBool::new(false);
    let send_to = |sock: &UdpSocket, data: &[u8], dst: Option<SocketAddr>| {
        if let Some(d) = dst {
            // Non-blocking send; a full socket buffer drops the datagram like a network would.
            let _ = sock.try_send_to(data, d);
        }
    };
    let rtcp_dst =
        |r: Option<SocketAddr>| r.map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)));
    loop {
        let timeout = ep.poll_timeout().unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            r = rtp.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let now = clock.now();
                // a stranger's datagram is neither heard nor followed
                if lock.admit_rtp(cfg.latch, &mut remote, from, &buf[..n])
                    && ep.handle_rtp(&buf[..n], now).is_ok()
                {
                    started = true;
                }
            }
            r = rtcp.recv_from(&mut rbuf) => {
                // RTCP (BYE included) only from the latched peer
                if let Ok((n, from)) = r
                    && lock.admit_rtcp(remote, from)
                {
                    let _ = ep.handle_rtcp(&rbuf[..n], clock.now());
                }
            }
            c = cmds.recv() => match c {
                Some(SessionCommand::Play(pcm)) => { queue.extend(pcm); playing = true; }
                Some(SessionCommand::StopPlayback) => { queue.clear(); }
                Some(SessionCommand::Digits(s)) => match parse_digits(&s) {
                    Ok(ds) => for d in ds { let _ = ep.send_digit(d, 100, clock.now()); },
                    Err(e) => tracing::warn!(error = %e, "ignoring bad digit string"),
                },
                Some(SessionCommand::Hangup) | None => {
                    if ep.write_bye(&mut wire).is_ok() { send_to(&rtcp, &wire, rtcp_dst(remote)); }
                    ended.store(true, Ordering::Relaxed);
                }
            },
            _ = tick.tick() => {
                let now = clock.now();
                // one frame every 20 ms, silence until media starts: owners can
                // count frames as time
                let kind = if started { ep.pop_frame(&mut frame, now) } else { frame.clear(); frame.resize(160, 0); FrameKind::Silence };
                if cfg.deliver_audio && events.send(SessionEvent::Audio(frame.clone(), kind)).is_err() {
                    ended.store(true, Ordering::Relaxed);
                }
                let out: Vec<i16> = if queue.is_empty() { vec![0; 160] } else { queue.drain(..queue.len().min(160)).collect() };
                if (playing || cfg.send_silence) && ep.send_frame(&out, now, &mut wire).unwrap_or(false) {
                    send_to(&rtp, &wire, remote);
                }
                if playing && queue.is_empty() {
                    playing = false;
                    let _ = events.send(SessionEvent::PlaybackDone);
                }
            }
            _ = clock.sleep_until(timeout) => {
                ep.handle_timeout(clock.now());
            }
        }
        let now = clock.now();
        while let Some(t) = ep.poll_transmit(now, &mut wire) {
            match t {
                Transmit::Rtp => send_to(&rtp, &wire, remote),
                Transmit::Rtcp => send_to(&rtcp, &wire, rtcp_dst(remote)),
            }
        }
        while let Some(e) = ep.poll_event() {
            let _ = events.send(SessionEvent::Endpoint(e));
        }
        if ended.load(Ordering::Relaxed) {
            break;
        }
    }
    let _ = events.send(SessionEvent::Ended(ep.stats()));
}
