//! `POST /api/v1/receipts` (public): checks a query list (one query for a single check) and
//! answers a signed, stored receipt of what was found: 201 with `Location: /receipts/{id}`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::ReceiptView;
use crate::http::certificates::json_response;
use crate::http::error::ApiError;
use crate::http::rate_limits::ClientBudget;
use crate::http::verify::{fail_closed, input};
use crate::http::AppState;

#[utoipa::path(
    post, path = "/api/v1/receipts", tag = "verification", summary = "Issue a receipt",
    description = "Checks the list, signs and stores the receipt: `Location: /receipts/{id}`.",
    request_body(content = ref("#/components/schemas/QueryList"), description = "`{\"queries\": [...]}` as JSON, or one query per line as `text/csv` or `text/plain`", content_type = "application/json",
        example = json!({"queries": ["91350200776049653A", "SM2026ASC000001"]})),
    responses(
        (status = 201, description = "The receipt", body = ref("#/components/schemas/IssuedReceipt")),
        (status = 400, description = "`malformed-json`, `invalid-parameter` or `bad-request`"),
        (status = 413, description = "`payload-too-large`"),
        (status = 415, description = "`unsupported-media-type`"),
        (status = 422, description = "`invalid-field`: the list is empty or longer than 1,000 (`field: queries`)"),
        (status = 503, description = "`unavailable`: the certificates' status could not be read (never a partial answer), or `status-unconfirmed`"),
        (status = 429, description = "`rate-limited` or `too-many-requests` (the instance's receipts ceiling)"),
    )
)]
pub async fn create_receipt(
    State(state): State<AppState>,
    client: ClientBudget,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let list = input::read(&headers, body)?;
    let check = state.registry.verify_bulk(&list.rows).await.map_err(fail_closed)?;
    let receipt = state.registry.issue_receipt_for(&check, client.budget()).await.map_err(fail_closed)?;
    let mut response = json_response(StatusCode::CREATED, &ReceiptView::of(&receipt)?)?;
    let location = HeaderValue::from_str(&format!("/receipts/{}", receipt.id)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}
