//! `GET /api/v1/certificates/{number}`: one certificate as it stands today, with its signed record
//! and the proof that the transparency log holds it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json_response;
use crate::http::error::ApiError;
use crate::http::extract::NumberPath;
use crate::http::log::view::LogView;
use crate::http::views::CertificateView;
use crate::http::AppState;
use crate::registry::clock;

pub async fn get_certificate(
    State(state): State<AppState>,
    NumberPath(number): NumberPath,
) -> Result<Response, ApiError> {
    let certificate = state.registry.get(&number).await?;
    let mut view = CertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    let proof = state.registry.log_proof(number.as_str(), certificate.record.version).await?;
    view.log = proof.as_ref().map(LogView::of);
    json_response(StatusCode::OK, &view)
}
