//! `GET /api/v1/receipts/{id}` (public): a stored receipt document, byte for byte as issued.
//! Receipts never change, so the answer may be cached for good.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::receipt::is_receipt_id;
use crate::http::error::ApiError;
use crate::http::verify::fail_closed;
use crate::http::AppState;

#[utoipa::path(
    get, path = "/api/v1/receipts/{id}", tag = "verification", summary = "A stored receipt",
    description = "The stored document, byte for byte (immutable).",
    params(("id" = String, Path, description = "32 lower-case hex digits", example = "0123456789abcdef0123456789abcdef")),
    responses(
        (status = 200, description = "The receipt document", body = ref("#/components/schemas/ReceiptDocument")),
        (status = 400, description = "`invalid-parameter`: not a receipt id"),
        (status = 404, description = "`not-found`: no receipt with that id"),
    )
)]
pub async fn get_receipt(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    if !is_receipt_id(&id) {
        return Err(ApiError::invalid_parameter("id", "a receipt id is 32 lower-case hex digits"));
    }
    let Some(receipt) = state.registry.receipt(&id).await.map_err(fail_closed)? else {
        return Err(ApiError::not_found(format!("no receipt with id {id}")).with("id", json!(id)));
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        receipt.document,
    )
        .into_response())
}
