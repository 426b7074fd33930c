//! `GET /api/v1/certificates/{number}/mark.svg` and `.png?size_mm=&dpi=`: the certificate-level
//! star mark (no serial), for web pages and documents. Only a valid certificate has one.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::domain::State as CertState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, NumberPath};
use crate::http::AppState;
use crate::mark::{MarkArt, MarkFace, DEFAULT_DPI, DEFAULT_SIZE_MM};
use crate::registry::clock;

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

fn parse_params(params: &ArtParams) -> Result<(f32, u32), ApiError> {
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
    Ok((size_mm, dpi))
}

async fn render(state: AppState, number: NumberPath, params: ArtParams, format: Format) -> Result<Response, ApiError> {
    let (size_mm, dpi) = parse_params(&params)?;
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
    let face = MarkFace { number: record.number.to_string(), level: record.level, serialised: false };
    let rendered = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, &'static str), crate::mark::MarkError> {
        match format {
            Format::Svg => Ok((MarkArt::new(&face, size_mm, None)?.svg(&url, None)?.into_bytes(), "image/svg+xml")),
            Format::Png => Ok((MarkArt::new(&face, size_mm, Some(dpi))?.png(&url, None)?, "image/png")),
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let (body, content_type) = rendered.map_err(|e| match e {
        crate::mark::MarkError::Size(message) => ApiError::invalid_parameter("dpi", message),
        other => ApiError::internal(other),
    })?;
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

pub async fn mark_svg(
    State(state): State<AppState>,
    number: NumberPath,
    ApiQuery(params): ApiQuery<ArtParams>,
) -> Result<Response, ApiError> {
    render(state, number, params, Format::Svg).await
}

pub async fn mark_png(
    State(state): State<AppState>,
    number: NumberPath,
    ApiQuery(params): ApiQuery<ArtParams>,
) -> Result<Response, ApiError> {
    render(state, number, params, Format::Png).await
}
