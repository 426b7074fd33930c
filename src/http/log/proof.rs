//! `GET /api/v1/log/proof/inclusion?index=&size=` and `/api/v1/log/proof/consistency?from=&to=`:
//! fresh proofs between any sizes the log has reached. `size` and `to` default to the latest
//! signed checkpoint, whose note is included when the size has one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::base64_hashes;
use crate::http::certificates::json_response;
use crate::http::error::ApiError;
use crate::http::extract::{whole_number, ApiQuery};
use crate::http::AppState;
use crate::registry::Registry;
use crate::tlog::TreeError;

#[derive(Deserialize)]
pub struct InclusionQuery {
    index: Option<String>,
    size: Option<String>,
}

#[derive(Deserialize)]
pub struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct InclusionAnswer {
    index: u64,
    tree_size: u64,
    leaf_hash: String,
    root_hash: String,
    inclusion: Vec<String>,
    /// The signed checkpoint of `tree_size`, when one was signed at that size.
    checkpoint: Option<String>,
}

#[derive(Serialize)]
struct ConsistencyAnswer {
    from: u64,
    to: u64,
    from_root: String,
    to_root: String,
    consistency: Vec<String>,
    checkpoint: Option<String>,
}

/// The size to prove against: the one asked for, else the latest checkpoint's.
async fn size_or_latest(registry: &Registry, name: &str, asked: Option<u64>) -> Result<u64, ApiError> {
    if let Some(size) = asked {
        if size > registry.log_size() {
            return Err(ApiError::invalid_parameter(
                name,
                format!("{name} {size} is beyond the log's {} leaves", registry.log_size()),
            ));
        }
        return Ok(size);
    }
    if registry.latest_checkpoint().is_none() {
        registry.sync_log().await?;
    }
    registry
        .latest_checkpoint()
        .map(|c| c.checkpoint.size)
        .ok_or_else(|| ApiError::unavailable("no checkpoint is signed yet"))
}

async fn note_at(registry: &Registry, size: u64) -> Result<Option<String>, ApiError> {
    Ok(registry.checkpoint_at(size).await?.map(|c| c.note))
}

fn tree_problem(error: TreeError) -> ApiError {
    match error {
        TreeError::SizeBeyondLog { .. } => ApiError::invalid_parameter("size", error.to_string()),
        TreeError::IndexOutOfRange { .. } => ApiError::invalid_parameter("index", error.to_string()),
        TreeError::BadRange { .. } => ApiError::invalid_parameter("from", error.to_string()),
    }
}

#[utoipa::path(
    get, path = "/api/v1/log/proof/inclusion", tag = "log", summary = "An inclusion proof",
    params(
        ("index" = String, Query, description = "The leaf index"),
        ("size" = Option<String>, Query, description = "The tree size (the latest checkpoint's when left out)"),
    ),
    responses(
        (status = 200, description = "The proof", body = ref("#/components/schemas/InclusionProof")),
        (status = 400, description = "`invalid-parameter` (not whole numbers, or beyond the log) or `bad-request`"),
        (status = 404, description = "`not-found`: no checkpoint at that size"),
    )
)]
pub async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Response, ApiError> {
    let registry = &state.registry;
    let index = whole_number("index", query.index.as_deref())?
        .ok_or_else(|| ApiError::invalid_parameter("index", "index (the leaf index) is required"))?;
    let size = size_or_latest(registry, "size", whole_number("size", query.size.as_deref())?).await?;
    let proof = registry.inclusion_proof(index, size).map_err(tree_problem)?;
    let root = registry.log_root(size).map_err(tree_problem)?;
    let leaf = registry.inclusion_leaf(index).ok_or_else(|| ApiError::invalid_parameter("index", "no such leaf"))?;
    let answer = InclusionAnswer {
        index,
        tree_size: size,
        leaf_hash: BASE64.encode(leaf),
        root_hash: BASE64.encode(root),
        inclusion: base64_hashes(&proof),
        checkpoint: note_at(registry, size).await?,
    };
    json_response(StatusCode::OK, &answer)
}

#[utoipa::path(
    get, path = "/api/v1/log/proof/consistency", tag = "log", summary = "A consistency proof",
    params(
        ("from" = String, Query, description = "The older tree size"),
        ("to" = Option<String>, Query, description = "The newer tree size (the latest checkpoint's when left out)"),
    ),
    responses(
        (status = 200, description = "The proof", body = ref("#/components/schemas/ConsistencyProof")),
        (status = 400, description = "`invalid-parameter` (not whole numbers, or beyond the log) or `bad-request`"),
        (status = 404, description = "`not-found`: no checkpoint at that size"),
    )
)]
pub async fn consistency(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let registry = &state.registry;
    let from = whole_number("from", query.from.as_deref())?
        .ok_or_else(|| ApiError::invalid_parameter("from", "from (the older tree size) is required"))?;
    let to = size_or_latest(registry, "to", whole_number("to", query.to.as_deref())?).await?;
    if from == 0 || from > to {
        return Err(ApiError::invalid_parameter("from", format!("from must be between 1 and to ({to}), not {from}")));
    }
    let proof = registry.consistency_proof(from, to).map_err(tree_problem)?;
    let answer = ConsistencyAnswer {
        from,
        to,
        from_root: BASE64.encode(registry.log_root(from).map_err(tree_problem)?),
        to_root: BASE64.encode(registry.log_root(to).map_err(tree_problem)?),
        consistency: base64_hashes(&proof),
        checkpoint: note_at(registry, to).await?,
    };
    json_response(StatusCode::OK, &answer)
}
