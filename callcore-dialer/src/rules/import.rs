//! Lead import from CSV, streamed through the `csv` crate ([`LeadReader`]).
//!
//! Every data row ends up in exactly one place of the [`ImportReport`]: a lead
//! (possibly closed because it is on a do-not-call list) or a [`RowError`] with
//! its row number. Nothing is dropped silently.
//!
//! The file has a header row. Recognised columns (case-insensitive):
//! `phone` (or `number`, `phone_number`, `msisdn`) — required; `id` (or
//! `lead_id`); `time_zone` (or `timezone`, `tz`), an IANA name; `priority`, an
//! integer (higher is called first); `consent` (`yes`/`no`, `true`/`false`,
//! `1`/`0`, `y`/`n`; empty is no). Other columns are reported as ignored.

use super::{DncLists, LeadReader, LeadRow, LineType, NumberPlan};
use crate::DialerError;
use callcore::{CampaignId, Lead, LeadStatus, TenantId};
use std::fmt;
use std::io::Read;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line of the file the row starts on (the header is line 1; a quoted
    /// field with newlines makes a row span several lines).
    pub row: usize,
    /// The column at fault (`phone`, `id`, `time_zone`, `priority`), if one is.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.row, self.reason),
            None => write!(f, "line {}: {}", self.row, self.reason),
        }
    }
}

/// An imported lead with the fields callcore's [`Lead`] does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedLead {
    /// The lead (status `Pending`, or `Closed` when on a DNC list).
    pub lead: Lead,
    /// Dialing priority; higher first.
    pub priority: i32,
    /// The line of the file it starts on.
    pub row: usize,
    /// Mobile, fixed line ... (from the number's country plan).
    pub line_type: LineType,
    /// The number's country (ISO 3166 code), if geographic.
    pub region: Option<&'static str>,
    /// Whether the file records the person's consent to be called (`consent`
    /// column: `yes`/`true`/`1`/`y`; empty or absent is no). The campaign's
    /// [`MobileRules`](super::MobileRules) need it for mobiles in the
    /// countries that require it.
    pub consent: bool,
}

/// What an import produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Valid rows, in file order.
    pub leads: Vec<ImportedLead>,
    /// Rejected rows, in file order.
    pub errors: Vec<RowError>,
    /// Rows whose number is on a do-not-call list (imported closed).
    pub do_not_call_rows: Vec<usize>,
    /// Header columns that were not used.
    pub ignored_columns: Vec<String>,
}

impl ImportReport {
    /// Data rows read (leads plus errors).
    #[must_use]
    pub fn rows(&self) -> usize {
        self.leads.len() + self.errors.len()
    }
}

/// Where imported leads go and how their numbers are read.
#[derive(Debug, Clone)]
pub struct ImportSettings<'a> {
    /// Tenant of the leads.
    pub tenant: TenantId,
    /// Campaign of the leads.
    pub campaign: CampaignId,
    /// Plan for numbers written without international prefix.
    pub number_plan: &'a NumberPlan,
    /// Lists to check.
    pub dnc: &'a DncLists,
}

/// Where the recognised columns are.
#[derive(Debug, Default)]
pub(super) struct Columns {
    pub(super) phone: usize,
    pub(super) id: Option<usize>,
    pub(super) zone: Option<usize>,
    pub(super) priority: Option<usize>,
    pub(super) consent: Option<usize>,
}

pub(super) fn columns(header: &[String]) -> Result<(Columns, Vec<String>), DialerError> {
    let mut phone = None;
    let mut cols = Columns::default();
    let mut ignored = Vec::new();
    for (i, name) in header.iter().enumerate() {
        match name
            .trim()
            .trim_start_matches('\u{feff}')
            .to_ascii_lowercase()
            .as_str()
        {
            "phone" | "number" | "phone_number" | "msisdn" => phone = Some(i),
            "id" | "lead_id" => cols.id = Some(i),
            "time_zone" | "timezone" | "tz" => cols.zone = Some(i),
            "priority" => cols.priority = Some(i),
            "consent" => cols.consent = Some(i),
            _ => ignored.push(name.trim().to_owned()),
        }
    }
    cols.phone = phone.ok_or_else(|| {
        DialerError::LeadFile(
            "the header has no phone column (phone, number, phone_number, msisdn)".into(),
        )
    })?;
    Ok((cols, ignored))
}

