//! Many bridged calls on a few worker threads: the media path of every bridged call.
//!
//! [`run_relay`](crate::udp::run_relay) is one tokio task per call; at a thousand
//! calls the per-task wake-ups, waker registrations and readiness polls cost more
//! than the relaying itself. A [`RelayPool`] instead runs a small number of media
//! worker threads, each owning the sockets of many calls in one `epoll` set (through
//! `mio`):
//!
//! - one wake-up of a worker handles every leg that became readable meanwhile;
//! - a packet is received into the worker's one buffer, passed through the call's
//!   [`Bridge`] (passthrough or µ-law⇄A-law, RFC 4733 telephone-events re-typed to
//!   the other leg's payload type, one continuous stream towards each far end) and
//!   sent to the other leg at once, with no channel, task or thread hop and no
//!   allocation;
//! - a leg on hold (its direction forbids sending to it) is sent nothing, and
//!   resumes as a new talkspurt of the same stream; a re-INVITE's new address, law,
//!   telephone-event type or direction reaches a relayed call through
//!   [`CallHandle::update`];
//! - a recorded call decodes what each leg sends into its place on the call's
//!   timeline (by RTP timestamp, anchored to the clock), and the worker writes the
//!   stereo WAV (caller left, agent right) in 100 ms blocks; the file is finished
//!   (header patched) before the call's report is handed out;
//! - RTCP: with an RTCP socket per leg (the SIP legs' pairs), each far end gets a
//!   sender report (or receiver report) from us every 5 s, as the leg's own session
//!   sends while it is not bridged, and what the far end reports is read (sender
//!   reports for round-trip times, BYE);
//! - media timeouts (a leg silent while not on hold), RTCP and recording are timers
//!   swept once per worker tick (100 ms), not a timer per call.
//!
//! The workers are plain threads rather than tasks on the application's runtime so
//! that signalling, routing or storage work sharing that runtime cannot delay media
//! (a relayed packet waits for nothing but its own worker).
//!
//! [`sip_leg::LegMedia::bridge`](crate::sip_leg) hands its two legs' sockets to a pool
//! ([`RelayPool::shared`] unless configured) through [`RelayPool::add`] and takes
//! them back when the bridge ends; [`RelayPool::add_call`] is the same path for
//! bare sockets (load tests).
//!
//! ```no_run
//! # async fn demo() -> callcore_media::Result<()> {
//! use callcore_media::bridge::{Bridge, LegConfig};
//! use callcore_media::g711::Law;
//! use callcore_media::relay_pool::RelayPool;
//! use callcore_media::udp::{PortAllocator, RelayLeg, RelayOptions};
//! let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30000..=39999);
//! let pool = RelayPool::start(2, RelayOptions::default())?;
//! let caller = RelayLeg { socket: ports.bind_one().await?, remote: None };
//! let agent = RelayLeg { socket: ports.bind_one().await?, remote: None };
//! let bridge = Bridge::new(LegConfig::new(Law::Ulaw, 1), LegConfig::new(Law::Alaw, 2));
//! let call = pool.add_call(bridge, caller, agent)?;
//! // ... the call goes on; hanging up:
//! call.stop();
//! let report = call.finished().await;
//! println!("forwarded {:?}", report.forwarded);
//! # Ok(()) }
//! ```

mod reception;
mod recorder;
mod worker;

pub use reception::{LegReception, ReceptionFigures};

use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::net::UdpSocket as MioUdp;
use tokio::sync::oneshot;

use crate::bridge::{Bridge, Side};
use crate::error::{MediaError, Result};
use crate::g711::Law;
use crate::udp::{RelayLeg, RelayOptions, RelayReport};
use crate::wav::WavRecorder;

/// A worker as seen from outside: its command queue and the waker that tells it to
/// look at the queue.
#[derive(Debug, Clone)]
struct WorkerLink {
    commands: std_mpsc::Sender<WorkerCommand>,
    waker: Arc<mio::Waker>,
}

impl WorkerLink {
    /// Sends a command; gives it back if the worker has stopped.
    fn send(&self, cmd: WorkerCommand) -> std::result::Result<(), WorkerCommand> {
        self.commands.send(cmd).map_err(|e| e.0)?;
        let _ = self.waker.wake();
        Ok(())
    }
}

/// A running pool of relay worker threads. A worker ends once the pool and every
/// handle of its calls are dropped.
#[derive(Debug)]
pub struct RelayPool {
    workers: Vec<WorkerLink>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
    opts: RelayOptions,
}

