//! The OpenAPI 3.1 contract of every route, generated from the code.
//!
//! Each handler carries its operation in a `#[utoipa::path]` beside it (its parameters, bodies,
//! answers with their media types, problem types and examples); [`ApiDoc`] gathers them. What
//! every operation shares is added here once, in [`document`]: the component schemas
//! (`schemas.json`), the bearer scheme, the problem+json body of every error answer, the answers
//! any route can give (a rate-limit refusal, an overloaded or timed-out server) and the CORS
//! preflights of the GS1 resolver's routes. The router is built from one table
//! ([`super::routes`]) that `tests/suite/openapi.rs` holds equal to this document both ways.

pub mod page;
pub mod serve;

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

/// Media type of the problem answers, as documented.
const PROBLEM_JSON: &str = super::error::PROBLEM_JSON;

/// Every documented operation, by the handler that answers it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Starmark registry",
        description = "The public registry of after-sales service certificates (GB/T 27922-2011): \
                       certificates and their signed records, scans of star marks, bulk verification and \
                       receipts, the transparency log and its change feed, and the admin API of the \
                       certification body. Errors are RFC 9457 problem documents whose `type` is a \
                       `urn:starmark:problem:<slug>` (docs/api.md lists them).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        super::certificates::search::search_certificates,
        super::certificates::issue::issue_certificate,
        super::certificates::get::get_certificate,
        super::certificates::history::get_history,
        super::certificates::status::change_status,
        super::certificates::renew::renew_certificate,
        super::certificates::surveillance::record_surveillance,
        super::certificates::marks::order_marks,
        super::certificates::marks::revoke_marks,
        super::certificates::marks::scan_figures,
        super::certificates::artwork::mark_svg,
        super::certificates::artwork::mark_png,
        super::verify::bulk::verify_bulk,
        super::receipts::create::create_receipt,
        super::receipts::verify::verify_receipt,
        super::receipts::get::get_receipt,
        super::scan::scan,
        super::scan::scan_upper,
        super::products::product,
        super::changes::list::list_changes,
        super::changes::atom::changes_atom,
        super::log::info::info,
        super::log::info::vkey,
        super::log::checkpoint::latest,
        super::log::checkpoint::at_size,
        super::log::proof::inclusion,
        super::log::proof::consistency,
        super::log::tiles::tile,
        serve::openapi_json,
        page::reference_page,
        super::trust_list::get_trust_list,
        super::assets::asset,
        super::health::healthz,
        super::readiness::readyz,
        super::metrics::metrics,
        super::pages::search::home_page,
        super::pages::search::search_page,
        super::pages::certificate::certificate_page,
        super::pages::receipt::issue_single,
        super::pages::receipt::receipt_page,
        super::pages::bulk::bulk_form,
        super::pages::bulk::bulk_submit,
        super::console::home::redirect_home,
        super::console::home::home,
        super::console::login::form,
        super::console::login::submit,
        super::console::code::form,
        super::console::code::submit,
        super::console::enrol::form,
        super::console::enrol::submit,
        super::console::logout::submit,
        super::products::product_uri,
        super::scan::gs1::scan,
        super::scan::gs1::refuse_after_gtin,
        super::scan::gs1::refuse_serial_first,
        super::scan::gs1::refuse_lot_first,
        super::scan::gs1::refuse_version_first,
        super::scan::resolver::description,
    ),
    tags(
        (name = "certificates", description = "Public reads of certificates: lookup, search, history, artwork."),
        (name = "admin", description = "The certification body's changes (`Authorization: Bearer`, role issuer or reader)."),
        (name = "verification", description = "Bulk verification of bidder lists and signed receipts."),
        (name = "scan", description = "The landing of a scanned star mark, and GS1 Digital Link marks."),
        (name = "gs1", description = "The GS1 resolver: products, link types, the resolver description (any origin)."),
        (name = "log", description = "The transparency log: checkpoints, proofs, tiles, and the change feed."),
        (name = "pages", description = "Server-rendered HTML pages (zh/en)."),
        (name = "console", description = "The certification body's console: HTML forms for its staff, signed in by session cookie (docs/console.md); not an API for machines."),
        (name = "service", description = "The trust list, this contract, static files, health, readiness and metrics."),
    )
)]
pub struct ApiDoc;

/// The component schemas, referred to as `#/components/schemas/<name>`.
const SCHEMAS: &str = include_str!("schemas.json");

/// Answers every operation may give, added where an operation does not name them.
fn shared_answers() -> [(&'static str, &'static str); 2] {
    [
        (
            "429",
            "`rate-limited`: this client is over its rate limit in the route's class (`Retry-After`; \
             docs/api.md, Rate limits). Routes outside every class never give it.",
        ),
        (
            "503",
            "`timeout` (the request took longer than the server allows), `unavailable` (the database is \
             out of reach or busy) or `too-many-connections`; `Retry-After` says when to try again.",
        ),
    ]
}

/// The paths of the GS1 resolver, answered from any origin with a CORS preflight (`OPTIONS`).
fn has_preflight(path: &str) -> bool {
    ["/01/", "/10/", "/21/", "/22/"].iter().any(|prefix| path.starts_with(prefix)) || path == "/.well-known/gs1resolver"
}

/// The whole document as JSON: [`ApiDoc`] with what every operation shares.
pub fn document() -> Result<Value, serde_json::Error> {
    let mut document = serde_json::to_value(ApiDoc::openapi())?;
    let schemas: Map<String, Value> = serde_json::from_str(SCHEMAS)?;
    document["components"] = json!({
        "schemas": schemas,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A staff token (`starmark token create`): role reader, issuer or admin."
            }
        }
    });
    let problem = json!({ PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } });
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            if has_preflight(path) {
                let parameters = item.get("get").and_then(|get| get.get("parameters")).cloned();
                item.insert("options".into(), preflight(parameters));
            }
            for operation in item.values_mut() {
                let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
                for (status, description) in shared_answers() {
                    responses.entry(status).or_insert_with(|| json!({ "description": description }));
                }
                for (status, response) in responses.iter_mut() {
                    let is_error = status.as_bytes().first().is_some_and(|digit| *digit == b'4' || *digit == b'5');
                    if is_error && response.get("content").is_none() {
                        response["content"] = problem.clone();
                    }
                }
            }
        }
    }
    Ok(document)
}

/// The `OPTIONS` operation of a resolver path: the CORS preflight.
fn preflight(parameters: Option<Value>) -> Value {
    let mut operation = json!({
        "tags": ["gs1"],
        "summary": "CORS preflight",
        "description": "Answers a browser's preflight for a request from any origin: the methods, request \
                        headers and the time the answer may be kept.",
        "responses": {
            "204": {
                "description": "The preflight's answer (`Access-Control-Allow-Origin: *`, \
                                `Access-Control-Allow-Methods`, `Access-Control-Allow-Headers`, `Access-Control-Max-Age`)."
            }
        }
    });
    if let Some(parameters) = parameters {
        operation["parameters"] = parameters;
    }
    operation
}
