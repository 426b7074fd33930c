//! The GS1 resolver side of GS1 Digital Link marks (GS1 Digital Link standard, resolver
//! chapter): `linkType` requests on a mark's URI, its links as an RFC 9264 linkset, the `Link`
//! header that points to that linkset, and `/.well-known/gs1resolver`, the description of what
//! this resolver supports.
//!
//! The links of a mark: `gs1:verificationService`, the verdict (the URI itself, the default
//! link), and `gs1:certificationInfo`, the certificate's public page; each in Chinese and English
//! (`hreflang`). A mark whose signature does not verify has no certificate to point to: its
//! linkset names the verification alone, which says so.

use axum::http::header::{CONTENT_TYPE, LINK, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::http::error::ApiError;
use crate::http::AppState;

/// The media type of an RFC 9264 linkset in JSON.
pub const LINKSET_JSON: &str = "application/linkset+json";
/// GS1's web vocabulary, where link types are named (`gs1:`), at its current address.
const GS1_VOC: &str = "https://ref.gs1.org/voc/";
/// The vocabulary's former address, still read in a `linkType` that spells a link type out.
const GS1_VOC_FORMER: &str = "https://gs1.org/voc/";
/// The GS1-Conformant resolver standard's JSON-LD context for linksets (the latest version).
const LINKSET_CONTEXT: &str = "https://ref.gs1.org/standards/resolver/linkset-context";
/// The `Link` header that points a linkset's reader to [`LINKSET_CONTEXT`], as the standard asks.
const LINKSET_CONTEXT_LINK: &str = "<https://ref.gs1.org/standards/resolver/linkset-context>; \
     rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"";

/// What a request's `linkType` (or `Accept`) asks of a mark's URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRequest {
    /// No link type, or `gs1:verificationService` / `gs1:defaultLink`: the verdict.
    Verdict,
    /// `gs1:certificationInfo`: a redirect to the certificate's page.
    CertificationInfo,
    /// `all`, or `Accept: application/linkset+json`: the linkset.
    All,
    /// A link type this resolver does not offer.
    Other,
}

/// The link type `query` asks for (the `gs1:` prefix or GS1's full URI), or the linkset that
/// `headers` accept.
pub fn link_request(query: Option<&str>, headers: &HeaderMap) -> LinkRequest {
    let asked = query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("linkType=")));
    let linkset_accepted = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(LINKSET_JSON));
    let Some(asked) = asked else {
        return if linkset_accepted { LinkRequest::All } else { LinkRequest::Verdict };
    };
    let asked = asked.replace("%3A", ":").replace("%3a", ":").replace("%2F", "/").replace("%2f", "/");
    let name = asked
        .strip_prefix("gs1:")
        .or_else(|| asked.strip_prefix(GS1_VOC))
        .or_else(|| asked.strip_prefix(GS1_VOC_FORMER))
        .unwrap_or(&asked);
    match name {
        "all" => LinkRequest::All,
        "verificationService" | "defaultLink" => LinkRequest::Verdict,
        "certificationInfo" => LinkRequest::CertificationInfo,
        _ => LinkRequest::Other,
    }
}

/// One target of a link type in each language.
fn targets(href: &str, title_zh: &str, title_en: &str) -> Value {
    let joiner = if href.contains('?') { '&' } else { '?' };
    json!([
        {"href": format!("{href}{joiner}lang=zh"), "hreflang": ["zh"], "title": title_zh, "type": "text/html"},
        {"href": format!("{href}{joiner}lang=en"), "hreflang": ["en"], "title": title_en, "type": "text/html"},
    ])
}

/// The linkset of the mark at `anchor` (its URI as printed, absolute); `certificate` is the
/// certificate's page when the mark is genuine.
pub fn linkset(anchor: &str, certificate: Option<&str>) -> Value {
    let mut context = Map::new();
    context.insert("anchor".into(), json!(anchor));
    let verification = targets(anchor, "标志核验结果", "Verification of this mark");
    context.insert(format!("{GS1_VOC}verificationService"), verification.clone());
    context.insert(format!("{GS1_VOC}defaultLink"), verification);
    if let Some(page) = certificate {
        context.insert(format!("{GS1_VOC}certificationInfo"), targets(page, "认证证书", "Certificate"));
    }
    json!({ "linkset": [Value::Object(context)] })
}

