//! Bulk issue from CSV: every row is checked on its own, a bad row is reported with its line
//! number and nothing of it is written, the good rows are signed in parallel and stored in
//! large transactions.

use std::collections::HashSet;
use std::io::Read;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use serde_json::json;

use super::{clock, Registry, RegistryError};
use crate::domain::EventKind;
use crate::domain::{CertificateDraft, CertificateNumber, CertificateRecord, Evaluation, Holder, Level, Points, Uscc};
use crate::store::{NewEvent, SignedRecord, StoreError};

/// Certificates per store transaction.
const BATCH: usize = 5_000;

/// The CSV header the importer expects (extra columns are refused, order is free).
pub const CSV_COLUMNS: &[&str] = &[
    "number",
    "holder_name",
    "holder_name_en",
    "uscc",
    "address",
    "scope",
    "system",
    "commodity",
    "customer",
    "applicable",
    "special_deductions",
    "special_bonus",
    "level",
    "issued",
    "first_issued",
];

/// A row that parsed, with where it came from.
#[derive(Clone, Debug)]
pub struct ImportRow {
    pub line: u64,
    pub draft: CertificateDraft,
}

/// A row that was refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// Outcome of an import.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub issued: u64,
    pub errors: Vec<RowError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    number: Option<String>,
    holder_name: String,
    holder_name_en: Option<String>,
    uscc: String,
    address: String,
    scope: String,
    system: String,
    commodity: String,
    customer: String,
    applicable: Option<String>,
    special_deductions: Option<String>,
    special_bonus: Option<String>,
    level: Option<String>,
    issued: Option<String>,
    first_issued: Option<String>,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn date(field: &str, value: &Option<String>) -> Result<Option<NaiveDate>, String> {
    present(value)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| format!("{field}: '{v}' is not a date (YYYY-MM-DD)"))
        })
        .transpose()
}

fn points(field: &str, value: &str) -> Result<Points, String> {
    Points::parse(value).map_err(|e| format!("{field}: {e}"))
}

impl CsvRow {
    fn into_draft(self) -> Result<CertificateDraft, String> {
        let number = present(&self.number).map(CertificateNumber::parse).transpose().map_err(|e| e.to_string())?;
        let uscc = Uscc::parse(&self.uscc).map_err(|e| format!("uscc: {e}"))?;
        let evaluation = Evaluation {
            system: points("system", &self.system)?,
            commodity: points("commodity", &self.commodity)?,
            customer: points("customer", &self.customer)?,
            applicable: match present(&self.applicable) {
                Some(v) => points("applicable", v)?,
                None => Points::whole(100),
            },
            special_deductions: match present(&self.special_deductions) {
                Some(v) => v.parse().map_err(|_| format!("special_deductions: '{v}' is not a whole number"))?,
                None => 0,
            },
            special_bonus: match present(&self.special_bonus).map(str::to_ascii_lowercase).as_deref() {
                None | Some("0" | "false" | "no") => false,
                Some("1" | "true" | "yes") => true,
                Some(other) => return Err(format!("special_bonus: '{other}' is not true/false")),
            },
        };
        let level = match present(&self.level) {
            Some(v) => Some(
                Level::parse(v)
                    .ok_or_else(|| format!("level: '{v}' is not one of compliant, three_star, four_star, five_star"))?,
            ),
            None => None,
        };
        Ok(CertificateDraft {
            number,
            holder: Holder {
                name: self.holder_name,
                name_en: present(&self.holder_name_en).map(String::from),
                uscc,
                address: self.address,
            },
            scope: self.scope,
            evaluation,
            level,
            issued: date("issued", &self.issued)?,
            first_issued: date("first_issued", &self.first_issued)?,
        })
    }
}

/// Reads `inner` with every line end made a line feed (a lone carriage return is the line end
/// of CSV that some spreadsheet programs still save), and notes where each line starts, so a
/// row is reported at its line in the file: the CSV reader's own line count leaves out blank
/// lines and lone carriage returns.
struct LineFeeds<R> {
    inner: R,
    after_carriage_return: bool,
    /// Bytes handed out so far.
    offset: u64,
    /// Offsets of the line feeds handed out, in order.
    line_feeds: Vec<u64>,
}

impl<R> LineFeeds<R> {
    fn new(inner: R) -> Self {
        Self { inner, after_carriage_return: false, offset: 0, line_feeds: Vec::new() }
    }

    /// The line (from 1) of the row the CSV reader places at `offset`: it places a row after
    /// blank lines at the first of them, so the line feeds right there are stepped over.
    fn line_at(&self, offset: u64) -> u64 {
        let before = self.line_feeds.partition_point(|&feed| feed < offset);
        let blank = self.line_feeds[before..].iter().zip(offset..).take_while(|(&feed, at)| feed == *at).count();
        (before + blank) as u64 + 1
    }
}

