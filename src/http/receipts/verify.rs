//! `POST /api/v1/receipts/verify` (public): is this receipt genuine, with which key, and what
//! has changed since it was issued? The body is the receipt document itself.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::http::certificates::json_response;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::verify::fail_closed;
use crate::http::AppState;
use crate::registry::receipt::ReceiptError;

#[utoipa::path(
    post, path = "/api/v1/receipts/verify", tag = "verification", summary = "Check a receipt",
    description = "Checks a receipt document's signature and says what changed since for each certificate it lists.",
    request_body(content = ref("#/components/schemas/ReceiptDocument"), content_type = "application/json"),
    responses(
        (status = 200, description = "The verdict", body = ref("#/components/schemas/ReceiptCheck")),
        (status = 400, description = "`malformed-json`"),
        (status = 413, description = "`payload-too-large`"),
        (status = 415, description = "`unsupported-media-type`"),
        (status = 422, description = "`invalid-body`: not a Starmark receipt"),
        (status = 503, description = "`unavailable` or `status-unconfirmed`"),
    )
)]
pub async fn verify_receipt(
    State(state): State<AppState>,
    ApiJson(document): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let check = state.registry.check_receipt(&document).await.map_err(|e| match e {
        ReceiptError::Shape(e) => ApiError::invalid_body(format!("not a Starmark receipt: {e}")),
        ReceiptError::Registry(e) => fail_closed(e),
    })?;
    let mut response = json_response(StatusCode::OK, &check)?;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
