//! `GET /api/v1/certificates?q=&uscc=&level=&state=&limit=&cursor=`: paged search.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::json_response;
use crate::domain::SearchQuery;
use crate::domain::{CertificateNumber, Level, State as CertState, Uscc};
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::views::CertificateSummary;
use crate::http::AppState;
use crate::registry::clock;

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page.
pub const MAX_LIMIT: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    pub(crate) q: Option<String>,
    pub(crate) uscc: Option<String>,
    pub(crate) level: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) cursor: Option<String>,
}

#[derive(Serialize)]
struct SearchAnswer<'a> {
    items: Vec<CertificateSummary<'a>>,
    next: Option<String>,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Turns the query string into a store query, naming the first bad parameter.
pub fn parse(params: &SearchParams) -> Result<SearchQuery, ApiError> {
    let uscc = present(&params.uscc)
        .map(|v| Uscc::parse(v).map_err(|e| ApiError::invalid_parameter("uscc", format!("uscc: {e}"))))
        .transpose()?;
    let level = present(&params.level)
        .map(|v| Level::parse(v).ok_or_else(|| ApiError::invalid_parameter("level", super::bad_level(v))))
        .transpose()?;
    let state = present(&params.state)
        .map(|v| {
            CertState::parse(v).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "state",
                    format!("state '{v}' is not one of valid, suspended, revoked, withdrawn, expired"),
                )
            })
        })
        .transpose()?;
    let limit = match present(&params.limit) {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_parameter(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}, not '{v}'"),
                ))
            }
        },
    };
    let after = present(&params.cursor).map(decode_cursor).transpose()?;
    let text = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(String::from);
    if text.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::invalid_parameter("q", "q must be at most 200 characters"));
    }
    Ok(SearchQuery { text, uscc, level, state, today: clock::today(), after, limit })
}

/// The `cursor` of the page after the one ending with `number`: opaque to clients.
pub fn encode_cursor(number: &str) -> String {
    URL_SAFE_NO_PAD.encode(number.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<CertificateNumber, ApiError> {
    let bad =
        || ApiError::invalid_parameter("cursor", "cursor is not one this server handed out; start again without it");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    CertificateNumber::parse(&text).map_err(|_| bad())
}

#[utoipa::path(
    get, path = "/api/v1/certificates", tag = "certificates", summary = "Search certificates",
    description = "Free text over numbers and holder names, or exact filters; pages of up to 100 ordered by number. An empty `q` lists everything.",
    params(
        ("q" = Option<String>, Query, description = "Free text: a certificate number, a USCC or part of a holder name (at most 200 characters)"),
        ("uscc" = Option<String>, Query, description = "Holder's unified social credit code", example = "91350200776049653A"),
        ("level" = Option<String>, Query, description = "`compliant`, `three_star`, `four_star` or `five_star`"),
        ("state" = Option<String>, Query, description = "`valid`, `suspended`, `revoked`, `withdrawn` or `expired`"),
        ("limit" = Option<String>, Query, description = "Page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of certificates", body = ref("#/components/schemas/SearchPage"),
            example = json!({"items": [{"number": "SM2026ASC000001", "holder": {"name": "厦门示例电器有限公司", "name_en": "Example Co., Ltd.", "uscc": "91350200776049653A"}, "level": "four_star", "status": {"state": "valid", "since": "2026-01-05"}, "valid_until": "2029-01-04"}], "next": null})),
        (status = 400, description = "`invalid-parameter` (`parameter` names it) or `bad-request` (an unknown parameter)"),
        (status = 503, description = "`status-unconfirmed`: the stored certificate cannot be tied to the transparency log; or `unavailable`/`timeout`"),
    )
)]
pub async fn search_certificates(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    let query = parse(&params)?;
    let (items, more) = state.registry.search(&query).await?;
    let next = if more { items.last().map(|c| encode_cursor(c.record.number.as_str())) } else { None };
    let items = items.iter().map(|c| CertificateSummary::of(c, query.today)).collect();
    json_response(StatusCode::OK, &SearchAnswer { items, next })
}
