//! Business hours and holidays in a time zone: an IANA zone with its
//! daylight-saving rules (the tz database bundled by `jiff`), or a fixed UTC
//! offset.

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
    /// IANA time zone ("America/New_York", "Europe/London", "Asia/Shanghai"):
    /// opening times follow its daylight-saving changes. When set,
    /// `utc_offset_minutes` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Fixed offset of local time from UTC in minutes (+480 for Beijing), for
    /// lines without a named zone.
    #[serde(default)]
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

    /// Local time of `unix_millis` in the IANA zone `tz` (its offset at that
    /// instant, daylight saving included).
    pub fn in_zone(unix_millis: i64, tz: &jiff::tz::TimeZone) -> Self {
        let offset_minutes = jiff::Timestamp::from_millisecond(unix_millis)
            .map_or(0, |ts| tz.to_offset(ts).seconds() / 60);
        LocalTime::at(unix_millis, offset_minutes)
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
        if let Some(name) = &self.time_zone
            && let Err(e) = jiff::tz::TimeZone::get(name)
        {
            return Err(IvrError::invalid(
                "flow",
                "hours.time_zone",
                format!("{name:?} is not a known IANA time zone: {e}"),
            ));
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

    /// Local time at `unix_millis` (in `time_zone` when set and known,
    /// otherwise at `utc_offset_minutes`).
    pub fn local(&self, unix_millis: i64) -> LocalTime {
        match self
            .time_zone
            .as_deref()
            .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        {
            Some(tz) => LocalTime::in_zone(unix_millis, &tz),
            None => LocalTime::at(unix_millis, self.utc_offset_minutes),
        }
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
            time_zone: None,
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

    fn millis(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn new_york() -> BusinessHours {
        BusinessHours {
            time_zone: Some("America/New_York".into()),
            utc_offset_minutes: 0,
            weekly: vec![OpenSpan {
                days: vec![1, 2, 3, 4, 5, 6],
                open: "08:00".into(),
                close: "20:00".into(),
            }],
            holidays: vec!["2026-12-25".into()],
            after_hours: "closed".into(),
        }
    }

    #[test]
    fn opening_follows_daylight_saving_changes() {
        let h = new_york();
        h.validate().unwrap();
        // Friday 2026-03-06, EST (UTC-5): opens at 13:00 UTC.
        assert!(!h.is_open(millis("2026-03-06T12:59:00Z")));
        assert!(h.is_open(millis("2026-03-06T13:00:00Z")));
        assert_eq!(h.local(millis("2026-03-06T13:00:00Z")).minute, 8 * 60);
        // Clocks go forward on Sunday 2026-03-08. Monday 2026-03-09, EDT
        // (UTC-4): opens at 12:00 UTC; a fixed -300 offset would still say closed.
        assert!(!h.is_open(millis("2026-03-09T11:59:00Z")));
        assert!(h.is_open(millis("2026-03-09T12:00:00Z")));
        let fixed = BusinessHours {
            time_zone: None,
            utc_offset_minutes: -300,
            ..new_york()
        };
        assert!(!fixed.is_open(millis("2026-03-09T12:00:00Z")));
        // Closing: 20:00 EDT = 00:00 UTC the next day, still Monday locally.
        assert!(h.is_open(millis("2026-03-09T23:59:00Z")));
        assert!(!h.is_open(millis("2026-03-10T00:00:00Z")));
        // Clocks go back on Sunday 2026-11-01: Monday 2026-11-02 opens at 13:00 UTC.
        assert!(!h.is_open(millis("2026-11-02T12:30:00Z")));
        assert!(h.is_open(millis("2026-11-02T13:00:00Z")));
        // The local date decides holidays: 2026-12-25 02:00 UTC is still the 24th in New York.
        let evening_24th = millis("2026-12-24T23:30:00Z");
        assert_eq!(h.local(evening_24th).date_string(), "2026-12-24");
        assert!(h.is_open(evening_24th));
        assert!(!h.is_open(millis("2026-12-25T15:00:00Z")));
    }

    #[test]
    fn southern_and_no_dst_zones() {
        // Sydney: daylight saving in the southern summer (UTC+11), not in winter (UTC+10).
        let sydney = BusinessHours {
            time_zone: Some("Australia/Sydney".into()),
            weekly: vec![OpenSpan {
                days: vec![1, 2, 3, 4, 5],
                open: "09:00".into(),
                close: "17:00".into(),
            }],
            holidays: vec![],
            ..new_york()
        };
        // Monday 2026-01-12 09:00 AEDT = Sunday 22:00 UTC.
        assert!(sydney.is_open(millis("2026-01-11T22:00:00Z")));
        assert_eq!(sydney.local(millis("2026-01-11T22:00:00Z")).weekday, 1);
        // Monday 2026-07-13 09:00 AEST = Sunday 23:00 UTC; 22:00 UTC is 08:00.
        assert!(!sydney.is_open(millis("2026-07-12T22:00:00Z")));
        assert!(sydney.is_open(millis("2026-07-12T23:00:00Z")));
        // Shanghai has no DST: same UTC opening time all year.
        let shanghai = BusinessHours {
            time_zone: Some("Asia/Shanghai".into()),
            ..hours()
        };
        for day in ["2026-01-14", "2026-07-15"] {
            assert!(shanghai.is_open(millis(&format!("{day}T01:00:00Z"))));
            assert!(!shanghai.is_open(millis(&format!("{day}T00:59:00Z"))));
        }
    }

    #[test]
    fn unknown_time_zones_are_rejected() {
        let mut h = new_york();
        h.time_zone = Some("Mars/Olympus_Mons".into());
        let e = h.validate().unwrap_err().to_string();
        assert!(e.contains("hours.time_zone"), "{e}");
    }
}
