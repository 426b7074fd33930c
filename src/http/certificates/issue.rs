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

#[utoipa::path(
    post, path = "/api/v1/certificates", tag = "admin", summary = "Issue a certificate",
    description = "Issues a certificate after a passed audit (issuer role): the level follows from the evaluation (docs/api.md, Issuing rules).",
    security(("bearer" = [])),
    request_body(content = ref("#/components/schemas/IssueRequest"), content_type = "application/json",
        example = json!({"holder": {"name": "厦门示例电器有限公司", "name_en": "Example Co., Ltd.", "uscc": "91350200776049653A", "address": "厦门市思明区示例路1号"}, "scope": "家用电器的售后服务", "evaluation": {"system": 38, "commodity": 33, "customer": 24.5}})),
    responses(
        (status = 201, description = "Issued; `Location` names it", body = ref("#/components/schemas/Certificate")),
        (status = 400, description = "`malformed-json`: the body is not JSON; `invalid-parameter`: the number is malformed"), (status = 413, description = "`payload-too-large`"), (status = 415, description = "`unsupported-media-type`: the body is not `application/json`"), (status = 422, description = "`invalid-body` (wrong shape) or `invalid-field` (`field` names it)"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"),
        (status = 409, description = "`duplicate`: the number is taken, or `concurrent-change`"),
    )
)]
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
