//! `GET /api/v1/log` (what the log is and where its parts are) and `GET /api/v1/log/vkey`
//! (the signed-note verifier key that checks every checkpoint).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::bytes_response;
use crate::http::certificates::json_response;
use crate::http::error::ApiError;
use crate::http::AppState;

#[derive(Serialize)]
struct LogInfo<'a> {
    origin: &'a str,
    /// Verifier key of the checkpoints: `<name>+<key id hex>+<base64(0x01 || Ed25519 key)>`.
    vkey: String,
    /// Leaves in the log now.
    size: u64,
    /// Size of the latest signed checkpoint.
    checkpoint_size: Option<u64>,
    hashing: &'static str,
    /// Base of the C2SP tlog-tiles layout (`<prefix>/checkpoint`, `<prefix>/tile/...`).
    tiles_prefix: &'static str,
    documentation: &'static str,
}

#[utoipa::path(
    get, path = "/api/v1/log", tag = "log", summary = "The log's description",
    responses((status = 200, description = "Origin, verifier key, size and where its tiles are", body = ref("#/components/schemas/LogInfo")))
)]
pub async fn info(State(state): State<AppState>) -> Result<Response, ApiError> {
    let registry = &state.registry;
    let key = registry.log_key();
    let info = LogInfo {
        origin: key.name(),
        vkey: key.vkey(),
        size: registry.log_size(),
        checkpoint_size: registry.latest_checkpoint().map(|c| c.checkpoint.size),
        hashing: "RFC 9162 (SHA-256; leaf 0x00, node 0x01)",
        tiles_prefix: "/api/v1/log",
        documentation: "docs/tlog.md",
    };
    json_response(StatusCode::OK, &info)
}

#[utoipa::path(
    get, path = "/api/v1/log/vkey", tag = "log", summary = "The log's verifier key",
    responses((status = 200, description = "The signed-note verifier key, one line", content_type = "text/plain", body = String))
)]
pub async fn vkey(State(state): State<AppState>) -> Response {
    bytes_response(format!("{}\n", state.registry.log_key().vkey()), "text/plain; charset=utf-8", "public, max-age=300")
}
