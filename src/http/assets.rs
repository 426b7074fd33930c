//! `GET /static/{name}`: the page assets (styles and scripts) compiled into the binary, so one
//! binary serves everything and no page ever loads a third-party resource.
//!
//! Pages link assets through [`url`], which appends a digest of the content: a versioned URL
//! may be cached for a year, because a new build with different bytes gets a different URL.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// One built-in file.
struct Asset {
    content_type: &'static str,
    bytes: &'static [u8],
    /// First 8 bytes of the content's SHA-256 in hex: the version in URLs and the ETag.
    digest: String,
}

/// Every file under static/ that pages use. Add a line when adding a file.
const FILES: &[(&str, &str, &[u8])] = &[
    ("starmark.css", "text/css; charset=utf-8", include_bytes!("../../static/starmark.css")),
    ("bulk.js", "text/javascript; charset=utf-8", include_bytes!("../../static/bulk.js")),
    ("scan.css", "text/css; charset=utf-8", include_bytes!("../../static/scan.css")),
    ("verify-mark.js", "text/javascript; charset=utf-8", include_bytes!("../../static/verify-mark.js")),
    ("scan.js", "text/javascript; charset=utf-8", include_bytes!("../../static/scan.js")),
];

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(name, content_type, bytes)| {
            let digest = hex::encode(&Sha256::digest(bytes)[..8]);
            (name, Asset { content_type, bytes, digest })
        })
        .collect()
});

/// The URL of a built-in asset, versioned by its content. An unknown name still gives a path
/// (which will answer 404) so a typo shows up in tests rather than as a panic.
pub fn url(name: &str) -> String {
    match ASSETS.get(name) {
        Some(asset) => format!("/static/{name}?v={}", asset.digest),
        None => format!("/static/{name}"),
    }
}

#[derive(Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

#[utoipa::path(
    get, path = "/static/{name}", tag = "service", summary = "A static file of the pages",
    params(("name" = String, Path, description = "The file's name", example = "starmark.css"),
        ("v" = Option<String>, Query, description = "The content's digest: a URL naming the current content is immutable")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/css"), (String = "application/javascript"), (Vec<u8> = "font/woff2"))),
        (status = 304, description = "The file held is current"),
        (status = 404, description = "`not-found`: no such file"),
    )
)]
pub async fn asset(Path(name): Path<String>, Query(query): Query<VersionQuery>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(name.as_str()) else {
        return ApiError::not_found(format!("no static file named '{name}'")).into_response();
    };
    let etag = format!("\"{}\"", asset.digest);
    // Only a URL naming the current content may be kept for good.
    let cache_control = if query.v.as_deref() == Some(asset.digest.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let mut response =
        if matches { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, asset.bytes).into_response() };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_urls_follow_the_content() {
        let css = url("starmark.css");
        assert!(css.starts_with("/static/starmark.css?v="), "{css}");
        assert_eq!(css.len(), "/static/starmark.css?v=".len() + 16);
        assert_eq!(url("missing.js"), "/static/missing.js");
    }
}
