//! Operations: what a center's operators and their tools need from the process.
//!
//! - an HTTP listener (`[http] bind`, `--http ADDR`) serving `/metrics`
//!   (Prometheus text), `/healthz` and `/readyz` ([`http`]); other crates mount
//!   their routes on the same server with [`Premise::mount_http`];
//! - draining ([`Premise::drain`]): new calls refused with 503 and Retry-After,
//!   calls in progress go on up to a deadline, then end with BYE and their
//!   records written ([`drain`]);
//! - the figures behind `/metrics` ([`metrics`]), read through meters around the
//!   journal and the media engine ([`meters`]) and the center's events.

pub mod drain;
pub mod http;
pub mod meters;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::{InteractionId, Stores, TenantId};
use callcore_analytics::MetricsEngine;
use callcore_runtime::{BusError, CenterHandle, EventSubscriber};
use callcore_sip::ua::driver::SipHandle;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::Premise;
use meters::{MeteredJournal, MeteredMedia};
use metrics::{CallCounters, Scrape};

/// How long a readiness probe waits for the store and the routing task.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The live figures and health of a running premise center.
pub struct Ops {
    calls: Mutex<CallCounters>,
    analytics: Mutex<Option<MetricsEngine>>,
    journal: MeteredJournal,
    media: MeteredMedia,
    sip: SipHandle,
    center: CenterHandle,
    stores: Stores,
    tenant: TenantId,
    transcription: Option<Arc<crate::transcription_queue::TranscriptionMeter>>,
    draining: AtomicBool,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

/// What `/readyz` checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The SIP endpoint runs (its sockets are bound).
    pub sip: bool,
    /// The store answered a query.
    pub store: bool,
    /// The center's routing task answered.
    pub routing: bool,
    /// The center drains.
    pub draining: bool,
}

impl Readiness {
    /// Ready to take calls.
    pub fn ready(&self) -> bool {
        self.sip && self.store && self.routing && !self.draining
    }

    /// Why not ready (the first failing check), `None` when ready.
    pub fn reason(&self) -> Option<&'static str> {
        if self.draining {
            Some("draining")
        } else if !self.sip {
            Some("SIP endpoint stopped")
        } else if !self.store {
            Some("store not answering")
        } else if !self.routing {
            Some("routing task not answering")
        } else {
            None
        }
    }
}

/// The pieces [`Ops`] reads.
#[derive(Debug)]
pub struct OpsParts {
    /// The journal meter the center writes through.
    pub journal: MeteredJournal,
    /// The media meter the SIP transport reserves through.
    pub media: MeteredMedia,
    /// The SIP endpoint.
    pub sip: SipHandle,
    /// The center.
    pub center: CenterHandle,
    /// The center's tenant.
    pub tenant: TenantId,
    /// The transcription queue of `[quality]` (when calls are transcribed).
    pub transcription: Option<Arc<crate::transcription_queue::TranscriptionMeter>>,
}

impl Ops {
    /// Figures and health over `parts`; feed it events with [`Ops::follow`].
    pub fn new(parts: OpsParts) -> Arc<Ops> {
        Arc::new(Ops {
            calls: Mutex::default(),
            analytics: Mutex::new(metrics::analytics_engine()),
            journal: parts.journal,
            media: parts.media,
            sip: parts.sip,
            stores: parts.center.stores().clone(),
            center: parts.center,
            tenant: parts.tenant,
            transcription: parts.transcription,
            draining: AtomicBool::new(false),
        })
    }

    /// Folds the center's events into the figures until the center closes (a
    /// task: subscribe before the center adds its queues and agents).
    pub async fn follow(self: Arc<Self>, mut events: EventSubscriber) {
        let mut sweep = 0u32;
        loop {
            match events.recv().await {
                Ok(event) => {
                    lock(&self.calls).apply(&event);
                    if let Some(engine) = lock(&self.analytics).as_mut() {
                        engine.apply(&event);
                    }
                    sweep += 1;
                    if sweep >= 256 {
                        // retire ended legs even when nobody scrapes
                        sweep = 0;
                        let _ = self.media.totals();
                    }
                }
                Err(BusError::Lagged(n)) => {
                    tracing::warn!(dropped = n, "operations figures missed events");
                }
                Err(_) => break,
            }
        }
    }

