//! `GET /api/v1/certificates/{number}/history`: every signed version with what changed, oldest first.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::json_response;
use crate::http::error::ApiError;
use crate::http::extract::NumberPath;
use crate::http::views::EventView;
use crate::http::AppState;

#[derive(Serialize)]
struct HistoryView<'a> {
    number: &'a str,
    events: Vec<EventView<'a>>,
}

#[utoipa::path(
    get, path = "/api/v1/certificates/{number}/history", tag = "certificates", summary = "A certificate's history",
    description = "Every event of the certificate, oldest first, each with the record version it signed.",
    params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    responses(
        (status = 200, description = "The events", body = ref("#/components/schemas/History")),
        (status = 400, description = "`invalid-parameter`: the number is malformed"), (status = 404, description = "`not-found`: no certificate with that number"),
    )
)]
pub async fn get_history(State(state): State<AppState>, NumberPath(number): NumberPath) -> Result<Response, ApiError> {
    let events = state.registry.history(&number).await?;
    let events = events.iter().map(EventView::of).collect::<Result<Vec<_>, _>>().map_err(ApiError::internal)?;
    json_response(StatusCode::OK, &HistoryView { number: number.as_str(), events })
}
