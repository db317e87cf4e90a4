//! The operations API of a running premise center: agents' states by name and
//! reason code, live figures (and their Prometheus text), the `queue_log`,
//! interval reports from the journal, and campaigns.

use std::sync::Arc;
use std::time::Duration;

use callcore::{AgentId, CampaignStore, Clock, EventJournal, TenantId, Timestamp};
use callcore_analytics::report::{IntervalLength, Report, ReportKind, build_report};
use callcore_analytics::{LiveSnapshot, MetricsConfig, prometheus};
use callcore_dialer::RunSummary;

use crate::analytics::Analytics;
use crate::campaigns::{CampaignDeps, Campaigns};
use crate::{Premise, PremiseError};

/// How far before a report's start the journal is replayed, so that calls and
/// agent states in progress at the start are counted right.
const REPLAY_BEFORE: Duration = Duration::from_secs(12 * 3600);

/// What the premise runs beside the center.
pub(crate) struct CenterOps {
    analytics: Analytics,
    campaigns: Campaigns,
    campaign_store: Arc<dyn CampaignStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CenterOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterOps")
            .field("analytics", &self.analytics)
            .field("campaigns", &self.campaigns)
            .finish_non_exhaustive()
    }
}

impl CenterOps {
    pub(crate) fn new(
        analytics: Analytics,
        campaign_store: Arc<dyn CampaignStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        CenterOps {
            analytics,
            campaigns: Campaigns::default(),
            campaign_store,
            clock,
        }
    }

    pub(crate) fn stop(&self) {
        self.campaigns.stop_all();
        self.analytics.stop();
    }
}

impl Premise {
    /// Sets an agent's state as the agent or a supervisor writes it:
    /// `"available"`, `"not_ready:<reason>"` (a code of `agent_states.reasons`)
    /// or `"offline"`. Independent of the phone's registration.
    ///
    /// # Errors
    /// [`PremiseError::Config`] (`agent_states.reasons`) for an unknown reason
    /// or state; the center's error when the state machine refuses the move.
    pub async fn set_agent_state(&self, agent: &str, state: &str) -> Result<(), PremiseError> {
        let state = self
            .config
            .agent_states
            .parse_state(state)
            .map_err(|detail| PremiseError::Config {
                field: "agent_states.reasons".into(),
                detail,
            })?;
        Ok(self
            .center
            .set_agent_state(&AgentId::new(agent), state)
            .await?)
    }

    /// Live queue and agent figures now (since midnight, and over the last 15
    /// minutes and hour).
    pub fn live(&self) -> LiveSnapshot {
        self.center_ops.analytics.live()
    }

    /// The live figures in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        prometheus::render(&self.live())
    }

    /// The `queue_log` file, when `analytics.queue_log` is on.
    pub fn queue_log_path(&self) -> Option<&std::path::Path> {
        self.center_ops.analytics.queue_log_path()
    }

    /// An interval report (`from <= t < to`, per 15 minutes, hour or day)
    /// replayed from the SQLite journal; `to_csv()` / `to_json()` export it.
    ///
    /// # Errors
    /// The store failed.
    pub async fn report(
        &self,
        kind: ReportKind,
        from: Timestamp,
        to: Timestamp,
        interval: IntervalLength,
    ) -> Result<Report, PremiseError> {
        self.center.flush().await;
        let events = EventJournal::between(
            &*self.store.events,
            &TenantId::new(self.config.tenant.clone()),
            from - REPLAY_BEFORE,
            to,
        )
        .await?;
        build_report(&events, MetricsConfig::default(), kind, interval, from, to)
            .map_err(|e| PremiseError::Store(e.to_string()))
    }

    /// Starts a campaign of the config (those with `autostart` start with the
    /// center); nothing happens when it is already running.
    ///
    /// # Errors
    /// No such campaign, or its leads cannot be read.
    pub fn start_campaign(&self, name: &str) -> Result<(), PremiseError> {
        self.center_ops.campaigns.start(
            name,
            &CampaignDeps {
                config: &self.config,
                center: &self.center,
                sip: &self.sip,
                store: self.center_ops.campaign_store.clone(),
                clock: self.center_ops.clock.clone(),
            },
        )
    }

    /// Waits up to `timeout` for a campaign to end and returns its figures
    /// (dialed, answered, connected, abandoned ...); `None` when it was not
    /// started or is still running; `Some(Err)` with the reason it failed.
    pub async fn wait_campaign(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Option<Result<RunSummary, String>> {
        self.center_ops.campaigns.wait(name, timeout).await
    }

    pub(crate) fn start_autostart_campaigns(&self) -> Result<(), PremiseError> {
        let names: Vec<String> = self
            .config
            .campaigns
            .iter()
            .filter(|c| c.autostart)
            .map(|c| c.name.clone())
            .collect();
        for name in names {
            self.start_campaign(&name)?;
        }
        Ok(())
    }
}
