//! `GET /api/v1/log/tile/<L>/<N>[.p/<W>]` and `/api/v1/log/tile/entries/<N>[.p/<W>]`: the log as
//! C2SP tlog-tiles. A tile's bytes never change, so every tile is served as immutable.

use axum::extract::{Path, State};
use axum::response::Response;

use super::{bytes_response, IMMUTABLE};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::tlog::TilePath;

const OCTETS: &str = "application/octet-stream";

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
