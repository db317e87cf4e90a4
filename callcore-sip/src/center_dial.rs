//! How [`SipTransport`](super::SipTransport) places a leg: an agent's phone is
//! rung at every registered contact at once, each over the transport it
//! registered with (the first to answer wins, the others get CANCEL); a number
//! goes out through the trunks the dial plan names, failing over to the next one
//! on 408, 5xx, a transport failure or a trunk down by its OPTIONS probe
//! ([`crate::dial_plan::Failover`]). A trunk whose host is a DNS name is tried
//! at each target RFC 3263 finds for it ([`SipTransport::set_trunk_lookup`]),
//! moving to the next target on 408, 5xx or a transport failure before the next
//! trunk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use callcore::{CoreError, Endpoint, HangupCause, Timestamp};
use tokio::sync::{mpsc, watch};

use super::{LegStatus, SipTransport, status_of};
use crate::dial_plan::{DialPlan, Failover, Step, TrunkAttempt};
use crate::rfc3263::TargetLookup;
use crate::session::{LocalMedia, NegotiatedAudio};
use crate::transaction::Peer;
use crate::transaction::TransportKind;
use crate::trunk::CallOutcome;
use crate::trunk::{Trunk, TrunkRouter, should_failover};
use crate::ua::CallRef;

type Status = Arc<watch::Sender<LegStatus>>;

/// An answered outbound leg.
pub(super) struct Dialled {
    pub(super) call: CallRef,
    pub(super) audio: Option<NegotiatedAudio>,
    pub(super) status: Status,
    pub(super) attempts: Vec<TrunkAttempt>,
}

/// What ringing one or several targets at once came to.
enum Fork {
    Answered {
        call: CallRef,
        audio: Option<NegotiatedAudio>,
        status: Status,
    },
    Unanswered {
        /// The best final status (`None`: nothing could be sent).
        status: Option<u16>,
        cause: HangupCause,
        /// The ring time ran out (the callee did not answer: no failover).
        timed_out: bool,
    },
}

impl Fork {
    /// One callee's ring as the dial's result: answered, or not with its cause.
    fn into_dialled(self) -> Result<Dialled, CoreError> {
        match self {
            Fork::Answered {
                call,
                audio,
                status,
            } => Ok(Dialled {
                call,
                audio,
                status,
                attempts: Vec::new(),
            }),
            Fork::Unanswered { cause, .. } => Err(CoreError::NotAnswered(cause)),
        }
    }
}

/// The better of two final statuses for the caller (RFC 3261 §16.7: a 6xx,
/// else the lowest).
fn better(a: Option<(u16, HangupCause)>, b: (u16, HangupCause)) -> (u16, HangupCause) {
    match a {
        None => b,
        Some(a) if a.0 >= 600 => a,
        Some(_) if b.0 >= 600 => b,
        Some(a) if a.0 <= b.0 => a,
        Some(_) => b,
    }
}

/// Hangs up (CANCEL, or BYE once answered) calls of a fork whose outcome
/// nobody will read: the future ringing them was dropped.
struct HangUpOnDrop {
    handle: crate::ua::driver::SipHandle,
    calls: Vec<CallRef>,
}

impl HangUpOnDrop {
    /// The fork came to an outcome, which took care of every call.
    fn disarm(mut self) {
        self.calls.clear();
    }
}

impl Drop for HangUpOnDrop {
    fn drop(&mut self) {
        for call in self.calls.drain(..) {
            self.handle.hangup(call);
        }
    }
}

/// Trunks whose host is a DNS name (RFC 3263): the lookup, and the domain of each
/// trunk by name.
#[derive(Clone)]
pub(super) struct TrunkDns {
    lookup: Arc<dyn TargetLookup>,
    domains: HashMap<String, String>,
}

impl std::fmt::Debug for TrunkDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkDns")
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

/// The outcome of an unanswered attempt, for the failover.
fn outcome_of(status: Option<u16>) -> CallOutcome {
    match status {
        Some(408) => CallOutcome::Timeout,
        Some(s) => CallOutcome::Status(s),
        None => CallOutcome::TransportFailed,
    }
}

/// How long a trunk has to answer an INVITE with anything (100 Trying) before
/// the next trunk is tried, unless set with
/// [`SipTransport::set_trunk_trying_timeout`].
pub const TRUNK_TRYING_TIMEOUT: Duration = Duration::from_secs(4);

impl SipTransport {
    /// Sends numbers out through the trunks `plan` names (in failover order);
    /// without a plan, a number goes to the trunks whose prefixes match it.
    pub fn set_dial_plan(&self, plan: DialPlan) {
        *self
            .dial_plan
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = plan;
    }

