//! Mark batches (issuer role): `POST /api/v1/certificates/{number}/marks` orders a batch,
//! `POST /api/v1/certificates/{number}/marks/{batch}/revoke` revokes a range or a whole batch,
//! and `GET /api/v1/certificates/{number}/scans` (reader role) shows how often marks were scanned.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::json_response;
use crate::domain::{CertificateNumber, Gtin, MarkBatch, Product};
use crate::http::auth::{Authorized, IssuerRole, ReaderRole};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, NumberPath};
use crate::http::AppState;
use crate::registry::{Change, SUSPICIOUS_SCANS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    count: u64,
    /// The product's GTIN (8, 12, 13 or 14 digits): the batch's marks become GS1 Digital Link
    /// URIs. Given together with `product`.
    #[serde(default)]
    gtin: Option<String>,
    /// The product's name, as the consumer page shows it.
    #[serde(default)]
    product: Option<String>,
}

/// The product an order names, checked: both of GTIN and name, or neither.
fn product_of(request: &OrderRequest) -> Result<Option<Product>, ApiError> {
    match (&request.gtin, &request.product) {
        (None, None) => Ok(None),
        (Some(gtin), Some(name)) => {
            let gtin = Gtin::parse(gtin)
                .map_err(|e| ApiError::invalid_field("gtin", format!("'{gtin}' is not a GTIN: {e}")))?;
            Product::new(gtin, name).map(Some).map_err(|e| ApiError::invalid_field("product", e.to_string()))
        }
        (Some(_), None) => Err(ApiError::invalid_field("product", "a batch bound to a GTIN names its product too")),
        (None, Some(_)) => Err(ApiError::invalid_field("gtin", "a product is named by its GTIN; give both")),
    }
}

#[derive(Serialize)]
struct Sample {
    serial: u32,
    token: String,
    url: String,
}

#[derive(Serialize)]
struct BatchAnswer<'a> {
    number: &'a str,
    /// `{number}/{batch}`, as `starmark marks render --batch` takes it.
    handle: String,
    batch: &'a MarkBatch,
    version: u32,
    first: Sample,
}

#[utoipa::path(
    post, path = "/api/v1/certificates/{number}/marks", tag = "admin", summary = "Order a batch of marks",
    description = "A batch of `count` serials; with `gtin` and `product`, the marks are GS1 Digital Link URIs.",
    security(("bearer" = [])), params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    request_body(content = ref("#/components/schemas/OrderRequest"), content_type = "application/json",
        example = json!({"count": 1000})),
    responses(
        (status = 201, description = "The batch, with its first mark", body = ref("#/components/schemas/MarkBatch")),
        (status = 400, description = "`malformed-json`: the body is not JSON; `invalid-parameter`: the number is malformed"), (status = 413, description = "`payload-too-large`"), (status = 415, description = "`unsupported-media-type`: the body is not `application/json`"), (status = 422, description = "`invalid-body` (wrong shape) or `invalid-field` (`field` names it)"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"), (status = 404, description = "`not-found`: no certificate with that number"), (status = 409, description = "`illegal-transition` (not allowed in the current state) or `concurrent-change`"),
    )
)]
pub async fn order_marks(
    State(state): State<AppState>,
    auth: Authorized<IssuerRole>,
    NumberPath(number): NumberPath,
    ApiJson(request): ApiJson<OrderRequest>,
) -> Result<Response, ApiError> {
    let change = Change::OrderMarks { count: request.count, product: product_of(&request)? };
    let certificate = state.registry.change(&auth.principal.actor(), &number, &change).await?;
    let record = &certificate.record;
    let batch = record.mark_batches.last().ok_or_else(|| ApiError::internal("batch missing after order"))?;
    // Answers now; the batch's digest index (fast scans of its fresh tokens) follows in the
    // background, and until it is stored its scans verify signatures.
    state.registry.prepare_mark_digests_in_background(record.clone(), batch.id);
    let token = state.registry.mark_token(record, batch.id, 1)?;
    let answer = BatchAnswer {
        number: number.as_str(),
        handle: format!("{number}/{}", batch.id),
        batch,
        version: record.version,
        first: Sample { serial: 1, url: state.registry.mark_url(&token), token },
    };
    json_response(StatusCode::CREATED, &answer)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    reason: String,
    #[serde(default)]
    first: Option<u32>,
    #[serde(default)]
    last: Option<u32>,
}

