//! GS1 Digital Link marks: `GET /01/{gtin}/21/{serial}?S={signed part}` gives the very verdict,
//! page or JSON, that `/v/{token}` gives, since the URI is the mark's token after the public URL.
//! A GTIN with a wrong check digit, a serial outside AI 21's rules, and application identifiers
//! in another order are not marks of any kind: they are refused with problem+json. `linkType`
//! requests and the linkset are `resolver.rs`'s.

use axum::extract::{Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};

use super::answer;
use super::resolver::{self, LinkRequest};
use crate::crypto::token::{GS1_PARAMETER, GS1_PREFIX};
use crate::domain::{check_ai21_serial, Gtin};
use crate::http::error::ApiError;
use crate::http::AppState;

/// The GTIN of a URI's AI 01, or the problem that answers it.
pub fn gtin_of(text: &str) -> Result<Gtin, ApiError> {
    Gtin::parse(text).map_err(|e| ApiError::invalid_parameter("gtin", format!("'{text}' is not a GTIN (AI 01): {e}")))
}

/// The value of the signature parameter (`S`, or `s`) of `query`, if any.
fn signed_part(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.eq_ignore_ascii_case(GS1_PARAMETER)).then_some(value)
    })
}

/// `GET /01/{gtin}/21/{serial}`: the scan landing of a GS1 Digital Link mark.
#[utoipa::path(
    get, path = "/01/{gtin}/21/{serial}", operation_id = "scan_gs1_mark", tag = "scan", summary = "A GS1 Digital Link mark",
    description = "A mark bound to a product: the same verdict as `/v/{token}`, or with `linkType` the resolver's links (a redirect or an RFC 9264 linkset). Readable from any origin.",
    params(
        ("gtin" = String, Path, description = "The product's GTIN", example = "06901234567892"),
        ("serial" = String, Path, description = "AI 21 serial (at most 20 characters)"),
        ("S" = Option<String>, Query, description = "The mark's signed part"),
        ("linkType" = Option<String>, Query, description = "`gs1:certificationInfo`, `gs1:verificationService` or `all`"),
        ("lang" = Option<String>, Query, description = "`zh` or `en`"),
    ),
    responses(
        (status = 200, description = "The verdict, or the linkset", content(
            (String = "text/html"),
            (ref("#/components/schemas/ScanAnswer") = "application/json"),
            (ref("#/components/schemas/Linkset") = "application/linkset+json"))),
        (status = 307, description = "To the target of the link type asked for (`Location`)"),
        (status = 400, description = "`invalid-parameter`: the GTIN or serial breaks GS1's rules"),
        (status = 404, description = "`not-found`: no link of that type"),
        (status = 503, description = "`unavailable` or `status-unconfirmed`: never a verdict"),
    )
)]
pub async fn scan(
    State(state): State<AppState>,
    Path((gtin, serial)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let gtin = match gtin_of(&gtin) {
        Ok(gtin) => gtin,
        Err(problem) => return problem.into_response(),
    };
    if let Err(e) = check_ai21_serial(&serial) {
        return ApiError::invalid_parameter("serial", format!("'{serial}' is not a serial (AI 21): {e}"))
            .into_response();
    }
    // The mark's token as issued: the GTIN as GTIN-14, the serial and the signed part as given
    // (a URI without one is answered as a mark that is not genuine).
    let mut token = format!("{GS1_PREFIX}{gtin}/21/{serial}");
    if let Some(signed) = signed_part(query.as_deref()) {
        token.push('?');
        token.push_str(GS1_PARAMETER);
        token.push('=');
        token.push_str(signed);
    }
    let anchor = state.registry.mark_url(&token);
    match resolver::link_request(query.as_deref(), request.headers()) {
        LinkRequest::Verdict => {
            let mut response = answer(&state, &token, query.as_deref(), request).await;
            resolver::add_link_header(&mut response, &anchor);
            response
        }
        LinkRequest::Other => ApiError::not_found(
            "this resolver offers the link types gs1:verificationService (the default), gs1:certificationInfo \
             and all (the linkset)",
        )
        .into_response(),
        kind => {
            // The certificate is named only for a mark whose signature verified; only the
            // verdict's landing counts as a scan of the serial, so this check is not counted.
            let outcome = match state.registry.check_mark(&token).await {
                Ok(outcome) => outcome,
                Err(e) => return ApiError::from(e).into_response(),
            };
            let page = outcome
                .record
                .as_ref()
                .map(|record| format!("{}/certificates/{}", state.registry.public_url(), record.number));
            match (kind, page) {
                (LinkRequest::CertificationInfo, Some(page)) => resolver::redirect(&page),
                (LinkRequest::CertificationInfo, None) => ApiError::not_found(format!(
                    "this mark names no certificate of this registry ({}): {}",
                    outcome.verdict.as_str(),
                    outcome.detail
                ))
                .into_response(),
                (_, page) => resolver::linkset_response(&anchor, page.as_deref()),
            }
        }
    }
}

/// A GS1 Digital Link path this registry does not resolve: qualifiers after the GTIN other than
/// a serial alone (GS1 orders them 22, 10, 21), or a path that starts with a qualifier instead of
/// the primary key.
fn refuse(request: Request) -> Response {
    let path = request.uri().path();
    let detail = if path.starts_with("/01/") {
        format!(
            "'{path}' is not a GS1 Digital Link URI this registry resolves: after /01/{{gtin}} it takes /21/{{serial}} \
             alone (key qualifiers come in the order 22, 10, 21, and a mark names no lot or version)"
        )
    } else {
        format!(
            "'{path}' is not a GS1 Digital Link URI: it starts with the primary key /01/{{gtin}}, and key qualifiers \
             such as /21/ follow it in the order 22, 10, 21"
        )
    };
    ApiError::invalid_parameter("path", detail).into_response()
}

/// `/01/{gtin}/{*rest}` other than a serial alone.
#[utoipa::path(
    get, path = "/01/{gtin}/{rest}", tag = "gs1", summary = "Other qualifiers after a GTIN",
    description = "Refused: a GS1 Digital Link path this registry does not resolve (key qualifiers come in the order 22, 10, 21 after the primary key /01/{{gtin}}). Readable from any origin.",
    params(("rest" = String, Path, description = "The rest of the path, spanning segments"), ("gtin" = String, Path, description = "The GTIN")),
    responses((status = 400, description = "`invalid-parameter` (`parameter: path`)"))
)]
pub async fn refuse_after_gtin(request: Request) -> Response {
    refuse(request)
}

