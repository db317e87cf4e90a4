//! Many bridged calls on a few worker threads: the relay for call-center scale.
//!
//! [`run_relay`](crate::udp::run_relay) is one tokio task per call; at a thousand
//! calls the per-task wake-ups, waker registrations and readiness polls cost more
//! than the relaying itself. A [`RelayPool`] instead runs a small number of media
//! worker threads, each owning the sockets of many calls in one `epoll` set (through
//! `mio`):
//!
//! - one wake-up of a worker handles every leg that became readable meanwhile;
//! - a packet is received into the worker's one buffer, passed through the call's
//!   [`Bridge`] (passthrough or µ-law↔A-law, no jitter buffer, no timer) and sent to
//!   the other leg at once, with no channel, task or thread hop and no allocation;
//! - media timeouts are checked by one sweep per worker, not a timer per call.
//!
//! The workers are plain threads rather than tasks on the application's runtime so
//! that signalling, routing or storage work sharing that runtime cannot delay media
//! (a relayed packet waits for nothing but its own worker).
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

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Token};
use tokio::sync::oneshot;

use crate::bridge::{Bridge, RelayOutcome, Side};
use crate::error::{MediaError, Result};
use crate::udp::{GlueClock, RelayLeg, RelayOptions, RelayReport};

/// Datagrams read from one leg before the worker moves on to the next ready leg
/// (the rest are read in the next round, so one flooded port cannot starve others).
const DRAIN_PER_LEG: usize = 16;
/// Readiness events fetched per `epoll_wait`.
const EVENTS_PER_ROUND: usize = 512;

/// A worker as seen from outside: its command queue and the waker that tells it to
/// look at the queue.
#[derive(Debug, Clone)]
struct WorkerLink {
    commands: std_mpsc::Sender<WorkerCommand>,
    waker: Arc<mio::Waker>,
}

impl WorkerLink {
    fn send(&self, cmd: WorkerCommand) -> bool {
        self.commands.send(cmd).is_ok() && self.waker.wake().is_ok()
    }
}

/// A running pool of relay worker threads. A worker ends once the pool and every
/// [`RelayCall`] handle of its calls are dropped.
#[derive(Debug)]
pub struct RelayPool {
    workers: Vec<WorkerLink>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
}

/// A call relayed by a [`RelayPool`]. Dropping the handle ends the call's relay.
#[derive(Debug)]
pub struct RelayCall {
    id: u64,
    worker: WorkerLink,
    report: oneshot::Receiver<RelayReport>,
}

enum WorkerCommand {
    Add(Box<NewCall>),
    Stop(u64),
}

impl std::fmt::Debug for WorkerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerCommand::Add(c) => write!(f, "Add({})", c.id),
            WorkerCommand::Stop(id) => write!(f, "Stop({id})"),
        }
    }
}

struct NewCall {
    id: u64,
    bridge: Bridge,
    sockets: [MioUdp; 2],
    remotes: [Option<SocketAddr>; 2],
    done: oneshot::Sender<RelayReport>,
}

