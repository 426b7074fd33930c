//! The query list of `POST /api/v1/verify/bulk` and `POST /api/v1/receipts`: a JSON object
//! `{"queries": [...]}` or CSV / plain text, one query per line in the first column.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::domain::receipt::{rows_from_list, rows_from_text, InputRow, MAX_QUERIES};
use crate::http::error::ApiError;

/// The JSON form of a query list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonQueries {
    queries: Vec<String>,
    /// Whether to sign and store a receipt of the answer too.
    #[serde(default)]
    receipt: bool,
}

/// A query list read from a request.
pub struct QueryList {
    pub rows: Vec<InputRow>,
    /// `"receipt": true` in a JSON body.
    pub receipt: bool,
}

/// The media type of a request, lower case, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Reads the list, refusing an empty list or more than [`MAX_QUERIES`] with a 422 that names
/// the limit, before anything is looked up.
pub fn read(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<QueryList, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    let list = match media_type(headers).as_deref() {
        Some("application/json") => {
            let parsed: JsonQueries = serde_json::from_slice(&body).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => ApiError::invalid_body(e.to_string()),
                _ => ApiError::malformed_json(e.to_string()),
            })?;
            QueryList { rows: rows_from_list(&parsed.queries), receipt: parsed.receipt }
        }
        Some("text/csv" | "text/plain") => {
            // Spreadsheet programs in China save CSV as GBK. Queries are ASCII, so a GBK header
            // or name column decoded as UTF-8 only turns into U+FFFD and is skipped or ignored.
            let text = String::from_utf8_lossy(&body);
            QueryList { rows: rows_from_text(&text), receipt: false }
        }
        _ => {
            return Err(ApiError::unsupported_media_type(
                "send {\"queries\": [...]} as application/json, or one query per line as text/csv or text/plain",
            ))
        }
    };
    if list.rows.is_empty() {
        return Err(ApiError::invalid_field(
            "queries",
            "the list holds no queries: give unified social credit codes or certificate numbers, one per line",
        ));
    }
    if list.rows.len() > MAX_QUERIES {
        return Err(ApiError::invalid_field(
            "queries",
            format!("at most {MAX_QUERIES} queries per request, this list has {}; split it", list.rows.len()),
        )
        .with("limit", json!(MAX_QUERIES)));
    }
    Ok(list)
}
