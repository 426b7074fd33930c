//! `GET /api/v1/log/checkpoint` (the latest signed note) and `/api/v1/log/checkpoint/{size}`
//! (any earlier one, unchanged forever).

use axum::extract::{Path, State};
use axum::response::Response;

use super::{bytes_response, IMMUTABLE};
use crate::http::error::ApiError;
use crate::http::AppState;

/// Media type of signed notes.
const NOTE: &str = "text/plain; charset=utf-8";

#[utoipa::path(
    get, path = "/api/v1/log/checkpoint", tag = "log", summary = "The latest checkpoint",
    responses((status = 200, description = "The signed checkpoint (C2SP tlog-checkpoint, signed note)", content_type = "text/plain", body = String))
)]
pub async fn latest(State(state): State<AppState>) -> Result<Response, ApiError> {
    let registry = &state.registry;
    if registry.latest_checkpoint().is_none() {
        registry.sync_log().await?;
    }
    let checkpoint =
        registry.latest_checkpoint().ok_or_else(|| ApiError::unavailable("no checkpoint is signed yet"))?;
    Ok(bytes_response(checkpoint.note.clone(), NOTE, "no-cache"))
}

#[utoipa::path(
    get, path = "/api/v1/log/checkpoint/{size}", tag = "log", summary = "The checkpoint at a tree size",
    params(("size" = String, Path, description = "A tree size the log signed a checkpoint at", example = "1")),
    responses(
        (status = 200, description = "The signed checkpoint", content_type = "text/plain", body = String),
        (status = 400, description = "`invalid-parameter`: not a whole number"),
        (status = 404, description = "`not-found`: no checkpoint signed at that size"),
    )
)]
pub async fn at_size(State(state): State<AppState>, Path(size): Path<String>) -> Result<Response, ApiError> {
    let size: u64 = size
        .parse()
        .map_err(|_| ApiError::invalid_parameter("size", format!("'{size}' is not a tree size (a whole number)")))?;
    let stored = state
        .registry
        .checkpoint_at(size)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no checkpoint was signed at tree size {size}")))?;
    Ok(bytes_response(stored.note, NOTE, IMMUTABLE))
}
