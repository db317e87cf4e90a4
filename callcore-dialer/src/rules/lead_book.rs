//! The lead book: which lead to call next, and what happens to a lead after
//! each attempt. It enforces the campaign rules that concern leads: do-not-call
//! lists (checked at every pick), calling windows in the lead's zone, maximum
//! attempts, retry delays per disposition, the embargo after an abandoned call,
//! priority, and the campaign's [`MobileRules`](super::MobileRules) (consent
//! and hours for mobiles, by the number's country and line type).

use super::{CampaignConfig, DncLists, E164, ImportedLead, LeadZone, LineType};
use crate::DialerError;
use callcore::{Disposition, Lead, LeadId, LeadStatus, Timestamp};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// A lead handed out for dialing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadTicket {
    /// The lead.
    pub lead: LeadId,
    /// Its E.164 number.
    pub phone: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

#[derive(Debug, Clone)]
struct Entry {
    lead: Lead,
    priority: i32,
    zone: LeadZone,
    last: Option<Disposition>,
    line_type: LineType,
    region: Option<&'static str>,
    consent: bool,
}

type ReadyKey = (Reverse<i32>, Timestamp, usize);

/// The leads of one campaign and the rules that govern them.
#[derive(Debug)]
pub struct LeadBook {
    config: CampaignConfig,
    dnc: DncLists,
    entries: Vec<Entry>,
    by_id: HashMap<LeadId, usize>,
    /// Due leads by priority, then due time, then insertion order.
    ready: BTreeSet<ReadyKey>,
    /// Leads due later, by due time.
    scheduled: BTreeSet<(Timestamp, usize)>,
}

impl LeadBook {
    /// An empty book for a campaign.
    #[must_use]
    pub fn new(config: CampaignConfig, dnc: DncLists) -> Self {
        Self {
            config,
            dnc,
            entries: Vec::new(),
            by_id: HashMap::new(),
            ready: BTreeSet::new(),
            scheduled: BTreeSet::new(),
        }
    }

    /// The campaign's rules.
    #[must_use]
    pub fn config(&self) -> &CampaignConfig {
        &self.config
    }

    /// Adds imported leads (replacing any with the same id).
    ///
    /// # Errors
    /// [`DialerError::TimeZone`] for an unknown zone (the importer already rejects those).
    pub fn add_imported(
        &mut self,
        leads: impl IntoIterator<Item = ImportedLead>,
    ) -> Result<(), DialerError> {
        for l in leads {
            self.insert(l.lead, l.priority, (l.line_type, l.region), l.consent)?;
        }
        Ok(())
    }

    /// Adds one lead (replacing any with the same id), without recorded
    /// consent; its line type and country are read from its number.
    ///
    /// # Errors
    /// [`DialerError::TimeZone`] for an unknown zone.
    pub fn add(&mut self, lead: Lead, priority: i32) -> Result<(), DialerError> {
        let line = E164::parse(lead.phone.expose(), &self.config.number_plan)
            .map_or((LineType::Unknown, None), |n| (n.line_type(), n.region()));
        self.insert(lead, priority, line, false)
    }

    fn insert(
        &mut self,
        lead: Lead,
        priority: i32,
        (line_type, region): (LineType, Option<&'static str>),
        consent: bool,
    ) -> Result<(), DialerError> {
        let zone = match &lead.time_zone {
            Some(z) => LeadZone::named(z)?,
            None => self.config.default_zone.clone(),
        };
        let id = lead.id.clone();
        let entry = Entry {
            lead,
            priority,
            zone,
            last: None,
            line_type,
            region,
            consent,
        };
        let idx = if let Some(&i) = self.by_id.get(&id) {
            self.unindex(i);
            self.entries[i] = entry;
            i
        } else {
            self.entries.push(entry);
            self.entries.len() - 1
        };
        self.by_id.insert(id, idx);
        self.index(idx);
        Ok(())
    }

    fn unindex(&mut self, i: usize) {
        let e = &self.entries[i];
        let due = e.lead.next_attempt_at.unwrap_or(Timestamp::EPOCH);
        self.ready.remove(&(Reverse(e.priority), due, i));
        self.scheduled.remove(&(due, i));
    }

    fn index(&mut self, i: usize) {
        let e = &self.entries[i];
        if e.lead.status == LeadStatus::Pending {
            let due = e.lead.next_attempt_at.unwrap_or(Timestamp::EPOCH);
            self.scheduled.insert((due, i));
        }
    }

    /// Leads still to be called (pending), including those due later.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.ready.len() + self.scheduled.len()
    }