/// Imports leads from CSV text (see [`import_reader`]).
///
/// ```
/// use callcore_dialer::rules::{import_csv, DncLists, ImportSettings, NumberPlan};
/// let csv = "id,phone,tz\na,(415) 555-0100,America/Los_Angeles\nb,12,UTC\n";
/// let dnc = DncLists::default();
/// let plan = NumberPlan::north_america();
/// let report = import_csv(csv, &ImportSettings {
///     tenant: "t".into(), campaign: "c".into(), number_plan: &plan, dnc: &dnc,
/// }).unwrap();
/// assert_eq!(report.leads[0].lead.phone.expose(), "+14155550100");
/// assert_eq!(report.errors[0].row, 3);
/// ```
///
/// # Errors
/// As [`import_reader`].
pub fn import_csv(text: &str, settings: &ImportSettings<'_>) -> Result<ImportReport, DialerError> {
    import_reader(text.as_bytes(), settings)
}

/// Imports leads from a CSV stream (a file, an upload) into a report: the
/// file is read row by row through a [`LeadReader`] and never held whole in
/// memory; the report holds the leads. To keep even those out of memory,
/// iterate a [`LeadReader`] and hand each lead on (to a store, a
/// [`LeadBook`](super::LeadBook)).
///
/// # Errors
/// [`DialerError::LeadFile`] when the file has no header or no phone column,
/// or cannot be read; problems with single rows are [`RowError`]s in the report.
pub fn import_reader<R: Read>(
    reader: R,
    settings: &ImportSettings<'_>,
) -> Result<ImportReport, DialerError> {
    let rows = LeadReader::new(reader, settings)?;
    let mut report = ImportReport {
        ignored_columns: rows.ignored_columns().to_vec(),
        ..ImportReport::default()
    };
    for row in rows {
        match row? {
            LeadRow::Lead(l) => {
                if l.lead.status == LeadStatus::Closed {
                    report.do_not_call_rows.push(l.row);
                }
                report.leads.push(l);
            }
            LeadRow::Rejected(e) => report.errors.push(e),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn import(text: &str, dnc: &DncLists) -> Result<ImportReport, DialerError> {
        import_csv(
            text,
            &ImportSettings {
                tenant: "t".into(),
                campaign: "c".into(),
                number_plan: &NumberPlan::north_america(),
                dnc,
            },
        )
    }

    #[test]
    fn reports_every_bad_row_with_its_number_and_keeps_the_good_ones() {
        let dnc = DncLists::default();
        dnc.global.add("+12125550199");
        let text = "ID,Phone,TZ,priority,notes\r\n\
                    a,415-555-0100,America/Los_Angeles,5,\"likes \"\"mornings\"\"\"\r\n\
                    b,not a number,UTC,0,x\n\
                    c,212 555 0199,America/New_York,0,on DNC\n\
                    \n\
                    d,(415) 555-0100,UTC,0,dup phone\n\
                    e,646 555 0123,Moon/Base,0,bad tz\n\
                    f,646 555 0124,,high,bad priority\n\
                    g,\"646 555\n0125\",,1,newline inside quotes\n\
                    a,646 555 0126,,0,dup id\n\
                    h,646 555 0127\n\
                    i,646 555 0128,UTC,-3,\n";
        let r = import(text, &dnc).unwrap();
        let ok: Vec<_> = r
            .leads
            .iter()
            .map(|l| (l.lead.id.as_str(), l.row))
            .collect();
        assert_eq!(ok, vec![("a", 2), ("c", 4), ("i", 13)]);
        assert_eq!(r.leads[0].priority, 5);
        assert_eq!(r.leads[2].priority, -3);
        assert_eq!(r.leads[1].lead.status, LeadStatus::Closed);
        assert_eq!(r.do_not_call_rows, vec![4]);
        let bad: Vec<_> = r
            .errors
            .iter()
            .map(|e| (e.row, e.column.as_deref()))
            .collect();
        assert_eq!(
            bad,
            vec![
                (3, Some("phone")),
                (6, Some("phone")),
                (7, Some("time_zone")),
                (8, Some("priority")),
                (9, Some("phone")),
                (11, Some("id")),
                (12, None),
            ]
        );
        assert!(
            r.errors[1].reason.contains("duplicate of line 2"),
            "{:?}",
            r.errors[1]
        );
        assert_eq!(r.ignored_columns, vec!["notes".to_owned()]);
        assert_eq!(r.rows(), 10);
    }

    #[test]
    fn file_level_errors() {
        let dnc = DncLists::default();
        assert!(matches!(import("", &dnc), Err(DialerError::LeadFile(_))));
        assert!(matches!(
            import("name,tz\nx,UTC\n", &dnc),
            Err(DialerError::LeadFile(_))
        ));
        let r = import("phone\n\"4155550100\n", &dnc).unwrap();
        assert_eq!(r.errors[0].row, 2);
        assert!(r.errors[0].reason.contains("unterminated"));
    }

    #[test]
    fn quoted_fields_with_separators_newlines_and_quotes() {
        let dnc = DncLists::default();
        let text = "id,phone,notes\n\
                    \"a,1\",\"(415) 555-0100\",\"said \"\"call me, later\"\"\nthen hung up\"\n\
                    b,415 555 0101,plain\n";
        let r = import(text, &dnc).unwrap();
        let ids: Vec<_> = r
            .leads
            .iter()
            .map(|l| (l.lead.id.as_str(), l.row))
            .collect();
        // The first row spans lines 2 and 3.
        assert_eq!(ids, vec![("a,1", 2), ("b", 4)]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }

    #[test]
    fn a_bom_and_semicolons_or_tabs_are_recognised() {
        let dnc = DncLists::default();
        for text in [
            "\u{feff}ID;Phone;TZ\r\na;+44 20 7946 0018;Europe/London\r\nb;+49 30 1234567;\r\n",
            "id\tphone\ttz\na\t+44 20 7946 0018\tEurope/London\nb\t+49 30 1234567\t\n",
            "\u{feff}phone;id;\"notes; more\"\n+44 20 7946 0018;a;\"x;y\"\n+49 30 1234567;b;\n",
        ] {
            let r = import(text, &dnc).unwrap();
            assert!(r.errors.is_empty(), "{text:?}: {:?}", r.errors);
            let got: Vec<_> = r
                .leads
                .iter()
                .map(|l| (l.lead.id.as_str(), l.lead.phone.expose().as_str()))
                .collect();
            assert_eq!(
                got,
                vec![("a", "+442079460018"), ("b", "+49301234567")],
                "{text:?}"
            );
        }
        // The separator from configuration instead of sniffing.
        let plan = NumberPlan::north_america();
        let settings = ImportSettings {
            tenant: "t".into(),
            campaign: "c".into(),
            number_plan: &plan,
            dnc: &dnc,
        };
        let rows: Vec<_> =
            LeadReader::with_delimiter("phone|id\n4155550100|x\n".as_bytes(), &settings, b'|')
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert!(matches!(&rows[0], LeadRow::Lead(l) if l.lead.id.as_str() == "x"));
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_and_a_missing_final_newline() {
        let dnc = DncLists::default();
        let text = "phone,id\r\n\r\n\r\nbad,a\r\n\n\"multi\r\nline\",b\r\n\r\nworse,c";
        let r = import(text, &dnc).unwrap();
        let lines: Vec<_> = r.errors.iter().map(|e| e.row).collect();
        assert_eq!(lines, vec![4, 6, 9]);
    }

    #[test]
    fn errors_name_the_line_and_the_column() {
        let dnc = DncLists::default();
        let text = b"id;phone;consent;tz\n\
                     a;+1 415 555 0100;maybe;\n\
                     b;+1 415 555 01\xff;;\n\
                     c;+1 415 555 0102;;Nowhere/Land\n";
        let r = import_reader(
            &text[..],
            &ImportSettings {
                tenant: "t".into(),
                campaign: "c".into(),
                number_plan: &NumberPlan::north_america(),
                dnc: &dnc,
            },
        )
        .unwrap();
        let shown: Vec<_> = r.errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown[0], "line 2, column consent: not yes or no");
        assert_eq!(shown[1], "line 3, column phone: not valid UTF-8");
        assert!(
            shown[2].starts_with("line 4, column time_zone: "),
            "{}",
            shown[2]
        );
        assert!(r.leads.is_empty());
    }

    proptest! {
        #[test]
        fn every_data_row_is_a_lead_or_an_error(rows in prop::collection::vec(
            prop_oneof!["[2-9][0-9]{2}[2-9][0-9]{6}", "[0-9 ()+-]{0,14}", "\\PC{0,10}"], 0..40)
        ) {
            let mut text = String::from("phone\n");
            let mut expected = 0;
            for r in &rows {
                let cell = r.replace(['"', ',', '\n', '\r'], "");
                if cell.trim().is_empty() { continue; }
                expected += 1;
                text.push_str(&cell);
                text.push('\n');
            }
            let report = import(&text, &DncLists::default()).unwrap();
            prop_assert_eq!(report.rows(), expected);
            for l in &report.leads {
                prop_assert!(l.lead.phone.expose().starts_with('+'));
            }
        }
    }
}
