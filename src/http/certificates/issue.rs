//! `POST /api/v1/certificates` (issuer role): issues a certificate after a passed audit.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::json_response;
use crate::domain::{CertificateDraft, CertificateNumber, Evaluation, Holder, Uscc};
use crate::http::auth::{Authorized, IssuerRole};
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::log::view::log_view;
use crate::http::views::PublicCertificateView;
use crate::http::AppState;
use crate::registry::clock;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderInput {
    name: String,
    #[serde(default)]
    name_en: Option<String>,
    uscc: String,
    address: String,
}

/// The body of an issue request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// Omit to have the registry assign the next number.
    #[serde(default)]
    number: Option<String>,
    holder: HolderInput,
    scope: String,
    evaluation: Evaluation,
    /// Optional; must agree with the evaluation when given.
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    issued: Option<NaiveDate>,
    #[serde(default)]
    first_issued: Option<NaiveDate>,
}

impl IssueRequest {
    fn into_draft(self) -> Result<CertificateDraft, ApiError> {
        let number = self
            .number
            .as_deref()
            .map(|n| CertificateNumber::parse(n).map_err(|e| ApiError::invalid_field("number", e.to_string())))
            .transpose()?;
        let uscc = Uscc::parse(&self.holder.uscc)
            .map_err(|e| ApiError::invalid_field("holder.uscc", format!("holder.uscc: {e}")))?;
        let level = super::level_field(self.level.as_deref())?;
        Ok(CertificateDraft {
            number,
            holder: Holder { name: self.holder.name, name_en: self.holder.name_en, uscc, address: self.holder.address },
            scope: self.scope,
            evaluation: self.evaluation,
            level,
            issued: self.issued,
            first_issued: self.first_issued,
        })
    }
}

pub async fn issue_certificate(
    State(state): State<AppState>,
    auth: Authorized<IssuerRole>,
    ApiJson(request): ApiJson<IssueRequest>,
) -> Result<Response, ApiError> {
    let draft = request.into_draft()?;
    let certificate = state.registry.issue(&auth.principal.actor(), draft).await?;
    let mut view = PublicCertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    view.log = log_view(&state.registry, &certificate).await?;
    let mut response = json_response(StatusCode::CREATED, &view)?;
    let location = format!("/api/v1/certificates/{}", certificate.record.number);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}
