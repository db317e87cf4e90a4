//! Outbound campaigns from the config, run by callcore-dialer inside the
//! premise center: the leads CSV is imported at start, the pacer places calls
//! through the center's SIP transport, people who answer are handed to the
//! campaign's queue through the ACD (`CenterHandle::enqueue_outbound`, 2 s to
//! reach an agent, the safe-harbor message otherwise: counted abandoned), and
//! every attempt is stored in SQLite and journaled (`dial_attempted`) so the
//! live figures and reports have them.
//!
//! Where calls go: until the premise config has trunks, a campaign names its
//! carrier's address and each number is called at
//! `sip:<dial_prefix><number>@<carrier>`. With `trunk = "<name>"` instead, the
//! number goes to the SIP transport as a phone number and its dial plan picks
//! the trunk ([`Destination`]: the seam where `[[trunks]]` plugs in).
//!
//! ```toml
//! [[campaigns]]
//! name = "renewals"
//! queue = "support"
//! mode = "progressive"        # preview | progressive | power | predictive
//! leads = "leads.csv"         # a column `phone`, optional `id`, `time_zone`, `priority`, `consent`
//! region = "US"               # country of numbers without +; mobiles_need_consent_in = ["US"]
//! caller_id = "+14155550000"
//! carrier = "192.0.2.20:5060" # sip:<dial_prefix><number>@carrier
//! dial_prefix = ""
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    CampaignStore, Clock, CoreError, DialMode, Endpoint, Inbound, Leg, PlaceRequest, Transport,
};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, NumberPlan,
};
use callcore_dialer::{CampaignRunner, Pacer, RunSummary, strategy_for};
use callcore_runtime::CenterHandle;
use callcore_sip::center::SipTransport;
use callcore_sip::contact::FixedContact;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::PremiseError;
use crate::config::PremiseConfig;

/// `[[campaigns]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSection {
    /// The campaign's id (also its name in reports).
    pub name: String,
    /// The queue whose agents take the people who answer.
    pub queue: String,
    /// Pacing: `preview`, `progressive` (the default), `power`, `predictive`.
    #[serde(default = "progressive")]
    pub mode: DialMode,
    /// Lines per free agent in `power` mode.
    #[serde(default)]
    pub power_ratio: Option<f64>,
    /// The leads: a CSV file with a `phone` column (relative paths from the
    /// working directory).
    pub leads: PathBuf,
    /// The number presented to the people called.
    #[serde(default)]
    pub caller_id: String,
    /// The carrier's SIP address (`IP:port`): numbers are called at
    /// `sip:<dial_prefix><number>@<carrier>`.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Prepended to each number on the carrier.
    #[serde(default)]
    pub dial_prefix: String,
    /// Instead of `carrier`: the number goes to the SIP transport's dial plan
    /// (the trunks of the center), naming the trunk meant.
    #[serde(default)]
    pub trunk: Option<String>,
    /// Attempts per lead (retries follow callcore-dialer's rules).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Seconds a line rings before it counts as not answered.
    #[serde(default)]
    pub ring_timeout_secs: Option<u32>,
    /// Call at any hour (otherwise callcore-dialer's calling windows in each
    /// lead's time zone).
    #[serde(default)]
    pub any_hour: bool,
    /// The country of numbers written without an international prefix in
    /// the leads file (ISO 3166 code, `"GB"`); North America (`"US"`) when
    /// absent.
    #[serde(default)]
    pub region: Option<String>,
    /// Countries (ISO codes) whose mobile numbers are called only when the
    /// lead's `consent` column says yes (the US TCPA for autodialled calls to
    /// wireless numbers: `["US"]`; North American numbers count as possibly
    /// mobile, libphonenumber cannot tell).
    #[serde(default)]
    pub mobiles_need_consent_in: Vec<String>,
    /// Start with the center (otherwise [`Premise::start_campaign`](crate::Premise::start_campaign)).
    #[serde(default = "yes")]
    pub autostart: bool,
    /// The campaign stops dialing after this many minutes (calls in progress
    /// finish); it ends earlier when no lead is left.
    #[serde(default = "eight_hours")]
    pub run_minutes: u32,
}

fn progressive() -> DialMode {
    DialMode::Progressive
}
fn yes() -> bool {
    true
}
fn eight_hours() -> u32 {
    480
}

/// Where a campaign's calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `sip:<prefix><number>@<carrier>`.
    Carrier {
        /// The carrier's address.
        addr: SocketAddr,
        /// Prepended to each number.
        prefix: String,
    },
    /// The SIP transport's dial plan (its trunks); the trunk named.
    Trunk(String),
}

