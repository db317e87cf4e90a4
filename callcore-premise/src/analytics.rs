//! The premise center's figures: every event of the center goes into
//! callcore-analytics' live engine (queue and agent figures since midnight and
//! over sliding windows, [`Premise::live`](crate::Premise::live), the
//! Prometheus text of them, a periodic summary in the log) and into an
//! Asterisk-compatible `queue_log` file in the data folder
//! (`docs/queue_log.md`). Interval reports are built on demand from the
//! SQLite journal ([`Premise::report`](crate::Premise::report)).
//!
//! ```toml
//! [analytics]
//! queue_log = true          # <data_dir>/queue_log
//! live_log_secs = 60        # a summary line in the log (0: never)
//! prometheus_file = "premise-data/metrics.prom"   # rewritten as often (optional)
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::{Clock, Event};
use callcore_analytics::queue_log::QueueLogWriter;
use callcore_analytics::{Dimension, LiveSnapshot, MetricsConfig, MetricsEngine, prometheus};
use callcore_runtime::{BusError, CenterHandle, EventSubscriber};
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::PremiseError;

/// Sliding windows of the live figures: 15 minutes and an hour.
pub const LIVE_WINDOWS: [Duration; 2] = [Duration::from_secs(900), Duration::from_secs(3600)];

/// `[analytics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsSection {
    /// Write `<data_dir>/queue_log` (Asterisk's format).
    pub queue_log: bool,
    /// Seconds between summary lines in the log (and rewrites of
    /// `prometheus_file`); 0 for none.
    pub live_log_secs: u32,
    /// A file rewritten with the Prometheus text of the live figures.
    pub prometheus_file: Option<PathBuf>,
}

impl Default for AnalyticsSection {
    fn default() -> Self {
        AnalyticsSection {
            queue_log: true,
            live_log_secs: 60,
            prometheus_file: None,
        }
    }
}

/// The live engine and the tasks feeding it.
#[derive(Debug)]
pub(crate) struct Analytics {
    engine: Arc<Mutex<MetricsEngine>>,
    clock: Arc<dyn Clock>,
    tasks: Vec<JoinHandle<()>>,
    queue_log: Option<PathBuf>,
}

fn lock(engine: &Mutex<MetricsEngine>) -> std::sync::MutexGuard<'_, MetricsEngine> {
    engine
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Analytics {
    /// Subscribes to the center now (before queues and agents are added, so the
    /// `queue_log` has them) and starts the feeding and logging tasks.
    pub(crate) fn start(
        center: &CenterHandle,
        section: &AnalyticsSection,
        data_dir: &std::path::Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PremiseError> {
        let engine = MetricsEngine::new(MetricsConfig::default())
            .map_err(|e| PremiseError::Store(e.to_string()))?;
        let engine = Arc::new(Mutex::new(engine));
        let queue_log = section.queue_log.then(|| data_dir.join("queue_log"));
        let writer = match &queue_log {
            Some(path) => {
                let io = |e: callcore_analytics::AnalyticsError| PremiseError::Io {
                    what: path.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                };
                let mut w = QueueLogWriter::append_to(path).map_err(io)?;
                // a new run: tools close what a previous one left open
                w.write_start(clock.now()).map_err(io)?;
                Some(w)
            }
            None => None,
        };
        let mut tasks = vec![tokio::spawn(feed(
            center.subscribe(),
            engine.clone(),
            writer,
        ))];
        if section.live_log_secs > 0 {
            tasks.push(tokio::spawn(report_periodically(
                engine.clone(),
                clock.clone(),
                Duration::from_secs(u64::from(section.live_log_secs)),
                section.prometheus_file.clone(),
            )));
        }
        Ok(Analytics {
            engine,
            clock,
            tasks,
            queue_log,
        })
    }

    /// The live figures now.
    pub(crate) fn live(&self) -> LiveSnapshot {
        lock(&self.engine).snapshot(self.clock.now(), &LIVE_WINDOWS)
    }

    /// Where the `queue_log` is written, if it is.
    pub(crate) fn queue_log_path(&self) -> Option<&std::path::Path> {
        self.queue_log.as_deref()
    }

    pub(crate) fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Every event into the engine and the `queue_log`.
async fn feed(
    mut events: EventSubscriber,
    engine: Arc<Mutex<MetricsEngine>>,
    mut writer: Option<QueueLogWriter<std::fs::File>>,
) {
    loop {
        let event: Arc<Event> = match events.recv().await {
            Ok(e) => e,
            Err(BusError::Lagged(n)) => {
                tracing::warn!(
                    dropped = n,
                    "analytics fell behind the center: figures and queue_log miss events"
                );
                continue;
            }
            Err(_) => return,
        };
        lock(&engine).apply(&event);
        if let Some(w) = writer.as_mut()
            && let Err(e) = w.write_event(&event)
        {
            tracing::warn!(error = %e, "queue_log not written");
        }
    }
}

/// A summary line per tenant in the log, and the Prometheus file rewritten.
async fn report_periodically(
    engine: Arc<Mutex<MetricsEngine>>,
    clock: Arc<dyn Clock>,
    every: Duration,
    prometheus_file: Option<PathBuf>,
) {
    loop {
        clock.sleep(every).await;
        let live = lock(&engine).snapshot(clock.now(), &LIVE_WINDOWS);
        tracing::info!("{}", summary_line(&live));
        if let Some(path) = &prometheus_file {
            let tmp = path.with_extension("prom.tmp");
            let written = std::fs::write(&tmp, prometheus::render(&live))
                .and_then(|()| std::fs::rename(&tmp, path));
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "Prometheus file not written");
            }
        }
    }
}

