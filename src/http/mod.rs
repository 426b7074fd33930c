//! The HTTP face: public API, admin API, errors as problem+json, bearer-token auth.
//!
//! The whole middleware stack is built here, in one place: a timeout and a body limit on every
//! route, security headers, a log line for every server error, per-request tracing when it is
//! asked for, and problem+json for anything axum would answer itself.

pub mod answer_json;
pub mod assets;
pub mod auth;
pub mod certificates;
pub mod changes;
pub mod client;
pub mod console;
pub mod encoding;
pub mod error;
pub mod extract;
pub mod health;
pub mod json_text;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod outer_layer;
pub mod pages;
pub mod products;
pub mod rate_limits;
pub mod readiness;
pub mod receipts;
pub mod request_id;
pub mod response_counts;
pub mod routes;
pub mod scan;
pub mod server;
pub mod timestamps;
pub mod trust_list;
pub mod verify;
pub mod views;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tower::{Service, ServiceBuilder};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::registry::Registry;
use error::ApiError;

/// What every handler can reach: the registry and answers prepared at start.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub trust_list_json: Bytes,
    /// The certificate part of scan answers, kept between scans.
    pub scan_fragments: Arc<scan::fragments::CertificateFragments>,
    /// Answers by status class. Made once per server and never freed, so the outermost layer
    /// counts through a plain reference instead of touching a shared reference count per request.
    pub responses: &'static response_counts::ResponseCounts,
    /// The connections the server holds and refuses, for `/metrics`; made once per server, as above.
    pub connections: &'static server::admission::Admission,
    /// The reverse proxies whose forwarding headers name the client.
    pub proxies: &'static client::TrustedProxies,
    /// Every client's rate limits (`STARMARK_RATE_LIMITS`; see [`rate_limits`]).
    pub limits: Arc<crate::limits::Limiter>,
    /// Certificate-level artwork drawn on request, kept in bounded memory.
    pub artwork: Arc<certificates::artwork_cache::ArtworkCache>,
    /// Whether the public URL is https: the console's cookie is then `Secure` and `__Host-`.
    pub console_https: bool,
    /// The OpenAPI document and its reference page, made once at start.
    pub openapi: Arc<openapi::serve::Prepared>,
}