impl<R: Read> Read for LineFeeds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let read = self.inner.read(buf)?;
            let mut kept = 0;
            for index in 0..read {
                let byte = buf[index];
                let after_carriage_return = std::mem::replace(&mut self.after_carriage_return, byte == b'\r');
                if byte == b'\n' && after_carriage_return {
                    continue;
                }
                let byte = if byte == b'\r' { b'\n' } else { byte };
                if byte == b'\n' {
                    self.line_feeds.push(self.offset + kept as u64);
                }
                buf[kept] = byte;
                kept += 1;
            }
            self.offset += kept as u64;
            // A read that held only the line feed of a CRLF is not the end of the input.
            if kept > 0 || read == 0 {
                return Ok(kept);
            }
        }
    }
}

/// The line of the row at `position`, by the bytes before it.
fn line_of<R: Read>(reader: &csv::Reader<LineFeeds<R>>, position: Option<&csv::Position>) -> u64 {
    position.map_or(0, |p| reader.get_ref().line_at(p.byte()))
}

/// Reads a CSV file into rows that parsed and errors for rows that did not.
pub fn parse_csv<R: Read>(input: R) -> Result<(Vec<ImportRow>, Vec<RowError>), RowError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(LineFeeds::new(input));
    let headers =
        reader.headers().map_err(|e| RowError { line: 1, message: format!("cannot read the header: {e}") })?;
    for header in headers.iter() {
        if !CSV_COLUMNS.contains(&header) {
            return Err(RowError {
                line: 1,
                message: format!("unknown column '{header}'; expected columns: {}", CSV_COLUMNS.join(",")),
            });
        }
    }
    let headers = headers.clone();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = line_of(&reader, e.position());
                let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                errors.push(RowError { line, message: format!("unreadable row: {e}") });
                if io {
                    break;
                }
                continue;
            }
        }
        let line = line_of(&reader, record.position());
        let parsed: Result<CsvRow, _> = record.deserialize(Some(&headers));
        // The reader's own message counts lines its own way; the row's line is said once, by us.
        let reason = |e: csv::Error| match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
            _ => e.to_string(),
        };
        match parsed.map_err(reason).and_then(CsvRow::into_draft) {
            Ok(draft) => rows.push(ImportRow { line, draft }),
            Err(message) => errors.push(RowError { line, message }),
        }
    }
    Ok((rows, errors))
}

impl Registry {
    /// Issues every row that is acceptable; `progress` is told how many are stored so far.
    pub async fn import(
        &self,
        actor: &str,
        rows: Vec<ImportRow>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, RegistryError> {
        let today = clock::today();
        let now = clock::now();
        let mut report = ImportReport::default();

        // Numbers given in the file must be unique within it and new to the registry.
        let given: Vec<CertificateNumber> = rows.iter().filter_map(|row| row.draft.number.clone()).collect();
        let taken: HashSet<CertificateNumber> = self.store.existing_numbers(&given).await?.into_iter().collect();
        let mut seen = HashSet::new();
        let mut accepted = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(number) = &row.draft.number {
                if taken.contains(number) {
                    report
                        .errors
                        .push(RowError { line: row.line, message: format!("certificate {number} already exists") });
                    continue;
                }
                if !seen.insert(number.clone()) {
                    report.errors.push(RowError {
                        line: row.line,
                        message: format!("certificate {number} appears more than once in the file"),
                    });
                    continue;
                }
            }
            accepted.push(row);
        }

        // Check every row before any number is reserved, so a refused row consumes none.
        let year = today.year();
        let placeholder = CertificateNumber::assigned(year, 0);
        let mut records = Vec::with_capacity(accepted.len());
        let mut unnumbered = 0;
        for row in accepted {
            let assign = row.draft.number.is_none();
            let number = row.draft.number.clone().unwrap_or_else(|| placeholder.clone());
            match CertificateRecord::issue(row.draft, number, self.issuer.clone(), today) {
                Ok(record) => {
                    unnumbered += usize::from(assign);
                    records.push(Checked { line: row.line, assign, record });
                }
                Err(e) => report.errors.push(RowError { line: row.line, message: e.to_string() }),
            }
        }
        // Assigned numbers skip those in the store and those the file gives explicitly.
        let given: HashSet<String> = seen.iter().map(ToString::to_string).collect();
        let mut numbers = self.allocate_numbers(year, unnumbered, &given).await?.into_iter();
        for checked in records.iter_mut().filter(|c| c.assign) {
            checked.record.number =
                numbers.next().ok_or_else(|| RegistryError::Internal("fewer numbers than rows".into()))?;
        }
        let assigned: HashSet<u64> = records.iter().filter(|c| c.assign).map(|c| c.line).collect();
        let records = records.into_iter().map(|c| (c.line, c.record)).collect();

        let signed = self.sign_all(records)?;
        for batch in signed.chunks(BATCH) {
            let events: Vec<NewEvent> =
                batch.iter().map(|(_, signed)| issued_event(actor, now, signed.clone())).collect();
            match self.store.insert_new(&events).await {
                Ok(()) => {
                    report.issued += events.len() as u64;
                    self.log_appended().await;
                }
                Err(e) if e.is_unavailable() => {
                    tracing::error!(error = %e, "import: a batch could not be stored");
                    let message = "not stored: the database is unavailable; import these rows again later";
                    report
                        .errors
                        .extend(batch.iter().map(|(line, _)| RowError { line: *line, message: message.into() }));
                }
                // One row the store refuses must not cost the others: store them one by one.
                Err(_) => {
                    for (line, signed) in batch {
                        let assign = assigned.contains(line);
                        match self.store_one(actor, now, signed.clone(), assign, &given).await {
                            Ok(()) => report.issued += 1,
                            Err(message) => report.errors.push(RowError { line: *line, message }),
                        }
                    }
                    self.log_appended().await;
                }
            }
            progress(report.issued);
        }
        report.errors.sort_by_key(|e| e.line);
        Ok(report)
    }

