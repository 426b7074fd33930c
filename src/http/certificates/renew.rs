//! `POST /api/v1/certificates/{number}/renew` (issuer role): re-certification with a new evaluation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::json_response;
use crate::domain::Evaluation;
use crate::http::auth::{Authorized, IssuerRole};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, NumberPath};
use crate::http::log::view::log_view;
use crate::http::views::PublicCertificateView;
use crate::http::AppState;
use crate::registry::{clock, Change};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    evaluation: Evaluation,
    #[serde(default)]
    level: Option<String>,
    /// First day of the new validity; today when omitted.
    #[serde(default)]
    issued: Option<NaiveDate>,
}

pub async fn renew_certificate(
    State(state): State<AppState>,
    auth: Authorized<IssuerRole>,
    NumberPath(number): NumberPath,
    ApiJson(request): ApiJson<RenewRequest>,
) -> Result<Response, ApiError> {
    let level = super::level_field(request.level.as_deref())?;
    let change = Change::Renew { evaluation: request.evaluation, level, issued: request.issued };
    let certificate = state.registry.change(&auth.principal.actor(), &number, &change).await?;
    let mut view = PublicCertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    view.log = log_view(&state.registry, &certificate).await?;
    json_response(StatusCode::OK, &view)
}
