//! `/api/v1/certificates`: one file per endpoint.

pub mod artwork;
pub mod artwork_cache;
pub mod get;
pub mod history;
pub mod issue;
pub mod marks;
pub mod renew;
pub mod search;
pub mod status;
pub mod surveillance;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// The message for a level that is not one of the four.
pub(crate) fn bad_level(text: &str) -> String {
    format!("level '{text}' is not one of compliant, three_star, four_star, five_star")
}

/// The optional `level` field of a body: one of the four names, or a 422 that lists them.
pub(crate) fn level_field(text: Option<&str>) -> Result<Option<crate::domain::Level>, ApiError> {
    text.map(|l| crate::domain::Level::parse(l).ok_or_else(|| ApiError::invalid_field("level", bad_level(l))))
        .transpose()
}

/// Room a JSON answer starts with: most (a certificate's, a search answer's) fit without the
/// buffer growing and being copied four or five times from serde_json's default of 128 bytes.
const JSON_START_CAPACITY: usize = 2048;

/// Serialises `value` as a JSON response with `status`.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, ApiError> {
    let mut body = Vec::with_capacity(JSON_START_CAPACITY);
    serde_json::to_writer(&mut body, value).map_err(ApiError::internal)?;
    Ok(json_bytes_response(status, body))
}

/// A response of JSON text already written (`body`) with `status`.
pub(crate) fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
