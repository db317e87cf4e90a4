//! A campaign's rules: the richer configuration the dialer runs on, mapped onto
//! callcore's stored [`Campaign`].

use super::{CallingWindows, LeadZone, NumberPlan};
use crate::DialerError;
use callcore::{Campaign, CampaignId, DialMode, Disposition, QueueId, TenantId};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// An abandonment rule set as a regulator writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AbandonmentRules {
    /// Most abandoned calls as a fraction of calls answered by a person
    /// (0.03 = 3%).
    pub cap: f64,
    /// The rolling period the rate is measured over.
    pub period: Duration,
    /// A person who answers must reach an agent within this long, or the call
    /// counts as abandoned (and hears the safe-harbor message).
    pub connect_within: Duration,
    /// Do not call an abandoned number again within this long.
    pub embargo: Duration,
}

impl AbandonmentRules {
    /// US: FTC Telemarketing Sales Rule and FCC 47 CFR 64.1200(a)(7): 3% of calls
    /// answered by a person, per campaign, over a rolling 30 days; two seconds to
    /// connect; no statutory embargo (one day here, a courtesy).
    #[must_use]
    pub fn us_tsr() -> Self {
        Self {
            cap: 0.03,
            period: 30 * DAY,
            connect_within: Duration::from_secs(2),
            embargo: DAY,
        }
    }

    /// UK: Ofcom's persistent-misuse policy: 3% over 24 hours, two seconds to
    /// connect, and an abandoned number is not called again with an agent within
    /// 72 hours.
    #[must_use]
    pub fn uk_ofcom() -> Self {
        Self {
            cap: 0.03,
            period: DAY,
            connect_within: Duration::from_secs(2),
            embargo: 72 * HOUR,
        }
    }
}

/// When to call a lead again after each disposition. `None` means never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRules {
    /// After a busy signal.
    pub busy: Option<Duration>,
    /// After ringing without answer.
    pub no_answer: Option<Duration>,
    /// After an answering machine.
    pub answering_machine: Option<Duration>,
    /// After a network or trunk failure.
    pub congestion: Option<Duration>,
    /// After an abandoned call (the embargo still applies on top).
    pub abandoned: Option<Duration>,
}

impl Default for RetryRules {
    /// Busy again in 5 minutes, no answer in 2 hours, machine in 4 hours,
    /// congestion in 10 minutes, abandoned after the embargo.
    fn default() -> Self {
        Self {
            busy: Some(5 * MINUTE),
            no_answer: Some(2 * HOUR),
            answering_machine: Some(4 * HOUR),
            congestion: Some(10 * MINUTE),
            abandoned: Some(Duration::ZERO),
        }
    }
}

impl RetryRules {
    /// The delay before the next attempt after `d`; `None` when the lead is not
    /// to be retried (reached, invalid number, wrap-up code).
    #[must_use]
    pub fn after(&self, d: &Disposition) -> Option<Duration> {
        match d {
            Disposition::Busy => self.busy,
            Disposition::NoAnswer => self.no_answer,
            Disposition::AnsweringMachine => self.answering_machine,
            Disposition::Congestion => self.congestion,
            Disposition::Abandoned => self.abandoned,
            _ => None,
        }
    }
}

/// What a campaign does about mobile numbers, whose rules differ in many
/// countries: the US TCPA (47 U.S.C. 227(b)) forbids autodialled or
/// prerecorded calls to wireless numbers without the called party's prior
/// express consent; some regulators set shorter hours for mobiles.
///
/// A number "may be mobile" when its country's plan says mobile, or cannot
/// tell ([`LineType::FixedLineOrMobile`](super::LineType): all of North
/// America, where mobiles and fixed lines share area codes), so a consent rule
/// for `US` covers every US number whose lead has no consent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MobileRules {
    /// Countries (ISO 3166 codes, `"US"`) whose possibly-mobile numbers are
    /// only called when the lead records consent (the `consent` column of the
    /// lead file); the others are closed at their next pick. Empty by default:
    /// a campaign states its own legal basis.
    pub consent_required_in: Vec<String>,
    /// Calling hours for possibly-mobile numbers, instead of the campaign's
    /// `windows` (`None`: the same hours).
    pub windows: Option<CallingWindows>,
}

impl MobileRules {
    /// Whether a lead of this country and line type may be called given its
    /// consent.
    #[must_use]
    pub fn allows(&self, region: Option<&str>, line: super::LineType, consent: bool) -> bool {
        consent
            || !line.may_be_mobile()
            || !region.is_some_and(|r| {
                self.consent_required_in
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(r))
            })
    }
}

