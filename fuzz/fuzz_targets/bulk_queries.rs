//! The query list of `POST /api/v1/verify/bulk` and `POST /api/v1/receipts`, read by the
//! handlers' own function from JSON, CSV or plain text. A list is refused with a 4xx problem
//! or read into numbered rows, none dropped; the rows written back one per line read the same.
#![no_main]

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use starmark::domain::receipt::{rows_from_text, Query, MAX_QUERIES};
use starmark::http::verify::input;
use starmark_fuzz::assert_user_error;

const MEDIA_TYPES: &[&str] =
    &["application/json", "text/csv; charset=utf-8", "text/plain", "TEXT/CSV", "application/x-www-form-urlencoded"];

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let media_type = MEDIA_TYPES[usize::from(kind) % MEDIA_TYPES.len()];
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    let list = match input::read(&headers, Ok(Bytes::copy_from_slice(body))) {
        Ok(list) => list,
        Err(refused) => return assert_user_error(refused),
    };
    assert!(!list.rows.is_empty() && list.rows.len() <= MAX_QUERIES, "{} rows accepted", list.rows.len());
    let is_json = media_type == "application/json";
    let lines = body.split(|&b| b == b'\n').count();
    for (index, row) in list.rows.iter().enumerate() {
        if is_json {
            assert_eq!(row.row, index + 1, "JSON rows are numbered by position");
        } else {
            assert!(row.row >= 1 && row.row <= lines, "row {} of {lines} lines", row.row);
        }
        if index > 0 {
            assert!(row.row > list.rows[index - 1].row, "rows out of order");
        }
        assert_eq!(row.query, row.query.trim(), "queries are trimmed");
        assert!(!row.query.chars().any(char::is_control), "control characters are echoed: {:?}", row.query);
        assert!(row.query.chars().count() <= 101, "queries are cut after 100 characters");
        let _ = Query::classify(&row.query).key();
    }
    // Written back one per line under a header, the rows read the same.
    if list.rows.iter().all(|row| !row.query.is_empty() && !row.query.contains([',', ';', '\t', '"'])) {
        let mut text = String::from("query\n");
        for row in &list.rows {
            text.push_str(&row.query);
            text.push('\n');
        }
        let again: Vec<String> = rows_from_text(&text).into_iter().map(|row| row.query).collect();
        let first: Vec<&str> = list.rows.iter().map(|row| row.query.as_str()).collect();
        assert_eq!(again, first, "the list written back reads differently");
    }
});
