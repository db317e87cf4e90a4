//! Callbacks (virtual hold): a caller who accepts a flow's `callback_offer`
//! hangs up and keeps their place; the center calls them back when their turn
//! comes and an agent is free or about to be.
//!
//! - [`CallbackBook`] is the sans-IO part: requests ordered by the time the
//!   caller started waiting, and the decision which are due given a
//!   [`RouterSnapshot`] (an agent available, or in wrap-up when
//!   [`CallbackPolicy::wrap_up_counts_as_free`], and nobody in the queue who has
//!   waited longer than the callback), retries after failed attempts.
//! - [`CallbackDialer`] is the tokio glue: it checks the book whenever the
//!   router's state may have changed (and on a tick of the center's clock),
//!   places the call through the [`Transport`] and hands the answered leg to
//!   the queue with [`CenterHandle::enqueue_outbound`] at the policy's priority,
//!   so it is served ahead of callers who came later.
//!
//! The router is not told about a booked callback while it waits; the place is
//! kept by the book's ordering and the priority of the outbound hand-off. A
//! callback asked for with the waiting callback key is booked only when the
//! router could not keep the caller's place itself
//! (`QueueOutcome::CallbackRequested { kept_by_router: false, .. }`); when it
//! could, the runtime calls back once an agent takes the place. Callbacks a
//! queue offers on overflow (`Destination::Callback`) are always booked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::callback_numbers::{CallbackNumbers, CallbackRefused};
use callcore::{
    Channel, Direction, Endpoint, Interaction, InteractionContext, InteractionId, PlaceRequest,
    QueueId, RouterSnapshot, TenantId, Timestamp, Transport,
};
use callcore_runtime::{
    CenterHandle, OutboundOptions, OutboundProgress, QueueOptions, QueueOutcome,
};

/// One booked callback.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackRequest {
    /// The call on which it was booked.
    pub interaction: InteractionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Number (or SIP address) to call back.
    pub number: String,
    /// The queue whose place it keeps.
    pub queue: QueueId,
    /// When the caller started waiting (their place in the queue).
    pub waiting_since: Timestamp,
    /// Intent, slots and transcript for the agent.
    pub context: InteractionContext,
    /// The original call's attributes (routing, language, VIP).
    pub attributes: BTreeMap<String, String>,
    /// Calls placed so far.
    pub attempts: u32,
    /// Not before this time (after a failed attempt).
    pub not_before: Timestamp,
}

/// How callbacks are placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// Place the call when an agent of the queue is in wrap-up (about to be
    /// free), not only when one is available.
    pub wrap_up_counts_as_free: bool,
    /// Calls placed before giving up.
    pub max_attempts: u32,
    /// Wait after a failed attempt.
    pub retry_after: Duration,
    /// Ring the customer this long.
    pub ring_timeout_secs: u32,
    /// Caller id shown to the customer.
    pub caller_id: String,
    /// Priority of the answered callback in the queue.
    pub priority: i32,
    /// Leave the queue when no agent took the answered callback this long.
    pub connect_within: Duration,
    /// Said when no agent took it in time.
    pub unconnected_message: Option<String>,
    /// How often the dialer re-checks without a trigger.
    pub check_every: Duration,
    /// Which numbers may be called back (toll fraud): by default only numbers a
    /// trusted trunk asserted.
    pub numbers: CallbackNumbers,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        CallbackPolicy {
            wrap_up_counts_as_free: true,
            max_attempts: 3,
            retry_after: Duration::from_secs(300),
            ring_timeout_secs: 30,
            caller_id: String::new(),
            priority: 100,
            connect_within: Duration::from_secs(60),
            unconnected_message: Some(
                "Sorry, all our agents are busy. We will call you again shortly.".into(),
            ),
            check_every: Duration::from_secs(2),
            numbers: CallbackNumbers::default(),
        }
    }
}

