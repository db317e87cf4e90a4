//! When a notification run may send: its start (`start_at`, local) and its
//! allowed hours (`allowed_hours`, `holidays`), in the run's time zone (the
//! tenant's, `time_zone`; UTC without one). Sans-IO: an instant in, the
//! instant the next message may go out.
//!
//! ```toml
//! [[notifications]]
//! name = "reminders"
//! time_zone = "Europe/London"
//! start_at = "2026-12-07T09:00"            # local; absent: at once
//! allowed_hours = [{ days = [1, 2, 3, 4, 5], open = "09:00", close = "20:00" },
//!                  { days = [6], open = "10:00", close = "14:00" }]   # absent: any hour
//! holidays = ["2026-12-25"]                # no message on these local dates
//! ```
//!
//! A run whose messages reach the end of an allowed span waits for the next
//! one; leads keep their order and their channel.

use callcore::{Timestamp, WorkingHours, WorkingSpan};
use callcore_analytics::{AnalyticsError, BusinessCalendar};

use crate::PremiseError;
use crate::notifications::NotificationSection;

/// A run's start and allowed hours, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    calendar: BusinessCalendar,
    start: Option<Timestamp>,
}

fn field(at: &str, name: &str, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: format!("{at}.{name}"),
        detail: detail.into(),
    }
}

impl Schedule {
    /// The schedule of `section` (errors name `<at>.<field>`), checked to
    /// have an allowed hour after `now`.
    pub(crate) fn of(
        section: &NotificationSection,
        at: &str,
        now: Timestamp,
    ) -> Result<Self, PremiseError> {
        let weekly = if section.allowed_hours.is_empty() {
            vec![WorkingSpan {
                days: (1..=7).collect(),
                open: "00:00".into(),
                close: "24:00".into(),
            }]
        } else {
            section.allowed_hours.clone()
        };
        let hours = WorkingHours {
            time_zone: section.time_zone.clone(),
            utc_offset_minutes: 0,
            weekly,
            holidays: section.holidays.clone(),
        };
        let calendar = BusinessCalendar::new(&hours).map_err(|e| match e {
            AnalyticsError::Hours { field: f, reason } => {
                let f = f
                    .replace("hours.weekly", "allowed_hours")
                    .replace("hours.", "");
                field(at, &f, reason)
            }
            other => field(at, "allowed_hours", other.to_string()),
        })?;
        let start = match &section.start_at {
            None => None,
            Some(local) => Some(calendar.local_instant(local).ok_or_else(|| {
                field(
                    at,
                    "start_at",
                    format!("{local:?} is not a local YYYY-MM-DDTHH:MM"),
                )
            })?),
        };
        let schedule = Self { calendar, start };
        if schedule.next_send(now).is_none() {
            return Err(field(
                at,
                "allowed_hours",
                "no allowed hour in the next ten years",
            ));
        }
        Ok(schedule)
    }

    /// The first instant at or after `now` a message may go out: not before
    /// the start, inside the allowed hours, not on a holiday (`None`: never).
    pub(crate) fn next_send(&self, now: Timestamp) -> Option<Timestamp> {
        let from = self.start.map_or(now, |s| s.max(now));
        self.calendar.deadline(from, 0)
    }

    /// Before its start at `now`.
    pub(crate) fn before_start(&self, now: Timestamp) -> bool {
        self.start.is_some_and(|s| now < s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn section() -> NotificationSection {
        NotificationSection {
            name: "reminders".into(),
            leads: PathBuf::from("leads.csv"),
            template: "Hi".into(),
            channel: "sms".into(),
            subject: None,
            per_second: 5,
            time_zone: Some("Europe/London".into()),
            start_at: None,
            allowed_hours: vec![WorkingSpan {
                days: vec![1, 2, 3, 4, 5],
                open: "09:00".into(),
                close: "20:00".into(),
            }],
            holidays: vec!["2026-12-25".into()],
        }
    }

    /// UTC instants (London is on GMT in December).
    fn utc(d: u32, h: u32, m: u32) -> Timestamp {
        // 2026-12-01T00:00:00Z
        Timestamp::from_secs(1_796_083_200 + i64::from(((d - 1) * 24 + h) * 60 + m) * 60)
    }

    #[test]
    fn messages_wait_for_the_allowed_hours_the_start_and_skip_holidays() {
        let now = utc(1, 12, 0); // Tuesday 1 December, 12:00
        let s = Schedule::of(&section(), "notifications[0]", now).expect("valid");
        assert_eq!(s.next_send(now), Some(now), "inside the hours: at once");
        // Tuesday 21:00: waits for Wednesday 09:00.
        assert_eq!(s.next_send(utc(1, 21, 0)), Some(utc(2, 9, 0)));
        // Friday 20:00 (close is exclusive): waits for Monday 09:00.
        assert_eq!(s.next_send(utc(4, 20, 0)), Some(utc(7, 9, 0)));
        // Christmas Eve (Thursday) 22:00: Friday is a holiday, so Monday 28th.
        assert_eq!(s.next_send(utc(24, 22, 0)), Some(utc(28, 9, 0)));

        let mut later = section();
        later.start_at = Some("2026-12-05T10:30".into()); // a Saturday
        let s = Schedule::of(&later, "notifications[0]", now).expect("valid");
        assert!(s.before_start(now));
        assert_eq!(
            s.next_send(now),
            Some(utc(7, 9, 0)),
            "start on Saturday: Monday"
        );
        later.allowed_hours.clear();
        let s = Schedule::of(&later, "notifications[0]", now).expect("valid");
        assert_eq!(
            s.next_send(now),
            Some(utc(5, 10, 30)),
            "any hour: at the start"
        );
        assert_eq!(s.next_send(utc(6, 3, 0)), Some(utc(6, 3, 0)));
        assert!(!s.before_start(utc(5, 10, 30)));
    }

    #[test]
    fn a_start_in_the_tenants_zone_and_mistakes_name_the_field() {
        let mut s = section();
        s.time_zone = Some("America/New_York".into());
        s.allowed_hours.clear();
        s.start_at = Some("2026-12-01T09:00".into());
        let sched = Schedule::of(&s, "notifications[0]", utc(1, 0, 0)).expect("valid");
        assert_eq!(
            sched.next_send(utc(1, 0, 0)),
            Some(utc(1, 14, 0)),
            "09:00 EST"
        );

        let err = |s: NotificationSection| {
            Schedule::of(&s, "notifications[2]", utc(1, 0, 0))
                .unwrap_err()
                .to_string()
        };
        let mut bad = section();
        bad.start_at = Some("tomorrow".into());
        assert!(err(bad).contains("notifications[2].start_at"));
        let mut bad = section();
        bad.allowed_hours[0].open = "9am".into();
        assert!(err(bad).contains("notifications[2].allowed_hours[0].open"));
        let mut bad = section();
        bad.time_zone = Some("Atlantis/Capital".into());
        assert!(err(bad).contains("notifications[2].time_zone"));
        let mut bad = section();
        bad.holidays.push("soon".into());
        assert!(err(bad).contains("notifications[2].holidays[1]"));
    }
}
