//! Lead import from CSV.
//!
//! Every data row ends up in exactly one place of the [`ImportReport`]: a lead
//! (possibly closed because it is on a do-not-call list) or a [`RowError`] with
//! its row number. Nothing is dropped silently.
//!
//! The file has a header row. Recognised columns (case-insensitive):
//! `phone` (or `number`, `phone_number`, `msisdn`) — required; `id` (or
//! `lead_id`); `time_zone` (or `timezone`, `tz`), an IANA name; `priority`, an
//! integer (higher is called first). Other columns are reported as ignored.

use super::{DncLists, E164, LeadZone, NumberPlan};
use crate::DialerError;
use callcore::{CampaignId, Lead, LeadId, LeadStatus, Pii, TenantId};
use std::collections::HashMap;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line number of the row in the file (the header is row 1).
    pub row: usize,
    /// The column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// An imported lead with the fields callcore's [`Lead`] does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedLead {
    /// The lead (status `Pending`, or `Closed` when on a DNC list).
    pub lead: Lead,
    /// Dialing priority; higher first.
    pub priority: i32,
    /// The file row it came from.
    pub row: usize,
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

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes,
/// newlines inside quotes), each with the line it starts on.
fn records(text: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        let mut error = None;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    error = Some("unterminated quoted field".to_owned());
                }
                break;
            };
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push('\n');
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.trim().is_empty() && !was_quoted => {
                    field.clear();
                    quoted = true;
                    was_quoted = true;
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    break;
                }
                _ => field.push(c),
            }
        }
        fields.push(field);
        let blank = fields.len() == 1 && fields[0].trim().is_empty() && error.is_none();
        if !blank {
            out.push((start, error.map_or(Ok(fields), Err)));
        }
    }
    out
}

#[derive(Debug, Default)]
struct Columns {
    phone: usize,
    id: Option<usize>,
    zone: Option<usize>,
    priority: Option<usize>,
}

fn columns(header: &[String]) -> Result<(Columns, Vec<String>), DialerError> {
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

/// Imports leads from CSV text.
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
/// [`DialerError::LeadFile`] when the file has no header or no phone column;
/// problems with single rows are [`RowError`]s in the report.
pub fn import_csv(text: &str, settings: &ImportSettings<'_>) -> Result<ImportReport, DialerError> {
    let mut recs = records(text).into_iter();
    let Some((_, header)) = recs.next() else {
        return Err(DialerError::LeadFile("empty file".into()));
    };
    let header = header.map_err(|e| DialerError::LeadFile(format!("header: {e}")))?;
    let (cols, ignored_columns) = columns(&header)?;
    let mut report = ImportReport {
        ignored_columns,
        ..ImportReport::default()
    };
    let mut seen_phone: HashMap<String, usize> = HashMap::new();
    let mut seen_id: HashMap<String, usize> = HashMap::new();
    for (row, fields) in recs {
        let err = |column: Option<&str>, reason: String| RowError {
            row,
            column: column.map(str::to_owned),
            reason,
        };
        let fields = match fields {
            Ok(f) => f,
            Err(e) => {
                report.errors.push(err(None, e));
                continue;
            }
        };
        if fields.len() != header.len() {
            report.errors.push(err(
                None,
                format!("{} fields, the header has {}", fields.len(), header.len()),
            ));
            continue;
        }
        let cell = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let phone = match E164::parse(cell(Some(cols.phone)).unwrap_or(""), settings.number_plan) {
            Ok(p) => p.into_string(),
            Err(e) => {
                report.errors.push(err(Some("phone"), e.to_string()));
                continue;
            }
        };
        let zone = cell(cols.zone);
        if let Some(Err(e)) = zone.map(LeadZone::named) {
            report.errors.push(err(Some("time_zone"), e.to_string()));
            continue;
        }
        let priority = match cell(cols.priority).map(str::parse::<i32>) {
            None => 0,
            Some(Ok(p)) => p,
            Some(Err(_)) => {
                report
                    .errors
                    .push(err(Some("priority"), "not an integer".into()));
                continue;
            }
        };
        let id = cell(cols.id).map_or_else(|| format!("row-{row}"), str::to_owned);
        if let Some(first) = seen_id.get(&id) {
            report
                .errors
                .push(err(Some("id"), format!("duplicate of row {first}")));
            continue;
        }
        if let Some(first) = seen_phone.get(&phone) {
            report
                .errors
                .push(err(Some("phone"), format!("duplicate of row {first}")));
            continue;
        }
        seen_id.insert(id.clone(), row);
        seen_phone.insert(phone.clone(), row);
        let dnc = settings.dnc.blocks(&phone);
        if dnc {
            report.do_not_call_rows.push(row);
        }
        report.leads.push(ImportedLead {
            lead: Lead {
                id: LeadId::new(id),
                campaign: settings.campaign.clone(),
                tenant: settings.tenant.clone(),
                phone: Pii::new(phone),
                time_zone: zone.map(str::to_owned),
                attempts: 0,
                status: if dnc {
                    LeadStatus::Closed
                } else {
                    LeadStatus::Pending
                },
                next_attempt_at: None,
            },
            priority,
            row,
        });
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
            r.errors[1].reason.contains("duplicate of row 2"),
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
