//! `GET /api/v1/log/tile/<L>/<N>[.p/<W>]` and `/api/v1/log/tile/entries/<N>[.p/<W>]`: the log as
//! C2SP tlog-tiles. A tile's bytes never change, so every tile is served as immutable.

use axum::extract::{Path, State};
use axum::response::Response;

use super::{bytes_response, IMMUTABLE};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::tlog::TilePath;

const OCTETS: &str = "application/octet-stream";

#[utoipa::path(
    get, path = "/api/v1/log/tile/{path}", tag = "log", summary = "A log tile",
    description = "A hash tile or entry bundle (C2SP tlog-tiles), immutable once full.",
    params(("path" = String, Path, description = "The tile's path after `tile/`, spanning segments: `{L}/{N}[.p/{W}]` or `entries/{N}[.p/{W}]`", example = "0/000")),
    responses(
        (status = 200, description = "The tile", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "`invalid-parameter`: not a tile path"),
        (status = 404, description = "`not-found`: beyond the log's size"),
        (status = 503, description = "`log-damaged`: the tile's events are missing from the store; or `unavailable`/`timeout`"),
    )
)]
pub async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Result<Response, ApiError> {
    let tile = TilePath::parse(&path).map_err(|e| ApiError::invalid_parameter("tile", e.to_string()))?;
    let missing = || ApiError::not_found(format!("tile/{path} is beyond the log's current size"));
    let body = match tile {
        TilePath::Hashes { level, index, width } => {
            state.registry.hash_tile(level, index, width).ok_or_else(missing)?
        }
        TilePath::Entries { index, width } => state.registry.entry_tile(index, width).await?.ok_or_else(missing)?,
    };
    Ok(bytes_response(body, OCTETS, IMMUTABLE))
}
