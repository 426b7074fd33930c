//! `GET /v/{token}` (and `/V/{token}`, for QR codes that carry the URL in upper case): the scan
//! landing. Browsers get a server-rendered page, `Accept: application/json` gets JSON; both
//! carry one verdict. If the certificate's status cannot be read the answer is a 503 problem,
//! never a verdict.

pub mod cors;
pub mod fragments;
pub mod gs1;
mod page;
pub mod resolver;
pub mod scanner;
mod text;
mod view;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::pages::{self, Lang};
use super::AppState;
use crate::registry::RegistryError;

/// Longest token text looked at; real tokens are under 200 characters.
const MAX_TOKEN_CHARS: usize = 512;

/// Whether the scan answers JSON rather than the page: `Accept` names JSON and not HTML.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

/// The `lang` parameter of the language toggle, if any (anything else in the query is ignored).
fn requested_lang(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|pair| pair.strip_prefix("lang="))
}

/// The request comes last and whole, so its headers are read where they are, not copied.
#[utoipa::path(
    get, path = "/v/{token}", tag = "scan", summary = "Scan landing",
    description = "What a scanned star mark says: a page for browsers, JSON for `Accept: application/json`. Counted in the mark's scan figures.",
    params(("token" = String, Path, description = "The mark token printed in the QR code"),
        ("lang" = Option<String>, Query, description = "`zh` or `en` (the page)"),
        ("Accept" = Option<String>, Header, description = "`application/json` for JSON, else the page")), responses(
        (status = 200, description = "The verdict (genuine and valid, suspended, revoked, withdrawn, expired, not found, not genuine, mark revoked)", content(
            (String = "text/html"),
            (ref("#/components/schemas/ScanAnswer") = "application/json"))),
        (status = 503, description = "`unavailable` or `status-unconfirmed`: the certificate's status cannot be read; never a verdict"),
    )
)]
pub async fn scan(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    answer(&state, &token, query.as_deref(), request).await
}

/// `/V/{token}`: the same answer, routed apart so that the contract lists the path.
#[utoipa::path(
    get, path = "/V/{token}", tag = "scan", summary = "Scan landing (upper-case URL)",
    description = "The same as `/v/{token}`, for QR codes that carry the URL in upper case. What a scanned star mark says: a page for browsers, JSON for `Accept: application/json`. Counted in the mark's scan figures.",
    params(("token" = String, Path, description = "The mark token printed in the QR code"),
        ("lang" = Option<String>, Query, description = "`zh` or `en` (the page)"),
        ("Accept" = Option<String>, Header, description = "`application/json` for JSON, else the page")), responses(
        (status = 200, description = "The verdict (genuine and valid, suspended, revoked, withdrawn, expired, not found, not genuine, mark revoked)", content(
            (String = "text/html"),
            (ref("#/components/schemas/ScanAnswer") = "application/json"))),
        (status = 503, description = "`unavailable` or `status-unconfirmed`: the certificate's status cannot be read; never a verdict"),
    )
)]
pub async fn scan_upper(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    answer(&state, &token, query.as_deref(), request).await
}

/// The verdict on `token` as the page or JSON `request` asks for: the one answer of `/v/{token}`
/// and of a GS1 Digital Link mark's URI.
/// Takes the request whole (a borrowed one would make the future not `Send`).
async fn answer(state: &AppState, token: &str, query: Option<&str>, request: Request) -> Response {
    let headers = request.headers();
    // Longer than any token: not worth parsing, and refused as not genuine like any other.
    let token = if token.len() > MAX_TOKEN_CHARS { "" } else { token };
    let outcome = match state.registry.scan(token, scanner::scan_client(&request)).await {
        Ok(outcome) => outcome,
        Err(RegistryError::Store(e)) => {
            tracing::error!(error = %e, "scan: certificate status unavailable");
            return ApiError::unavailable("the certificate's status cannot be checked right now; try again shortly")
                .retry_if_outage(&e)
                .into_response();
        }
        Err(RegistryError::Unconfirmed { number, .. }) if !wants_json(headers) => {
            let lang = Lang::negotiate(requested_lang(query), headers);
            return page::unconfirmed(token, &number, lang);
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let no_store = HeaderValue::from_static("no-store");
    if wants_json(headers) {
        let answer = view::ScanView::of(&outcome, &state.scan_fragments).and_then(|view| view.to_json());
        match answer {
            Ok(body) => {
                let mut response = super::certificates::json_bytes_response(StatusCode::OK, body);
                response.headers_mut().insert(header::CACHE_CONTROL, no_store);
                response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
                response
            }
            Err(e) => ApiError::internal(format_args!("scan answer: {e}")).into_response(),
        }
    } else {
        let lang = Lang::negotiate(requested_lang(query), headers);
        let html = page::render(token, &outcome, state.registry.issuer(), lang);
        pages::html_response(StatusCode::OK, html, "no-store")
    }
}