    /// Finds the trunks named in `domains` (trunk name → SIP domain) by DNS at
    /// each call (RFC 3263, cached by TTL through `lookup`): the call goes to the
    /// targets in the order found, the next one on 408, 5xx or a transport
    /// failure; the Request-URI names the domain. When the lookup finds nothing,
    /// the trunk fails as unreachable (the next trunk of the dial plan is tried).
    pub fn set_trunk_lookup(
        &self,
        lookup: Arc<dyn TargetLookup>,
        domains: HashMap<String, String>,
    ) {
        *self
            .trunk_dns
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(TrunkDns { lookup, domains });
    }

    /// Where a call through `trunk` goes, in order: its DNS targets, or its peer.
    async fn trunk_targets(&self, trunk: &Trunk, number: &str) -> Vec<(String, Peer)> {
        let dns = self
            .trunk_dns
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some((lookup, domain)) =
            dns.and_then(|d| Some((d.lookup, d.domains.get(&trunk.name)?.clone())))
        else {
            return vec![(trunk.request_uri(number), trunk.peer)];
        };
        let found = lookup.targets(&domain).await;
        if found.is_empty() {
            tracing::warn!(trunk = %trunk.name, %domain, "DNS found no target for the trunk");
        }
        found
            .into_iter()
            .map(|t| {
                let uri = match t.peer.transport {
                    TransportKind::Udp => format!("sip:{number}@{domain}"),
                    TransportKind::Tcp => format!("sip:{number}@{domain};transport=tcp"),
                    TransportKind::Tls => format!("sip:{number}@{domain};transport=tls"),
                };
                (uri, t.peer)
            })
            .collect()
    }

    /// Rings a number through one trunk: at each of its targets in turn while the
    /// attempts fail over (408, 5xx, transport failure).
    async fn ring_trunk(
        &self,
        trunk: &Trunk,
        number: &str,
        from: &str,
        media: &LocalMedia,
        deadline: Timestamp,
    ) -> Fork {
        let targets = self.trunk_targets(trunk, number).await;
        let trying = Some(self.trunk_trying_timeout());
        let n = targets.len();
        let mut last = Fork::Unanswered {
            status: None,
            cause: HangupCause::Failure("no trunk target".into()),
            timed_out: false,
        };
        for (i, target) in targets.into_iter().enumerate() {
            let fork = self
                .ring_all(std::slice::from_ref(&target), from, media, deadline, trying)
                .await;
            match &fork {
                Fork::Unanswered {
                    status,
                    timed_out: false,
                    ..
                } if i + 1 < n && should_failover(outcome_of(*status)) => {
                    tracing::warn!(trunk = %trunk.name, to = %target.1.addr, status = ?status,
                        "trunk target failed: trying the trunk's next DNS target");
                    last = fork;
                }
                _ => return fork,
            }
        }
        last
    }

    /// Starts the trunks' upkeep: trunks with `registration` register (and
    /// re-register at half the granted expiry, answering 401/407 with their own
    /// credentials), trunks with a `keepalive` are probed with OPTIONS, and a trunk
    /// whose probes fail is passed over by the failover until it answers again.
    pub fn maintain_trunks(&self) {
        let trunks = self.router.trunks();
        for t in trunks.iter().filter(|t| t.registration.is_some()) {
            self.shared.handle.register(t.clone());
        }
        let probed: Vec<Trunk> = trunks
            .iter()
            .filter(|t| t.keepalive.is_some())
            .cloned()
            .collect();
        if !probed.is_empty() {
            self.shared.handle.set_trunks(TrunkRouter::new(probed));
        }
    }

