//! `GET /api/v1/certificates/{number}/mark.svg` and `.png?size_mm=&dpi=`: the certificate-level
//! star mark (no serial), for web pages and documents. Only a valid certificate has one.
//!
//! Drawing is bounded ([`MAX_WIDTH_PX`], `size_mm` to a tenth of a millimetre) and each picture
//! is drawn once and kept ([`super::artwork_cache`]), with an entity tag for revalidation.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::domain::State as CertState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, NumberPath};
use crate::http::AppState;
use crate::mark::{MarkArt, MarkFace, DEFAULT_DPI, DEFAULT_SIZE_MM};
use crate::registry::clock;

use super::artwork_cache::{Art, ArtKey, DrawError};

/// Widest PNG drawn on request: 100 mm at 600 dpi, or 30 mm at 2,000 dpi. Larger rasters for
/// print runs come from `starmark marks`, not from a public route.
pub const MAX_WIDTH_PX: u32 = 2_400;

/// Millimetres in an inch.
const MM_PER_INCH: f32 = 25.4;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtParams {
    size_mm: Option<String>,
    dpi: Option<String>,
}

/// The output format, from the path.
#[derive(Clone, Copy)]
pub enum Format {
    Svg,
    Png,
}

/// The width in tenths of a millimetre and the resolution asked for.
fn parse_params(params: &ArtParams) -> Result<(u32, u32), ApiError> {
    let size_mm = match params.size_mm.as_deref() {
        None => DEFAULT_SIZE_MM,
        Some(v) => v.parse::<f32>().ok().filter(|s| s.is_finite() && (10.0..=100.0).contains(s)).ok_or_else(|| {
            ApiError::invalid_parameter("size_mm", format!("size_mm must be a number from 10 to 100, not '{v}'"))
        })?,
    };
    let dpi = match params.dpi.as_deref() {
        None => DEFAULT_DPI,
        Some(v) => v.parse::<u32>().ok().filter(|d| (72..=2400).contains(d)).ok_or_else(|| {
            ApiError::invalid_parameter("dpi", format!("dpi must be a whole number from 72 to 2400, not '{v}'"))
        })?,
    };
    // Whole tenths of a millimetre: finer steps print the same and would only defeat the cache.
    let tenths = (size_mm * 10.0).round() as u32;
    Ok((tenths, dpi))
}

/// Refuses a PNG wider than [`MAX_WIDTH_PX`] before any drawing, naming the limit.
fn check_width(tenths: u32, dpi: u32) -> Result<(), ApiError> {
    let width = tenths as f32 / 10.0 / MM_PER_INCH * dpi as f32;
    if width > MAX_WIDTH_PX as f32 {
        return Err(ApiError::invalid_parameter(
            "dpi",
            format!(
                "size_mm x dpi gives {} pixels of width; at most {MAX_WIDTH_PX} are drawn on request (lower dpi or size_mm)",
                width.round()
            ),
        )
        .with("max_width_px", json!(MAX_WIDTH_PX)));
    }
    Ok(())
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

async fn render(
    state: AppState,
    number: NumberPath,
    params: ArtParams,
    headers: HeaderMap,
    format: Format,
) -> Result<Response, ApiError> {
    let (tenths, dpi) = parse_params(&params)?;
    if matches!(format, Format::Png) {
        check_width(tenths, dpi)?;
    }
    let certificate = state.registry.get(&number.0).await?;
    let record = &certificate.record;
    let current = record.state_on(clock::today());
    if current != CertState::Valid {
        return Err(ApiError::conflict(
            "mark-unavailable",
            "No mark for this certificate",
            format!("a mark is only shown for a valid certificate; this one is {current}"),
        )
        .with("current_state", json!(current)));
    }
    let token = state.registry.mark_token(record, 0, 0)?;
    let url = state.registry.mark_url(&token);
    let key = ArtKey {
        number: record.number.to_string(),
        version: record.version,
        url: url.clone(),
        level: record.level.as_str(),
        png: matches!(format, Format::Png),
        size_tenth_mm: tenths,
        dpi,
    };
    let face = MarkFace { number: record.number.to_string(), level: record.level, serialised: false };
    let size_mm = tenths as f32 / 10.0;
    let art = state
        .artwork
        .get_or_draw(key, move || -> Result<Art, crate::mark::MarkError> {
            match format {
                Format::Svg => {
                    Ok(Art::new(MarkArt::new(&face, size_mm, None)?.svg(&url, None)?.into_bytes(), "image/svg+xml"))
                }
                Format::Png => Ok(Art::new(MarkArt::new(&face, size_mm, Some(dpi))?.png(&url, None)?, "image/png")),
            }
        })
        .await
        .map_err(|e| match &*e {
            DrawError::Art(crate::mark::MarkError::Size(message)) => ApiError::invalid_parameter("dpi", *message),
            DrawError::Art(other) => ApiError::internal(other.to_string()),
            DrawError::Stopped => ApiError::internal("the drawing was interrupted"),
        })?;
    let etag = HeaderValue::from_str(&art.etag).map_err(ApiError::internal)?;
    let mut response = if not_modified(&headers, &art.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = (StatusCode::OK, art.body.clone()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(art.content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/v1/certificates/{number}/mark.svg", tag = "certificates", summary = "The certificate-level mark (SVG)",
    description = "The star mark with the certificate's QR code, for a valid certificate.",
    params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001"),
        ("size_mm" = Option<String>, Query, description = "Printed size in millimetres"),
        ("dpi" = Option<String>, Query, description = "Resolution of the PNG"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag held"),
    ),
    responses(
        (status = 200, description = "The artwork", content_type = "image/svg+xml", body = String),
        (status = 304, description = "The artwork held is current"),
        (status = 400, description = "`invalid-parameter`"), (status = 404, description = "`not-found`: no certificate with that number"),
        (status = 409, description = "`mark-unavailable`: the certificate is not valid"),
    )
)]
pub async fn mark_svg(
    State(state): State<AppState>,
    number: NumberPath,
    ApiQuery(params): ApiQuery<ArtParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(state, number, params, headers, Format::Svg).await
}

#[utoipa::path(
    get, path = "/api/v1/certificates/{number}/mark.png", tag = "certificates", summary = "The certificate-level mark (PNG)",
    description = "The star mark with the certificate's QR code, for a valid certificate.",
    params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001"),
        ("size_mm" = Option<String>, Query, description = "Printed size in millimetres"),
        ("dpi" = Option<String>, Query, description = "Resolution of the PNG"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag held"),
    ),
    responses(
        (status = 200, description = "The artwork", content_type = "image/png", body = Vec<u8>),
        (status = 304, description = "The artwork held is current"),
        (status = 400, description = "`invalid-parameter`"), (status = 404, description = "`not-found`: no certificate with that number"),
        (status = 409, description = "`mark-unavailable`: the certificate is not valid"),
    )
)]
pub async fn mark_png(
    State(state): State<AppState>,
    number: NumberPath,
    ApiQuery(params): ApiQuery<ArtParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(state, number, params, headers, Format::Png).await
}