/// Live figures of one leg, and the taps listening to its audio, shared between the
/// leg's owner and whoever moves its packets (the leg's own session, or a pool
/// worker while it is bridged): each figure is written by one thread at a time.
#[derive(Debug, Default)]
pub struct LegCounters {
    received: AtomicU64,
    sent: AtomicU64,
    relayed: AtomicU64,
    voiced_samples: AtomicU64,
    srtp_rejected: AtomicU64,
    taps: crate::frame_tap::Taps,
    /// Sequence and timing of what the far end sent (loss, jitter).
    reception: Mutex<LegReception>,
}

/// Adds one to a counter only its current owner writes (no locked instruction).
fn bump(c: &AtomicU64, by: u64) {
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl LegCounters {
    /// RTP datagrams received from the far end.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
    /// RTP datagrams sent to the far end.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    /// Received datagrams relayed to a bridged leg.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }
    /// Received audio louder than -50 dBm0, in 20 ms frames.
    pub fn voiced_frames(&self) -> u64 {
        self.voiced_samples.load(Ordering::Relaxed) / 160
    }
    /// Received SRTP/SRTCP packets that failed authentication.
    pub fn srtp_rejected(&self) -> u64 {
        self.srtp_rejected.load(Ordering::Relaxed)
    }
    pub(crate) fn on_srtp_rejected(&self) {
        bump(&self.srtp_rejected, 1);
    }
    /// Packets expected, received and lost, and the jitter, from the far end's
    /// sequence numbers and timestamps (RFC 3550).
    pub fn reception(&self) -> ReceptionFigures {
        self.reception
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .figures()
    }
    pub(crate) fn on_received(&self, data: &[u8], now: Duration) {
        bump(&self.received, 1);
        self.reception
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .on_packet(data, now);
    }
    pub(crate) fn on_sent(&self) {
        bump(&self.sent, 1);
    }
    pub(crate) fn on_relayed(&self) {
        bump(&self.relayed, 1);
    }
    pub(crate) fn on_voiced(&self, samples: u64) {
        bump(&self.voiced_samples, samples);
    }
    /// The leg's frame taps (see [`crate::frame_tap`]).
    pub(crate) fn taps(&self) -> &crate::frame_tap::Taps {
        &self.taps
    }
}

/// One leg handed to a pool: its sockets and where its media goes.
#[derive(Debug)]
pub struct PoolLeg {
    /// The RTP socket facing the leg (made non-blocking by the pool).
    pub rtp: std::net::UdpSocket,
    /// Its RTCP companion, if RTCP is terminated here (reports go to the far end's
    /// RTP port + 1).
    pub rtcp: Option<std::net::UdpSocket>,
    /// Where to send (from signalling; latching updates it).
    pub remote: Option<SocketAddr>,
    /// Whether the leg's negotiated direction lets us send to it (false: on hold).
    pub send: bool,
    /// Symmetric RTP: send to where the leg's RTP comes from.
    pub latch: bool,
    /// Live figures to keep up to date.
    pub counters: Option<Arc<LegCounters>>,
    /// The leg's SRTP state when its media is protected (its rollover counters and
    /// replay windows go on from the leg's own session and come back with it).
    pub srtp: Option<crate::srtp::SrtpSession>,
}

/// A call to relay: the bridge core (laws, telephone-event types, the streams
/// towards each far end), the two legs (A, e.g. the caller, and B), and options.
#[derive(Debug)]
pub struct CallSetup {
    /// The relay core.
    pub bridge: Bridge,
    /// Legs A and B.
    pub legs: [PoolLeg; 2],
    /// Record the call in stereo, leg A left and leg B right.
    pub recording: Option<WavRecorder<BufWriter<File>>>,
    /// A leg that sends no RTP for this long (while not on hold) is reported.
    pub media_timeout: Duration,
    /// End the call when neither leg has sent anything for `media_timeout`.
    pub end_on_media_timeout: bool,
}

/// What a pool hands back when a call ends (on the worker's thread): the sockets,
/// non-blocking and out of the worker's poll set, where each leg's media went last,
/// the bridge core (its streams continue elsewhere) and the call's figures.
#[derive(Debug)]
pub struct CallEnd {
    /// Legs A and B.
    pub legs: [PoolLeg; 2],
    /// The relay core as it ended.
    pub bridge: Bridge,
    /// The call's figures (and its finished recording).
    pub report: RelayReport,
}

/// A re-negotiation of a relayed leg (a re-INVITE: hold, resume, new address, new
/// codec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegUpdate {
    /// The new address; `None` keeps the current one.
    pub remote: Option<SocketAddr>,
    /// Whether we may send to the leg.
    pub send: bool,
    /// The leg's law.
    pub law: Law,
    /// The leg's telephone-event payload type.
    pub telephone_event: Option<u8>,
    /// The leg's SRTP keys (`None`: plain RTP); new keys re-key the direction
    /// they change.
    pub srtp: Option<crate::srtp::SrtpParams>,
}

