//! Notification runs as the web API reports them
//! (`GET /api/v1/reports/notifications`, beside the voice campaigns): the
//! runs of the center, their results with the SMS delivery receipts known so
//! far, counted in total and per channel.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use callcore::TenantId;
use callcore_channels::sms::SmsCounters;
use callcore_web::notifications::{
    NotificationFigures, NotificationReports, NotificationRunReport,
};

use crate::notifications::{NotificationResult, NotificationRun, Progress, with_receipts};

/// Every notification run of the center, shared by the premise and its web
/// API.
#[derive(Debug)]
pub(crate) struct NotificationBook {
    tenant: TenantId,
    pub(crate) runs: Mutex<Vec<NotificationRun>>,
    /// The SMS channel's counters (its delivery receipts), once it runs.
    pub(crate) sms: OnceLock<Arc<SmsCounters>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl NotificationBook {
    pub(crate) fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            runs: Mutex::new(Vec::new()),
            sms: OnceLock::new(),
        }
    }

    fn receipts(&self) -> HashMap<String, String> {
        self.sms
            .get()
            .map(|c| lock(&c.receipts).clone())
            .unwrap_or_default()
    }

    /// The results of the newest run called `name`, receipts included.
    pub(crate) fn report(&self, name: &str) -> Option<Vec<NotificationResult>> {
        let results = lock(
            &lock(&self.runs)
                .iter()
                .rev()
                .find(|r| r.name == name)?
                .results,
        )
        .clone();
        Some(with_receipts(&results, &self.receipts()))
    }
}

/// Counts one result into `f`.
fn count(f: &mut NotificationFigures, status: &str) {
    match status {
        "sent" => f.sent += 1,
        "delivered" => {
            f.sent += 1;
            f.delivered += 1;
        }
        "undelivered" => {
            f.sent += 1;
            f.undelivered += 1;
        }
        "opted_out" => f.opted_out += 1,
        "no_address" => f.no_address += 1,
        _ => f.failed += 1,
    }
}

/// A run's figures: every lead counted once, in total and under its
/// channel; leads without a result yet are `pending`.
pub(crate) fn figures(
    progress: &Progress,
    results: &[NotificationResult],
) -> (NotificationFigures, BTreeMap<String, NotificationFigures>) {
    let mut totals = NotificationFigures::default();
    let mut channels: BTreeMap<String, NotificationFigures> = BTreeMap::new();
    for (i, channel) in progress.channels.iter().enumerate() {
        let per = channels.entry(channel.clone()).or_default();
        per.leads += 1;
        totals.leads += 1;
        match results.iter().find(|r| r.row == i + 1) {
            Some(r) => {
                count(per, &r.status);
                count(&mut totals, &r.status);
            }
            None => {
                per.pending += 1;
                totals.pending += 1;
            }
        }
    }
    (totals, channels)
}

impl NotificationReports for NotificationBook {
    fn runs(&self, tenant: &TenantId) -> Vec<NotificationRunReport> {
        if *tenant != self.tenant {
            return Vec::new();
        }
        let receipts = self.receipts();
        lock(&self.runs)
            .iter()
            .map(|run| {
                let progress = lock(&run.progress).clone();
                let results = with_receipts(&lock(&run.results), &receipts);
                let (totals, channels) = figures(&progress, &results);
                NotificationRunReport {
                    name: run.name.clone(),
                    state: progress.state.to_owned(),
                    waiting_until_ms: progress.waiting_until.map(callcore::Timestamp::as_millis),
                    time_zone: progress.time_zone.clone(),
                    totals,
                    channels,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lead_is_counted_once_in_total_and_under_its_channel() {
        let progress = Progress {
            channels: vec![
                "sms".into(),
                "sms".into(),
                "email".into(),
                "sms".into(),
                "email".into(),
            ],
            state: "running",
            waiting_until: None,
            time_zone: None,
        };
        let result = |row: usize, channel: &str, status: &str| NotificationResult {
            row,
            channel: channel.into(),
            status: status.into(),
            message_id: None,
            detail: None,
        };
        let results = [
            result(1, "sms", "delivered"),
            result(2, "sms", "opted_out"),
            result(3, "email", "sent"),
            result(4, "sms", "failed"),
        ];
        let (totals, channels) = figures(&progress, &results);
        assert_eq!(
            (
                totals.leads,
                totals.sent,
                totals.delivered,
                totals.opted_out,
                totals.failed,
                totals.pending
            ),
            (5, 2, 1, 1, 1, 1)
        );
        let sms = &channels["sms"];
        assert_eq!(
            (
                sms.leads,
                sms.sent,
                sms.delivered,
                sms.opted_out,
                sms.failed
            ),
            (3, 1, 1, 1, 1)
        );
        let email = &channels["email"];
        assert_eq!((email.leads, email.sent, email.pending), (2, 1, 1));
    }
}
