//! Procurement checks and verification receipts, as pure rules: how a pasted list becomes
//! queries, how one query is classified, what a receipt records about each certificate, and
//! what counts as a change since a receipt was issued. No I/O: the registry does the lookups
//! and the signing.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::certificate::{CertificateNumber, Issuer};
use super::evaluation::Level;
use super::status::State;
use super::uscc::{Uscc, USCC_LEN};

/// Most queries one bulk check or receipt may hold: a bidder list, not a registry dump.
pub const MAX_QUERIES: usize = 1000;

/// Most certificates one row of a bulk answer or receipt names; the others it finds are
/// counted in the row's `more`, never silently dropped.
pub const MAX_CERTIFICATES_PER_ROW: usize = 10;

/// Most certificates one bulk answer or receipt names in all, so that its size stays a small
/// multiple of its input however many rows name the same large holder; rows past the budget
/// count what they find in `more`.
pub const MAX_CERTIFICATES: usize = 2000;

/// Hard bound on a receipt's stored size (its canonical document). The row and certificate
/// bounds keep every receipt below it (a unit test builds the largest one possible); a receipt
/// above it is refused rather than stored, and `POST /api/v1/receipts/verify` accepts at least
/// this much.
pub const MAX_RECEIPT_BYTES: usize = 4 * 1024 * 1024;

/// The `format` member of every receipt this version signs.
pub const RECEIPT_FORMAT: &str = "starmark-receipt-v1";

/// Longest query echoed back; the rest of a pasted paragraph adds nothing to the answer.
const ECHO_CHARS: usize = 100;

/// First-column values that name a column rather than hold a query.
const HEADER_WORDS: &[&str] = &[
    "uscc",
    "number",
    "query",
    "code",
    "certificate",
    "certificate_number",
    "certificate number",
    "credit_code",
    "统一社会信用代码",
    "信用代码",
    "证书编号",
    "证书号",
    "编号",
];

/// One line of input that holds a query, numbered as in the input (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputRow {
    pub row: usize,
    pub query: String,
}

/// Rows of a JSON list: one per element, in order, none dropped (blank ones become malformed).
pub fn rows_from_list(queries: &[String]) -> Vec<InputRow> {
    queries.iter().enumerate().map(|(i, q)| InputRow { row: i + 1, query: echo(q) }).collect()
}

/// Rows of a CSV or plain-text list: the first column of each line; blank lines are skipped
/// but keep their numbers, and a first line that names a column is skipped as a header.
pub fn rows_from_text(text: &str) -> Vec<InputRow> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut seen_first = false;
    for (index, line) in text.split('\n').enumerate() {
        let cell = first_cell(line.trim_end_matches('\r'));
        if cell.is_empty() {
            continue;
        }
        if !seen_first {
            seen_first = true;
            if is_header(&cell) {
                continue;
            }
        }
        rows.push(InputRow { row: index + 1, query: echo(&cell) });
    }
    rows
}

/// The first comma-, tab- or semicolon-separated cell of a line, without CSV quotes.
fn first_cell(line: &str) -> String {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix('"') {
        let mut cell = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    break;
                }
            } else {
                cell.push(c);
            }
        }
        return cell.trim().to_string();
    }
    line.split([',', '\t', ';']).next().unwrap_or("").trim().to_string()
}

/// Whether the first cell of the first line is a column name: a known name, or anything that
/// is not a USCC and holds no digit (every real certificate number has digits).
fn is_header(cell: &str) -> bool {
    let lower = cell.trim().to_lowercase();
    if HEADER_WORDS.contains(&lower.as_str()) {
        return true;
    }
    Uscc::parse(cell).is_err() && !cell.chars().any(|c| c.is_ascii_digit())
}

/// The query as echoed in answers and receipts: trimmed, control characters replaced by
/// U+FFFD (so every JSON tool writes the signed text the same way), and cut after
/// [`ECHO_CHARS`] characters.
fn echo(query: &str) -> String {
    let query = query.trim();
    let mut echoed: String =
        query.chars().take(ECHO_CHARS).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if query.chars().count() > ECHO_CHARS {
        echoed.push('…');
    }
    echoed
}

/// What a query asks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Every certificate of the holder with this unified social credit code.
    Uscc(Uscc),
    /// One certificate.
    Number(CertificateNumber),
    /// Neither: the message says why, so the officer can fix the line.
    Malformed(String),
}

/// The kind of a query, as named in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    Uscc,
    Number,
    Malformed,
}

/// What a query found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Found,
    Unknown,
    Malformed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::Unknown => "unknown",
            Outcome::Malformed => "malformed",
        }
    }
}

/// The USCC alphabet: a string made only of these cannot be a certificate number typed for a
/// code, and a string with any other letter cannot be a code.
fn in_uscc_alphabet(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'O' | 'S' | 'V' | 'Z'))
}

impl Query {
    /// Classifies one trimmed query. An 18-character string of the USCC alphabet that fails the
    /// GB 32100 check is malformed with the reason, never silently looked up as a number.
    pub fn classify(raw: &str) -> Self {
        let text = raw.trim();
        if text.is_empty() {
            return Query::Malformed("empty query".into());
        }
        let upper = text.to_ascii_uppercase();
        if upper.chars().count() == USCC_LEN {
            match Uscc::parse(&upper) {
                Ok(uscc) => return Query::Uscc(uscc),
                Err(e) if upper.chars().all(in_uscc_alphabet) || upper.starts_with(|c: char| c.is_ascii_digit()) => {
                    return Query::Malformed(format!("not a valid unified social credit code: {e}"))
                }
                Err(_) => {}
            }
        }
        match CertificateNumber::parse(&upper) {
            Ok(number) => Query::Number(number),
            Err(e) => Query::Malformed(format!(
                "neither a unified social credit code (18 characters) nor a certificate number ({}); \
                 company names are looked up with the search instead",
                e.message
            )),
        }
    }

