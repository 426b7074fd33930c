//! `POST /api/v1/certificates/{number}/status` (issuer role): suspend, reinstate, revoke, withdraw.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::json_response;
use crate::domain::StatusAction;
use crate::http::auth::{Authorized, IssuerRole};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, NumberPath};
use crate::http::log::view::log_view;
use crate::http::views::PublicCertificateView;
use crate::http::AppState;
use crate::registry::{clock, Change};

/// The body of a status change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    action: String,
    #[serde(default)]
    reason: Option<String>,
    /// Last day of a suspension (suspend only).
    #[serde(default)]
    until: Option<NaiveDate>,
}

impl StatusRequest {
    fn into_action(self) -> Result<StatusAction, ApiError> {
        let reason = self.reason.unwrap_or_default();
        let action = match self.action.trim() {
            "suspend" => StatusAction::Suspend {
                reason,
                until: self.until.ok_or_else(|| {
                    ApiError::invalid_field("until", "until: a suspension needs its end date (YYYY-MM-DD)")
                })?,
            },
            "reinstate" => StatusAction::Reinstate { reason: Some(reason) },
            "revoke" => StatusAction::Revoke { reason },
            "withdraw" => StatusAction::Withdraw { reason },
            other => {
                return Err(ApiError::invalid_field(
                    "action",
                    format!("action '{other}' is not one of suspend, reinstate, revoke, withdraw"),
                ))
            }
        };
        if self.until.is_some() && !matches!(action, StatusAction::Suspend { .. }) {
            return Err(ApiError::invalid_field("until", "until: only a suspension has an end date"));
        }
        Ok(action)
    }
}

#[utoipa::path(
    post, path = "/api/v1/certificates/{number}/status", tag = "admin", summary = "Suspend, reinstate, revoke or withdraw",
    security(("bearer" = [])), params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    request_body(content = ref("#/components/schemas/StatusRequest"), content_type = "application/json",
        example = json!({"action": "suspend", "reason": "监督审核未按期进行", "until": "2026-06-30"})),
    responses((status = 200, description = "The certificate after the change", body = ref("#/components/schemas/Certificate")), (status = 400, description = "`malformed-json`: the body is not JSON; `invalid-parameter`: the number is malformed"), (status = 413, description = "`payload-too-large`"), (status = 415, description = "`unsupported-media-type`: the body is not `application/json`"), (status = 422, description = "`invalid-body` (wrong shape) or `invalid-field` (`field` names it)"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"), (status = 404, description = "`not-found`: no certificate with that number"), (status = 409, description = "`illegal-transition` (not allowed in the current state) or `concurrent-change`"))
)]
pub async fn change_status(
    State(state): State<AppState>,
    auth: Authorized<IssuerRole>,
    NumberPath(number): NumberPath,
    ApiJson(request): ApiJson<StatusRequest>,
) -> Result<Response, ApiError> {
    let change = Change::Status(request.into_action()?);
    let certificate = state.registry.change(&auth.principal.actor(), &number, &change).await?;
    let mut view = PublicCertificateView::of(&certificate, clock::today()).map_err(ApiError::internal)?;
    view.log = log_view(&state.registry, &certificate).await?;
    json_response(StatusCode::OK, &view)
}
