//! `POST /api/v1/certificates/{number}/renew` (issuer role): re-certification with a new evaluation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::json_response;
use crate::domain::{Evaluation, Level};
use crate::http::auth::{Authorized, IssuerRole};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, NumberPath};
use crate::http::views::CertificateView;
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
    let level = request
        .level
        .as_deref()
        .map(|l| {
            Level::parse(l).ok_or_else(|| {
                ApiError::invalid_field(
                    "level",
                    format!("level '{l}' is not one of compliant, three_star, four_star, five_star"),
                )
            })
        })
        .transpose()?;
    let change = Change::Renew { evaluation: request.evaluation, level, issued: request.issued };
    let certificate = state.registry.change(&auth.principal.actor(), &number, &change).await?;
    let view = CertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    json_response(StatusCode::OK, &view)
}
