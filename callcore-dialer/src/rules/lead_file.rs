//! Reading a lead file as a stream: the `csv` crate parses, one record buffer
//! is reused for every row, and each row becomes a lead or a [`RowError`] as it
//! is read, so memory does not grow with the file (apart from the duplicate
//! check, see [`LeadReader::check_duplicates`]).
//!
//! Accepted: RFC 4180 quoting (delimiters, quotes and newlines inside quoted
//! fields), a UTF-8 byte-order mark, CRLF or LF line ends, blank lines, and
//! comma-, semicolon- or tab-separated files. The separator is sniffed from the
//! header line (the one that counts most outside quotes; a comma when there
//! is none, i.e. a one-column file) unless [`LeadReader::with_delimiter`]
//! names it.

use super::import::{Columns, ImportSettings, ImportedLead, RowError, columns};
use super::{E164, LeadZone};
use crate::DialerError;
use callcore::{Lead, LeadId, LeadStatus, Pii};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

const BOM: &[u8] = b"\xef\xbb\xbf";
/// Bytes looked at to sniff the separator (the header line, or its start).
const SNIFF_BYTES: usize = 64 * 1024;

/// One data row of a lead file.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadRow {
    /// A valid row (status `Closed` when its number is on a do-not-call list).
    Lead(ImportedLead),
    /// A rejected row.
    Rejected(RowError),
}

/// Counts quote characters passing through, so that a quoted field left open at
/// the end of the file is reported instead of silently taking the rest of the
/// file as its content.
#[derive(Debug)]
struct QuoteCount<R> {
    inner: R,
    quotes: u64,
    /// The last byte read.
    last: Option<u8>,
}

impl<R: Read> Read for QuoteCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.quotes += buf[..n].iter().filter(|&&b| b == b'"').count() as u64;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

/// Streams the leads of a CSV file: an iterator of [`LeadRow`]s in file order.
///
/// ```
/// use callcore_dialer::rules::{DncLists, ImportSettings, LeadReader, LeadRow, NumberPlan};
/// let file = "\u{feff}id;phone;notes\r\na;+44 20 7946 0018;\"rang; \"\"later\"\"\nsecond line\"\r\n";
/// let (dnc, plan) = (DncLists::default(), NumberPlan::north_america());
/// let settings = ImportSettings { tenant: "t".into(), campaign: "c".into(), number_plan: &plan, dnc: &dnc };
/// let rows: Vec<_> = LeadReader::new(file.as_bytes(), &settings)?.collect::<Result<_, _>>()?;
/// let LeadRow::Lead(lead) = &rows[0] else { panic!("{rows:?}") };
/// assert_eq!((lead.lead.phone.expose().as_str(), lead.row), ("+442079460018", 2));
/// # Ok::<(), callcore_dialer::DialerError>(())
/// ```
#[derive(Debug)]
pub struct LeadReader<'a, R: Read> {
    csv: csv::Reader<QuoteCount<BufReader<R>>>,
    settings: ImportSettings<'a>,
    header_len: usize,
    cols: Columns,
    ignored_columns: Vec<String>,
    record: csv::ByteRecord,
    check_duplicates: bool,
    seen_phone: HashMap<u64, u64>,
    seen_id: HashMap<String, u64>,
    /// The last record read, held back one step so the final one can be checked
    /// for an open quote at the end of the file.
    held: Option<(u64, csv::ByteRecord)>,
    done: bool,
}

impl<'a, R: Read> LeadReader<'a, R> {
    /// Reads the header (sniffing the separator) and prepares to stream rows.
    ///
    /// # Errors
    /// [`DialerError::LeadFile`] when the file is empty, cannot be read, or its
    /// header has no phone column.
    pub fn new(reader: R, settings: &ImportSettings<'a>) -> Result<Self, DialerError> {
        Self::build(reader, settings, None)
    }