impl CampaignSection {
    /// Where the calls go.
    ///
    /// # Errors
    /// A message when neither or both of `carrier` and `trunk` are given, or
    /// the carrier is not `IP:port`.
    pub fn destination(&self) -> Result<Destination, String> {
        match (&self.carrier, &self.trunk) {
            (Some(c), None) => c
                .parse()
                .map(|addr| Destination::Carrier {
                    addr,
                    prefix: self.dial_prefix.clone(),
                })
                .map_err(|_| format!("`{c}` is not IP:port")),
            (None, Some(t)) => Ok(Destination::Trunk(t.clone())),
            _ => Err("give either `carrier` (IP:port) or `trunk`".to_owned()),
        }
    }
}

/// Checks the campaigns against the queues.
pub(crate) fn validate(config: &PremiseConfig) -> Result<(), PremiseError> {
    let field = |i: usize, f: &str, detail: String| PremiseError::Config {
        field: format!("campaigns[{i}].{f}"),
        detail,
    };
    for (i, c) in config.campaigns.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(field(i, "name", "must not be empty".into()));
        }
        if config.campaigns[..i].iter().any(|x| x.name == c.name) {
            return Err(field(i, "name", "duplicate campaign name".into()));
        }
        if !config.queues.iter().any(|q| q.id == c.queue) {
            return Err(field(i, "queue", format!("no queue `{}`", c.queue)));
        }
        if c.mode == DialMode::Notification {
            return Err(field(
                i,
                "mode",
                "preview, progressive, power or predictive (campaigns here reach agents)".into(),
            ));
        }
        c.destination().map_err(|e| {
            field(
                i,
                if c.trunk.is_some() {
                    "trunk"
                } else {
                    "carrier"
                },
                e,
            )
        })?;
    }
    Ok(())
}

/// Dials numbers at a carrier's address through the center's SIP transport
/// (until the premise has trunks): `sip:<prefix><number>@<carrier>`.
#[derive(Debug)]
struct CarrierDialer {
    sip: Arc<SipTransport>,
    addr: SocketAddr,
    prefix: String,
}

#[async_trait]
impl Transport for CarrierDialer {
    fn name(&self) -> &str {
        "carrier"
    }

    async fn accept(&self) -> Option<Inbound> {
        None // outbound only: the center's own SIP transport takes calls in
    }

    fn can_reach(&self, endpoint: &Endpoint) -> bool {
        matches!(endpoint, Endpoint::Phone(_))
    }

    async fn place(&self, mut request: PlaceRequest) -> Result<Box<dyn Leg>, CoreError> {
        let Endpoint::Phone(number) = &request.to else {
            return Err(CoreError::Unreachable("the carrier dials numbers".into()));
        };
        let uri = format!("sip:{}{number}@{}", self.prefix, self.addr);
        let contact =
            FixedContact::parse(&uri).map_err(|e| CoreError::Unreachable(e.to_string()))?;
        self.sip.set_fixed_contact(&uri, contact);
        request.to = Endpoint::Sip(uri);
        self.sip.place(request).await
    }
}

/// A running (or finished) campaign.
#[derive(Debug)]
pub(crate) struct RunningCampaign {
    task: JoinHandle<()>,
    done: watch::Receiver<Option<Result<RunSummary, String>>>,
}

/// The premise's campaigns.
#[derive(Debug, Default)]
pub(crate) struct Campaigns {
    running: Mutex<HashMap<String, RunningCampaign>>,
}

/// What a campaign needs from the premise.
pub(crate) struct CampaignDeps<'a> {
    pub(crate) config: &'a PremiseConfig,
    pub(crate) center: &'a CenterHandle,
    pub(crate) sip: &'a Arc<SipTransport>,
    pub(crate) store: Arc<dyn CampaignStore>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Campaigns {
    /// Starts the campaign named `name`.
    pub(crate) fn start(&self, name: &str, deps: &CampaignDeps<'_>) -> Result<(), PremiseError> {
        let (i, section) = deps
            .config
            .campaigns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| PremiseError::Config {
                field: "campaigns".into(),
                detail: format!("no campaign `{name}`"),
            })?;
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.get(name).is_some_and(|r| !r.task.is_finished()) {
            return Ok(());
        }
        let runner = runner(i, section, deps)?;
        let until = deps.clock.now() + Duration::from_secs(u64::from(section.run_minutes) * 60);
        let (tx, done) = watch::channel(None);
        let campaign = name.to_owned();
        let task = tokio::spawn(async move {
            let result = runner.run(until).await;
            match &result {
                Ok(s) => tracing::info!(%campaign, counters = ?s.counters, "campaign ended"),
                Err(e) => tracing::warn!(%campaign, error = %e, "campaign failed"),
            }
            let _ = tx.send(Some(result.map_err(|e| e.to_string())));
        });
        running.insert(name.to_owned(), RunningCampaign { task, done });
        Ok(())
    }

    /// Waits for the campaign to end (`None` when it never started, or not
    /// within `timeout`).
    pub(crate) async fn wait(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Option<Result<RunSummary, String>> {
        let mut done = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)?
            .done
            .clone();
        let ended = tokio::time::timeout(timeout, done.wait_for(Option::is_some)).await;
        ended.ok()?.ok().and_then(|r| r.clone())
    }

    pub(crate) fn stop_all(&self) {
        for r in self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
        {
            r.task.abort();
        }
    }
}

