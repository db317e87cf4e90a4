//! Proactive notifications (`[[notifications]]`): a list of people, a
//! template, and one message each by SMS or e-mail — appointment reminders,
//! delivery notices, outage warnings — sent through the configured channels
//! with their rules (opt-outs, throttling), each result kept.
//!
//! ```toml
//! [[notifications]]
//! name = "reminders"
//! leads = "reminders.csv"     # columns: phone and/or email, any template variables,
//!                             # optional `channel` (sms | email) per lead
//! channel = "sms"             # the default channel: sms | email
//! template = "Hi {name}, see you on {date} at {time}. Reply STOP to opt out."
//! subject = "Your appointment" # e-mail only
//! per_second = 5              # messages started per second (the SMS link throttles too)
//! time_zone = "Europe/London" # the tenant's zone for start_at and allowed_hours (default UTC)
//! start_at = "2026-12-07T09:00"   # local; absent: at once
//! allowed_hours = [{ days = [1, 2, 3, 4, 5], open = "09:00", close = "20:00" }]  # absent: any hour
//! holidays = ["2026-12-25"]   # no message on these local dates
//! ```
//!
//! Messages go out only from `start_at` and inside `allowed_hours` (not on
//! `holidays`): outside them the run waits for the next allowed hour
//! ([`crate::notification_schedule`]); each lead keeps its channel, and a
//! number or address that opted out is skipped when its turn comes.
//!
//! The runs of the config start with the center; another starts at run time
//! with [`Premise::start_notifications`](crate::Premise::start_notifications)
//! (the next campaign: opt-outs taken since are respected). Each lead gets one result — `sent` (with
//! the message id), `opted_out`, `no_address`, `failed` (with why) — and for
//! SMS the message centre's delivery receipt later (`delivered`,
//! `undelivered`); [`Premise::notification_report`](crate::Premise::notification_report)
//! reads them, and when the run is over they are written to
//! `<data_dir>/notifications/<name>.csv`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::Clock;
use callcore_channels::{ChannelError, Inbox};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::PremiseError;
use crate::config::PremiseConfig;
use crate::notification_schedule::Schedule;

/// `[[notifications]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSection {
    /// The run's name (its results file).
    pub name: String,
    /// The leads: a CSV file with a header row.
    pub leads: PathBuf,
    /// The message, `{column}` replaced by the lead's value.
    pub template: String,
    /// The channel of leads without a `channel` column: `sms` or `email`.
    #[serde(default = "sms")]
    pub channel: String,
    /// The e-mail subject (`{column}` replaced too).
    #[serde(default)]
    pub subject: Option<String>,
    /// Messages started per second.
    #[serde(default = "five")]
    pub per_second: u32,
    /// The tenant's time zone (IANA) for `start_at`, `allowed_hours` and
    /// `holidays`; absent: UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Local date and time of the first message (`"2026-12-07T09:00"`);
    /// absent: at once.
    #[serde(default)]
    pub start_at: Option<String>,
    /// Local hours messages may go out in (weekdays 1 = Monday … 7);
    /// absent: any hour.
    #[serde(default)]
    pub allowed_hours: Vec<callcore::WorkingSpan>,
    /// Local dates (`YYYY-MM-DD`) no message goes out on.
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn sms() -> String {
    "sms".into()
}

const fn five() -> u32 {
    5
}

/// What became of one lead's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationResult {
    /// The lead's row (1 = the first after the header).
    pub row: usize,
    /// `sms` or `email`.
    pub channel: String,
    /// `sent`, `delivered`, `undelivered`, `opted_out`, `no_address`, `failed`.
    pub status: String,
    /// The sent message's id (SMS: the segments' ids).
    pub message_id: Option<String>,
    /// Why it failed, or the receipt's state.
    pub detail: Option<String>,
}

/// A run's results so far, shared with its task.
pub(crate) type Results = Arc<Mutex<Vec<NotificationResult>>>;

/// Where a run is: its leads' channels, and whether it waits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    /// Each lead's channel, in order (`sms`, `email`, or what the lead named).
    pub(crate) channels: Vec<String>,
    /// `scheduled`, `waiting`, `running` or `done`.
    pub(crate) state: &'static str,
    /// When the next message may go out, while the run waits.
    pub(crate) waiting_until: Option<callcore::Timestamp>,
    /// The run's time zone.
    pub(crate) time_zone: Option<String>,
}

/// A running (or finished) notification run.
#[derive(Debug)]
pub(crate) struct NotificationRun {
    pub(crate) name: String,
    pub(crate) results: Results,
    pub(crate) progress: Arc<Mutex<Progress>>,
    pub(crate) task: JoinHandle<()>,
}