/// Everything a campaign runs on.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Id.
    pub id: CampaignId,
    /// Tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// The queue whose agents take answered calls.
    pub queue: Option<QueueId>,
    /// Pacing mode.
    pub mode: DialMode,
    /// Lines per agent in power mode.
    pub power_ratio: f64,
    /// Caller id presented (E.164).
    pub caller_id: String,
    /// Most attempts per lead.
    pub max_attempts: u32,
    /// Retry delays per disposition.
    pub retry: RetryRules,
    /// Abandonment rule set.
    pub abandonment: AbandonmentRules,
    /// The message played to a person who answers when no agent is free in time.
    pub safe_harbor_message: String,
    /// What an agentless notification campaign says to whoever answers.
    pub notification_message: String,
    /// How long a call rings before it is given up as no answer.
    pub ring_timeout: Duration,
    /// The least the dialer lets a call ring before giving up (15 s by default;
    /// [`Self::validate`] keeps `ring_timeout` at or above it).
    pub min_ring_time: Duration,
    /// Local calling hours.
    pub windows: CallingWindows,
    /// Zone for leads without one.
    pub default_zone: LeadZone,
    /// Numbering plan for national numbers in lead files.
    pub number_plan: NumberPlan,
    /// Consent and hours for mobile numbers.
    pub mobiles: MobileRules,
}

impl CampaignConfig {
    /// A campaign with the defaults: US rules, TCPA hours in UTC for leads
    /// without a zone, 3 attempts, 25 s ring time.
    pub fn new(id: impl Into<CampaignId>, mode: DialMode) -> Self {
        let id = id.into();
        Self {
            name: id.to_string(),
            id,
            tenant: TenantId::default(),
            queue: None,
            mode,
            power_ratio: 2.0,
            caller_id: "+15550000000".to_owned(),
            max_attempts: 3,
            retry: RetryRules::default(),
            abandonment: AbandonmentRules::us_tsr(),
            safe_harbor_message: "Sorry we missed you. This call was from callcore. To opt out of future calls, call us back and press 9.".to_owned(),
            notification_message: "This is a reminder from callcore.".to_owned(),
            ring_timeout: Duration::from_secs(25),
            min_ring_time: Duration::from_secs(15),
            windows: CallingWindows::default(),
            default_zone: LeadZone::utc(),
            number_plan: NumberPlan::default(),
            mobiles: MobileRules::default(),
        }
    }

    /// Checks every field, naming the first one out of range.
    ///
    /// # Errors
    /// [`DialerError::Config`].
    pub fn validate(&self) -> Result<(), DialerError> {
        let bad = |field, reason: &str| {
            Err(DialerError::Config {
                field,
                reason: reason.to_owned(),
            })
        };
        if !(self.abandonment.cap > 0.0 && self.abandonment.cap < 1.0) {
            return bad("abandonment.cap", "must be a fraction in (0, 1)");
        }
        if self.abandonment.period < MINUTE {
            return bad("abandonment.period", "must be at least a minute");
        }
        if self.abandonment.connect_within.is_zero() {
            return bad("abandonment.connect_within", "must be positive");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1");
        }
        if self.ring_timeout < self.min_ring_time {
            return bad("ring_timeout", "shorter than the minimum ring time");
        }
        if !(self.power_ratio >= 1.0 && self.power_ratio <= 20.0) {
            return bad("power_ratio", "must be within 1..=20 lines per agent");
        }
        if self.caller_id.trim().is_empty() {
            return bad("caller_id", "must be set (regulators require a caller id)");
        }
        Ok(())
    }

    /// The callcore record of this campaign.
    #[must_use]
    pub fn to_campaign(&self) -> Campaign {
        Campaign {
            id: self.id.clone(),
            tenant: self.tenant.clone(),
            name: self.name.clone(),
            queue: self.queue.clone(),
            mode: self.mode,
            caller_id: self.caller_id.clone(),
            max_attempts: self.max_attempts,
            abandon_cap: self.abandonment.cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_name_the_field() {
        let c = CampaignConfig::new("spring", DialMode::Predictive);
        c.validate().unwrap();
        assert_eq!(c.to_campaign().abandon_cap, 0.03);
        let mut short = c.clone();
        short.ring_timeout = Duration::from_secs(10);
        let err = short.validate().unwrap_err().to_string();
        assert!(err.contains("ring_timeout"), "{err}");
        let mut cap = c;
        cap.abandonment.cap = 1.5;
        assert!(
            cap.validate()
                .unwrap_err()
                .to_string()
                .contains("abandonment.cap")
        );
    }

    #[test]
    fn retry_rules_follow_the_disposition() {
        let r = RetryRules::default();
        assert_eq!(r.after(&Disposition::Busy), Some(5 * MINUTE));
        assert_eq!(r.after(&Disposition::NoAnswer), Some(2 * HOUR));
        assert_eq!(r.after(&Disposition::InvalidNumber), None);
        assert_eq!(r.after(&Disposition::AnsweredPerson), None);
        assert_eq!(AbandonmentRules::uk_ofcom().embargo, 72 * HOUR);
    }
}
