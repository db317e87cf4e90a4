//! Business hours and holidays in a fixed-offset time zone.

use serde::{Deserialize, Serialize};

use crate::error::IvrError;

/// Opening times on some weekdays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSpan {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// Opening time "HH:MM", local.
    pub open: String,
    /// Closing time "HH:MM", local (exclusive).
    pub close: String,
}

/// When a flow or queue is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Offset of local time from UTC in minutes (+480 for Beijing, -300 for New York in winter).
    pub utc_offset_minutes: i32,
    /// Weekly opening spans.
    pub weekly: Vec<OpenSpan>,
    /// Closed dates, "YYYY-MM-DD", local.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// The node a call starts at when closed.
    pub after_hours: String,
}

/// Parses "HH:MM" into minutes after midnight.
pub(crate) fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Local calendar facts of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// "YYYY-MM-DD" parts.
    pub date: (i64, u32, u32),
    /// ISO weekday, 1 = Monday.
    pub weekday: u8,
    /// Minutes after local midnight.
    pub minute: u32,
}

impl LocalTime {
    /// Local time of `unix_millis` at `utc_offset_minutes`.
    pub fn at(unix_millis: i64, utc_offset_minutes: i32) -> Self {
        let local_secs = unix_millis.div_euclid(1000) + i64::from(utc_offset_minutes) * 60;
        let days = local_secs.div_euclid(86_400);
        let minute = (local_secs.rem_euclid(86_400) / 60) as u32;
        // 1970-01-01 was a Thursday (ISO 4).
        let weekday = ((days + 3).rem_euclid(7) + 1) as u8;
        LocalTime {
            date: civil_from_days(days),
            weekday,
            minute,
        }
    }

    /// The date as "YYYY-MM-DD".
    pub fn date_string(&self) -> String {
        let (y, m, d) = self.date;
        format!("{y:04}-{m:02}-{d:02}")
    }
}

impl BusinessHours {
    /// Checks times, weekdays and holiday dates.
    pub fn validate(&self) -> Result<(), IvrError> {
        for (i, span) in self.weekly.iter().enumerate() {
            for (field, v) in [("open", &span.open), ("close", &span.close)] {
                if parse_hhmm(v).is_none() {
                    return Err(IvrError::invalid(
                        "flow",
                        format!("hours.weekly[{i}].{field}"),
                        format!("{v:?} is not HH:MM"),
                    ));
                }
            }
            if span.days.iter().any(|d| !(1..=7).contains(d)) {
                return Err(IvrError::invalid(
                    "flow",
                    format!("hours.weekly[{i}].days"),
                    "weekdays are 1 (Monday) to 7 (Sunday)",
                ));
            }
        }
        for (i, h) in self.holidays.iter().enumerate() {
            let ok = h.len() == 10
                && h.split('-').count() == 3
                && h.split('-').all(|p| p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(IvrError::invalid(
                    "flow",
                    format!("hours.holidays[{i}]"),
                    format!("{h:?} is not YYYY-MM-DD"),
                ));
            }
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(IvrError::invalid(
                "flow",
                "hours.utc_offset_minutes",
                "out of range",
            ));
        }
        Ok(())
    }

    /// Local time at `unix_millis`.
    pub fn local(&self, unix_millis: i64) -> LocalTime {
        LocalTime::at(unix_millis, self.utc_offset_minutes)
    }

    /// Open at `unix_millis`?
    pub fn is_open(&self, unix_millis: i64) -> bool {
        let local = self.local(unix_millis);
        if self.holidays.contains(&local.date_string()) {
            return false;
        }
        self.weekly.iter().any(|span| {
            span.days.contains(&local.weekday)
                && matches!((parse_hhmm(&span.open), parse_hhmm(&span.close)),
                    (Some(o), Some(c)) if o <= local.minute && local.minute < c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> BusinessHours {
        BusinessHours {
            utc_offset_minutes: 480,
            weekly: vec![OpenSpan {
                days: vec![1, 2, 3, 4, 5],
                open: "09:00".into(),
                close: "18:00".into(),
            }],
            holidays: vec!["2026-10-01".into()],
            after_hours: "closed".into(),
        }
    }

    #[test]
    fn open_on_weekdays_in_local_time_and_closed_on_holidays() {
        let h = hours();
        // 2026-11-25 is a Wednesday. 02:00 UTC = 10:00 in Beijing.
        let wed_10_local = 1_795_572_000_000;
        assert_eq!(h.local(wed_10_local).date_string(), "2026-11-25");
        assert_eq!(h.local(wed_10_local).weekday, 3);
        assert!(h.is_open(wed_10_local));
        // 11:00 UTC = 19:00 local: closed.
        assert!(!h.is_open(wed_10_local + 9 * 3_600_000));
        // Saturday.
        assert!(!h.is_open(wed_10_local + 3 * 86_400_000));
        // 2026-10-01 (Thursday) is a holiday.
        let oct1 = wed_10_local - 55 * 86_400_000;
        assert_eq!(h.local(oct1).date_string(), "2026-10-01");
        assert!(!h.is_open(oct1));
    }

    #[test]
    fn bad_times_name_the_field() {
        let mut h = hours();
        h.weekly[0].close = "25:00".into();
        assert!(
            h.validate()
                .unwrap_err()
                .to_string()
                .contains("hours.weekly[0].close")
        );
        let mut h = hours();
        h.holidays.push("Christmas".into());
        assert!(
            h.validate()
                .unwrap_err()
                .to_string()
                .contains("hours.holidays[1]")
        );
    }
}