    /// How long a trunk may stay silent after an INVITE (no 100 Trying, no
    /// other response) before the call fails over to the next trunk as if it
    /// had timed out (408). Default [`TRUNK_TRYING_TIMEOUT`].
    pub fn set_trunk_trying_timeout(&self, within: Duration) {
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX).max(1);
        self.trunk_trying_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn trunk_trying_timeout(&self) -> Duration {
        Duration::from_millis(
            self.trunk_trying_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Rings `to` until `deadline`; the answered leg, or why there is none.
    pub(super) async fn dial(
        &self,
        to: &Endpoint,
        from: &str,
        media: &LocalMedia,
        deadline: Timestamp,
    ) -> Result<Dialled, CoreError> {
        match to {
            Endpoint::Sip(aor) => {
                let targets = self.agent_targets(aor).await?;
                let policy = self.shared.srtp_policies().for_phone(aor);
                let media = super::srtp::under(media, policy);
                self.ring_all(&targets, from, &media, deadline, None)
                    .await
                    .into_dialled()
            }
            Endpoint::Phone(number) => self.dial_number(number, from, media, deadline).await,
            _ => Err(CoreError::Unreachable("not a SIP endpoint".into())),
        }
    }

    /// Rings `uri` at `peer` until `deadline` (another cluster node).
    pub(super) async fn dial_at(
        &self,
        uri: String,
        peer: Peer,
        from: &str,
        media: &LocalMedia,
        deadline: Timestamp,
    ) -> Result<Dialled, CoreError> {
        self.ring_all(&[(uri, peer)], from, media, deadline, None)
            .await
            .into_dialled()
    }

    /// Where an agent's phone is rung: its fixed contact, else every registered
    /// contact over the transport it registered with.
    async fn agent_targets(&self, aor: &str) -> Result<Vec<(String, Peer)>, CoreError> {
        let fixed = self
            .fixed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(aor)
            .cloned();
        if let Some(c) = fixed {
            return Ok(vec![(c.uri, c.peer)]);
        }
        let routes = self.shared.handle.contact_routes(aor).await;
        if routes.is_empty() {
            return Err(CoreError::Unreachable(format!(
                "{} is not registered",
                callcore::Masked(aor)
            )));
        }
        Ok(routes.into_iter().map(|r| (r.uri, r.peer)).collect())
    }

    /// The trunks a number goes out through, in failover order: the dial plan's
    /// first matching rule, or (without a dial plan) the trunks' own prefixes.
    pub(super) fn trunks_for(&self, number: &str) -> Vec<String> {
        let plan = self
            .dial_plan
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if plan.is_empty() {
            return self
                .router
                .route(number)
                .into_iter()
                .map(|t| t.name.clone())
                .collect();
        }
        plan.trunks_for(number)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    async fn dial_number(
        &self,
        number: &str,
        from: &str,
        media: &LocalMedia,
        deadline: Timestamp,
    ) -> Result<Dialled, CoreError> {
        let names = self.trunks_for(number);
        if names.is_empty() {
            return Err(CoreError::Unreachable("no trunk routes this number".into()));
        }
        let health: HashMap<String, bool> = self
            .shared
            .handle
            .trunk_health()
            .await
            .into_iter()
            .collect();
        let mut failover = Failover::new(&names, |t| health.get(t).copied().unwrap_or(true));
        for down in failover.skipped() {
            tracing::warn!(trunk = %down, "trunk down by its OPTIONS probe: passed over");
        }
        let mut cause = HangupCause::Failure("no trunk answered".into());
        while let Some(name) = failover.next_trunk() {
            let Some(trunk) = self.router.trunk(&name) else {
                tracing::warn!(trunk = %name, "the dial plan names an unknown trunk");
                if failover.record(CallOutcome::TransportFailed) != Step::TryNext {
                    break;
                }
                continue;
            };
            let presented = match &trunk.caller_id {
                Some(id) => format!("sip:{id}@{}", self.from_domain),
                None => from.to_owned(),
            };
            let media = super::srtp::under(media, trunk.srtp);
            match self
                .ring_trunk(trunk, number, &presented, &media, deadline)
                .await
            {
                Fork::Answered {
                    call,
                    audio,
                    status,
                } => {
                    failover.record(CallOutcome::Answered);
                    tracing::info!(trunk = %name, attempts = %failover.summary(), "call answered through a trunk");
                    return Ok(Dialled {
                        call,
                        audio,
                        status,
                        attempts: failover.attempts().to_vec(),
                    });
                }
                Fork::Unanswered {
                    timed_out: true, ..
                } => {
                    tracing::info!(trunk = %name, attempts = %failover.summary(), "no answer in the ring time");
                    return Err(CoreError::NotAnswered(HangupCause::NoAnswer));
                }
                Fork::Unanswered {
                    status, cause: c, ..
                } => {
                    cause = c;
                    let outcome = outcome_of(status);
                    if failover.record(outcome) != Step::TryNext {
                        break;
                    }
                    tracing::warn!(trunk = %name, ?outcome, "trunk failed: trying the next trunk of the dial plan");
                }
            }
        }
        tracing::info!(attempts = %failover.summary(), "no trunk connected the call");
        Err(CoreError::NotAnswered(cause))
    }

    /// Rings every target at once until `deadline`; the first to answer wins and
    /// the others are hung up (CANCEL, or BYE when they answered too). With
    /// `trying_within`, a target that sent no provisional response (not even 100
    /// Trying) by then is given up as timed out (408): a silent trunk.
    async fn ring_all(
        &self,
        targets: &[(String, Peer)],
        from: &str,
        media: &LocalMedia,
        deadline: Timestamp,
        trying_within: Option<Duration>,
    ) -> Fork {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut live: Vec<(CallRef, Status)> = Vec::new();
        for (uri, peer) in targets {
            match self
                .shared
                .handle
                .place_call(uri, *peer, from, media.clone())
                .await
            {
                Ok(call) => {
                    let status = status_of(&self.shared.legs, call);
                    self.settle_early_failure(call, &status);
                    let mut r = status.subscribe();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let out = r
                            .wait_for(|s| !matches!(s, LegStatus::Ringing))
                            .await
                            .map(|s| s.clone())
                            .ok();
                        let _ = tx.send((call, out));
                    });
                    live.push((call, status));
                }
                Err(e) => {
                    tracing::debug!(to = %peer.addr, error = %e, "INVITE not sent");
                }
            }
        }
        drop(tx);
        // dropped before an outcome (the offer was withdrawn: its task
        // aborted), the targets still ringing get CANCEL
        let guard = HangUpOnDrop {
            handle: self.shared.handle.clone(),
            calls: live.iter().map(|(c, _)| *c).collect(),
        };
        let fork = self.await_fork(live, rx, deadline, trying_within).await;
        guard.disarm();
        fork
    }

    /// The rest of [`ring_all`](Self::ring_all): waits for the targets'
    /// outcomes.
    async fn await_fork(
        &self,
        live: Vec<(CallRef, Status)>,
        mut rx: mpsc::UnboundedReceiver<(CallRef, Option<LegStatus>)>,
        deadline: Timestamp,
        trying_within: Option<Duration>,
    ) -> Fork {
        if live.is_empty() {
            return Fork::Unanswered {
                status: None,
                cause: HangupCause::Failure("SIP request not sent".into()),
                timed_out: false,
            };
        }
        let mut pending: HashSet<CallRef> = live.iter().map(|(c, _)| *c).collect();
        let mut best: Option<(u16, HangupCause)> = None;
        let mut sleep = self.clock.sleep_until(deadline);
        let mut trying = self
            .clock
            .sleep(trying_within.unwrap_or(Duration::from_secs(86_400)));
        let mut trying_checked = trying_within.is_none();
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    // a target given up already: its late outcome changes nothing
                    Some((call, _)) if !pending.contains(&call) => {}
                    Some((call, Some(LegStatus::Answered(audio)))) => {
                        let mut status = None;
                        for (c, s) in &live {
                            if *c == call {
                                status = Some(s.clone());
                            } else {
                                self.shared.handle.hangup(*c);
                                self.forget_status_when_over(*c, s);
                            }
                        }
                        if let Some(status) = status {
                            return Fork::Answered { call, audio, status };
                        }
                    }
                    Some((call, over)) => {
                        let code = self.shared.take_status(call);
                        let cause = match over {
                            Some(LegStatus::Over(c)) => c,
                            _ => HangupCause::Failure("SIP leg lost".into()),
                        };
                        best = Some(better(best, (code.unwrap_or(500), cause)));
                        pending.remove(&call);
                        if pending.is_empty() {
                            let (status, cause) = best.unwrap_or((500, HangupCause::Local));
                            return Fork::Unanswered { status: Some(status), cause, timed_out: false };
                        }
                    }
                    None => {
                        let (status, cause) = best.unwrap_or((500, HangupCause::Local));
                        return Fork::Unanswered { status: Some(status), cause, timed_out: false };
                    }
                },
                () = &mut trying, if !trying_checked => {
                    trying_checked = true;
                    for (c, s) in &live {
                        if pending.contains(c) && !self.shared.handle.is_proceeding(*c).await {
                            tracing::warn!(call = c.0, "no response to the INVITE in time: given up as timed out");
                            self.shared.handle.hangup(*c);
                            self.forget_status_when_over(*c, s);
                            pending.remove(c);
                            best = Some(better(best, (408, HangupCause::NoAnswer)));
                        }
                    }
                    if pending.is_empty() {
                        let (status, cause) = best.unwrap_or((408, HangupCause::NoAnswer));
                        return Fork::Unanswered { status: Some(status), cause, timed_out: false };
                    }
                }
                () = &mut sleep => {
                    for (c, s) in &live {
                        self.shared.handle.hangup(*c);
                        self.forget_status_when_over(*c, s);
                    }
                    return Fork::Unanswered {
                        status: None,
                        cause: HangupCause::NoAnswer,
                        timed_out: true,
                    };
                }
            }
        }
    }

    /// A call can fail before its status is watched (a refused connection fails
    /// it at once): the event then ended a status nobody held, and `status` is a
    /// fresh one. Its final status is already known: end `status` with it.
    fn settle_early_failure(&self, call: CallRef, status: &Status) {
        let early = self
            .shared
            .statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&call)
            .copied();
        if let Some(code) = early {
            if !matches!(*status.borrow(), LegStatus::Over(_)) {
                status.send_replace(LegStatus::Over(super::cause_of(code)));
            }
            self.shared
                .legs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&call);
        }
    }

    /// Drops the final status of a call nobody waits for any more, once it is over.
    fn forget_status_when_over(&self, call: CallRef, status: &Status) {
        let shared = self.shared.clone();
        let mut r = status.subscribe();
        tokio::spawn(async move {
            let _ = r.wait_for(|s| matches!(s, LegStatus::Over(_))).await;
            shared.take_status(call);
        });
    }
}