impl AppState {
    /// The state of one server; raises the process's descriptor limit to size the connection limit.
    pub fn new(registry: Arc<Registry>, config: &Config) -> Result<Self, serde_json::Error> {
        let trust_list_json = Bytes::from(serde_json::to_vec_pretty(registry.trust_list())?);
        let responses = Box::leak(Box::default());
        let proxies: &'static client::TrustedProxies = Box::leak(Box::new(config.trusted_proxies.clone()));
        let max_connections = config
            .max_connections
            .unwrap_or_else(|| server::descriptors::default_max_connections(server::descriptors::raise_limit()));
        let max_per_client = config
            .max_connections_per_client
            .unwrap_or_else(|| server::descriptors::default_max_per_client(max_connections));
        let connections =
            Box::leak(Box::new(server::admission::Admission::new(max_connections, max_per_client, proxies)));
        let limits = Arc::new(crate::limits::Limiter::new(config.rate_limits, config.rate_limit_clients));
        Ok(Self {
            registry,
            trust_list_json,
            scan_fragments: Arc::default(),
            responses,
            connections,
            proxies,
            limits,
            artwork: Arc::default(),
            console_https: config.is_https(),
            openapi: Arc::new(openapi::serve::Prepared::new()?),
        })
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see the API overview in the README")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// All routes; [`app`] puts them inside the middleware stack.
pub fn router(state: AppState, config: &Config) -> Router {
    router_with_lookup(state, config, get(certificates::get::get_certificate))
}

/// All routes, with `lookup` answering `/api/v1/certificates/{number}`. The server always
/// passes the real handler; the benchmark's ceiling (bench/ceiling.rs, an example, never in the
/// server) passes one that sends a constant body, to measure the very stack around the answer.
pub fn router_with_lookup(state: AppState, config: &Config, lookup: MethodRouter<AppState>) -> Router {
    route_table(config, lookup)
        .into_router()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The paths the server routes, in axum's syntax: what the OpenAPI document must describe.
pub fn routed_paths(config: &Config) -> Vec<&'static str> {
    route_table(config, get(certificates::get::get_certificate)).paths().to_vec()
}

/// Every route, each documented by the `#[utoipa::path]` of its handler ([`openapi`]).
fn route_table(config: &Config, lookup: MethodRouter<AppState>) -> routes::RouteTable<AppState> {
    use certificates::{artwork, history, issue, marks, renew, search, status, surveillance};

    let api = routes::RouteTable::default()
        .route("/api/v1/certificates", get(search::search_certificates).post(issue::issue_certificate))
        .route("/api/v1/certificates/{number}", lookup)
        .route("/api/v1/certificates/{number}/history", get(history::get_history))
        .route("/api/v1/certificates/{number}/status", post(status::change_status))
        .route("/api/v1/certificates/{number}/renew", post(renew::renew_certificate))
        .route("/api/v1/certificates/{number}/surveillance", post(surveillance::record_surveillance))
        .route("/api/v1/certificates/{number}/marks", post(marks::order_marks))
        .route("/api/v1/certificates/{number}/marks/{batch}/revoke", post(marks::revoke_marks))
        .route("/api/v1/certificates/{number}/scans", get(marks::scan_figures))
        .route("/api/v1/certificates/{number}/mark.svg", get(artwork::mark_svg))
        .route("/api/v1/certificates/{number}/mark.png", get(artwork::mark_png))
        .route(
            "/api/v1/verify/bulk",
            post(verify::bulk::verify_bulk).layer(DefaultBodyLimit::max(verify::query_list_limit(config))),
        )
        .route(
            "/api/v1/receipts",
            post(receipts::create::create_receipt).layer(DefaultBodyLimit::max(verify::query_list_limit(config))),
        )
        .route(
            "/api/v1/receipts/verify",
            post(receipts::verify::verify_receipt).layer(DefaultBodyLimit::max(verify::receipt_limit(config))),
        )
        .route("/api/v1/receipts/{id}", get(receipts::get::get_receipt))
        .route("/v/{token}", get(scan::scan))
        .route("/V/{token}", get(scan::scan_upper))
        .route("/api/v1/products/{gtin}", get(products::product))
        .route("/api/v1/changes", get(changes::list::list_changes))
        .route("/changes.atom", get(changes::atom::changes_atom))
        .route("/api/v1/log", get(log::info::info))
        .route("/api/v1/log/vkey", get(log::info::vkey))
        .route("/api/v1/log/checkpoint", get(log::checkpoint::latest))
        .route("/api/v1/log/checkpoint/{size}", get(log::checkpoint::at_size))
        .route("/api/v1/log/proof/inclusion", get(log::proof::inclusion))
        .route("/api/v1/log/proof/consistency", get(log::proof::consistency))
        .route("/api/v1/log/tile/{*path}", get(log::tiles::tile))
        .route("/api/v1/openapi.json", get(openapi::serve::openapi_json))
        .route("/api/docs", get(openapi::page::reference_page))
        .route("/.well-known/starmark/keys.json", get(trust_list::get_trust_list))
        .route("/static/{name}", get(assets::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(readiness::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(pages::search::home_page))
        .route("/search", get(pages::search::search_page))
        .route("/certificates/{number}", get(pages::certificate::certificate_page))
        .route("/receipts", post(pages::receipt::issue_single))
        .route("/receipts/{id}", get(pages::receipt::receipt_page))
        .route(
            "/verify",
            get(pages::bulk::bulk_form)
                .post(pages::bulk::bulk_submit)
                .layer(DefaultBodyLimit::max(verify::query_list_limit(config) * 2)),
        );

    api.merge(gs1_resolver()).merge(console::routes())
}

/// The routes a GS1 resolver answers, readable from any origin with their preflights
/// ([`scan::cors`]).
fn gs1_resolver() -> routes::RouteTable<AppState> {
    use scan::cors::{open_to_any_origin, preflight};
    routes::RouteTable::default()
        .route("/01/{gtin}", get(products::product_uri).options(preflight))
        .route("/01/{gtin}/21/{serial}", get(scan::gs1::scan).options(preflight))
        .route("/01/{gtin}/{*rest}", get(scan::gs1::refuse_after_gtin).options(preflight))
        .route("/21/{*rest}", get(scan::gs1::refuse_serial_first).options(preflight))
        .route("/10/{*rest}", get(scan::gs1::refuse_lot_first).options(preflight))
        .route("/22/{*rest}", get(scan::gs1::refuse_version_first).options(preflight))
        .route("/.well-known/gs1resolver", get(scan::resolver::description).options(preflight))
        .map(|router| router.layer(axum::middleware::map_response(open_to_any_origin)))
}

/// The routes inside the middleware stack: the service the server runs.
pub fn app(
    state: AppState,
    config: &Config,
) -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    app_with_lookup(state, config, get(certificates::get::get_certificate))
}

/// [`app`] with `lookup` answering `/api/v1/certificates/{number}` ([`router_with_lookup`]).
///
/// The stack wraps the router once, outside it, rather than each route (`Router::layer` would
/// box a copy of every layer into every route, and each request would clone those boxes): the
/// same layers in the same order, fewer allocations and indirections per request.
pub fn app_with_lookup(
    state: AppState,
    config: &Config,
    lookup: MethodRouter<AppState>,
) -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    // A span, two clock reads and a wrapped body for every request, even when the log filter
    // drops them all: the layer is there only when its debug output is wanted
    // (`STARMARK_LOG=debug`, or `tower_http=debug`); server errors are logged either way.
    let trace = tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG)
        .then(|| ServiceBuilder::new().map_response(IntoResponse::into_response).layer(TraceLayer::new_for_http()));
    let limits = rate_limits::RateLimitLayer { limiter: state.limits.clone(), registry: state.registry.clone() };
    // The trace layer sits inside the outer one, so that its lines carry the request's id.
    ServiceBuilder::new()
        .layer(outer_layer::OuterLayer {
            limit: config.request_timeout,
            responses: state.responses,
            proxies: state.proxies,
        })
        .option_layer(trace)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(limits)
        .service(router_with_lookup(state, config, lookup))
}