/// How one callback attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The customer talked to an agent: done.
    Connected,
    /// Not answered, busy, or no agent took it: retry later if attempts remain.
    Failed,
}

/// Callbacks waiting to be placed; see the [module docs](self).
#[derive(Debug, Default)]
pub struct CallbackBook {
    policy: CallbackPolicy,
    waiting: Vec<CallbackRequest>,
    in_flight: Vec<CallbackRequest>,
    done: Vec<(CallbackRequest, AttemptResult)>,
}

impl CallbackBook {
    /// An empty book.
    pub fn new(policy: CallbackPolicy) -> Self {
        CallbackBook {
            policy,
            ..CallbackBook::default()
        }
    }

    /// The policy.
    pub fn policy(&self) -> &CallbackPolicy {
        &self.policy
    }

    /// Whether `request`'s number may be called back ([`CallbackPolicy::numbers`]).
    pub fn permits(&self, request: &CallbackRequest) -> Result<(), CallbackRefused> {
        self.policy
            .numbers
            .check(&request.number, &request.attributes)
    }

    /// Books a callback; a second booking for the same call replaces the first.
    /// Refused (nothing booked) for a number the policy does not permit.
    pub fn book(&mut self, request: CallbackRequest) -> Result<(), CallbackRefused> {
        self.permits(&request)?;
        self.rebook(request);
        Ok(())
    }

    fn rebook(&mut self, request: CallbackRequest) {
        self.waiting
            .retain(|r| r.interaction != request.interaction);
        self.waiting.push(request);
        self.waiting.sort_by_key(|r| r.waiting_since);
    }

    /// Callbacks not yet placed, oldest first.
    pub fn waiting(&self) -> &[CallbackRequest] {
        &self.waiting
    }

    /// Callbacks being placed now.
    pub fn in_flight(&self) -> &[CallbackRequest] {
        &self.in_flight
    }

    /// Finished callbacks: connected, or given up after the last attempt.
    pub fn finished(&self) -> &[(CallbackRequest, AttemptResult)] {
        &self.done
    }

    /// The callbacks to place now; they move to "in flight" until
    /// [`attempt_done`](Self::attempt_done). Per queue, at most as many as it
    /// has free agents (minus callbacks already ringing), oldest first, and only
    /// those that have waited longer than every caller waiting in the queue.
    pub fn take_due(&mut self, snapshot: &RouterSnapshot, now: Timestamp) -> Vec<CallbackRequest> {
        let mut due = Vec::new();
        for q in &snapshot.queues {
            let state = |name: &str| q.agents_by_state.get(name).copied().unwrap_or(0);
            let mut free = state("available");
            if self.policy.wrap_up_counts_as_free {
                free += state("wrap_up");
            }
            let ringing = self.in_flight.iter().filter(|r| r.queue == q.queue).count();
            let mut slots = (free as usize).saturating_sub(ringing);
            let oldest_waiter = if q.waiting.is_empty() {
                None
            } else {
                Some(Duration::from_secs(u64::from(q.longest_wait_secs)))
            };
            let mut i = 0;
            while slots > 0 && i < self.waiting.len() {
                let r = &self.waiting[i];
                let ahead = oldest_waiter.is_some_and(|w| now.duration_since(r.waiting_since) < w);
                if r.queue != q.queue || r.not_before > now {
                    i += 1;
                    continue;
                }
                if ahead {
                    // Someone in the queue has waited longer: the router serves
                    // them first, and later callbacks of this queue are behind too.
                    break;
                }
                let r = self.waiting.remove(i);
                self.in_flight.push(r.clone());
                due.push(r);
                slots -= 1;
            }
        }
        due
    }

