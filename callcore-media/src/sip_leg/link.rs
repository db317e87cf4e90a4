//! One bridge between two legs: where their tasks hand over their sockets, the pool
//! call once both are there, and the report when it ends.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::Negotiated;
use super::task::Control;
use crate::bridge::{Bridge, LegConfig, Side};
use crate::out_stream::OutStream;
use crate::relay_pool::{
    CallEnd, CallHandle, CallSetup, LegCounters, LegUpdate, PoolLeg, RelayPool,
};
use crate::srtp::SrtpSession;
use crate::udp::RelayReport;
use crate::wav::{RecordingInfo, WavRecorder};

/// A leg's sockets and stream on their way into a bridge.
#[derive(Debug)]
pub(super) struct Handover {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
    pub remote: Option<SocketAddr>,
    pub far: Negotiated,
    pub latch: bool,
    pub out: OutStream,
    pub counters: Arc<LegCounters>,
    pub srtp: Option<SrtpSession>,
    pub home: mpsc::UnboundedSender<Control>,
}

/// A leg's sockets and stream on their way back to its task.
#[derive(Debug)]
pub(super) struct Returned {
    pub rtp: std::net::UdpSocket,
    pub rtcp: Option<std::net::UdpSocket>,
    pub remote: Option<SocketAddr>,
    pub out: OutStream,
    pub srtp: Option<SrtpSession>,
}

#[derive(Debug)]
struct LinkState {
    waiting: [Option<Handover>; 2],
    recording: Option<WavRecorder<std::io::BufWriter<std::fs::File>>>,
    call: Option<CallHandle>,
    stopped: bool,
}

/// The bridge both legs (and their tasks) share.
#[derive(Debug)]
pub(super) struct BridgeLink {
    pool: Arc<RelayPool>,
    media_timeout: Duration,
    state: Mutex<LinkState>,
    ended: watch::Sender<Option<Arc<RelayReport>>>,
    /// Told what the recording holds once it is complete.
    recording_done: Mutex<Option<oneshot::Sender<RecordingInfo>>>,
}

fn idx(side: Side) -> usize {
    usize::from(side == Side::B)
}

fn send_home(h: Handover) {
    let back = Returned {
        rtp: h.rtp,
        rtcp: Some(h.rtcp),
        remote: h.remote,
        out: h.out,
        srtp: h.srtp,
    };
    // a task that has ended drops the sockets, freeing the ports
    let _ = h.home.send(Control::Returned(Box::new(back)));
}

impl BridgeLink {
    pub(super) fn new(
        pool: Arc<RelayPool>,
        recording: Option<WavRecorder<std::io::BufWriter<std::fs::File>>>,
        recording_done: Option<oneshot::Sender<RecordingInfo>>,
        media_timeout: Duration,
    ) -> Arc<BridgeLink> {
        Arc::new(BridgeLink {
            pool,
            media_timeout,
            state: Mutex::new(LinkState {
                waiting: [None, None],
                recording,
                call: None,
                stopped: false,
            }),
            ended: watch::channel(None).0,
            recording_done: Mutex::new(recording_done),
        })
    }

    /// The bridge has ended: its report, and the recording's figures to whoever
    /// waits for them.
    fn finish(&self, report: RelayReport) {
        let done = self
            .recording_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(done), Some(info)) = (done, report.recording.clone()) {
            let _ = done.send(info);
        }
        self.ended.send_replace(Some(Arc::new(report)));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A leg's task hands its sockets over; the second one starts the pool call.
    pub(super) fn deposit(self: &Arc<Self>, side: Side, h: Handover) {
        let mut st = self.state();
        if st.stopped {
            drop(st);
            send_home(h);
            return;
        }
        st.waiting[idx(side)] = Some(h);
        let [Some(_), Some(_)] = &st.waiting else {
            return;
        };
        let [Some(a), Some(b)] = std::mem::take(&mut st.waiting) else {
            return;
        };
        let homes = [a.home.clone(), b.home.clone()];
        let cfg = |h: &Handover| LegConfig {
            law: h.far.law,
            ssrc: h.out.ssrc(),
            telephone_event_pt: h.far.telephone_event,
        };
        let configs = [cfg(&a), cfg(&b)];
        let leg = |h: Handover| {
            let leg = PoolLeg {
                rtp: h.rtp,
                rtcp: Some(h.rtcp),
                remote: h.remote,
                send: h.far.send,
                latch: h.latch,
                counters: Some(h.counters),
                srtp: h.srtp,
            };
            (leg, h.out)
        };
        let ((leg_a, out_a), (leg_b, out_b)) = (leg(a), leg(b));
        let [cfg_a, cfg_b] = configs;
        let bridge = Bridge::with_streams(cfg_a, cfg_b, [out_a, out_b]);
        let setup = CallSetup {
            bridge,
            legs: [leg_a, leg_b],
            recording: st.recording.take(),
            media_timeout: self.media_timeout,
            end_on_media_timeout: false,
        };
        let link = self.clone();
        let added = self.pool.add(setup, move |end: CallEnd| {
            let CallEnd {
                legs,
                bridge,
                report,
            } = end;
            let outs = bridge.into_streams();
            for ((leg, out), home) in legs.into_iter().zip(outs).zip(homes) {
                let back = Returned {
                    rtp: leg.rtp,
                    rtcp: leg.rtcp,
                    remote: leg.remote,
                    out,
                    srtp: leg.srtp,
                };
                let _ = home.send(Control::Returned(Box::new(back)));
            }
            link.finish(report);
        });
        match added {
            Ok(call) => st.call = Some(call),
            Err(e) => {
                // the pool gave everything back already (and reported)
                tracing::warn!(error = %e, "bridging through the relay pool failed");
                st.stopped = true;
            }
        }
    }

    /// Ends the bridge: both legs go home, the recording is finished. Idempotent.
    pub(super) fn stop(&self) {
        let mut st = self.state();
        if st.stopped {
            return;
        }
        st.stopped = true;
        if let Some(call) = st.call.as_ref() {
            call.stop(); // the pool's on_end sends the legs home and reports
            return;
        }
        // the call never started: whoever is waiting goes home
        let waiting = std::mem::take(&mut st.waiting);
        let recording = st.recording.take();
        drop(st);
        for h in waiting.into_iter().flatten() {
            send_home(h);
        }
        let report = RelayReport {
            recording: recording.and_then(|w| w.finish().ok().map(|(info, _)| info)),
            ..RelayReport::default()
        };
        self.finish(report);
    }

    /// Applies a re-negotiation of leg `side` (waiting or relayed).
    pub(super) fn update(&self, side: Side, far: Negotiated) {
        let mut st = self.state();
        if let Some(h) = st.waiting[idx(side)].as_mut() {
            h.far = far;
            SrtpSession::apply(&mut h.srtp, far.srtp.as_ref());
            if far.remote.is_some() {
                h.remote = far.remote;
            }
        } else if let Some(call) = st.call.as_ref() {
            call.update(
                side,
                LegUpdate {
                    remote: far.remote,
                    send: far.send,
                    law: far.law,
                    telephone_event: far.telephone_event,
                    srtp: far.srtp,
                },
            );
        }
    }

    /// Waits for the end of the bridge; its report.
    pub(super) async fn ended(&self) -> Option<RelayReport> {
        let mut rx = self.ended.subscribe();
        let r = rx.wait_for(Option::is_some).await.ok()?.clone()?;
        Some((*r).clone())
    }

    /// The report, if the bridge has ended.
    pub(super) fn report(&self) -> Option<RelayReport> {
        self.ended.borrow().as_ref().map(|r| (**r).clone())
    }
}