/// The campaign's runner: its leads imported, its pacer, where it dials.
fn runner(
    i: usize,
    section: &CampaignSection,
    deps: &CampaignDeps<'_>,
) -> Result<CampaignRunner, PremiseError> {
    let field = |f: &str, detail: String| PremiseError::Config {
        field: format!("campaigns[{i}].{f}"),
        detail,
    };
    let mut config = CampaignConfig::new(section.name.as_str(), section.mode);
    config.tenant = callcore::TenantId::new(deps.config.tenant.clone());
    config.name.clone_from(&section.name);
    config.queue = Some(section.queue.as_str().into());
    config.caller_id.clone_from(&section.caller_id);
    if let Some(r) = section.power_ratio {
        config.power_ratio = r;
    }
    if let Some(n) = section.max_attempts {
        config.max_attempts = n;
    }
    if let Some(s) = section.ring_timeout_secs {
        config.ring_timeout = Duration::from_secs(u64::from(s));
    }
    if section.any_hour {
        config.windows = CallingWindows::always();
    }
    if let Some(region) = &section.region {
        config.number_plan =
            NumberPlan::region(region).map_err(|e| field("region", e.to_string()))?;
    }
    config
        .mobiles
        .consent_required_in
        .clone_from(&section.mobiles_need_consent_in);
    // Streamed row by row (the file is never held whole in memory).
    let file = std::fs::File::open(&section.leads).map_err(|source| PremiseError::Io {
        what: section.leads.display().to_string(),
        source,
    })?;
    let dnc = DncLists::default();
    let report = callcore_dialer::rules::import_reader(
        file,
        &ImportSettings {
            tenant: config.tenant.clone(),
            campaign: config.id.clone(),
            number_plan: &config.number_plan,
            dnc: &dnc,
        },
    )
    .map_err(|e| field("leads", e.to_string()))?;
    for e in &report.errors {
        tracing::warn!(campaign = %section.name, line = e.row, column = e.column.as_deref().unwrap_or("-"), reason = %e.reason, "lead skipped");
    }
    let mut book = LeadBook::new(config, dnc);
    book.add_imported(report.leads)
        .map_err(|e| field("leads", e.to_string()))?;
    let strategy =
        strategy_for(section.mode).ok_or_else(|| field("mode", "not an agent mode".into()))?;
    let pacer = Pacer::new(book, strategy);
    let transport: Arc<dyn Transport> =
        match section.destination().map_err(|e| field("carrier", e))? {
            Destination::Carrier { addr, prefix } => Arc::new(CarrierDialer {
                sip: deps.sip.clone(),
                addr,
                prefix,
            }),
            // the dial plan of the SIP transport picks the trunk
            Destination::Trunk(_) => deps.sip.clone(),
        };
    let serving = serving_agents(deps.config, &section.queue);
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let center = deps.center.clone();
    tokio::spawn(async move {
        while let Some((_, tenant, kind)) = events_rx.recv().await {
            center.journal_event(&tenant, kind);
        }
    });
    Ok(
        CampaignRunner::new(pacer, transport, deps.store.clone(), deps.clock.clone())
            .center(deps.center.clone(), section.queue.as_str())
            .serving(serving)
            .events(events_tx),
    )
}

/// Agents who can take the queue's calls (the queue's skill, if any).
fn serving_agents(config: &PremiseConfig, queue: &str) -> Vec<String> {
    let skill = config
        .queues
        .iter()
        .find(|q| q.id == queue)
        .and_then(|q| q.skill.clone());
    config
        .agents
        .iter()
        .filter(|a| skill.as_ref().is_none_or(|s| a.skills.contains(s)))
        .map(|a| a.id.clone())
        .collect()
}
