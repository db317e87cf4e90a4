//! Calling windows: the local hours, per weekday, in which a lead may be
//! called, evaluated in the lead's IANA time zone (US TCPA: 8:00 to 21:00 at the
//! called party's location).
//!
//! Time-zone rules come from `jiff` with its bundled copy of the IANA
//! database, so the answer does not depend on the host's `/usr/share/zoneinfo`.

use crate::DialerError;
use callcore::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

/// A lead's resolved time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadZone(TimeZone);

impl LeadZone {
    /// Looks up an IANA name (`"America/Chicago"`).
    ///
    /// # Errors
    /// [`DialerError::TimeZone`] when the name is unknown.
    pub fn named(name: &str) -> Result<Self, DialerError> {
        TimeZone::get(name)
            .map(Self)
            .map_err(|_| DialerError::TimeZone {
                name: name.to_owned(),
            })
    }

    /// UTC.
    #[must_use]
    pub fn utc() -> Self {
        Self(TimeZone::UTC)
    }

    /// Weekday (0 = Monday) and minute of the day at `at` in this zone.
    #[must_use]
    pub fn local(&self, at: Timestamp) -> (usize, u32) {
        let ts = jiff::Timestamp::from_millisecond(at.as_millis())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let z = ts.to_zoned(self.0.clone());
        let day = usize::from(z.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = u32::from(z.hour().unsigned_abs()) * 60 + u32::from(z.minute().unsigned_abs());
        (day, minute)
    }
}

/// One open interval of local time, in minutes after midnight, `start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalHours {
    /// First minute in which calls may be placed.
    pub start_minute: u32,
    /// First minute in which they may not.
    pub end_minute: u32,
}

/// When, in local time, leads may be called: a list of intervals per weekday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingWindows {
    days: [Vec<LocalHours>; 7],
}

impl Default for CallingWindows {
    /// 08:00 to 21:00 every day (the US TCPA limits).
    fn default() -> Self {
        Self::every_day(8 * 60, 21 * 60).unwrap_or_else(|_| Self::always())
    }
}

impl CallingWindows {
    /// Calls allowed at any time (for tests and in-house notification lists).
    #[must_use]
    pub fn always() -> Self {
        Self::closed().with_all_days(LocalHours {
            start_minute: 0,
            end_minute: 1440,
        })
    }

    /// No hours at all; add some with [`Self::on`].
    #[must_use]
    pub fn closed() -> Self {
        Self {
            days: Default::default(),
        }
    }

    fn with_all_days(mut self, hours: LocalHours) -> Self {
        for d in &mut self.days {
            d.push(hours);
        }
        self
    }

    /// The same hours every day.
    ///
    /// # Errors
    /// [`DialerError::Window`] when `start >= end` or `end > 1440`.
    pub fn every_day(start_minute: u32, end_minute: u32) -> Result<Self, DialerError> {
        let hours = checked(start_minute, end_minute)?;
        Ok(Self::closed().with_all_days(hours))
    }

    /// Adds hours on one weekday.
    ///
    /// # Errors
    /// [`DialerError::Window`] when `start >= end` or `end > 1440`.
    pub fn on(
        mut self,
        day: Weekday,
        start_minute: u32,
        end_minute: u32,
    ) -> Result<Self, DialerError> {
        let hours = checked(start_minute, end_minute)?;
        let i = usize::from(day.to_monday_zero_offset().unsigned_abs());
        self.days[i].push(hours);
        Ok(self)
    }

    /// Whether a lead in `zone` may be called at `at`.
    #[must_use]
    pub fn allows(&self, zone: &LeadZone, at: Timestamp) -> bool {
        let (day, minute) = zone.local(at);
        self.days[day]
            .iter()
            .any(|h| h.start_minute <= minute && minute < h.end_minute)
    }

    /// The first moment at or after `at` when the window is open in `zone`
    /// (a minute boundary unless `at` itself is open), searching up to eight
    /// days ahead; `None` when it never opens.
    #[must_use]
    pub fn next_open(&self, zone: &LeadZone, at: Timestamp) -> Option<Timestamp> {
        const MINUTE: i64 = 60_000;
        if self.allows(zone, at) {
            return Some(at);
        }
        let limit = at.as_millis() + 8 * 86_400_000;
        let mut t = (at.as_millis().div_euclid(MINUTE) + 1) * MINUTE;
        while t <= limit {
            let ts = Timestamp::from_millis(t);
            if self.allows(zone, ts) {
                // A daylight-saving jump may have carried us past the first open
                // minute: walk back while the minute before is still open.
                let mut first = t;
                for _ in 0..180 {
                    let prev = first - MINUTE;
                    if prev <= at.as_millis() || !self.allows(zone, Timestamp::from_millis(prev)) {
                        break;
                    }
                    first = prev;
                }
                return Some(Timestamp::from_millis(first));
            }
            let (day, minute) = zone.local(ts);
            let wait = self.minutes_to_next_start(day, minute)?;
            t += i64::from(wait.max(1)) * MINUTE;
        }
        None
    }

