//! Back-to-back user agent: bridges an inbound leg to an outbound one (an agent's phone
//! or a trunk), mirrors ringing, answer and hang-up across the legs, and fails over to
//! the next destination when one times out or answers 5xx (sans-IO, over a
//! [`UserAgent`]).
//!
//! Media is anchored here: each leg negotiates its own SDP with callcore's media
//! addresses, so the media engine (callcore-media) relays between the two legs.

use std::collections::HashMap;
use std::time::Duration;

use crate::Error;
use crate::session::LocalMedia;
use crate::transaction::Peer;
use crate::trunk::{CallOutcome, TrunkRouter};
use crate::ua::{CallRef, UaEvent, UserAgent};

/// Where an outbound leg may go, tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Request-URI.
    pub uri: String,
    /// Next hop.
    pub peer: Peer,
    /// Trunk name, when the destination is a trunk (its health is recorded).
    pub trunk: Option<String>,
}

#[derive(Debug)]
struct Bridge {
    inbound: CallRef,
    outbound: Option<CallRef>,
    remaining: Vec<Destination>,
    current: Option<Destination>,
    from: String,
    outbound_media: LocalMedia,
    inbound_media: LocalMedia,
    answered: bool,
    ring_deadline: Option<Duration>,
    ring_timed_out: bool,
}

/// What happened to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeEvent {
    /// Both legs are up.
    Connected {
        /// Inbound leg.
        inbound: CallRef,
        /// Outbound leg.
        outbound: CallRef,
    },
    /// A destination failed and the next one is being tried.
    FailedOver {
        /// Inbound leg.
        inbound: CallRef,
        /// The status of the failed attempt (408 for timeouts).
        status: u16,
    },
    /// No destination answered; the inbound leg was rejected with `status`.
    Unanswered {
        /// Inbound leg.
        inbound: CallRef,
        /// Final status sent to the caller.
        status: u16,
    },
    /// The bridge is over (either side hung up).
    Ended {
        /// Inbound leg.
        inbound: CallRef,
    },
}

/// Bridges legs of one [`UserAgent`].
#[derive(Debug)]
pub struct B2bua {
    bridges: HashMap<u64, Bridge>,
    by_leg: HashMap<CallRef, u64>,
    next: u64,
    /// How long one destination may ring before the next is tried (CANCEL sent).
    pub ring_timeout: Duration,
}

impl Default for B2bua {
    fn default() -> Self {
        B2bua {
            bridges: HashMap::new(),
            by_leg: HashMap::new(),
            next: 0,
            ring_timeout: Duration::from_secs(30),
        }
    }
}

impl B2bua {
    /// An empty B2BUA.
    pub fn new() -> Self {
        B2bua::default()
    }

    /// Number of live bridges.
    pub fn len(&self) -> usize {
        self.bridges.len()
    }