/// Controls a call relayed by a [`RelayPool`]. Dropping it does not end the call.
#[derive(Debug, Clone)]
pub struct CallHandle {
    id: u64,
    worker: WorkerLink,
}

/// A call relayed by a [`RelayPool`] with its report. Dropping it ends the call.
#[derive(Debug)]
pub struct RelayCall {
    handle: CallHandle,
    report: oneshot::Receiver<RelayReport>,
}

/// What runs when a call ends.
type OnEnd = Box<dyn FnOnce(CallEnd) + Send>;

enum WorkerCommand {
    Add(Box<NewCall>),
    Stop(u64),
    Update(u64, Side, LegUpdate),
}

impl std::fmt::Debug for WorkerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerCommand::Add(c) => write!(f, "Add({})", c.id),
            WorkerCommand::Stop(id) => write!(f, "Stop({id})"),
            WorkerCommand::Update(id, side, u) => write!(f, "Update({id}, {side:?}, {u:?})"),
        }
    }
}

/// A leg's settings apart from its sockets.
#[derive(Debug)]
struct LegParts {
    remote: Option<SocketAddr>,
    /// Which sources are accepted (see `crate::latch`).
    lock: crate::latch::Latch,
    send: bool,
    latch: bool,
    counters: Option<Arc<LegCounters>>,
    srtp: Option<crate::srtp::SrtpSession>,
}

impl LegParts {
    fn split(leg: PoolLeg) -> (std::net::UdpSocket, Option<std::net::UdpSocket>, LegParts) {
        let PoolLeg {
            rtp,
            rtcp,
            remote,
            send,
            latch,
            counters,
            srtp,
        } = leg;
        let parts = LegParts {
            remote,
            lock: crate::latch::Latch::new(remote),
            send,
            latch,
            counters,
            srtp,
        };
        (rtp, rtcp, parts)
    }

    fn join(self, rtp: MioUdp, rtcp: Option<MioUdp>) -> PoolLeg {
        PoolLeg {
            rtp: std::net::UdpSocket::from(rtp),
            rtcp: rtcp.map(std::net::UdpSocket::from),
            remote: self.remote,
            send: self.send,
            latch: self.latch,
            counters: self.counters,
            srtp: self.srtp,
        }
    }
}

/// A call on its way to a worker.
struct NewCall {
    id: u64,
    bridge: Bridge,
    legs: [(MioUdp, Option<MioUdp>, LegParts); 2],
    recording: Option<WavRecorder<BufWriter<File>>>,
    media_timeout: Duration,
    end_on_media_timeout: bool,
    on_end: OnEnd,
}

impl NewCall {
    /// Gives everything back (the call never ran).
    fn refuse(self) {
        let legs = self.legs.map(|(rtp, rtcp, parts)| parts.join(rtp, rtcp));
        let report = RelayReport {
            recording: self
                .recording
                .and_then(|w| w.finish().ok().map(|(info, _)| info)),
            ..RelayReport::default()
        };
        (self.on_end)(CallEnd {
            legs,
            bridge: self.bridge,
            report,
        });
    }
}

static SHARED: Mutex<Option<Arc<RelayPool>>> = Mutex::new(None);

