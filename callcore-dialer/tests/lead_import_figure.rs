//! The lead-import figure of the dialer README: rows per second and resident
//! memory growth of `import_csv` on a generated 64 MiB comma-separated file
//! (quoted notes with commas, doubled quotes and a line break in each row;
//! numbers of four countries). It uses only `import_csv`, which the
//! hand-written importer had too, so the same file measures both. Ignored by
//! default (a figure, not a check); run it with
//! `cargo test --release -p callcore-dialer --test lead_import_figure -- --ignored --nocapture`.

use std::fmt::Write as _;
use std::time::Instant;

use callcore_dialer::rules::{DncLists, ImportSettings, NumberPlan, import_csv};

/// `VmRSS` (resident now) or `VmHWM` (peak since the last reset) in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn lead_file(bytes: usize) -> String {
    let mut text = String::from("id,phone,time_zone,priority,notes\r\n");
    let mut i = 0u64;
    while text.len() < bytes {
        i += 1;
        let phone = match i % 4 {
            0 => format!("+44 20 7946 {:04}", i % 10_000),
            1 => format!("+49 30 {:07}", 1_000_000 + i % 9_000_000),
            2 => format!(
                "+33 6 12 {:02} {:02} {:02}",
                i % 100,
                (i / 100) % 100,
                (i / 10_000) % 100
            ),
            _ => format!("(212) {} {:04}", 200 + i % 800, i % 10_000),
        };
        let _ = write!(
            text,
            "lead-{i},{phone},America/New_York,{},\"called {i}, said \"\"later\"\"\nsecond line {}\"\r\n",
            i % 10,
            "x".repeat(100 + (i % 64) as usize),
        );
    }
    text
}

#[test]
#[ignore = "a figure: run with --release -- --ignored --nocapture"]
fn lead_import_rows_per_second() {
    let text = lead_file(64 << 20);
    let (dnc, plan) = (DncLists::default(), NumberPlan::north_america());
    let settings = ImportSettings {
        tenant: "t".into(),
        campaign: "c".into(),
        number_plan: &plan,
        dnc: &dnc,
    };
    // Warm up (number metadata, time zones) outside the measurement.
    import_csv(&text[..4096], &settings).ok();
    let before = status_kib("VmRSS:");
    // Resets the peak (VmHWM) to the current resident size (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    // Wall time of a figure, not of the center: no Clock to read.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let report = import_csv(&text, &settings).expect("imported");
    let secs = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    #[allow(clippy::cast_precision_loss)]
    let rows = report.rows() as f64;
    println!(
        "import_csv of {} MiB: {} rows ({} leads) in {secs:.2} s = {:.0} rows/s; peak resident memory grew {} MiB",
        text.len() >> 20,
        report.rows(),
        report.leads.len(),
        rows / secs,
        peak.saturating_sub(before) >> 10,
    );
    assert!(report.rows() > 0);
}