    /// Stores one imported certificate, giving an assigned number that was taken meanwhile the
    /// next free one; the error is a message for the row, never the database's own text.
    async fn store_one(
        &self,
        actor: &str,
        now: chrono::DateTime<chrono::Utc>,
        mut signed: SignedRecord,
        assign: bool,
        given: &HashSet<String>,
    ) -> Result<(), String> {
        for _ in 0..3 {
            let number = signed.record.number.clone();
            match self.store.insert_new(&[issued_event(actor, now, signed.clone())]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Duplicate(_)) if assign => {
                    let year = clock::today().year();
                    let fresh = self.allocate_numbers(year, 1, given).await.map_err(|e| {
                        tracing::error!(error = %e, "import: no number for a row");
                        "not stored: no certificate number could be assigned (see the server log)".to_string()
                    })?;
                    let mut record = signed.record.clone();
                    record.number = fresh.into_iter().next().ok_or("not stored: no certificate number")?;
                    signed = self.sign(record).map_err(|e| format!("not stored: {e}"))?;
                }
                Err(StoreError::Duplicate(_)) => return Err(format!("certificate {number} already exists")),
                Err(e) => {
                    tracing::error!(error = %e, number = number.as_str(), "import: a row could not be stored");
                    return Err(if e.is_unavailable() {
                        "not stored: the database is unavailable; import this row again later".into()
                    } else {
                        "not stored: the database refused the row (see the server log)".into()
                    });
                }
            }
        }
        Err("not stored: the assigned certificate numbers were taken meanwhile; import this row again".into())
    }

    /// Signs records on every core.
    fn sign_all(&self, records: Vec<(u64, CertificateRecord)>) -> Result<Vec<(u64, SignedRecord)>, RegistryError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
        let chunk = records.len().div_ceil(threads).max(1);
        let mut parts: Vec<Vec<(u64, CertificateRecord)>> = Vec::new();
        let mut records = records;
        while records.len() > chunk {
            let tail = records.split_off(chunk);
            parts.push(records);
            records = tail;
        }
        parts.push(records);
        let results: Vec<Result<Vec<(u64, SignedRecord)>, RegistryError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    scope.spawn(move || {
                        part.into_iter()
                            .map(|(line, record)| self.sign(record).map(|signed| (line, signed)))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(RegistryError::Internal("signing thread panicked".into()))))
                .collect()
        });
        let mut all = Vec::new();
        for part in results {
            all.extend(part?);
        }
        Ok(all)
    }
}

/// A row that passed every check, before it is numbered and signed.
struct Checked {
    line: u64,
    /// Whether the registry assigns its number.
    assign: bool,
    record: CertificateRecord,
}

/// The `issued` event of an imported certificate.
fn issued_event(actor: &str, now: chrono::DateTime<chrono::Utc>, signed: SignedRecord) -> NewEvent {
    NewEvent {
        kind: EventKind::Issued,
        actor: actor.to_string(),
        at: now,
        details: json!({ "level": signed.record.level, "valid_until": signed.record.valid_until, "import": true }),
        signed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, so line ends fall across reads.
    struct ByteByByte<'a>(&'a [u8]);

    impl Read for ByteByByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else { return Ok(0) };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    fn lines_of_refused_rows(file: &[u8]) -> Vec<u64> {
        let (_, errors) = parse_csv(ByteByByte(file)).expect("header");
        errors.into_iter().map(|e| e.line).collect()
    }

    #[test]
    fn rows_are_reported_at_their_line_whatever_the_line_ends() {
        let rows = ["uscc", "bad", "", "worse"];
        for end in ["\n", "\r\n", "\r"] {
            let file = rows.join(end);
            assert_eq!(lines_of_refused_rows(file.as_bytes()), [2, 4], "line ends {end:?}");
        }
    }
}
