//! `GET /.well-known/starmark/keys.json`: the trust list, prepared once at start.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

#[utoipa::path(
    get, path = "/.well-known/starmark/keys.json", tag = "service", summary = "The trust list",
    description = "The registry's public keys, to check records, marks, receipts and checkpoints offline.",
    responses((status = 200, description = "The trust list", body = ref("#/components/schemas/TrustList")))
)]
pub async fn get_trust_list(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=300")],
        state.trust_list_json.clone(),
    )
}
