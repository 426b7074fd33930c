//! `GET /api/v1/certificates/{number}`: one certificate as it stands today, with its signed
//! record, the proof that the transparency log holds it, and a signed status assertion.
//!
//! The hot path: the answer was prepared when the certificate last changed (or when its cached
//! copy expired) and is sent from memory, only unpacked; no SQL, no signing, no serialising. A
//! client holding the answer revalidates with `If-None-Match` and gets `304 Not Modified`.
//! A client that accepts gzip gets the gzip form kept beside an answer held unpacked
//! ([`crate::cache::Prepared::gzip`]), with an ETag of its own; every answer says
//! `Vary: Accept-Encoding`, since the same URL may be sent either way.

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::encoding::accepts_gzip;
use crate::http::error::ApiError;
use crate::http::extract::NumberPath;
use crate::http::AppState;
use crate::registry::{PublicAnswer, RegistryError};

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for GET).
/// Without the header the ETag is not even read: it is cold memory on most hits.
fn matches(headers: &HeaderMap, etag: Option<&str>) -> bool {
    fn bare(tag: &str) -> &str {
        tag.trim().trim_start_matches("W/")
    }
    let asked = headers.get_all(IF_NONE_MATCH);
    if asked.iter().next().is_none() {
        return false;
    }
    let Some(etag) = etag else { return false };
    let wanted = bare(etag);
    asked
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == wanted)
}

/// The request comes last and whole, so its headers are read where they are, not copied.
#[utoipa::path(
    get, path = "/api/v1/certificates/{number}", tag = "certificates", summary = "A certificate",
    description = "The certificate as it stands, prepared when it last changed: its signed record, status, log inclusion proof and a signed status assertion. `ETag`/`If-None-Match` give `304`; gzip when accepted.",
    params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001")),
    responses(
        (status = 200, description = "The certificate", body = ref("#/components/schemas/Certificate")),
        (status = 304, description = "The answer held (`If-None-Match`) is current"),
        (status = 400, description = "`invalid-parameter`: the number is malformed"), (status = 404, description = "`not-found`: no certificate with that number"), (status = 503, description = "`status-unconfirmed`: the stored certificate cannot be tied to the transparency log; or `unavailable`/`timeout`"),
    )
)]
pub async fn get_certificate(
    State(state): State<AppState>,
    NumberPath(number): NumberPath,
    request: Request,
) -> Result<Response, ApiError> {
    let prepared = match state.registry.public_answer(&number).await? {
        PublicAnswer::Found(prepared) => prepared,
        PublicAnswer::Absent => return Err(RegistryError::NotFound(number.to_string()).into()),
    };
    let revalidate = HeaderValue::from_static("no-cache");
    let vary = HeaderValue::from_static("accept-encoding");
    let headers = request.headers();
    let gzip = prepared.has_gzip() && accepts_gzip(headers);
    if matches(headers, if gzip { prepared.gzip_etag() } else { Some(prepared.etag()) }) {
        let etag = if gzip { prepared.gzip_etag() } else { Some(prepared.etag()) };
        let etag = HeaderValue::from_str(etag.unwrap_or_default()).map_err(ApiError::internal)?;
        return Ok(
            (StatusCode::NOT_MODIFIED, [(ETAG, etag), (CACHE_CONTROL, revalidate), (VARY, vary)]).into_response()
        );
    }
    if gzip {
        let (etag, body) = prepared.into_send_gzip().ok_or_else(|| ApiError::internal("a gzip form went missing"))?;
        return Ok((
            StatusCode::OK,
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                (ETAG, etag),
                (CACHE_CONTROL, revalidate),
                (VARY, vary),
            ],
            body,
        )
            .into_response());
    }
    let (etag, body) = prepared.into_send().ok_or_else(|| ApiError::internal("a prepared answer did not unpack"))?;
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ETAG, etag),
            (CACHE_CONTROL, revalidate),
            (VARY, vary),
        ],
        body,
    )
        .into_response())
}