    /// The call counters now.
    pub fn calls(&self) -> CallCounters {
        lock(&self.calls).clone()
    }

    /// Calls in progress: voice interactions not over, or SIP dialogs alive.
    pub fn live_calls(&self) -> u64 {
        let active = lock(&self.calls).active;
        active.max(self.sip.stats().snapshot().calls)
    }

    /// Whether the center drains.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render_metrics(&self) -> String {
        let calls = self.calls();
        let mut analytics = lock(&self.analytics);
        metrics::render(Scrape {
            calls: &calls,
            analytics: analytics.as_mut(),
            now: self.center.clock().now(),
            sip: self.sip.stats().snapshot(),
            sip_up: self.sip.is_running(),
            rtp: self.media.totals(),
            journaled: self.journal.written(),
            draining: self.is_draining(),
            transcription: self.transcription.as_ref().map(|m| m.figures()),
        })
    }

    /// Checks SIP, the store and the routing task (each bounded in time).
    pub async fn readiness(&self) -> Readiness {
        let probe = InteractionId::new("readyz-probe");
        let store = tokio::time::timeout(
            PROBE_TIMEOUT,
            self.stores.interactions.get(&self.tenant, &probe),
        );
        let routing = tokio::time::timeout(PROBE_TIMEOUT, self.center.snapshot());
        let (store, routing) = tokio::join!(store, routing);
        Readiness {
            sip: self.sip.is_running(),
            store: matches!(store, Ok(Ok(_))),
            routing: matches!(routing, Ok(Ok(_))),
            draining: self.is_draining(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The premise's operations state: figures, the HTTP listener, the follower task.
#[derive(Debug)]
pub(crate) struct PremiseOps {
    pub(crate) ops: Arc<Ops>,
    pub(crate) http: Option<http::HttpServer>,
    pub(crate) follower: JoinHandle<()>,
}

impl PremiseOps {
    /// Starts following `events` and, when `bind` is given, the HTTP listener.
    pub(crate) async fn start(
        parts: OpsParts,
        events: EventSubscriber,
        bind: Option<SocketAddr>,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> std::io::Result<PremiseOps> {
        let ops = Ops::new(parts);
        let follower = tokio::spawn(ops.clone().follow(events));
        let http = match bind {
            Some(addr) => {
                match http::HttpServer::start(addr, http::ops_router(ops.clone()), tls).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        follower.abort();
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        Ok(PremiseOps {
            ops,
            http,
            follower,
        })
    }

    pub(crate) async fn stop(self) {
        if let Some(h) = self.http {
            h.stop().await;
        }
        self.follower.abort();
    }
}

impl Premise {
    /// The operations figures and health.
    pub fn ops(&self) -> &Arc<Ops> {
        &self.ops.ops
    }

    /// The HTTP listener's address (`None` with `--http off`).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.ops.http.as_ref().map(http::HttpServer::local_addr)
    }

    /// Mounts more routes on the premise's HTTP listener, beside `/metrics`,
    /// `/healthz` and `/readyz` (a web desktop, an API). Routes already mounted
    /// stay; a path mounted twice panics, as [`axum::Router::merge`] does.
    ///
    /// # Errors
    /// [`crate::PremiseError::Config`] naming `http.bind` when the listener is off.
    pub fn mount_http(&self, routes: axum::Router) -> Result<(), crate::PremiseError> {
        match &self.ops.http {
            Some(h) => {
                h.mount(routes);
                Ok(())
            }
            None => Err(crate::PremiseError::Config {
                field: "http.enabled".into(),
                detail: "the HTTP listener is off".into(),
            }),
        }
    }

    /// Drains: new INVITEs get 503 with Retry-After, calls in progress go on for
    /// up to `deadline`, then are hung up (BYE) and their records written.
    /// `/readyz` answers 503 from the first moment. Call
    /// [`shutdown`](Premise::shutdown) afterwards.
    pub async fn drain(&self, deadline: Duration) -> drain::DrainReport {
        drain::drain(&self.ops.ops, self.sip.sip(), &self.center, deadline).await
    }
}