    /// Local minutes from (`day`, `minute`) to the next interval start, looking
    /// a week ahead.
    fn minutes_to_next_start(&self, day: usize, minute: u32) -> Option<u32> {
        (0..8u32).find_map(|ahead| {
            let d = (day + ahead as usize) % 7;
            self.days[d]
                .iter()
                .map(|h| h.start_minute)
                .filter(|s| ahead > 0 || *s > minute)
                .min()
                .map(|s| ahead * 1440 + s - minute)
        })
    }
}

fn checked(start_minute: u32, end_minute: u32) -> Result<LocalHours, DialerError> {
    if start_minute >= end_minute || end_minute > 1440 {
        return Err(DialerError::Window(format!(
            "{start_minute}..{end_minute} is not an interval of minutes within a day"
        )));
    }
    Ok(LocalHours {
        start_minute,
        end_minute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2026-01-05 is a Monday; 17:00 UTC is 12:00 in New York (EST, UTC-5).
    const MONDAY_17_UTC: i64 = 1_767_632_400;

    #[test]
    fn local_time_follows_the_zone() {
        let ny = LeadZone::named("America/New_York").unwrap();
        assert_eq!(ny.local(Timestamp::from_secs(MONDAY_17_UTC)), (0, 12 * 60));
        let tokyo = LeadZone::named("Asia/Tokyo").unwrap();
        // 02:00 on Tuesday in Tokyo.
        assert_eq!(
            tokyo.local(Timestamp::from_secs(MONDAY_17_UTC)),
            (1, 2 * 60)
        );
        assert!(LeadZone::named("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn tcpa_window_by_zone_and_next_open() {
        let w = CallingWindows::default();
        let ny = LeadZone::named("America/New_York").unwrap();
        let la = LeadZone::named("America/Los_Angeles").unwrap();
        // 13:00 UTC: 08:00 in New York, 05:00 in Los Angeles.
        let t = Timestamp::from_secs(MONDAY_17_UTC - 4 * 3600);
        assert!(w.allows(&ny, t));
        assert!(!w.allows(&la, t));
        let open = w.next_open(&la, t).unwrap();
        assert_eq!(
            open,
            Timestamp::from_secs(MONDAY_17_UTC - 4 * 3600 + 3 * 3600)
        );
        // Closed at 21:00 sharp.
        let nine_pm_ny = Timestamp::from_secs(MONDAY_17_UTC + 9 * 3600);
        assert!(!w.allows(&ny, nine_pm_ny));
        assert!(w.allows(&ny, nine_pm_ny - std::time::Duration::from_secs(1)));
    }

    #[test]
    fn weekday_windows_and_bad_intervals() {
        let w = CallingWindows::closed()
            .on(Weekday::Saturday, 600, 660)
            .unwrap();
        let utc = LeadZone::utc();
        let monday_noon = Timestamp::from_secs(MONDAY_17_UTC - 5 * 3600);
        let open = w.next_open(&utc, monday_noon).unwrap();
        // Saturday 2026-01-10 10:00 UTC.
        assert_eq!(
            open,
            Timestamp::from_secs(MONDAY_17_UTC - 5 * 3600 + 5 * 86_400 - 2 * 3600)
        );
        assert!(
            CallingWindows::closed()
                .next_open(&utc, monday_noon)
                .is_none()
        );
        assert!(CallingWindows::every_day(600, 600).is_err());
        assert!(CallingWindows::every_day(0, 1441).is_err());
    }

    proptest! {
        #[test]
        fn next_open_is_open_and_nothing_earlier_is(
            start in 0u32..1400, len in 1u32..300, offset in 0i64..(7 * 86_400),
            zone in prop::sample::select(vec!["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"]),
        ) {
            let w = CallingWindows::every_day(start, (start + len).min(1440)).unwrap();
            let z = LeadZone::named(zone).unwrap();
            let at = Timestamp::from_secs(MONDAY_17_UTC + offset);
            let open = w.next_open(&z, at).unwrap();
            prop_assert!(w.allows(&z, open));
            // Every whole minute strictly between `at` and `open` is closed.
            let mut t = at;
            while t < open {
                prop_assert!(!w.allows(&z, t));
                t = Timestamp::from_millis((t.as_millis() / 60_000 + 1) * 60_000);
            }
        }
    }
}