/// One line: per tenant, contacts waiting, longest wait, today's offered /
/// answered / abandoned, service level, and agents by state.
pub fn summary_line(live: &LiveSnapshot) -> String {
    let mut out = String::new();
    for row in &live.rows {
        let Dimension::Tenant { tenant } = &row.dimension else {
            continue;
        };
        let t = &row.today;
        let agents = live
            .agents_by_state
            .get(tenant)
            .map(|m| {
                m.iter()
                    .map(|(s, n)| format!("{s}={n}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let unreachable = live
            .agents
            .iter()
            .filter(|a| &a.tenant == tenant && !a.reachable)
            .count();
        let agents = if unreachable > 0 {
            format!("{agents} (unreachable {unreachable})")
        } else {
            agents
        };
        out.push_str(&format!(
            "tenant {tenant}: waiting {} (longest {:.0} s), today offered {} answered {} abandoned {} service level {}; agents {agents}",
            row.waiting,
            row.longest_wait_secs,
            t.counters.offered,
            t.counters.answered,
            t.counters.abandoned,
            t.service_level
                .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0)),
        ));
    }
    if out.is_empty() {
        out.push_str("no activity yet");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{AgentState, EventKind, Timestamp};

    #[test]
    fn the_summary_line_counts_waiting_and_agents() {
        let mut engine =
            MetricsEngine::new(MetricsConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let at = |s: i64| Timestamp::from_secs(1_700_000_000 + s);
        let ev = |seq, s, kind| Event {
            seq,
            at: at(s),
            tenant: "default".into(),
            kind,
        };
        engine.apply(&ev(
            1,
            0,
            EventKind::AgentStateChanged {
                agent: "1001".into(),
                from: AgentState::Offline,
                to: AgentState::NotReady("lunch".into()),
            },
        ));
        engine.apply(&ev(
            2,
            1,
            EventKind::Queued {
                interaction: "c1".into(),
                queue: "support".into(),
                position: 1,
                estimated_wait_secs: None,
            },
        ));
        let live = engine.snapshot(at(31), &LIVE_WINDOWS);
        let line = summary_line(&live);
        assert!(
            line.starts_with("tenant default: waiting 1 (longest 30 s), today offered 1"),
            "{line}"
        );
        assert!(line.ends_with("agents not_ready=1"), "{line}");
        assert!(prometheus::render(&live).contains("callcore_contacts_waiting"));
    }
}
