//! Elapsed time inside business hours: how much of a wait fell in a queue's
//! [`WorkingHours`] (weekly spans, holidays, a time zone with its
//! daylight-saving rules), and when a target in business hours falls due.
//!
//! Sans-IO: instants in, milliseconds out; no clock is read.
//!
//! ```
//! use callcore::{Timestamp, WorkingHours, WorkingSpan};
//! use callcore_analytics::BusinessCalendar;
//! let hours = WorkingHours { time_zone: Some("Europe/London".into()), utc_offset_minutes: 0,
//!     weekly: vec![WorkingSpan { days: vec![1, 2, 3, 4, 5], open: "09:00".into(), close: "17:00".into() }],
//!     holidays: vec![] };
//! let calendar = BusinessCalendar::new(&hours)?;
//! // Friday 2026-01-09 16:00 to Monday 2026-01-12 10:00 (GMT): one hour on
//! // Friday, one on Monday.
//! let friday = Timestamp::from_secs(1_767_974_400);
//! let monday = Timestamp::from_secs(1_768_212_000);
//! assert_eq!(calendar.open_millis(friday, monday), 2 * 3_600_000);
//! # Ok::<(), callcore_analytics::AnalyticsError>(())
//! ```

use std::collections::BTreeSet;

use callcore::{Timestamp, WorkingHours};
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};

use crate::AnalyticsError;

/// Days looked at, at most, for one wait or deadline (ten years): a calendar
/// without any open hour ends the search there.
const MAX_DAYS: u32 = 3_660;

/// A queue's business hours, compiled: spans per weekday (merged, in local
/// minutes), closed dates and the time zone.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    tz: TimeZone,
    /// Index 0 = Monday: `[open, close)` in minutes after local midnight.
    days: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<Date>,
}

fn bad(field: String, reason: impl Into<String>) -> AnalyticsError {
    AnalyticsError::Hours {
        field,
        reason: reason.into(),
    }
}