impl RelayPool {
    /// Starts `workers` relay threads (at least one), named `callcore-relay-N`.
    pub fn start(workers: usize, opts: RelayOptions) -> Result<RelayPool> {
        let n = workers.max(1);
        let mut links = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for w in 0..n {
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = std_mpsc::channel();
            let st = WorkerState::new(opts.clone());
            let thread = std::thread::Builder::new()
                .name(format!("callcore-relay-{w}"))
                .spawn(move || run_worker(poll, st, rx))?;
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
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The workers' thread ids (to attribute CPU time to the relay).
    pub fn thread_ids(&self) -> Vec<std::thread::ThreadId> {
        self.threads.iter().map(|t| t.thread().id()).collect()
    }

    /// Relays a call between legs `a` and `b` through `bridge` on one of the workers
    /// (round robin). The sockets leave tokio's reactor for the worker's own set.
    pub fn add_call(&self, bridge: Bridge, a: RelayLeg, b: RelayLeg) -> Result<RelayCall> {
        let sockets = [
            MioUdp::from_std(a.socket.into_std()?),
            MioUdp::from_std(b.socket.into_std()?),
        ];
        self.add_call_std(bridge, sockets, [a.remote, b.remote])
    }

    /// As [`RelayPool::add_call`], for sockets bound outside tokio (they must be
    /// non-blocking).
    pub fn add_call_std_sockets(
        &self,
        bridge: Bridge,
        sockets: [std::net::UdpSocket; 2],
        remotes: [Option<SocketAddr>; 2],
    ) -> Result<RelayCall> {
        let [a, b] = sockets;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        self.add_call_std(bridge, [MioUdp::from_std(a), MioUdp::from_std(b)], remotes)
    }

    fn add_call_std(
        &self,
        bridge: Bridge,
        sockets: [MioUdp; 2],
        remotes: [Option<SocketAddr>; 2],
    ) -> Result<RelayCall> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (done, report) = oneshot::channel();
        let n = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let worker = self.workers[n].clone();
        let call = NewCall {
            id,
            bridge,
            sockets,
            remotes,
            done,
        };
        if !worker.send(WorkerCommand::Add(Box::new(call))) {
            return Err(MediaError::Config {
                field: "relay pool",
                detail: "the relay worker has stopped".into(),
            });
        }
        Ok(RelayCall { id, worker, report })
    }
}

impl RelayCall {
    /// Ends the call's relay (its report arrives through [`RelayCall::finished`]).
    pub fn stop(&self) {
        self.worker.send(WorkerCommand::Stop(self.id));
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
        self.worker.send(WorkerCommand::Stop(self.id));
    }
}

struct CallSlot {
    id: u64,
    bridge: Bridge,
    sockets: [MioUdp; 2],
    remotes: [Option<SocketAddr>; 2],
    report: RelayReport,
    last_rx: Duration,
    done: Option<oneshot::Sender<RelayReport>>,
}

/// A worker's calls and buffers (everything but the poll set).
struct WorkerState {
    opts: RelayOptions,
    clock: GlueClock,
    slots: Vec<Option<CallSlot>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    /// Legs left with unread datagrams after their drain budget.
    backlog: Vec<Token>,
    next_backlog: Vec<Token>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl WorkerState {
    fn new(opts: RelayOptions) -> WorkerState {
        WorkerState {
            opts,
            clock: GlueClock::start(),
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            backlog: Vec::new(),
            next_backlog: Vec::new(),
            buf: vec![0u8; 2048],
            out: Vec::with_capacity(2048),
        }
    }
}

/// Token of the worker's waker (commands waiting); legs use `slot * 2 + leg`.
const WAKER: Token = Token(usize::MAX);

fn run_worker(
    mut poll: mio::Poll,
    mut st: WorkerState,
    commands: std_mpsc::Receiver<WorkerCommand>,
) {
    let period =
        (st.opts.media_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut next_sweep = st.clock.now() + period;
    let mut events = Events::with_capacity(EVENTS_PER_ROUND);
    loop {
        let now = st.clock.now();
        let wait = if st.backlog.is_empty() {
            next_sweep.saturating_sub(now)
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "relay worker's poll set failed");
            break;
        }
        let now = st.clock.now();
        let mut backlog = std::mem::take(&mut st.backlog);
        for t in backlog.drain(..) {
            st.relay_leg(t, now);
        }
        st.backlog = backlog;
        let mut commands_waiting = false;
        for ev in events.iter() {
            if ev.token() == WAKER {
                commands_waiting = true;
            } else {
                st.relay_leg(ev.token(), now);
            }
        }
        std::mem::swap(&mut st.backlog, &mut st.next_backlog);
        let sweep_due = now >= next_sweep;
        if commands_waiting || sweep_due {
            loop {
                match commands.try_recv() {
                    Ok(WorkerCommand::Add(call)) => st.add(poll.registry(), *call),
                    Ok(WorkerCommand::Stop(id)) => {
                        if let Some(&slot) = st.by_id.get(&id) {
                            st.end(poll.registry(), slot, false);
                        }
                    }
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => {
                        // The pool and every call handle are gone.
                        for slot in 0..st.slots.len() {
                            st.end(poll.registry(), slot, false);
                        }
                        return;
                    }
                }
            }
        }
        if sweep_due {
            st.sweep(poll.registry());
            next_sweep = now + period;
        }
    }
    for slot in 0..st.slots.len() {
        st.end(poll.registry(), slot, false);
    }
}

impl WorkerState {
    fn add(&mut self, registry: &mio::Registry, call: NewCall) {
        let NewCall {
            id,
            bridge,
            mut sockets,
            remotes,
            done,
        } = call;
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        for (leg, sock) in sockets.iter_mut().enumerate() {
            if let Err(e) = registry.register(sock, Token(slot * 2 + leg), Interest::READABLE) {
                tracing::warn!(error = %e, "cannot watch a relay socket; call not relayed");
                let _ = done.send(RelayReport::default());
                self.free.push(slot);
                return;
            }
        }
        self.by_id.insert(id, slot);
        self.slots[slot] = Some(CallSlot {
            id,
            bridge,
            sockets,
            remotes,
            report: RelayReport::default(),
            last_rx: self.clock.now(),
            done: Some(done),
        });
    }

    fn end(&mut self, registry: &mio::Registry, slot: usize, timed_out: bool) {
        let Some(mut call) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        for sock in &mut call.sockets {
            let _ = registry.deregister(sock);
        }
        self.by_id.remove(&call.id);
        self.free.push(slot);
        call.report.timed_out = timed_out;
        if let Some(done) = call.done.take() {
            let _ = done.send(call.report);
        }
    }

    fn sweep(&mut self, registry: &mio::Registry) {
        let now = self.clock.now();
        let timeout = self.opts.media_timeout;
        let dead: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|c| now >= c.last_rx + timeout).map(|_| i))
            .collect();
        for slot in dead {
            tracing::debug!(slot, "bridged call's media timed out");
            self.end(registry, slot, true);
        }
    }

    /// Reads what leg `token` has (up to the drain budget) and relays it.
    fn relay_leg(&mut self, token: Token, now: Duration) {
        let (slot, i) = (token.0 / 2, token.0 % 2);
        let Some(Some(call)) = self.slots.get_mut(slot) else {
            return;
        };
        let side = if i == 0 { Side::A } else { Side::B };
        for n in 0.. {
            if n == DRAIN_PER_LEG {
                self.next_backlog.push(token);
                break;
            }
            let (len, from) = match call.sockets[i].recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    call.report.dropped += 1;
                    break;
                }
            };
            call.last_rx = now;
            match call
                .bridge
                .relay(side, &self.buf[..len], now, &mut self.out)
            {
                Ok(RelayOutcome::Forwarded) => {
                    if self.opts.latch && call.remotes[i] != Some(from) {
                        tracing::debug!(leg = ?side, %from, "latching to RTP source");
                        call.remotes[i] = Some(from);
                    }
                    let j = 1 - i;
                    // A full socket buffer drops the datagram, as a network would.
                    match call.remotes[j].map(|dst| call.sockets[j].send_to(&self.out, dst)) {
                        Some(Ok(_)) => call.report.forwarded[i] += 1,
                        _ => call.report.dropped += 1,
                    }
                }
                Ok(_) | Err(_) => call.report.dropped += 1,
            }
        }
    }
}