impl RelayPool {
    /// Starts `workers` relay threads (at least one), named `callcore-relay-N`.
    pub fn start(workers: usize, opts: RelayOptions) -> Result<RelayPool> {
        let n = workers.max(1);
        let mut links = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for w in 0..n {
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), worker::WAKER)?);
            let (tx, rx) = std_mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("callcore-relay-{w}"))
                .spawn(move || worker::run(poll, rx))?;
            links.push(WorkerLink {
                commands: tx,
                waker,
            });
            threads.push(thread);
        }
        Ok(RelayPool {
            workers: links,
            threads,
            next_worker: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            opts,
        })
    }

    /// The process's shared pool, started on first use with one worker per core
    /// (what [`LegMedia::bridge`](crate::sip_leg::LegMedia::bridge) uses unless its
    /// configuration names a pool). Its threads live as long as the process.
    pub fn shared() -> Result<Arc<RelayPool>> {
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = shared.as_ref() {
            return Ok(pool.clone());
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pool = Arc::new(RelayPool::start(cores, RelayOptions::default())?);
        *shared = Some(pool.clone());
        Ok(pool)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The workers' thread ids (to attribute CPU time to the relay).
    pub fn thread_ids(&self) -> Vec<std::thread::ThreadId> {
        self.threads.iter().map(|t| t.thread().id()).collect()
    }

    /// The pool's default options (latching, media timeout).
    pub fn options(&self) -> &RelayOptions {
        &self.opts
    }

    /// Relays a call on one of the workers (round robin) until it is stopped through
    /// its [`CallHandle`] (or, with `end_on_media_timeout`, goes silent); then
    /// `on_end` runs on the worker's thread with the sockets and the report. It must
    /// not block.
    ///
    /// # Errors
    /// When a socket cannot be made non-blocking or the worker has stopped; `on_end`
    /// has then already run with everything handed back.
    pub fn add(
        &self,
        setup: CallSetup,
        on_end: impl FnOnce(CallEnd) + Send + 'static,
    ) -> Result<CallHandle> {
        let CallSetup {
            bridge,
            legs,
            recording,
            media_timeout,
            end_on_media_timeout,
        } = setup;
        let mut failure = None;
        let legs = legs.map(|leg| {
            let (rtp, rtcp, parts) = LegParts::split(leg);
            for s in std::iter::once(&rtp).chain(rtcp.as_ref()) {
                if let Err(e) = s.set_nonblocking(true) {
                    failure = Some(e);
                }
            }
            (MioUdp::from_std(rtp), rtcp.map(MioUdp::from_std), parts)
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let call = NewCall {
            id,
            bridge,
            legs,
            recording,
            media_timeout,
            end_on_media_timeout,
            on_end: Box::new(on_end),
        };
        if let Some(e) = failure {
            call.refuse();
            return Err(e.into());
        }
        let n = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let worker = self.workers[n].clone();
        if let Err(WorkerCommand::Add(call)) = worker.send(WorkerCommand::Add(Box::new(call))) {
            call.refuse();
            return Err(MediaError::Config {
                field: "relay pool",
                detail: "the relay worker has stopped".into(),
            });
        }
        Ok(CallHandle { id, worker })
    }

    /// Relays a call between legs `a` and `b` through `bridge` (no RTCP, no
    /// recording; the pool's latching and media timeout, ending the call when both
    /// legs are silent). The sockets leave tokio's reactor for the worker's own set.
    pub fn add_call(&self, bridge: Bridge, a: RelayLeg, b: RelayLeg) -> Result<RelayCall> {
        let sockets = [a.socket.into_std()?, b.socket.into_std()?];
        self.add_call_std_sockets(bridge, sockets, [a.remote, b.remote])
    }

    /// As [`RelayPool::add_call`], for sockets bound outside tokio.
    pub fn add_call_std_sockets(
        &self,
        bridge: Bridge,
        sockets: [std::net::UdpSocket; 2],
        remotes: [Option<SocketAddr>; 2],
    ) -> Result<RelayCall> {
        let [a, b] = sockets;
        let leg = |rtp, remote| PoolLeg {
            rtp,
            rtcp: None,
            remote,
            send: true,
            latch: self.opts.latch,
            counters: None,
            srtp: None,
        };
        let setup = CallSetup {
            bridge,
            legs: [leg(a, remotes[0]), leg(b, remotes[1])],
            recording: None,
            media_timeout: self.opts.media_timeout,
            end_on_media_timeout: true,
        };
        let (done, report) = oneshot::channel();
        let handle = self.add(setup, move |end| {
            let _ = done.send(end.report);
        })?;
        Ok(RelayCall { handle, report })
    }
}

impl CallHandle {
    /// Ends the call (its `on_end` runs on the worker). Harmless once it has ended.
    pub fn stop(&self) {
        let _ = self.worker.send(WorkerCommand::Stop(self.id));
    }

    /// Applies a re-negotiation of leg `side` to the running call.
    pub fn update(&self, side: Side, update: LegUpdate) {
        let _ = self
            .worker
            .send(WorkerCommand::Update(self.id, side, update));
    }
}

impl RelayCall {
    /// Ends the call's relay (its report arrives through [`RelayCall::finished`]).
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// The call's handle (re-negotiations).
    pub fn handle(&self) -> &CallHandle {
        &self.handle
    }

    /// Waits until the relay ends (stopped, media timeout, pool gone) and returns its
    /// figures.
    pub async fn finished(mut self) -> RelayReport {
        (&mut self.report).await.unwrap_or_default()
    }
}

impl Drop for RelayCall {
    fn drop(&mut self) {
        // Harmless when the call has already ended: the worker ignores unknown ids.
        self.handle.stop();
    }
}