    /// True when no bridge is live.
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty()
    }

    /// The other leg of a bridged call.
    pub fn peer_leg(&self, leg: CallRef) -> Option<CallRef> {
        let b = self.bridges.get(self.by_leg.get(&leg)?)?;
        if b.inbound == leg {
            b.outbound
        } else {
            Some(b.inbound)
        }
    }

    /// Bridges ringing inbound call `inbound` to the first answering destination.
    #[allow(clippy::too_many_arguments)]
    pub fn bridge(
        &mut self,
        ua: &mut UserAgent,
        inbound: CallRef,
        destinations: Vec<Destination>,
        from: &str,
        inbound_media: LocalMedia,
        outbound_media: LocalMedia,
        now: Duration,
    ) -> Result<(), Error> {
        if destinations.is_empty() {
            return Err(Error::State("no destination to bridge to"));
        }
        let id = self.next;
        self.next += 1;
        let mut remaining = destinations;
        remaining.reverse();
        self.bridges.insert(
            id,
            Bridge {
                inbound,
                outbound: None,
                remaining,
                current: None,
                from: from.to_owned(),
                outbound_media,
                inbound_media,
                answered: false,
                ring_deadline: None,
                ring_timed_out: false,
            },
        );
        self.by_leg.insert(inbound, id);
        self.try_next(ua, id, now)
    }

    /// Destinations for `number` over the trunks of `router`, in failover order.
    pub fn trunk_destinations(router: &TrunkRouter, number: &str) -> Vec<Destination> {
        router
            .route(number)
            .into_iter()
            .map(|t| Destination {
                uri: t.request_uri(number),
                peer: t.peer,
                trunk: Some(t.name.clone()),
            })
            .collect()
    }

    fn try_next(&mut self, ua: &mut UserAgent, id: u64, now: Duration) -> Result<(), Error> {
        let Some(b) = self.bridges.get_mut(&id) else {
            return Err(Error::State("no such bridge"));
        };
        let Some(dest) = b.remaining.pop() else {
            return Err(Error::State("no destination left"));
        };
        let out = ua.place_call(&dest.uri, dest.peer, &b.from, b.outbound_media.clone(), now)?;
        b.outbound = Some(out);
        b.current = Some(dest);
        b.ring_deadline = Some(now + self.ring_timeout);
        b.ring_timed_out = false;
        self.by_leg.insert(out, id);
        Ok(())
    }

    fn close(&mut self, id: u64) {
        if let Some(b) = self.bridges.remove(&id) {
            self.by_leg.remove(&b.inbound);
            if let Some(o) = b.outbound {
                self.by_leg.remove(&o);
            }
        }
    }

    /// When [`B2bua::handle_timeout`] should run next (the earliest ring deadline).
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.bridges
            .values()
            .filter(|b| !b.answered)
            .filter_map(|b| b.ring_deadline)
            .min()
    }

    /// Cancels destinations that rang longer than `ring_timeout`; the resulting
    /// failure (487) moves the bridge to the next destination, or 480 to the caller.
    pub fn handle_timeout(&mut self, ua: &mut UserAgent, now: Duration) {
        for b in self.bridges.values_mut() {
            if !b.answered && b.ring_deadline.is_some_and(|d| d <= now) {
                b.ring_deadline = None;
                b.ring_timed_out = true;
                if let Some(out) = b.outbound {
                    let _ = ua.hangup(out, now);
                }
            }
        }
    }

    /// Feeds a user-agent event; acts on the other leg and reports bridge progress.
    /// Events of calls that are not bridged are ignored (`None`).
    pub fn on_event(
        &mut self,
        ua: &mut UserAgent,
        ev: &UaEvent,
        now: Duration,
        mut router: Option<&mut TrunkRouter>,
    ) -> Option<BridgeEvent> {
        let leg = match ev {
            UaEvent::Ringing { call, .. }
            | UaEvent::Answered { call, .. }
            | UaEvent::Failed { call, .. }
            | UaEvent::Ended { call, .. }
            | UaEvent::Cancelled { call } => *call,
            _ => return None,
        };
        let id = *self.by_leg.get(&leg)?;
        let b = self.bridges.get_mut(&id)?;
        let is_outbound = b.outbound == Some(leg);
        match ev {
            UaEvent::Ringing { .. } if is_outbound => {
                let _ = ua.ring(b.inbound, now);
                None
            }
            UaEvent::Answered { .. } if is_outbound => {
                if let (Some(r), Some(t)) = (
                    router.as_deref_mut(),
                    b.current.as_ref().and_then(|d| d.trunk.clone()),
                ) {
                    r.record(&t, CallOutcome::Answered);
                }
                b.answered = true;
                b.ring_deadline = None;
                let inbound = b.inbound;
                match ua.answer(inbound, b.inbound_media.clone(), now) {
                    Ok(_) => Some(BridgeEvent::Connected {
                        inbound,
                        outbound: leg,
                    }),
                    Err(_) => {
                        let _ = ua.hangup(leg, now);
                        self.close(id);
                        Some(BridgeEvent::Ended { inbound })
                    }
                }
            }
            UaEvent::Failed { status, .. } if is_outbound => {
                let outcome = if *status == 408 || b.ring_timed_out {
                    CallOutcome::Timeout
                } else {
                    CallOutcome::Status(*status)
                };
                let trunk = b.current.as_ref().and_then(|d| d.trunk.clone());
                let failover = match router {
                    Some(r) => {
                        if let Some(t) = &trunk {
                            r.record(t, outcome);
                        }
                        r.should_failover(outcome)
                    }
                    None => crate::trunk::should_failover(outcome),
                };
                let timed_out = outcome == CallOutcome::Timeout;
                let inbound = b.inbound;
                self.by_leg.remove(&leg);
                if failover && !b.remaining.is_empty() && self.try_next(ua, id, now).is_ok() {
                    let status = if timed_out { 408 } else { *status };
                    return Some(BridgeEvent::FailedOver { inbound, status });
                }
                // Tell the caller something sensible: pass 4xx/6xx through, 480 otherwise.
                let passthrough = (400..500).contains(status) && *status != 408 || *status >= 600;
                let to_caller = if passthrough && !timed_out {
                    *status
                } else {
                    480
                };
                let _ = ua.reject(inbound, to_caller, now);
                self.close(id);
                Some(BridgeEvent::Unanswered {
                    inbound,
                    status: to_caller,
                })
            }
            UaEvent::Ended { .. } | UaEvent::Cancelled { .. } => {
                let other = if is_outbound {
                    Some(b.inbound)
                } else {
                    b.outbound
                };
                let inbound = b.inbound;
                if let Some(o) = other {
                    let _ = ua.hangup(o, now);
                }
                self.close(id);
                Some(BridgeEvent::Ended { inbound })
            }
            _ => None,
        }
    }
}