/// "HH:MM" → minutes after midnight (24:00 allowed).
fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl BusinessCalendar {
    /// Compiles `hours`.
    ///
    /// # Errors
    /// [`AnalyticsError::Hours`] naming the field (`hours.weekly[0].open`,
    /// `hours.holidays[2]`, `hours.time_zone`): a time that is not HH:MM, a
    /// span that closes before it opens, a weekday outside 1–7, a date that is
    /// not YYYY-MM-DD, an unknown zone, an offset beyond ±14 hours.
    pub fn new(hours: &WorkingHours) -> Result<Self, AnalyticsError> {
        let tz = match &hours.time_zone {
            Some(name) => TimeZone::get(name).map_err(|e| {
                bad(
                    "hours.time_zone".into(),
                    format!("{name:?} is not a known IANA time zone: {e}"),
                )
            })?,
            None => {
                let offset = (-14 * 60..=14 * 60)
                    .contains(&hours.utc_offset_minutes)
                    .then(|| Offset::from_seconds(hours.utc_offset_minutes * 60).ok())
                    .flatten()
                    .ok_or_else(|| bad("hours.utc_offset_minutes".into(), "at most ±14 hours"))?;
                TimeZone::fixed(offset)
            }
        };
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for (i, span) in hours.weekly.iter().enumerate() {
            let at = |f: &str| format!("hours.weekly[{i}].{f}");
            let open = minutes(&span.open)
                .ok_or_else(|| bad(at("open"), format!("{:?} is not HH:MM", span.open)))?;
            let close = minutes(&span.close)
                .ok_or_else(|| bad(at("close"), format!("{:?} is not HH:MM", span.close)))?;
            if close <= open {
                return Err(bad(at("close"), "must be after `open`"));
            }
            if span.days.is_empty() {
                return Err(bad(at("days"), "name at least one weekday"));
            }
            for d in &span.days {
                let slot = d
                    .checked_sub(1)
                    .and_then(|d| days.get_mut(usize::from(d)))
                    .ok_or_else(|| bad(at("days"), "weekdays are 1 (Monday) to 7 (Sunday)"))?;
                slot.push((open, close));
            }
        }
        for spans in &mut days {
            spans.sort_unstable();
            let mut merged: Vec<(u16, u16)> = Vec::with_capacity(spans.len());
            for &(o, c) in spans.iter() {
                match merged.last_mut() {
                    Some(last) if o <= last.1 => last.1 = last.1.max(c),
                    _ => merged.push((o, c)),
                }
            }
            *spans = merged;
        }
        let mut holidays = BTreeSet::new();
        for (i, h) in hours.holidays.iter().enumerate() {
            let date: Date = h.parse().ok().filter(|_| h.len() == 10).ok_or_else(|| {
                bad(
                    format!("hours.holidays[{i}]"),
                    format!("{h:?} is not YYYY-MM-DD"),
                )
            })?;
            holidays.insert(date);
        }
        Ok(Self { tz, days, holidays })
    }

    fn local_date(&self, at: Timestamp) -> Option<Date> {
        let ts = jiff::Timestamp::from_millisecond(at.as_millis()).ok()?;
        Some(ts.to_zoned(self.tz.clone()).date())
    }

    /// The instant of `minute` after local midnight of `date` (a time in a
    /// daylight-saving gap moves forward, as clocks do).
    fn instant(&self, date: Date, minute: u16) -> Option<i64> {
        let (date, minute) = if minute >= 24 * 60 {
            (date.tomorrow().ok()?, minute - 24 * 60)
        } else {
            (date, minute)
        };
        #[allow(clippy::cast_possible_truncation)] // minute < 1440
        let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
        Some(ts.as_millisecond())
    }

    /// The open spans of one local date, as UTC milliseconds.
    fn spans_of(&self, date: Date) -> impl Iterator<Item = (i64, i64)> + '_ {
        let closed = self.holidays.contains(&date);
        let weekday = usize::try_from(date.weekday().to_monday_one_offset() - 1).unwrap_or(0);
        self.days[weekday]
            .iter()
            .filter(move |_| !closed)
            .filter_map(move |&(o, c)| Some((self.instant(date, o)?, self.instant(date, c)?)))
    }

    /// The instant of a local date and time (`"2026-12-07T09:00"`, seconds
    /// optional) in the calendar's zone; a time in a daylight-saving gap
    /// moves forward. `None` when it cannot be read.
    #[must_use]
    pub fn local_instant(&self, local: &str) -> Option<Timestamp> {
        let dt: jiff::civil::DateTime = local.trim().parse().ok()?;
        let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
        Some(Timestamp::from_millis(ts.as_millisecond()))
    }

    /// Open at `at`?
    #[must_use]
    pub fn is_open(&self, at: Timestamp) -> bool {
        let t = at.as_millis();
        self.local_date(at)
            .is_some_and(|d| self.spans_of(d).any(|(o, c)| o <= t && t < c))
    }

    /// Milliseconds of `from..to` inside business hours (0 when `to` is not
    /// after `from`). Nights, weekends and holidays do not count.
    #[must_use]
    pub fn open_millis(&self, from: Timestamp, to: Timestamp) -> u64 {
        let (f, t) = (from.as_millis(), to.as_millis());
        if t <= f {
            return 0;
        }
        let (Some(mut date), Some(last)) = (self.local_date(from), self.local_date(to)) else {
            return 0;
        };
        let mut total: i64 = 0;
        for _ in 0..MAX_DAYS {
            for (o, c) in self.spans_of(date) {
                let (o, c) = (o.max(f), c.min(t));
                if c > o {
                    total += c - o;
                }
            }
            if date >= last {
                break;
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        u64::try_from(total).unwrap_or(0)
    }

    /// When `open_millis` of business time will have passed since `from`:
    /// the deadline of a target in business hours (`None` when the calendar
    /// has no open hour in the next ten years).
    #[must_use]
    pub fn deadline(&self, from: Timestamp, open_millis: u64) -> Option<Timestamp> {
        let f = from.as_millis();
        let mut left = i64::try_from(open_millis).ok()?;
        let mut date = self.local_date(from)?;
        for _ in 0..MAX_DAYS {
            for (o, c) in self.spans_of(date) {
                let o = o.max(f);
                if c <= o {
                    continue;
                }
                if left <= c - o {
                    return Some(Timestamp::from_millis(o + left));
                }
                left -= c - o;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::WorkingSpan;

    const H: u64 = 3_600_000;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::from_millis(
            rfc3339
                .parse::<jiff::Timestamp>()
                .expect("instant")
                .as_millisecond(),
        )
    }

    /// Monday–Friday 09:00–17:00 in `zone`, closed on 2026-12-25.
    fn office(zone: &str) -> BusinessCalendar {
        BusinessCalendar::new(&WorkingHours {
            time_zone: Some(zone.into()),
            utc_offset_minutes: 0,
            weekly: vec![WorkingSpan {
                days: vec![1, 2, 3, 4, 5],
                open: "09:00".into(),
                close: "17:00".into(),
            }],
            holidays: vec!["2026-12-25".into()],
        })
        .expect("valid hours")
    }

    #[test]
    fn a_wait_inside_one_day_counts_whole() {
        let c = office("Europe/London");
        // Tuesday 2026-12-01, GMT.
        let (from, to) = (at("2026-12-01T10:00:00Z"), at("2026-12-01T11:30:00Z"));
        assert_eq!(c.open_millis(from, to), 90 * 60_000);
        assert_eq!(c.open_millis(to, from), 0);
        assert!(c.is_open(from));
        assert!(!c.is_open(at("2026-12-01T17:00:00Z")), "close is exclusive");
    }

    #[test]
    fn nights_do_not_count() {
        let c = office("Europe/London");
        // Tuesday 16:00 to Wednesday 10:00: 1 h + 1 h.
        let (from, to) = (at("2026-12-01T16:00:00Z"), at("2026-12-02T10:00:00Z"));
        assert_eq!(c.open_millis(from, to), 2 * H);
        // Received at night, answered before opening: nothing elapsed.
        let (n1, n2) = (at("2026-12-01T22:00:00Z"), at("2026-12-02T08:59:00Z"));
        assert_eq!(c.open_millis(n1, n2), 0);
        assert!(!c.is_open(n1));
    }

    #[test]
    fn weekends_do_not_count() {
        let c = office("Europe/London");
        // Friday 2026-12-04 15:00 to Monday 2026-12-07 11:00: 2 h + 2 h.
        let (from, to) = (at("2026-12-04T15:00:00Z"), at("2026-12-07T11:00:00Z"));
        assert_eq!(c.open_millis(from, to), 4 * H);
        // A 4-hour target from Friday 15:00 falls due Monday 11:00.
        assert_eq!(c.deadline(from, 4 * H), Some(to));
        // Sent on Saturday: due Monday 13:00.
        assert_eq!(
            c.deadline(at("2026-12-05T12:00:00Z"), 4 * H),
            Some(at("2026-12-07T13:00:00Z"))
        );
    }

    #[test]
    fn holidays_do_not_count() {
        let c = office("Europe/London");
        // Thursday 24th 16:00 → Monday 28th 10:00: Christmas (Fri) is closed,
        // then the weekend: 1 h + 1 h.
        let (from, to) = (at("2026-12-24T16:00:00Z"), at("2026-12-28T10:00:00Z"));
        assert_eq!(c.open_millis(from, to), 2 * H);
        assert!(!c.is_open(at("2026-12-25T12:00:00Z")));
        assert_eq!(c.deadline(from, 2 * H), Some(to));
    }

    #[test]
    fn local_time_follows_the_zone_and_daylight_saving() {
        // New York: EDT (UTC-4) until 2026-11-01, then EST (UTC-5).
        let c = office("America/New_York");
        // Friday 2026-10-30 09:00 EDT = 13:00 UTC; Monday 2026-11-02 09:00 EST = 14:00 UTC.
        assert!(c.is_open(at("2026-10-30T13:00:00Z")));
        assert!(!c.is_open(at("2026-10-30T12:59:00Z")));
        assert!(c.is_open(at("2026-11-02T14:00:00Z")));
        assert!(!c.is_open(at("2026-11-02T13:30:00Z")));
        // Friday 16:00 EDT to Monday 10:00 EST: 1 h + 1 h across the change.
        let (from, to) = (at("2026-10-30T20:00:00Z"), at("2026-11-02T15:00:00Z"));
        assert_eq!(c.open_millis(from, to), 2 * H);
    }

    #[test]
    fn a_fixed_offset_and_overlapping_spans() {
        let c = BusinessCalendar::new(&WorkingHours {
            time_zone: None,
            utc_offset_minutes: 480,
            weekly: vec![
                WorkingSpan {
                    days: vec![6, 7],
                    open: "10:00".into(),
                    close: "14:00".into(),
                },
                WorkingSpan {
                    days: vec![7],
                    open: "12:00".into(),
                    close: "24:00".into(),
                },
            ],
            holidays: Vec::new(),
        })
        .expect("valid");
        // Sunday 2026-12-06 in Beijing: 10:00-24:00 (merged), = 02:00-16:00 UTC.
        let (from, to) = (at("2026-12-06T00:00:00Z"), at("2026-12-06T20:00:00Z"));
        assert_eq!(c.open_millis(from, to), 14 * H);
        // Monday to Friday closed: a week from Sunday night counts only Saturday's 4 h.
        let (from, to) = (at("2026-12-06T16:00:00Z"), at("2026-12-13T02:00:00Z"));
        assert_eq!(c.open_millis(from, to), 4 * H);
    }

    #[test]
    fn never_open_has_no_deadline_and_bad_fields_are_named() {
        let never = BusinessCalendar::new(&WorkingHours {
            time_zone: None,
            utc_offset_minutes: 0,
            weekly: Vec::new(),
            holidays: Vec::new(),
        })
        .expect("valid");
        assert_eq!(never.deadline(at("2026-12-01T10:00:00Z"), H), None);
        let field = |h: WorkingHours| match BusinessCalendar::new(&h) {
            Err(AnalyticsError::Hours { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut h = WorkingHours {
            time_zone: Some("Mars/Olympus".into()),
            utc_offset_minutes: 0,
            weekly: vec![WorkingSpan {
                days: vec![1],
                open: "09:00".into(),
                close: "17:00".into(),
            }],
            holidays: vec!["2026-12-25".into()],
        };
        assert_eq!(field(h.clone()), "hours.time_zone");
        h.time_zone = None;
        h.weekly[0].close = "08:00".into();
        assert_eq!(field(h.clone()), "hours.weekly[0].close");
        h.weekly[0].close = "17:00".into();
        h.weekly[0].days = vec![8];
        assert_eq!(field(h.clone()), "hours.weekly[0].days");
        h.weekly[0].days = vec![1];
        h.holidays.push("Christmas".into());
        assert_eq!(field(h.clone()), "hours.holidays[1]");
        h.holidays.pop();
        h.utc_offset_minutes = 15 * 60;
        assert_eq!(field(h), "hours.utc_offset_minutes");
    }
}