    /// Reports how an attempt ended: failed attempts go back to the book (after
    /// [`CallbackPolicy::retry_after`]) until the attempts run out.
    pub fn attempt_done(
        &mut self,
        interaction: &InteractionId,
        result: AttemptResult,
        now: Timestamp,
    ) {
        let Some(pos) = self
            .in_flight
            .iter()
            .position(|r| &r.interaction == interaction)
        else {
            return;
        };
        let mut r = self.in_flight.remove(pos);
        r.attempts += 1;
        if result == AttemptResult::Failed && r.attempts < self.policy.max_attempts {
            r.not_before = now + self.policy.retry_after;
            self.rebook(r);
        } else {
            self.done.push((r, result));
        }
    }
}

/// A shared book, as [`IvrFlow`](super::IvrFlow) and [`CallbackDialer`] use it.
pub type SharedCallbackBook = Arc<Mutex<CallbackBook>>;

/// Places booked callbacks on a running center; see the [module docs](self).
#[derive(Debug)]
pub struct CallbackDialer;

impl CallbackDialer {
    /// Starts the dialer task; it ends at its first check after the center
    /// shut down.
    pub fn spawn(
        center: CenterHandle,
        transport: Arc<dyn Transport>,
        book: SharedCallbackBook,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut events = center.subscribe();
            let check_every = lock(&book).policy.check_every;
            loop {
                let Ok(snapshot) = center.snapshot().await else {
                    return; // shut down
                };
                let now = center.clock().now();
                let due = lock(&book).take_due(&snapshot, now);
                for request in due {
                    tokio::spawn(place(
                        center.clone(),
                        transport.clone(),
                        book.clone(),
                        request,
                    ));
                }
                // Re-check when anything happens (an agent freed, a caller
                // served) or after a tick of the center's clock.
                let tick = center.clock().sleep(check_every);
                tokio::select! {
                    event = events.recv() => {
                        if matches!(event, Err(callcore_runtime::BusError::Closed)) {
                            return;
                        }
                    }
                    () = tick => {}
                }
            }
        })
    }
}

