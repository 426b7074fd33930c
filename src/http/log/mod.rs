//! `/api/v1/log/...`: the transparency log over HTTP. The tlog-tiles prefix is `/api/v1/log`:
//! `checkpoint` and `tile/...` sit under it as the C2SP spec lays them out.

pub mod checkpoint;
pub mod info;
pub mod proof;
pub mod tiles;
pub mod view;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::tlog::Hash;

/// Cache header of what never changes once served (full and partial tiles, old checkpoints).
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Standard base64 of each hash, as checkpoints write them.
pub(crate) fn base64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| BASE64.encode(h)).collect()
}

/// A response with a body, content type and cache policy.
pub(crate) fn bytes_response(
    body: impl Into<axum::body::Body>,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