    pub fn kind(&self) -> QueryKind {
        match self {
            Query::Uscc(_) => QueryKind::Uscc,
            Query::Number(_) => QueryKind::Number,
            Query::Malformed(_) => QueryKind::Malformed,
        }
    }

    /// The normalised form two equal queries share (for asking the store once), if any.
    pub fn key(&self) -> Option<String> {
        match self {
            Query::Uscc(uscc) => Some(format!("uscc:{uscc}")),
            Query::Number(number) => Some(format!("number:{number}")),
            Query::Malformed(_) => None,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Query::Malformed(message) => Some(message),
            _ => None,
        }
    }
}

/// The signed part of a receipt: who said it, when, and what each query found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_FORMAT`].
    pub format: String,
    pub issuer: Issuer,
    /// The registry's public base URL.
    pub registry: String,
    pub issued_at: DateTime<Utc>,
    pub results: Vec<ReceiptRow>,
}

/// One query of a receipt and its answer at the time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRow {
    pub row: u32,
    pub query: String,
    pub kind: QueryKind,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub certificates: Vec<Snapshot>,
    /// Certificates the query found beyond those listed (see [`MAX_CERTIFICATES_PER_ROW`] and
    /// [`MAX_CERTIFICATES`]); absent when none, so receipts that list everything keep the bytes
    /// they were always signed with.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A certificate as the receipt saw it: the exact signed record version (`version`,
/// `record_sha256`) and the state in force that day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub number: String,
    pub holder_name: String,
    pub uscc: String,
    pub level: Level,
    /// Effective state on the day of issue (expired when past `valid_until`).
    pub state: State,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub version: u32,
    /// Lower-case hex SHA-256 of the record version's canonical bytes.
    pub record_sha256: String,
}

/// One field that differs between a receipt's snapshot and today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub then: Value,
    pub now: Value,
}

impl FieldChange {
    pub fn new(field: &'static str, then: Value, now: Value) -> Self {
        Self { field, then, now }
    }
}

/// The fields a procurement officer relies on that differ between `then` and `now`: state,
/// level, validity end, record version and holder name.
pub fn changes_between(then: &Snapshot, now: &Snapshot) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if then.state != now.state {
        changes.push(FieldChange::new("state", json!(then.state), json!(now.state)));
    }
    if then.level != now.level {
        changes.push(FieldChange::new("level", json!(then.level), json!(now.level)));
    }
    if then.valid_until != now.valid_until {
        changes.push(FieldChange::new("valid_until", json!(then.valid_until), json!(now.valid_until)));
    }
    if then.version != now.version {
        changes.push(FieldChange::new("version", json!(then.version), json!(now.version)));
    }
    if then.holder_name != now.holder_name {
        changes.push(FieldChange::new("holder_name", json!(then.holder_name), json!(now.holder_name)));
    }
    changes
}

/// Whether `id` has the shape of a receipt id: 32 lower-case hex digits.
pub fn is_receipt_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_classified() {
        assert_eq!(Query::classify(" 91350200776049653a ").kind(), QueryKind::Uscc);
        assert_eq!(Query::classify("sm2026asc000001").kind(), QueryKind::Number);
        let bad_check = Query::classify("91350200776049653B");
        assert!(bad_check.error().is_some_and(|e| e.contains("check character")), "{bad_check:?}");
        // 18 characters with letters outside the code alphabet: a long certificate number.
        assert_eq!(Query::classify("SM2026IMP000010001").kind(), QueryKind::Number);
        assert_eq!(Query::classify("").kind(), QueryKind::Malformed);
        assert!(Query::classify("海尔智家").error().is_some_and(|e| e.contains("search")));
        assert_eq!(Query::classify("12345").kind(), QueryKind::Malformed);
        assert_eq!(Query::classify("91350200776049653").kind(), QueryKind::Malformed);
    }

    #[test]
    fn text_input_skips_headers_and_blank_lines_but_keeps_line_numbers() {
        let text = "\u{feff}uscc,name\r\n91350200776049653A,厦门\r\n\r\n\"SM2026ASC000001\",x\n  \nbad;y\n";
        let rows = rows_from_text(text);
        let got: Vec<(usize, &str)> = rows.iter().map(|r| (r.row, r.query.as_str())).collect();
        assert_eq!(got, [(2, "91350200776049653A"), (4, "SM2026ASC000001"), (6, "bad")]);
        for header in ["证书编号", "number", "Query", "统一社会信用代码\t名称"] {
            assert!(rows_from_text(&format!("{header}\nSM2026ASC000001\n")).len() == 1, "{header}");
        }
        // A first line that is a query is kept.
        assert_eq!(rows_from_text("SM2026ASC000001\nSM2026ASC000002").len(), 2);
        assert_eq!(rows_from_text("91350200776049653A").len(), 1);
    }

    #[test]
    fn long_queries_are_cut_when_echoed() {
        let rows = rows_from_list(&["x".repeat(500), " a ".into()]);
        assert_eq!(rows[0].query.chars().count(), ECHO_CHARS + 1);
        assert_eq!(rows[1], InputRow { row: 2, query: "a".into() });
        assert_eq!(rows_from_list(&["a\u{7f}b\u{1}".into()])[0].query, "a\u{fffd}b\u{fffd}");
    }

    #[test]
    fn receipt_ids_are_checked() {
        assert!(is_receipt_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_receipt_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_receipt_id("0123"));
    }
}
