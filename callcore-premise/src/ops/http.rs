//! The premise's HTTP listener (axum): `/metrics` (Prometheus text 0.0.4),
//! `/healthz` (200 while the process runs) and `/readyz` (200 when SIP is bound,
//! the store answers and the routing task answers; 503 with a JSON reason
//! otherwise and while draining). Routes mounted later
//! ([`HttpServer::mount`]) are served beside them.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tower::ServiceExt as _;

use super::Ops;

/// The Prometheus text format's content type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics`, `/healthz` and `/readyz` over `ops`.
pub fn ops_router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ops)
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        ops.render_metrics(),
    )
        .into_response()
}

async fn healthz() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "status": "alive" }))
}

async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let r = ops.readiness().await;
    match r.reason() {
        None => json(
            StatusCode::OK,
            &serde_json::json!({ "status": "ready", "checks": r }),
        ),
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "status": "not_ready", "reason": reason, "checks": r }),
        ),
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A running HTTP listener whose routes can grow.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    mounted: Arc<RwLock<Router>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `bind` (port 0 picks one) and serves `base`, then whatever is mounted;
    /// over TLS when `tls` is given ([`crate::web_tls`]).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start(
        bind: SocketAddr,
        base: Router,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<HttpServer> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let mounted = Arc::new(RwLock::new(Router::new()));
        let routes = mounted.clone();
        let app = base.fallback(move |req: Request| {
            let router = routes
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            async move {
                match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        // the peer's address reaches handlers (the web API's login limits)
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let task = match tls {
            None => tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await;
                if let Err(e) = served {
                    tracing::warn!(error = %e, "HTTP listener stopped");
                }
            }),
            Some(config) => {
                // `tap_io` lends the TLS listener axum's connect-info for its address
                let listener = crate::web_tls::TlsListener::new(listener, config)?.tap_io(|_| {});
                tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await;
                    if let Err(e) = served {
                        tracing::warn!(error = %e, "HTTPS listener stopped");
                    }
                })
            }
        };
        Ok(HttpServer {
            addr,
            mounted,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds `routes` to what is served (see [`crate::Premise::mount_http`]).
    pub fn mount(&self, routes: Router) {
        let mut m = self
            .mounted
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = std::mem::take(&mut *m);
        *m = current.merge(routes);
    }

    /// Stops accepting, lets requests in flight finish (up to 2 s).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}
