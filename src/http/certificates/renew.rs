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

#[utoipa::path(
    post, path = "/api/v1/certificates/{number}/renew", tag = "admin", summary = "Re-certify",
    description = "A new evaluation starts a new three-year validity; the level follows it.",
    security(("bearer" = [])), params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    request_body(content = ref("#/components/schemas/RenewRequest"), content_type = "application/json",
        example = json!({"evaluation": {"system": 39, "commodity": 34, "customer": 24}})),
    responses((status = 200, description = "The certificate after the change", body = ref("#/components/schemas/Certificate")), (status = 400, description = "`malformed-json`: the body is not JSON; `invalid-parameter`: the number is malformed"), (status = 413, description = "`payload-too-large`"), (status = 415, description = "`unsupported-media-type`: the body is not `application/json`"), (status = 422, description = "`invalid-body` (wrong shape) or `invalid-field` (`field` names it)"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"), (status = 404, description = "`not-found`: no certificate with that number"), (status = 409, description = "`illegal-transition` (not allowed in the current state) or `concurrent-change`"))
)]
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
