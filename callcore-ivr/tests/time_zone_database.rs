//! Business hours and calling windows resolve time zones through jiff's global
//! database: the system's (`/usr/share/zoneinfo`, or `TZDIR`), so that a tzdata
//! update changes the rules without a rebuild, and the copy bundled into the binary
//! only where the system has none (jiff's `tzdb-zoneinfo` and `tzdb-bundle-always`
//! features; see docs/install.md).
#![allow(clippy::unwrap_used)]

use jiff::tz::{TimeZone, TimeZoneDatabase};

#[test]
fn the_system_database_is_preferred_when_the_system_has_one() {
    let system = std::env::var_os("TZDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/share/zoneinfo".into());
    let shown = format!("{:?}", jiff::tz::db());
    if system.join("Europe/Berlin").exists() {
        assert!(
            shown.contains("ZoneInfo") || shown.contains("zoneinfo"),
            "the system has {} but jiff uses {shown}",
            system.display()
        );
        // what business hours resolve is the system's zone
        let from_system = TimeZoneDatabase::from_dir(&system).unwrap();
        let at = jiff::Timestamp::from_second(1_767_600_000).unwrap();
        assert_eq!(
            TimeZone::get("Europe/Berlin").unwrap().to_offset(at),
            from_system.get("Europe/Berlin").unwrap().to_offset(at)
        );
    } else {
        eprintln!(
            "NOTICE: no system time-zone database at {}: jiff uses {shown}",
            system.display()
        );
        assert!(
            shown.contains("Bundled") || shown.contains("bundled"),
            "{shown}"
        );
    }
}

#[test]
fn the_bundled_database_is_there_as_the_fallback() {
    let bundled = TimeZoneDatabase::bundled();
    let tz = bundled.get("America/New_York").unwrap();
    // 2026-01-05 12:00 UTC: New York is on EST, UTC-5
    let at = jiff::Timestamp::from_second(1_767_614_400).unwrap();
    assert_eq!(tz.to_offset(at).seconds(), -5 * 3600);
}
