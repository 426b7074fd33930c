//! The CSV answer of a bulk check: one line per certificate found, one line per unknown or
//! malformed row, with every cell safe to open in a spreadsheet.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::receipt::{Outcome, MAX_CERTIFICATES, MAX_CERTIFICATES_PER_ROW};
use crate::domain::State;
use crate::http::error::ApiError;
use crate::http::views::StatusView;
use crate::registry::verify::BulkCheck;

/// The header line of the download.
pub const CSV_HEADER: [&str; 11] =
    ["row", "query", "outcome", "number", "holder", "uscc", "level", "state", "valid_from", "valid_until", "detail"];

/// A cell a spreadsheet will not run as a formula: text starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return gets a leading `'`.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// Words for the status of a certificate that is not simply valid.
fn detail(status: &StatusView<'_>) -> String {
    let reason = status.reason.map(|r| format!(": {r}")).unwrap_or_default();
    match status.state {
        State::Valid => String::new(),
        State::Suspended => match status.until {
            Some(until) if status.overdue => format!("suspended since {}, overdue since {until}{reason}", status.since),
            Some(until) => format!("suspended since {} until {until}{reason}", status.since),
            None => format!("suspended since {}{reason}", status.since),
        },
        State::Revoked => format!("revoked since {}{reason}", status.since),
        State::Withdrawn => format!("withdrawn since {}{reason}", status.since),
        State::Expired => format!("expired since {}", status.since),
    }
}

/// What the line of a row with certificates left out says.
pub fn more_detail(more: u64) -> String {
    format!(
        "{more} more certificate(s) found but not listed (at most {MAX_CERTIFICATES_PER_ROW} per row and {MAX_CERTIFICATES} per answer); check this query on its own or search for it"
    )
}

/// The CSV text (UTF-8 with a byte order mark, so spreadsheet programs read the Chinese names).
pub fn csv_bytes(check: &BulkCheck) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(b"\xEF\xBB\xBF".to_vec());
    writer.write_record(CSV_HEADER)?;
    for row in &check.rows {
        let line = row.row.to_string();
        let query = neutralise(&row.query);
        let outcome = row.outcome();
        if outcome != Outcome::Found {
            let error = neutralise(&row.error().unwrap_or_default());
            writer.write_record([&line, &query, outcome.as_str(), "", "", "", "", "", "", "", &error])?;
            continue;
        }
        for certificate in &row.certificates {
            let record = &certificate.record;
            let status = StatusView::of(certificate, check.today);
            writer.write_record([
                line.as_str(),
                &query,
                outcome.as_str(),
                &neutralise(record.number.as_str()),
                &neutralise(&record.holder.name),
                record.holder.uscc.as_str(),
                record.level.as_str(),
                status.state.as_str(),
                &record.issued.to_string(),
                &record.valid_until.to_string(),
                &neutralise(&detail(&status)),
            ])?;
        }
        if row.more > 0 {
            let detail = more_detail(row.more);
            writer.write_record([&line, &query, "more", "", "", "", "", "", "", "", &detail])?;
        }
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The download response, named after the moment of the check.
pub fn csv_response(check: &BulkCheck) -> Result<Response, ApiError> {
    let body = csv_bytes(check).map_err(ApiError::internal)?;
    let name = format!("starmark-verification-{}.csv", check.checked_at.format("%Y%m%dT%H%M%SZ"));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("SM2026ASC000001"), "SM2026ASC000001");
        assert_eq!(neutralise("海尔"), "海尔");
    }
}