    /// Like [`Self::new`] with the separator given (`b';'`, `b'\t'`) instead of
    /// sniffed, e.g. from a campaign's configuration.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn with_delimiter(
        reader: R,
        settings: &ImportSettings<'a>,
        delimiter: u8,
    ) -> Result<Self, DialerError> {
        Self::build(reader, settings, Some(delimiter))
    }

    fn build(
        reader: R,
        settings: &ImportSettings<'a>,
        delimiter: Option<u8>,
    ) -> Result<Self, DialerError> {
        let io = |e: std::io::Error| DialerError::LeadFile(format!("reading line 1: {e}"));
        let mut buf = BufReader::with_capacity(SNIFF_BYTES, reader);
        let mut head = buf.fill_buf().map_err(io)?;
        if head.starts_with(BOM) {
            buf.consume(BOM.len());
            head = buf.fill_buf().map_err(io)?;
        }
        let delimiter = delimiter.unwrap_or_else(|| sniff(head));
        // Records end at `\n`: a CRLF file leaves a `\r` at the end of each
        // row's last field, which trimming removes. (With csv's CRLF mode the
        // `\n` of a CRLF is counted as the next record's, which puts the
        // line numbers of errors one line early.)
        let mut csv = csv::ReaderBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(QuoteCount {
                inner: buf,
                quotes: 0,
                last: None,
            });
        let mut header = csv::StringRecord::new();
        let read = csv
            .read_record(&mut header)
            .map_err(|e| DialerError::LeadFile(format!("header (line 1): {e}")))?;
        if !read {
            return Err(DialerError::LeadFile("empty file".into()));
        }
        let names: Vec<String> = header.iter().map(str::to_owned).collect();
        let (cols, ignored_columns) = columns(&names)?;
        Ok(Self {
            csv,
            settings: settings.clone(),
            header_len: names.len(),
            cols,
            ignored_columns,
            record: csv::ByteRecord::new(),
            check_duplicates: true,
            seen_phone: HashMap::new(),
            seen_id: HashMap::new(),
            held: None,
            done: false,
        })
    }

    /// Whether rows repeating an earlier row's number or id are rejected (on by
    /// default). The check remembers every row's number (8 bytes) and id, the
    /// only memory that grows with the file; turn it off when the destination
    /// rejects duplicates itself (a store with unique keys) to stream in
    /// constant memory.
    #[must_use]
    pub fn check_duplicates(mut self, on: bool) -> Self {
        self.check_duplicates = on;
        self
    }

    /// Header columns that are not used.
    #[must_use]
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored_columns
    }

    /// The next non-blank record and its line, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<(u64, csv::ByteRecord)>, DialerError> {
        loop {
            let before = self.csv.position().line();
            let more = self
                .csv
                .read_byte_record(&mut self.record)
                .map_err(|e| DialerError::LeadFile(format!("reading after line {before}: {e}")))?;
            if !more {
                return Ok(None);
            }
            // The line the record starts on, counted back from where it ended
            // (the start csv records for it lies before any blank lines it
            // skipped), assuming its `\n` was read: `next` corrects the last
            // record of a file that ends without one.
            let inner = self
                .record
                .as_slice()
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            let line = self.csv.position().line().saturating_sub(inner + 1).max(1);
            let blank = self.record.len() == 1
                && std::str::from_utf8(&self.record[0]).is_ok_and(|s| s.trim().is_empty());
            if !blank {
                return Ok(Some((line, self.record.clone())));
            }
        }
    }

    fn row(&mut self, line: u64, fields: &csv::ByteRecord) -> LeadRow {
        let err = |column: Option<&str>, reason: String| {
            LeadRow::Rejected(RowError {
                row: usize::try_from(line).unwrap_or(usize::MAX),
                column: column.map(str::to_owned),
                reason,
            })
        };
        if fields.len() != self.header_len {
            return err(
                None,
                format!(
                    "{} fields, the header has {}",
                    fields.len(),
                    self.header_len
                ),
            );
        }
        let names = ["phone", "id", "time_zone", "priority", "consent"];
        let idx = [
            Some(self.cols.phone),
            self.cols.id,
            self.cols.zone,
            self.cols.priority,
            self.cols.consent,
        ];
        let mut cells: [Option<&str>; 5] = [None; 5];
        for (k, i) in idx.into_iter().enumerate() {
            let Some(raw) = i.and_then(|i| fields.get(i)) else {
                continue;
            };
            match std::str::from_utf8(raw) {
                Ok(s) => cells[k] = Some(s.trim()).filter(|s| !s.is_empty()),
                Err(_) => return err(Some(names[k]), "not valid UTF-8".into()),
            }
        }
        let [phone, id, zone, priority, consent] = cells;
        let number = match E164::parse(phone.unwrap_or(""), self.settings.number_plan) {
            Ok(p) => p,
            Err(e) => return err(Some("phone"), e.to_string()),
        };
        let (line_type, region) = (number.line_type(), number.region());
        let phone = number.into_string();
        if let Some(Err(e)) = zone.map(LeadZone::named) {
            return err(Some("time_zone"), e.to_string());
        }
        let priority = match priority.map(str::parse::<i32>) {
            None => 0,
            Some(Ok(p)) => p,
            Some(Err(_)) => return err(Some("priority"), "not an integer".into()),
        };
        let consent = match consent.map(str::to_ascii_lowercase).as_deref() {
            None | Some("no" | "n" | "false" | "0") => false,
            Some("yes" | "y" | "true" | "1") => true,
            Some(_) => return err(Some("consent"), "not yes or no".into()),
        };
        let id = id.map_or_else(|| format!("row-{line}"), str::to_owned);
        if self.check_duplicates {
            if let Some(first) = self.seen_id.get(&id) {
                return err(Some("id"), format!("duplicate of line {first}"));
            }
            let key = phone_key(&phone);
            if let Some(first) = self.seen_phone.get(&key) {
                return err(Some("phone"), format!("duplicate of line {first}"));
            }
            self.seen_id.insert(id.clone(), line);
            self.seen_phone.insert(key, line);
        }
        let dnc = self.settings.dnc.blocks(&phone);
        LeadRow::Lead(ImportedLead {
            lead: Lead {
                id: LeadId::new(id),
                campaign: self.settings.campaign.clone(),
                tenant: self.settings.tenant.clone(),
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
            row: usize::try_from(line).unwrap_or(usize::MAX),
            line_type,
            region,
            consent,
        })
    }
}

