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
