//! CSV and JSON export of reports.

use crate::AnalyticsError;
use crate::report::{Report, ReportKind, ReportRow};

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.4}"))
}

#[allow(clippy::cast_precision_loss)]
fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

type Column = (&'static str, fn(&ReportRow) -> String);

const fn f(r: &ReportRow) -> crate::Counters {
    r.figures.counters
}

fn columns(kind: ReportKind) -> Vec<Column> {
    match kind {
        ReportKind::QueueService => vec![
            ("offered", |r| f(r).offered.to_string()),
            ("answered", |r| f(r).answered.to_string()),
            ("answered_within_sl", |r| {
                f(r).answered_within_sl.to_string()
            }),
            ("abandoned", |r| f(r).abandoned.to_string()),
            ("short_abandoned", |r| f(r).short_abandoned.to_string()),
            ("exited", |r| f(r).exited.to_string()),
            ("answer_rate", |r| opt(r.figures.answer_rate)),
            ("abandonment_rate", |r| opt(r.figures.abandonment_rate)),
            ("service_level", |r| opt(r.figures.service_level)),
            ("asa_secs", |r| opt(r.figures.asa_secs)),
            ("aht_secs", |r| opt(r.figures.aht_secs)),
            ("avg_talk_secs", |r| opt(r.figures.avg_talk_secs)),
            ("avg_hold_secs", |r| opt(r.figures.avg_hold_secs)),
            ("avg_wrap_up_secs", |r| opt(r.figures.avg_wrap_up_secs)),
            ("csat", |r| opt(r.figures.csat)),
        ],
        ReportKind::AgentPerformance => vec![
            ("answered", |r| f(r).answered.to_string()),
            ("handled", |r| f(r).handled.to_string()),
            ("talk_secs", |r| secs(f(r).talk_ms)),
            ("hold_secs", |r| secs(f(r).hold_ms)),
            ("wrap_up_secs", |r| secs(f(r).wrap_up_ms)),
            ("aht_secs", |r| opt(r.figures.aht_secs)),
            ("occupancy", |r| opt(r.figures.occupancy)),
            ("available_secs", |r| secs(f(r).available_ms)),
            ("reserved_secs", |r| secs(f(r).reserved_ms)),
            ("busy_secs", |r| secs(f(r).busy_ms)),
            ("wrap_up_state_secs", |r| secs(f(r).wrap_up_state_ms)),
            ("not_ready_secs", |r| secs(f(r).not_ready_ms)),
            ("offers_missed", |r| f(r).offers_missed.to_string()),
            ("transferred", |r| f(r).transferred.to_string()),
            ("csat", |r| opt(r.figures.csat)),
        ],
        ReportKind::CallVolume => vec![
            ("arrived", |r| f(r).arrived.to_string()),
            ("offered", |r| f(r).offered.to_string()),
            ("answered", |r| f(r).answered.to_string()),
            ("abandoned", |r| f(r).abandoned.to_string()),
            ("answer_rate", |r| opt(r.figures.answer_rate)),
            ("abandonment_rate", |r| opt(r.figures.abandonment_rate)),
            ("service_level", |r| opt(r.figures.service_level)),
        ],
        ReportKind::Campaigns => vec![
            ("attempts", |r| f(r).dial_attempts.to_string()),
            ("answered_person", |r| f(r).dial_answered_person.to_string()),
            ("answering_machine", |r| f(r).dial_machine.to_string()),
            ("not_reached", |r| f(r).dial_not_reached.to_string()),
            ("abandoned", |r| f(r).dial_abandoned.to_string()),
            ("agent_disposition", |r| {
                f(r).dial_agent_disposition.to_string()
            }),
            ("contact_rate", |r| opt(r.figures.dial_contact_rate)),
            ("abandon_rate", |r| opt(r.figures.dial_abandon_rate)),
        ],
    }
}

impl Report {
    /// The report as CSV (RFC 4180, CRLF line ends): a header line, then one
    /// line per row. Ratios are fractions with four decimals; times are
    /// seconds; empty cells where a figure is undefined (no denominator).
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut out = Vec::new();
        // Writing into memory cannot fail.
        if let Err(e) = self.write_csv(&mut out) {
            tracing::warn!(error = %e, "report CSV");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the report as CSV (see [`Self::to_csv`]) to `out` through the
    /// `csv` crate, which quotes whatever needs it (a tenant or queue name
    /// with a comma, a quote or a line break).
    ///
    /// # Errors
    /// [`AnalyticsError::Export`] when `out` fails.
    pub fn write_csv<W: std::io::Write>(&self, out: W) -> Result<(), AnalyticsError> {
        let cols = columns(self.kind);
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        let export = |e: csv::Error| AnalyticsError::Export(e.to_string());
        let mut header = vec![
            "interval_start",
            "interval_end",
            "dimension",
            "tenant",
            "key",
        ];
        header.extend(cols.iter().map(|(name, _)| *name));
        w.write_record(&header).map_err(export)?;
        let mut record: Vec<String> = Vec::with_capacity(header.len());
        for row in &self.rows {
            record.clear();
            record.push(row.interval_start.to_string());
            record.push(row.interval_end.to_string());
            record.push(row.dimension.kind().to_string());
            record.push(row.dimension.tenant().as_str().to_owned());
            record.push(row.dimension.key().to_owned());
            record.extend(cols.iter().map(|(_, value)| value(row)));
            w.write_record(&record).map_err(export)?;
        }
        w.flush()?;
        Ok(())
    }

    /// The report as pretty JSON (every counter and figure of every row).
    ///
    /// # Errors
    /// [`AnalyticsError::Json`] if serialization fails.
    pub fn to_json(&self) -> Result<String, AnalyticsError> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}
