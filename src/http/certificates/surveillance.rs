//! `POST /api/v1/certificates/{number}/surveillance` (issuer role): records a yearly surveillance audit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json_response;
use crate::domain::SurveillanceAudit;
use crate::http::auth::{Authorized, IssuerRole};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, NumberPath};
use crate::http::log::view::log_view;
use crate::http::views::PublicCertificateView;
use crate::http::AppState;
use crate::registry::{clock, Change};

pub async fn record_surveillance(
    State(state): State<AppState>,
    auth: Authorized<IssuerRole>,
    NumberPath(number): NumberPath,
    ApiJson(audit): ApiJson<SurveillanceAudit>,
) -> Result<Response, ApiError> {
    let change = Change::Surveillance(audit);
    let certificate = state.registry.change(&auth.principal.actor(), &number, &change).await?;
    let mut view = PublicCertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    view.log = log_view(&state.registry, &certificate).await?;
    json_response(StatusCode::OK, &view)
}
