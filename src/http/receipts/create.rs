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