/// The linkset as an answer.
pub fn linkset_response(anchor: &str, certificate: Option<&str>) -> Response {
    let body = linkset(anchor, certificate).to_string();
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(LINKSET_JSON));
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().append(LINK, HeaderValue::from_static(LINKSET_CONTEXT_LINK));
    response
}

/// A temporary redirect to `location` (a `linkType` request, as GS1 resolvers answer it).
pub fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            response.headers_mut().insert(LOCATION, value);
            response
        }
        Err(_) => ApiError::internal("a redirect target that is no header value").into_response(),
    }
}

/// Adds the `Link` header GS1 resolvers send with an answer: where the mark's linkset is.
pub fn add_link_header(response: &mut Response, anchor: &str) {
    let joiner = if anchor.contains('?') { '&' } else { '?' };
    let link = format!("<{anchor}{joiner}linkType=all>; rel=\"linkset\"; type=\"{LINKSET_JSON}\"");
    if let Ok(value) = HeaderValue::from_str(&link) {
        response.headers_mut().append(LINK, value);
    }
}

/// `GET /.well-known/gs1resolver`: the resolver description file of the GS1-Conformant resolver
/// standard, with the members its description-file schema names and no others: who runs the
/// resolver (`name`, `contact` as a vCard's formatted name), where (`resolverRoot`), which keys
/// and link types it answers, and the JSON-LD context of its linksets.
#[utoipa::path(
    get, path = "/.well-known/gs1resolver", tag = "gs1", summary = "The resolver's description",
    responses((status = 200, description = "The description", body = ref("#/components/schemas/ResolverDescription")))
)]
pub async fn description(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let issuer = &state.registry.issuer().name;
    let body = json!({
        "name": format!("Starmark registry of {issuer}"),
        "resolverRoot": state.registry.public_url(),
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
        "linkTypeDefaultCanBeLinkset": false,
        "jsonLdContextLocation": LINKSET_CONTEXT,
        "contact": {"fn": issuer},
    });
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_types_are_read_with_prefix_full_uri_or_accept() {
        let none = HeaderMap::new();
        assert_eq!(link_request(None, &none), LinkRequest::Verdict);
        assert_eq!(link_request(Some("S=X&linkType=all"), &none), LinkRequest::All);
        assert_eq!(link_request(Some("linkType=gs1:certificationInfo"), &none), LinkRequest::CertificationInfo);
        assert_eq!(link_request(Some("linkType=gs1%3AcertificationInfo"), &none), LinkRequest::CertificationInfo);
        let full = "linkType=https%3A%2F%2Fref.gs1.org%2Fvoc%2FcertificationInfo";
        assert_eq!(link_request(Some(full), &none), LinkRequest::CertificationInfo);
        let former = "linkType=https%3A%2F%2Fgs1.org%2Fvoc%2FverificationService";
        assert_eq!(link_request(Some(former), &none), LinkRequest::Verdict);
        assert_eq!(link_request(Some("linkType=gs1:pip"), &none), LinkRequest::Other);
        let mut linkset = HeaderMap::new();
        linkset.insert(axum::http::header::ACCEPT, HeaderValue::from_static("application/linkset+json"));
        assert_eq!(link_request(Some("S=X"), &linkset), LinkRequest::All);
    }

    #[test]
    fn a_linkset_has_every_link_type_in_both_languages() {
        let set = linkset("https://R.CN/01/06901234567892/21/7?S=X", Some("https://R.CN/certificates/SM1"));
        let context = &set["linkset"][0];
        assert_eq!(context["anchor"], "https://R.CN/01/06901234567892/21/7?S=X");
        for link_type in ["verificationService", "defaultLink", "certificationInfo"] {
            let targets = context[format!("{GS1_VOC}{link_type}")].as_array().unwrap();
            let languages: Vec<&Value> = targets.iter().map(|t| &t["hreflang"][0]).collect();
            assert_eq!(languages, [&json!("zh"), &json!("en")], "{link_type}");
        }
        assert_eq!(context[format!("{GS1_VOC}certificationInfo")][1]["href"], "https://R.CN/certificates/SM1?lang=en");
        assert!(set["linkset"][0]
            .as_object()
            .unwrap()
            .keys()
            .all(|key| key == "anchor" || key.starts_with("https://ref.gs1.org/voc/")));
        let forged = linkset("https://R.CN/01/06901234567892/21/7?S=X", None);
        assert!(forged["linkset"][0].get(format!("{GS1_VOC}certificationInfo")).is_none());
    }
}
