//! Interval reports (callcore-analytics) replayed from the tenant's journal.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use callcore::Timestamp;
use callcore_analytics::report::{IntervalLength, Report, ReportKind, build_report_of_queues};
use callcore_analytics::{Dimension, MetricsConfig};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Authed, SupervisorUser};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathId, QueryArgs};
use crate::state::AppState;

/// Events before `from` replayed so that interactions in progress at `from`
/// count (as the premise's own reports do).
const REPLAY_BEFORE: Duration = Duration::from_secs(12 * 3600);
/// The longest report.
const MAX_SPAN_MS: i64 = 31 * 24 * 3600 * 1000;

/// A report's span.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Start (milliseconds since the epoch); default: 24 hours before `to`.
    pub from: Option<i64>,
    /// End, exclusive (milliseconds since the epoch); default: now.
    pub to: Option<i64>,
    /// `quarter_hour`, `hour` (default) or `day`.
    pub interval: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    field: &str,
    allowed: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| ApiError::bad_input(field, format!("one of {allowed}")))
}

/// A report of the tenant: `agent_performance`, `queue_service`,
/// `call_volume` or `campaigns`, per interval (at most 31 days). A
/// `queue_service` row also has `channels`: each channel's figures against
/// the queue's target for it (`target_secs`, `business_hours`, `goal`,
/// `offered`, `answered`, `answered_within_target`, `abandoned`,
/// `service_level`, `asa_secs`, `goal_met`; e-mail's wait counted in the
/// queue's business hours).
#[utoipa::path(get, path = "/api/v1/reports/{kind}", tag = "history",
    params(("kind" = String, Path, description = "agent_performance, queue_service, call_volume or campaigns"), ReportQuery),
    responses((status = 200, body = Object, description = "the report (callcore-analytics Report)"),
        (status = "4XX", body = ErrorBody, description = "bad kind or span"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn report(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(kind): PathId,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    let kind: ReportKind = parse(
        &kind,
        "kind",
        "agent_performance, queue_service, call_volume, campaigns",
    )?;
    let interval: IntervalLength = parse(
        q.interval.as_deref().unwrap_or("hour"),
        "interval",
        "quarter_hour, hour, day",
    )?;
    let to =
        q.to.unwrap_or_else(|| st.0.center.clock().now().as_millis());
    let from = q.from.unwrap_or(to.saturating_sub(24 * 3600 * 1000));
    if !(0..=i64::MAX / 4).contains(&to) {
        return Err(ApiError::bad_input("to", "milliseconds since the epoch"));
    }
    if from < 0 || from >= to {
        return Err(ApiError::bad_input("from", "before `to`, 0 or more"));
    }
    if to - from > MAX_SPAN_MS {
        return Err(ApiError::bad_input("to", "at most 31 days after `from`"));
    }
    let (from, to) = (Timestamp::from_millis(from), Timestamp::from_millis(to));
    st.0.center.flush().await;
    let events =
        st.0.center
            .stores()
            .events
            .between(&p.tenant, from - REPLAY_BEFORE, to)
            .await
            .map_err(|e| ApiError::from_core(&e, "kind"))?;
    let queues = st.0.live.queue_definitions(&p.tenant);
    let mut report = build_report_of_queues(
        &events,
        &queues,
        MetricsConfig::default(),
        kind,
        interval,
        from,
        to,
    )
    .map_err(|e| ApiError::bad_input("kind", e.to_string()))?;
    // a supervisor limited to queues: their queues' and agents' rows only
    if let Some(s) = st.scope(&p) {
        report.rows.retain(|r| match &r.dimension {
            Dimension::Queue { queue, .. } | Dimension::QueueChannel { queue, .. } => {
                s.queues.contains(queue)
            }
            Dimension::Agent { agent, .. } => s.agents.contains(agent),
            _ => false,
        });
    }
    Ok(Json(report))
}

/// The notification runs' reports.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NotificationReportList {
    /// The tenant's runs, oldest first.
    pub runs: Vec<crate::notifications::NotificationRunReport>,
}

/// The tenant's proactive notification runs (SMS and e-mail campaigns)
/// with their delivery results — sent, delivered, undelivered, failed,
/// opted out, without an address, pending — in total and per channel,
/// beside the voice campaigns' report (`/api/v1/reports/campaigns`). Empty
/// when the center runs none.
#[utoipa::path(get, path = "/api/v1/reports/notifications", tag = "history",
    responses((status = 200, body = NotificationReportList, description = "the runs and their figures"),
        (status = "4XX", body = ErrorBody, description = "not a supervisor")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn notifications(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
) -> Json<NotificationReportList> {
    let runs =
        st.0.notifications
            .as_ref()
            .map(|n| n.runs(&p.tenant))
            .unwrap_or_default();
    Json(NotificationReportList { runs })
}
