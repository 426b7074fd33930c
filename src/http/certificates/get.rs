//! `GET /api/v1/certificates/{number}`: one certificate as it stands today, with its signed record.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json_response;
use crate::http::error::ApiError;
use crate::http::extract::NumberPath;
use crate::http::views::CertificateView;
use crate::http::AppState;
use crate::registry::clock;

pub async fn get_certificate(
    State(state): State<AppState>,
    NumberPath(number): NumberPath,
) -> Result<Response, ApiError> {
    let certificate = state.registry.get(&number).await?;
    let view = CertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    json_response(StatusCode::OK, &view)
}