impl Drop for NotificationRun {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn field(at: &str, name: &str, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: format!("{at}.{name}"),
        detail: detail.into(),
    }
}

/// One lead: its values by column.
type Lead = BTreeMap<String, String>;

/// A run ready to start: its section, schedule and leads.
pub(crate) type Loaded = (NotificationSection, Schedule, Vec<Lead>);

/// Reads and checks every `[[notifications]]`; errors name the field.
pub(crate) fn load(
    config: &PremiseConfig,
    now: callcore::Timestamp,
) -> Result<Vec<Loaded>, PremiseError> {
    config
        .notifications
        .iter()
        .enumerate()
        .map(|(i, n)| load_one(config, &format!("notifications[{i}]"), n, now))
        .collect()
}

/// Checks one run (at `at`: `notifications[0]`), its schedule, and reads
/// its leads.
pub(crate) fn load_one(
    config: &PremiseConfig,
    at: &str,
    n: &NotificationSection,
    now: callcore::Timestamp,
) -> Result<Loaded, PremiseError> {
    if n.name.trim().is_empty()
        || !n
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(field(at, "name", "letters, digits, - and _ only"));
    }
    channel_ok(config, &n.channel).map_err(|d| field(at, "channel", d))?;
    if n.template.trim().is_empty() {
        return Err(field(at, "template", "is empty"));
    }
    if n.per_second == 0 {
        return Err(field(at, "per_second", "must be above 0"));
    }
    let schedule = Schedule::of(n, at, now)?;
    let mut reader = csv::Reader::from_path(&n.leads)
        .map_err(|e| field(at, "leads", format!("{}: {e}", n.leads.display())))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| field(at, "leads", e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    if !header.iter().any(|h| h == "phone" || h == "email") {
        return Err(field(at, "leads", "needs a `phone` or an `email` column"));
    }
    let mut leads = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| field(at, "leads", format!("row {}: {e}", row + 1)))?;
        leads.push(
            header
                .iter()
                .cloned()
                .zip(record.iter().map(|v| v.trim().to_owned()))
                .collect(),
        );
    }
    Ok((n.clone(), schedule, leads))
}

/// The channel of `lead` (its `channel` column, else the run's).
fn channel_of(lead: &Lead, default: &str) -> String {
    lead.get("channel")
        .filter(|c| !c.is_empty())
        .map_or(default, String::as_str)
        .to_ascii_lowercase()
}

fn channel_ok(config: &PremiseConfig, channel: &str) -> Result<(), String> {
    match channel {
        "sms" if config.sms.is_some() => Ok(()),
        "email" if config.email.is_some() => Ok(()),
        "sms" | "email" => Err(format!("`{channel}` needs the [{channel}] section")),
        other => Err(format!("`{other}`: expected sms or email")),
    }
}

/// `{column}` replaced by the lead's values (as flows fill their prompts).
fn render(template: &str, lead: &Lead) -> String {
    callcore_ivr::flow::fill_template(template, lead)
}

