//! `GET /api/v1/openapi.json`: the contract, made once at start and sent as prepared bytes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::AppState;

/// The document and its reference page, prepared when the server starts.
pub struct Prepared {
    pub json: Bytes,
    /// A strong validator of `json`: its SHA-256, quoted.
    pub etag: HeaderValue,
    /// The reference page of `/api/docs` in each language (`[zh, en]`).
    pub pages: [Bytes; 2],
}

impl Prepared {
    /// Builds the document, its bytes and its pages; fails only if the document cannot be made.
    pub fn new() -> Result<Self, serde_json::Error> {
        let document = super::document()?;
        let json = Bytes::from(serde_json::to_vec(&document)?);
        let digest = hex::encode(&Sha256::digest(&json)[..16]);
        let etag = HeaderValue::from_str(&format!("\"{digest}\"")).unwrap_or(HeaderValue::from_static("\"0\""));
        let pages = [
            super::page::render(&document, crate::http::pages::Lang::Zh),
            super::page::render(&document, crate::http::pages::Lang::En),
        ]
        .map(Bytes::from);
        Ok(Self { json, etag, pages })
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
pub fn matches(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else { return false };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "service",
    summary = "This contract",
    description = "The OpenAPI 3.1 document of every route, made from the code when the server starts. \
                   A client holding its `ETag` gets `304`.",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of the document held")),
    responses(
        (status = 200, description = "The document", content_type = "application/json", body = Object,
            headers(("ETag" = String, description = "The document's validator"))),
        (status = 304, description = "The document held is current"),
    )
)]
pub async fn openapi_json(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let prepared = &state.openapi;
    let mut response = if matches(&headers, &prepared.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = prepared.json.clone().into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    };
    let out = response.headers_mut();
    out.insert(header::ETAG, prepared.etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}