impl<R: Read> Iterator for LeadReader<'_, R> {
    type Item = Result<LeadRow, DialerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.held.is_none() {
            match self.next_record() {
                Ok(Some(r)) => self.held = Some(r),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let following = match self.next_record() {
            Ok(r) => r,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let (mut line, record) = std::mem::replace(&mut self.held, following)?;
        let source = self.csv.get_ref();
        let open_quote = source.quotes % 2 == 1;
        if self.held.is_none() && (open_quote || source.last != Some(b'\n')) {
            // The last record, and no `\n` of its own ended it.
            line += 1;
        }
        if self.held.is_none() && open_quote {
            // The last record: an odd number of quotes in the file means its
            // quoted field was never closed and ran to the end of the file.
            self.done = true;
            return Some(Ok(LeadRow::Rejected(RowError {
                row: usize::try_from(line).unwrap_or(usize::MAX),
                column: None,
                reason: "unterminated quoted field (runs to the end of the file)".into(),
            })));
        }
        Some(Ok(self.row(line, &record)))
    }
}

/// The separator of a header line: the most frequent of `,` `;` `\t` `|`
/// outside quotes; `,` when none occurs.
fn sniff(head: &[u8]) -> u8 {
    let line = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head, |n| &head[..n]);
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

/// An E.164 number as an integer key: at most 15 digits, first one non-zero,
/// so distinct numbers give distinct keys.
fn phone_key(e164: &str) -> u64 {
    e164.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |k, d| k * 10 + u64::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_separator_outside_quotes() {
        assert_eq!(sniff(b"id,phone,tz\n1;2"), b',');
        assert_eq!(sniff(b"id;phone;\"a,b,c\"\r\n"), b';');
        assert_eq!(sniff(b"id\tphone\n"), b'\t');
        assert_eq!(sniff(b"phone\n1,2,3\n"), b',');
        assert_eq!(sniff(b""), b',');
    }

    #[test]
    fn phone_keys_are_distinct() {
        assert_eq!(phone_key("+14155550100"), 14_155_550_100);
        assert_ne!(phone_key("+442079460018"), phone_key("+4420794600180"));
    }
}