#[utoipa::path(
    post, path = "/api/v1/certificates/{number}/marks/{batch}/revoke", tag = "admin", summary = "Revoke marks of a batch",
    description = "Revokes serials `first` to `last` of the batch, or the whole batch when both are left out.",
    security(("bearer" = [])),
    params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001"), ("batch" = String, Path, description = "The batch number", example = "1")),
    request_body(content = ref("#/components/schemas/RevokeMarksRequest"), content_type = "application/json",
        example = json!({"reason": "印刷错误", "first": 10, "last": 20})),
    responses(
        (status = 200, description = "The batch after the change", body = ref("#/components/schemas/RevokedMarks")),
        (status = 400, description = "`malformed-json`: the body is not JSON; `invalid-parameter`: the number is malformed"), (status = 413, description = "`payload-too-large`"), (status = 415, description = "`unsupported-media-type`: the body is not `application/json`"), (status = 422, description = "`invalid-body` (wrong shape) or `invalid-field` (`field` names it)"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"),
        (status = 404, description = "`not-found` (no such certificate) or `no-such-batch`"),
        (status = 409, description = "`already-revoked`, `illegal-transition` or `concurrent-change`"),
    )
)]
pub async fn revoke_marks(
    State(state): State<AppState>,
    auth: Authorized<IssuerRole>,
    Path((number, batch)): Path<(String, String)>,
    ApiJson(request): ApiJson<RevokeRequest>,
) -> Result<Response, ApiError> {
    let number = CertificateNumber::parse(&number).map_err(|e| {
        ApiError::invalid_parameter("number", format!("'{number}' is not a certificate number: {}", e.message))
    })?;
    let batch: u32 = batch
        .parse()
        .map_err(|_| ApiError::invalid_parameter("batch", format!("batch '{batch}' is not a whole number")))?;
    let range = match (request.first, request.last) {
        (None, None) => None,
        (Some(first), Some(last)) => Some((first, last)),
        _ => {
            return Err(ApiError::invalid_field(
                "first",
                "give both first and last, or neither to revoke the whole batch",
            ))
        }
    };
    let change = Change::RevokeMarks { batch, range, reason: request.reason };
    let certificate = state.registry.change(&auth.principal.actor(), &number, &change).await?;
    let record = &certificate.record;
    let entry = record.mark_batch(batch).ok_or_else(|| ApiError::internal("batch vanished"))?;
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "number": number.as_str(), "version": record.version, "batch": entry }),
    )
}

/// One serial's figures for the issuer: every request (`count`, with its first and last), so
/// that the body can investigate replays and bots, and the distinct networks the public sees.
#[derive(Serialize)]
struct SerialFigures {
    batch: u32,
    serial: u32,
    /// Raw requests, replays, HEAD requests and bots included.
    count: u64,
    first_at: chrono::DateTime<chrono::Utc>,
    last_at: chrono::DateTime<chrono::Utc>,
    /// Distinct networks as the public scan figure counts them (at most the threshold plus one).
    networks: usize,
    networks_at_least: bool,
    /// The copy warning the public sees: more networks than the threshold, never for batch 0.
    suspicious: bool,
}

#[utoipa::path(
    get, path = "/api/v1/certificates/{number}/scans", tag = "admin", summary = "Scan figures of the marks",
    description = "How often the certificate's marks were scanned, with the most scanned serials (reader role).",
    security(("bearer" = [])), params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    responses(
        (status = 200, description = "The figures", body = ref("#/components/schemas/ScanFigures")),
        (status = 400, description = "`invalid-parameter`: the number is malformed"), (status = 401, description = "`unauthorized`: no, malformed, unknown or revoked token"), (status = 403, description = "`forbidden`: the token's role is too weak"), (status = 404, description = "`not-found`: no certificate with that number"),
    )
)]
pub async fn scan_figures(
    State(state): State<AppState>,
    _auth: Authorized<ReaderRole>,
    NumberPath(number): NumberPath,
) -> Result<Response, ApiError> {
    let (total, top) = state.registry.scan_summary(&number, 50).await?;
    let keys: Vec<_> = top.iter().map(|(key, _)| key.clone()).collect();
    let scanners = state.registry.stored_scanners(&keys).await?;
    let serials: Vec<SerialFigures> = top
        .into_iter()
        .zip(scanners)
        .map(|((key, tally), scanners)| SerialFigures {
            batch: key.batch,
            serial: key.serial,
            count: tally.count,
            first_at: tally.first_at,
            last_at: tally.last_at,
            networks: scanners.len(),
            networks_at_least: scanners.is_full(),
            suspicious: key.batch != 0 && scanners.len() > SUSPICIOUS_SCANS as usize,
        })
        .collect();
    let suspicious = serials.iter().filter(|s| s.suspicious).count();
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "number": number.as_str(),
            "total_scans": total,
            "suspicious_threshold": SUSPICIOUS_SCANS,
            "suspicious_serials": suspicious,
            "most_scanned": serials,
        }),
    )
}
