//! `POST /api/v1/verify/bulk` (public): up to 1,000 USCCs and certificate numbers, each
//! answered with the certificates it names as they stand today, as JSON or as a CSV download,
//! optionally with a signed receipt.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{download, fail_closed, input};
use crate::domain::receipt::{Outcome, QueryKind};
use crate::http::certificates::json_response;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::rate_limits::ClientBudget;
use crate::http::receipts::ReceiptView;
use crate::http::views::CertificateSummary;
use crate::http::AppState;
use crate::registry::receipt::IssuedReceipt;
use crate::registry::verify::{BulkCheck, BulkSummary, CheckedRow};

/// Query parameters: `format=json|csv`, `receipt=1|true|0|false`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkParams {
    format: Option<String>,
    receipt: Option<String>,
}

/// A certificate in a bulk answer: the search item's fields and what a procurement table adds.
#[derive(Serialize)]
pub struct BulkCertificate<'a> {
    #[serde(flatten)]
    pub summary: CertificateSummary<'a>,
    pub level_name: &'static str,
    /// Issue date of the current validity period.
    pub valid_from: NaiveDate,
    /// The signed record version this answer read.
    pub version: u32,
}

/// One input row in a bulk answer.
#[derive(Serialize)]
pub struct RowView<'a> {
    pub row: usize,
    pub query: &'a str,
    pub kind: QueryKind,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub certificates: Vec<BulkCertificate<'a>>,
    /// Certificates found but not listed (bounds of a row and of the answer).
    pub more: u64,
}

/// The JSON answer.
#[derive(Serialize)]
pub struct BulkAnswer<'a> {
    pub checked_at: DateTime<Utc>,
    pub count: usize,
    pub summary: BulkSummary,
    pub results: Vec<RowView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView<'a>>,
}

impl<'a> RowView<'a> {
    fn of(row: &'a CheckedRow, today: NaiveDate) -> Self {
        Self {
            row: row.row,
            query: &row.query,
            kind: row.parsed.kind(),
            outcome: row.outcome(),
            error: row.error(),
            certificates: row
                .certificates
                .iter()
                .map(|c| BulkCertificate {
                    summary: CertificateSummary::of(c, today),
                    level_name: c.record.level.name_zh(),
                    valid_from: c.record.issued,
                    version: c.record.version,
                })
                .collect(),
            more: row.more,
        }
    }
}

impl<'a> BulkAnswer<'a> {
    /// The answer to `check`, with the receipt made of it if one was asked for.
    pub fn of(check: &'a BulkCheck, receipt: Option<&'a IssuedReceipt>) -> Result<Self, ApiError> {
        Ok(Self {
            checked_at: check.checked_at,
            count: check.rows.len(),
            summary: check.summary(),
            results: check.rows.iter().map(|row| RowView::of(row, check.today)).collect(),
            receipt: receipt.map(ReceiptView::of).transpose()?,
        })
    }
}

fn flag(value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "0" | "false" | "no") => Ok(false),
        Some("1" | "true" | "yes") => Ok(true),
        Some(other) => Err(ApiError::invalid_parameter("receipt", format!("receipt must be 1 or 0, not '{other}'"))),
    }
}

/// Whether the answer is to be CSV: `?format=` decides, else an `Accept` naming text/csv.
fn wants_csv(params: &BulkParams, headers: &HeaderMap) -> Result<bool, ApiError> {
    match params.format.as_deref().map(str::trim) {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::invalid_parameter("format", format!("format must be json or csv, not '{other}'"))),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.split(',').any(|t| t.trim().to_ascii_lowercase().starts_with("text/csv")))),
    }
}

#[utoipa::path(
    post, path = "/api/v1/verify/bulk", tag = "verification", summary = "Verify a list",
    description = "Up to 1,000 USCCs and certificate numbers, each answered with the certificates it names as they stand today; JSON, or CSV with `format=csv`; a signed receipt with `receipt=1`.",
    params(
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`"),
        ("receipt" = Option<String>, Query, description = "`1`/`true` to have a signed receipt stored with the answer"),
    ),
    request_body(content = ref("#/components/schemas/QueryList"), description = "`{\"queries\": [...]}` as JSON, or one query per line as `text/csv` or `text/plain`", content_type = "application/json",
        example = json!({"queries": ["91350200776049653A", "SM2026ASC000001"]})),
    responses(
        (status = 200, description = "The answer", content(
            (ref("#/components/schemas/BulkAnswer") = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "`malformed-json`, `invalid-parameter` or `bad-request`"),
        (status = 413, description = "`payload-too-large`"),
        (status = 415, description = "`unsupported-media-type`"),
        (status = 422, description = "`invalid-field`: the list is empty or longer than 1,000 (`field: queries`)"),
        (status = 503, description = "`unavailable`: the certificates' status could not be read (never a partial answer), or `status-unconfirmed`"),
        (status = 429, description = "`rate-limited` or `too-many-requests` (the instance's receipts ceiling)"),
    )
)]
pub async fn verify_bulk(
    State(state): State<AppState>,
    client: ClientBudget,
    ApiQuery(params): ApiQuery<BulkParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(&params, &headers)?;
    let receipt_param = flag(params.receipt.as_deref())?;
    let list = input::read(&headers, body)?;
    client.charge(crate::limits::Class::Bulk, list.rows.len())?;
    let check = state.registry.verify_bulk(&list.rows).await.map_err(fail_closed)?;
    let receipt = if receipt_param || list.receipt {
        Some(state.registry.issue_receipt_for(&check, client.budget()).await.map_err(fail_closed)?)
    } else {
        None
    };
    if csv {
        let mut response = download::csv_response(&check)?;
        if let Some(receipt) = &receipt {
            let url = HeaderValue::from_str(&receipt.url).map_err(ApiError::internal)?;
            response.headers_mut().insert("starmark-receipt", url);
        }
        return Ok(response);
    }
    let mut response = json_response(StatusCode::OK, &BulkAnswer::of(&check, receipt.as_ref())?)?;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