    /// One lead's current record.
    #[must_use]
    pub fn lead(&self, id: &LeadId) -> Option<&Lead> {
        self.by_id.get(id).map(|&i| &self.entries[i].lead)
    }

    /// Every lead, in insertion order.
    pub fn leads(&self) -> impl Iterator<Item = &Lead> {
        self.entries.iter().map(|e| &e.lead)
    }

    /// When the next scheduled lead becomes due, if none is due now.
    #[must_use]
    pub fn next_due(&self) -> Option<Timestamp> {
        if self.ready.is_empty() {
            self.scheduled.first().map(|(t, _)| *t)
        } else {
            None
        }
    }

    /// The best lead to call now, marked `Dialing` with its attempt counted; or
    /// `None` when no lead may be called now. Leads found on a DNC list are
    /// closed; leads outside their window are rescheduled to its next opening.
    pub fn take_next(&mut self, now: Timestamp) -> Option<LeadTicket> {
        while let Some(&(due, i)) = self.scheduled.first() {
            if due > now {
                break;
            }
            self.scheduled.pop_first();
            self.ready
                .insert((Reverse(self.entries[i].priority), due, i));
        }
        while let Some((_, _, i)) = self.ready.pop_first() {
            let e = &mut self.entries[i];
            if e.lead.attempts >= self.config.max_attempts {
                e.lead.status = LeadStatus::Closed;
                continue;
            }
            if self.dnc.blocks(e.lead.phone.expose()) {
                tracing::debug!(lead = %e.lead.id, "closed: on a do-not-call list");
                e.lead.status = LeadStatus::Closed;
                continue;
            }
            if !self.config.mobiles.allows(e.region, e.line_type, e.consent) {
                tracing::debug!(lead = %e.lead.id, "closed: a mobile without consent");
                e.lead.status = LeadStatus::Closed;
                continue;
            }
            let windows = match &self.config.mobiles.windows {
                Some(w) if e.line_type.may_be_mobile() => w,
                _ => &self.config.windows,
            };
            if !windows.allows(&e.zone, now) {
                if let Some(open) = windows.next_open(&e.zone, now) {
                    e.lead.next_attempt_at = Some(open);
                    self.scheduled.insert((open, i));
                } else {
                    e.lead.status = LeadStatus::Closed;
                }
                continue;
            }
            e.lead.attempts += 1;
            e.lead.status = LeadStatus::Dialing;
            return Some(LeadTicket {
                lead: e.lead.id.clone(),
                phone: e.lead.phone.expose().clone(),
                attempt: e.lead.attempts,
            });
        }
        None
    }

    /// Gives a lead back without an attempt (a preview the agent skipped, a
    /// dial that could not start): the attempt is uncounted and it is due at
    /// once again, after the leads of its priority already waiting.
    ///
    /// # Errors
    /// [`DialerError::UnknownLead`].
    pub fn release(&mut self, id: &LeadId, now: Timestamp) -> Result<&Lead, DialerError> {
        let i = *self
            .by_id
            .get(id)
            .ok_or_else(|| DialerError::UnknownLead(id.to_string()))?;
        let e = &mut self.entries[i];
        if e.lead.status == LeadStatus::Dialing {
            e.lead.attempts = e.lead.attempts.saturating_sub(1);
            e.lead.status = LeadStatus::Pending;
            e.lead.next_attempt_at = Some(now);
            self.scheduled.insert((now, i));
        }
        Ok(&self.entries[i].lead)
    }

    /// Records how an attempt ended and schedules the lead's next attempt, or
    /// closes it. Returns the updated lead, to be stored.
    ///
    /// # Errors
    /// [`DialerError::UnknownLead`].
    pub fn record(
        &mut self,
        id: &LeadId,
        disposition: &Disposition,
        now: Timestamp,
    ) -> Result<&Lead, DialerError> {
        let i = *self
            .by_id
            .get(id)
            .ok_or_else(|| DialerError::UnknownLead(id.to_string()))?;
        let retry = self.config.retry.after(disposition);
        let embargo = self.config.abandonment.embargo;
        let max = self.config.max_attempts;
        let e = &mut self.entries[i];
        e.last = Some(disposition.clone());
        let delay = match disposition {
            Disposition::Abandoned => retry.map(|d| d.max(embargo)),
            _ => retry,
        };
        match delay {
            Some(d) if e.lead.attempts < max => {
                let due = now + d;
                e.lead.status = LeadStatus::Pending;
                e.lead.next_attempt_at = Some(due);
                self.scheduled.insert((due, i));
            }
            _ => {
                e.lead.status = if matches!(
                    disposition,
                    Disposition::AnsweredPerson | Disposition::Agent(_)
                ) {
                    LeadStatus::Done
                } else {
                    LeadStatus::Closed
                };
                e.lead.next_attempt_at = None;
            }
        }
        Ok(&self.entries[i].lead)
    }