fn lock(book: &SharedCallbackBook) -> std::sync::MutexGuard<'_, CallbackBook> {
    // A poisoned lock only means another task panicked mid-update; the book's
    // vectors are still consistent.
    book.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn place(
    center: CenterHandle,
    transport: Arc<dyn Transport>,
    book: SharedCallbackBook,
    request: CallbackRequest,
) {
    let policy = lock(&book).policy.clone();
    let to = if request.number.starts_with("sip:") {
        Endpoint::Sip(request.number.clone())
    } else {
        Endpoint::Phone(request.number.clone())
    };
    let placed = transport
        .place(PlaceRequest {
            to,
            from: policy.caller_id.clone(),
            channel: Channel::Voice,
            ring_timeout_secs: policy.ring_timeout_secs,
        })
        .await;
    let result = match placed {
        Err(e) => {
            tracing::info!(interaction = %request.interaction, error = %e, "callback not answered");
            AttemptResult::Failed
        }
        Ok(leg) => {
            let id = InteractionId::from(format!(
                "{}-callback-{}",
                request.interaction,
                request.attempts + 1
            ));
            let mut interaction = Interaction::new(
                id,
                request.tenant.clone(),
                Channel::Voice,
                Direction::Outbound,
                request.number.clone(),
                policy.caller_id.clone(),
                center.clock().now(),
            );
            interaction.attributes = request.attributes.clone();
            interaction
                .attributes
                .insert("callback_for".into(), request.interaction.to_string());
            interaction.context = request.context.clone();
            let options = OutboundOptions {
                queue: QueueOptions {
                    priority: policy.priority,
                    ..QueueOptions::default()
                },
                connect_within: Some(policy.connect_within),
                unconnected_message: policy.unconnected_message.clone(),
            };
            let mut progress =
                center.enqueue_outbound(interaction, leg, request.queue.clone(), options);
            let mut connected = false;
            while let Some(p) = progress.recv().await {
                match p {
                    OutboundProgress::Connected { .. } => connected = true,
                    OutboundProgress::Finished(QueueOutcome::Served { .. }) => connected = true,
                    OutboundProgress::Finished(_) => break,
                    _ => {}
                }
            }
            if connected {
                AttemptResult::Connected
            } else {
                AttemptResult::Failed
            }
        }
    };
    let now = center.clock().now();
    lock(&book).attempt_done(&request.interaction, result, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::QueueSnapshot;

    fn request(id: &str, since: u64) -> CallbackRequest {
        CallbackRequest {
            interaction: id.into(),
            tenant: TenantId::default(),
            number: "+15550100".into(),
            queue: "support".into(),
            waiting_since: Timestamp::from_secs(since as i64),
            context: InteractionContext::default(),
            // a trusted trunk's call: its number may be called back
            attributes: BTreeMap::from([("trunk".to_owned(), "carrier".to_owned())]),
            attempts: 0,
            not_before: Timestamp::from_secs(0),
        }
    }

    fn snapshot(waiting: usize, longest: u32, available: u32, wrap_up: u32) -> RouterSnapshot {
        RouterSnapshot {
            queues: vec![QueueSnapshot {
                queue: "support".into(),
                waiting: (0..waiting).map(|i| format!("w{i}").into()).collect(),
                longest_wait_secs: longest,
                agents_by_state: BTreeMap::from([
                    ("available".to_string(), available),
                    ("wrap_up".to_string(), wrap_up),
                    ("busy".to_string(), 3),
                ]),
            }],
            agents: vec![],
        }
    }

    #[test]
    fn callbacks_keep_their_place_behind_older_callers_and_wait_for_a_free_agent() {
        let mut book = CallbackBook::new(CallbackPolicy {
            wrap_up_counts_as_free: false,
            ..CallbackPolicy::default()
        });
        book.book(request("b", 1_100)).unwrap();
        book.book(request("a", 1_000)).unwrap();
        let now = Timestamp::from_secs(1_200);
        // Nobody free: nothing to place.
        assert!(book.take_due(&snapshot(0, 0, 0, 1), now).is_empty());
        // A caller who has waited 300 s (since 900) is ahead of both callbacks.
        assert!(book.take_due(&snapshot(1, 300, 1, 0), now).is_empty());
        // A caller waiting 150 s (since 1050) is behind "a" but ahead of "b".
        let due = book.take_due(&snapshot(1, 150, 2, 0), now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].interaction.to_string(), "a");
        assert_eq!(book.in_flight().len(), 1);
        // One agent free and "a" still ringing: "b" waits.
        assert!(book.take_due(&snapshot(0, 0, 1, 0), now).is_empty());
        assert!(!book.take_due(&snapshot(0, 0, 2, 0), now).is_empty());
    }

    #[test]
    fn wrap_up_counts_as_about_to_be_free_and_failures_retry_until_the_last_attempt() {
        let mut book = CallbackBook::new(CallbackPolicy {
            max_attempts: 2,
            retry_after: Duration::from_secs(60),
            ..CallbackPolicy::default()
        });
        book.book(request("a", 1_000)).unwrap();
        let t = Timestamp::from_secs(1_100);
        let due = book.take_due(&snapshot(0, 0, 0, 1), t);
        assert_eq!(due.len(), 1);
        book.attempt_done(&"a".into(), AttemptResult::Failed, t);
        assert_eq!(book.waiting().len(), 1);
        // Not before the retry delay.
        assert!(
            book.take_due(&snapshot(0, 0, 1, 0), t + Duration::from_secs(30))
                .is_empty()
        );
        let t2 = t + Duration::from_secs(60);
        assert_eq!(book.take_due(&snapshot(0, 0, 1, 0), t2).len(), 1);
        book.attempt_done(&"a".into(), AttemptResult::Failed, t2);
        assert!(book.waiting().is_empty());
        assert_eq!(book.finished().len(), 1);
        assert_eq!(book.finished()[0].0.attempts, 2);
    }
}
