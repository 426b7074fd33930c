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

#[utoipa::path(
    post, path = "/api/v1/certificates/{number}/surveillance", tag = "admin", summary = "Record a surveillance audit",
    security(("bearer" = [])), params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    request_body(content = ref("#/components/schemas/SurveillanceRequest"), content_type = "application/json",
        example = json!({"date": "2026-03-01", "outcome": "passed"})),
    responses((status = 200, description = "The certificate after the change", body = ref("#/components/schemas/Certificate")), (status = 400, description = "`malformed-json`: the body is not JSON; `invalid-parameter`: the number is malformed"), (status = 413, description = "`payload-too-large`"), (status = 415, description = "`unsupported-media-type`: the body is not `application/json`"), (status = 422, description = "`invalid-body` (wrong shape) or `invalid-field` (`field` names it)"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"), (status = 404, description = "`not-found`: no certificate with that number"), (status = 409, description = "`illegal-transition` (not allowed in the current state) or `concurrent-change`"))
)]
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
