//! The Prometheus text exposition (format 0.0.4) of a live snapshot.
//!
//! Every figure is a gauge labelled with the tenant, the breakdown (`queue`,
//! `agent`, `channel` or `campaign`; none for the tenant as a whole) and the
//! `window` (`today` since local midnight, or the sliding window in seconds,
//! `900s`). Figures without a denominator (a service level with no contact)
//! are left out rather than exported as zero.
//!
//! ```
//! use callcore_analytics::{MetricsConfig, MetricsEngine, prometheus};
//! use callcore::Timestamp;
//! let mut engine = MetricsEngine::new(MetricsConfig::default())?;
//! let text = prometheus::render(&engine.snapshot(Timestamp::from_secs(1_700_000_000), &[]));
//! assert!(text.contains("# TYPE callcore_contacts_waiting gauge"));
//! # Ok::<(), callcore_analytics::AnalyticsError>(())
//! ```

use crate::counters::MetricsSummary;
use crate::dims::Dimension;
use crate::live::{LiveRow, LiveSnapshot};
use std::fmt::Write as _;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(dim: &Dimension, extra: &[(&str, &str)]) -> String {
    let mut out = format!("tenant=\"{}\"", escape(dim.tenant().as_str()));
    match dim {
        Dimension::Tenant { .. } => {}
        Dimension::QueueChannel { queue, channel, .. } => {
            let _ = write!(
                out,
                ",queue=\"{}\",channel=\"{}\"",
                escape(queue.as_str()),
                channel.as_str()
            );
        }
        _ => {
            let _ = write!(out, ",{}=\"{}\"", dim.kind(), escape(dim.key()));
        }
    }
    for (k, v) in extra {
        let _ = write!(out, ",{k}=\"{}\"", escape(v));
    }
    out
}

type Figure = fn(&MetricsSummary) -> Option<f64>;
type Gauge = (&'static str, &'static str, fn(&LiveRow) -> f64);

#[allow(clippy::cast_precision_loss)]
const FIGURES: &[(&str, &str, Figure)] = &[
    (
        "callcore_contacts_offered",
        "Contacts that entered the queue.",
        |s| Some(s.counters.offered as f64),
    ),
    (
        "callcore_contacts_answered",
        "Contacts connected to an agent.",
        |s| Some(s.counters.answered as f64),
    ),
    (
        "callcore_contacts_abandoned",
        "Contacts whose caller hung up while waiting.",
        |s| Some(s.counters.abandoned as f64),
    ),
    (
        "callcore_contacts_short_abandoned",
        "Abandons before the short-abandon threshold.",
        |s| Some(s.counters.short_abandoned as f64),
    ),
    (
        "callcore_contacts_handled",
        "Answered contacts whose conversation ended.",
        |s| Some(s.counters.handled as f64),
    ),
    ("callcore_answer_rate", "Answered / offered.", |s| {
        s.answer_rate
    }),
    ("callcore_abandonment_rate", "Abandoned / offered.", |s| {
        s.abandonment_rate
    }),
    (
        "callcore_service_level",
        "Service level by the configured formula (label formula).",
        |s| s.service_level,
    ),
    ("callcore_asa_seconds", "Average speed of answer.", |s| {
        s.asa_secs
    }),
    (
        "callcore_aht_seconds",
        "Average handle time: talk + hold + after-call work.",
        |s| s.aht_secs,
    ),
    ("callcore_talk_seconds_average", "Average talk time.", |s| {
        s.avg_talk_secs
    }),
    ("callcore_hold_seconds_average", "Average hold time.", |s| {
        s.avg_hold_secs
    }),
    (
        "callcore_wrap_up_seconds_average",
        "Average after-call work.",
        |s| s.avg_wrap_up_secs,
    ),
    (
        "callcore_occupancy",
        "Handling time / (handling + available idle time).",
        |s| s.occupancy,
    ),
    (
        "callcore_csat",
        "Share of satisfied survey answers (4-5 of 5).",
        |s| s.csat,
    ),
];

/// Renders `snapshot` in the Prometheus text format.
#[must_use]
pub fn render(snapshot: &LiveSnapshot) -> String {
    let mut out = String::new();
    let formula = serde_json::to_value(snapshot.service_level_formula)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    for (name, help, figure) in FIGURES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for row in &snapshot.rows {
            let windows = std::iter::once(("today".to_owned(), &row.today))
                .chain(row.windows.iter().map(|(secs, s)| (format!("{secs}s"), s)));
            for (window, summary) in windows {
                if let Some(v) = figure(summary) {
                    let mut extra = vec![("window", window.as_str())];
                    if *name == "callcore_service_level" {
                        extra.push(("formula", formula.as_str()));
                    }
                    let _ = writeln!(out, "{name}{{{}}} {v}", labels(&row.dimension, &extra));
                }
            }
        }
    }
    let gauges: [Gauge; 2] = [
        (
            "callcore_contacts_waiting",
            "Contacts waiting in queue now.",
            |r| f64::from(r.waiting),
        ),
        (
            "callcore_longest_wait_seconds",
            "The longest current wait.",
            |r| r.longest_wait_secs,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for row in snapshot.rows.iter().filter(|r| {
            matches!(
                r.dimension,
                Dimension::Queue { .. } | Dimension::Tenant { .. } | Dimension::Channel { .. }
            )
        }) {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                labels(&row.dimension, &[]),
                value(row)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP callcore_agents Agents by state.\n# TYPE callcore_agents gauge"
    );
    for (tenant, states) in &snapshot.agents_by_state {
        for (state, n) in states {
            let _ = writeln!(
                out,
                "callcore_agents{{tenant=\"{}\",state=\"{}\"}} {n}",
                escape(tenant.as_str()),
                escape(state)
            );
        }
    }
    out
}