/// `/21/{*rest}`: a serial before the primary key.
#[utoipa::path(
    get, path = "/21/{rest}", tag = "gs1", summary = "A path starting with a serial",
    description = "Refused: a GS1 Digital Link path this registry does not resolve (key qualifiers come in the order 22, 10, 21 after the primary key /01/{{gtin}}). Readable from any origin.",
    params(("rest" = String, Path, description = "The rest of the path, spanning segments")),
    responses((status = 400, description = "`invalid-parameter` (`parameter: path`)"))
)]
pub async fn refuse_serial_first(request: Request) -> Response {
    refuse(request)
}

/// `/10/{*rest}`: a lot before the primary key.
#[utoipa::path(
    get, path = "/10/{rest}", tag = "gs1", summary = "A path starting with a lot",
    description = "Refused: a GS1 Digital Link path this registry does not resolve (key qualifiers come in the order 22, 10, 21 after the primary key /01/{{gtin}}). Readable from any origin.",
    params(("rest" = String, Path, description = "The rest of the path, spanning segments")),
    responses((status = 400, description = "`invalid-parameter` (`parameter: path`)"))
)]
pub async fn refuse_lot_first(request: Request) -> Response {
    refuse(request)
}

/// `/22/{*rest}`: a version before the primary key.
#[utoipa::path(
    get, path = "/22/{rest}", tag = "gs1", summary = "A path starting with a version",
    description = "Refused: a GS1 Digital Link path this registry does not resolve (key qualifiers come in the order 22, 10, 21 after the primary key /01/{{gtin}}). Readable from any origin.",
    params(("rest" = String, Path, description = "The rest of the path, spanning segments")),
    responses((status = 400, description = "`invalid-parameter` (`parameter: path`)"))
)]
pub async fn refuse_version_first(request: Request) -> Response {
    refuse(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_part_is_found_in_either_case_among_other_parameters() {
        assert_eq!(signed_part(Some("S=ABC")), Some("ABC"));
        assert_eq!(signed_part(Some("lang=en&s=ABC&linkType=all")), Some("ABC"));
        assert_eq!(signed_part(Some("lang=en")), None);
        assert_eq!(signed_part(Some("SS=1")), None);
        assert_eq!(signed_part(None), None);
    }
}