/// Starts every run; each sends through the inbox of its leads' channels.
pub(crate) fn start(
    runs: Vec<Loaded>,
    sms: Option<Arc<Inbox>>,
    email: Option<Arc<Inbox>>,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
) -> Vec<NotificationRun> {
    runs.into_iter()
        .map(|(section, schedule, leads)| {
            let results: Results = Arc::default();
            let now = clock.now();
            let next = schedule.next_send(now).filter(|n| *n > now);
            let progress = Arc::new(Mutex::new(Progress {
                channels: leads
                    .iter()
                    .map(|l| channel_of(l, &section.channel))
                    .collect(),
                state: match next {
                    Some(_) if schedule.before_start(now) => "scheduled",
                    Some(_) => "waiting",
                    None => "running",
                },
                waiting_until: next,
                time_zone: section.time_zone.clone(),
            }));
            let name = section.name.clone();
            let task = tokio::spawn(run(
                (section, schedule, leads),
                (sms.clone(), email.clone()),
                clock.clone(),
                (results.clone(), progress.clone()),
                data_dir.clone(),
            ));
            NotificationRun {
                name,
                results,
                progress,
                task,
            }
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits until the schedule allows the next message; `false` when it never
/// will.
async fn wait_for_turn(schedule: &Schedule, clock: &dyn Clock, progress: &Mutex<Progress>) -> bool {
    loop {
        let now = clock.now();
        let Some(next) = schedule.next_send(now) else {
            return false;
        };
        if next <= now {
            let mut p = lock(progress);
            p.state = "running";
            p.waiting_until = None;
            return true;
        }
        {
            let mut p = lock(progress);
            p.state = if schedule.before_start(now) {
                "scheduled"
            } else {
                "waiting"
            };
            p.waiting_until = Some(next);
        }
        clock.sleep_until(next).await;
    }
}

async fn run(
    (section, schedule, leads): Loaded,
    (sms, email): (Option<Arc<Inbox>>, Option<Arc<Inbox>>),
    clock: Arc<dyn Clock>,
    (results, progress): (Results, Arc<Mutex<Progress>>),
    data_dir: PathBuf,
) {
    let gap = Duration::from_secs(1) / section.per_second.max(1);
    for (i, lead) in leads.iter().enumerate() {
        if !wait_for_turn(&schedule, clock.as_ref(), &progress).await {
            tracing::warn!(run = %section.name, "notification run: no allowed hour left");
            break;
        }
        let channel = channel_of(lead, &section.channel);
        let (inbox, address) = match channel.as_str() {
            "sms" => (sms.as_ref(), lead.get("phone")),
            "email" => (email.as_ref(), lead.get("email")),
            _ => (None, None),
        };
        let mut result = NotificationResult {
            row: i + 1,
            channel: channel.clone(),
            status: "no_address".into(),
            message_id: None,
            detail: None,
        };
        match (inbox, address.filter(|a| !a.is_empty())) {
            (None, _) => {
                result.status = "failed".into();
                result.detail = Some(format!("no {channel} channel configured"));
            }
            (Some(_), None) => {}
            (Some(inbox), Some(address)) => {
                let text = render(&section.template, lead);
                let subject = section.subject.as_ref().map(|s| render(s, lead));
                match inbox.notify(address, subject.as_deref(), &text).await {
                    Ok(id) => {
                        result.status = "sent".into();
                        result.message_id = Some(id);
                    }
                    Err(ChannelError::OptedOut) => result.status = "opted_out".into(),
                    Err(e) => {
                        result.status = "failed".into();
                        result.detail = Some(e.to_string());
                    }
                }
            }
        }
        tracing::info!(run = %section.name, row = i + 1, status = %result.status, "notification");
        results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(result);
        clock.sleep(gap).await;
    }
    {
        let mut p = lock(&progress);
        p.state = "done";
        p.waiting_until = None;
    }
    let done = lock(&results).clone();
    if let Err(e) = write(&data_dir, &section.name, &done) {
        tracing::error!(run = %section.name, error = %e, "notification results not written");
    }
}

/// Writes a run's results to `<data_dir>/notifications/<name>.csv`.
fn write(
    data_dir: &std::path::Path,
    name: &str,
    results: &[NotificationResult],
) -> Result<(), csv::Error> {
    let dir = data_dir.join("notifications");
    std::fs::create_dir_all(&dir)?;
    let mut w = csv::Writer::from_path(dir.join(format!("{name}.csv")))?;
    for r in results {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

/// `results` with the SMS receipts known so far (message id → final state).
pub(crate) fn with_receipts(
    results: &[NotificationResult],
    receipts: &std::collections::HashMap<String, String>,
) -> Vec<NotificationResult> {
    results
        .iter()
        .cloned()
        .map(|mut r| {
            if r.status == "sent"
                && let Some(ids) = &r.message_id
            {
                let states: Vec<&String> =
                    ids.split(',').filter_map(|id| receipts.get(id)).collect();
                if !states.is_empty() {
                    let all_delivered = states.len() == ids.split(',').count()
                        && states.iter().all(|s| s.as_str() == "DELIVRD");
                    r.status = if all_delivered {
                        "delivered".into()
                    } else if states.iter().any(|s| s.as_str() != "DELIVRD") {
                        "undelivered".into()
                    } else {
                        "sent".into()
                    };
                    r.detail = states.last().map(|s| (*s).clone());
                }
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_the_leads_columns() {
        let lead: Lead = [
            ("name".to_owned(), "Ann".to_owned()),
            ("date".into(), "5 May".into()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            render("Hi {name}, on {date}. {other}", &lead),
            "Hi Ann, on 5 May. {other}"
        );
    }

    #[test]
    fn receipts_turn_sent_into_delivered_or_undelivered() {
        let sent = |id: &str| NotificationResult {
            row: 1,
            channel: "sms".into(),
            status: "sent".into(),
            message_id: Some(id.into()),
            detail: None,
        };
        let receipts = [
            ("a".to_owned(), "DELIVRD".to_owned()),
            ("b".into(), "UNDELIV".into()),
        ]
        .into_iter()
        .collect();
        let r = with_receipts(&[sent("a"), sent("b"), sent("a,c"), sent("z")], &receipts);
        let status: Vec<&str> = r.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(status, ["delivered", "undelivered", "sent", "sent"]);
    }
}