    /// Recycles the list: leads closed only because their attempts ran out
    /// after a retryable disposition (busy, no answer, machine, congestion,
    /// abandoned) get `extra_attempts` more, due after `delay`. Invalid numbers,
    /// DNC and reached leads stay closed. Returns how many were recycled.
    pub fn recycle(&mut self, extra_attempts: u32, delay: Duration, now: Timestamp) -> usize {
        let mut n = 0;
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            let retryable = e
                .last
                .as_ref()
                .is_some_and(|d| self.config.retry.after(d).is_some());
            if e.lead.status == LeadStatus::Closed
                && retryable
                && e.lead.attempts >= self.config.max_attempts
            {
                e.lead.attempts = self.config.max_attempts.saturating_sub(extra_attempts);
                e.lead.status = LeadStatus::Pending;
                let due = now + delay;
                e.lead.next_attempt_at = Some(due);
                self.scheduled.insert((due, i));
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{CallingWindows, ImportSettings, NumberPlan, import_csv};
    use callcore::DialMode;

    const MONDAY_NOON_UTC: i64 = 1_767_614_400;

    fn book(region: &str, csv: &str, rules: super::super::MobileRules) -> LeadBook {
        let mut config = CampaignConfig::new("c", DialMode::Progressive);
        config.windows = CallingWindows::always();
        config.number_plan = NumberPlan::region(region).unwrap();
        config.mobiles = rules;
        let dnc = DncLists::default();
        let report = import_csv(
            csv,
            &ImportSettings {
                tenant: config.tenant.clone(),
                campaign: config.id.clone(),
                number_plan: &config.number_plan,
                dnc: &dnc,
            },
        )
        .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let mut book = LeadBook::new(config, dnc);
        book.add_imported(report.leads).unwrap();
        book
    }

    fn called(book: &mut LeadBook, at: Timestamp) -> Vec<String> {
        std::iter::from_fn(|| book.take_next(at))
            .map(|t| t.lead.to_string())
            .collect()
    }

    #[test]
    fn mobiles_without_consent_are_not_called_where_the_rule_applies() {
        let rules = super::super::MobileRules {
            consent_required_in: vec!["GB".into()],
            windows: None,
        };
        let csv = "id,phone,consent\n\
                   fixed,020 7946 0018,\n\
                   mobile,07400 123456,no\n\
                   consented,07400 123457,yes\n\
                   abroad,+33 6 12 34 56 78,\n";
        let mut b = book("GB", csv, rules);
        let now = Timestamp::from_secs(MONDAY_NOON_UTC);
        assert_eq!(called(&mut b, now), ["fixed", "consented", "abroad"]);
        let mobile = b.lead(&LeadId::new("mobile")).unwrap();
        assert_eq!((mobile.status, mobile.attempts), (LeadStatus::Closed, 0));
    }

    #[test]
    fn north_american_numbers_count_as_possibly_mobile() {
        let rules = super::super::MobileRules {
            consent_required_in: vec!["US".into()],
            windows: None,
        };
        let csv = "id,phone,consent\nno,212 555 2368,\nyes,212 555 2369,y\n";
        let mut b = book("US", csv, rules);
        assert_eq!(
            called(&mut b, Timestamp::from_secs(MONDAY_NOON_UTC)),
            ["yes"]
        );
    }

    #[test]
    fn mobiles_keep_their_own_hours() {
        let rules = super::super::MobileRules {
            consent_required_in: Vec::new(),
            windows: Some(CallingWindows::every_day(14 * 60, 15 * 60).unwrap()),
        };
        let csv = "id,phone\nfixed,030 1234567\nmobile,0151 23456789\n";
        let mut b = book("DE", csv, rules);
        let noon = Timestamp::from_secs(MONDAY_NOON_UTC);
        assert_eq!(called(&mut b, noon), ["fixed"]);
        let mobile = b.lead(&LeadId::new("mobile")).unwrap();
        assert_eq!(
            mobile.next_attempt_at,
            Some(Timestamp::from_secs(MONDAY_NOON_UTC + 2 * 3600))
        );
        let two_pm = Timestamp::from_secs(MONDAY_NOON_UTC + 2 * 3600);
        assert_eq!(called(&mut b, two_pm), ["mobile"]);
    }
}
