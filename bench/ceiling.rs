//! The read path's ceiling for bench/read_path.sh's fair race (issue 28 §1): the server exactly
//! as `starmark serve` runs it (the same configuration from the environment, the same registry,
//! listener, connection admission, outer layers, rate limits and router), except that
//! `GET /api/v1/certificates/{number}` sends one constant body of CEILING_BODY_BYTES bytes
//! with the headers a real answer carries. What an answer costs above this is the answer's own
//! work (finding it, unpacking it); what this costs above `/healthz` is the stack's for a body
//! of that size. A bench-only example: the server binary has no such route.
//!
//! With CEILING_BODIES=N (default 1) it keeps N bodies of that length, each its own allocation,
//! and sends the one the number's hash picks: with as many as there are certificates, the bodies
//! are as cold in memory as the real answers, and the rest of the difference is our own code's.
//!
//! Usage: CEILING_BODY_BYTES=3400 [CEILING_BODIES=1] STARMARK_…=… cargo run --release --example ceiling
use std::convert::Infallible;
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use starmark::config::Config;
use starmark::http::encoding::accepts_gzip;
use starmark::http::extract::NumberPath;
use starmark::http::{self, server};
use starmark::startup;

/// The same allocator as the server's (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The constant bodies, shared by every answer (no copy per request).
static BODIES: OnceLock<Vec<Bytes>> = OnceLock::new();

/// What `get_certificate` sends for a hit, with the constant body: the number is parsed and
/// checked like the real handler's, and the same headers go with it (`Content-Encoding: gzip`
/// when the request accepts gzip, as a real answer held unpacked has: bench/read_path.sh's gzip
/// mode sets CEILING_BODY_BYTES to what a gzipped answer weighs).
async fn constant_answer(NumberPath(number): NumberPath, request: Request) -> Result<Response, Infallible> {
    let bodies = BODIES.get().map(Vec::as_slice).unwrap_or_default();
    let pick = number.as_str().bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
    let body = bodies.get(pick % bodies.len().max(1)).cloned().unwrap_or_default();
    if accepts_gzip(request.headers()) {
        return Ok((
            StatusCode::OK,
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                (ETAG, HeaderValue::from_static("W/\"1-valid-1-ceilingceilingce-gzip\"")),
                (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (VARY, HeaderValue::from_static("accept-encoding")),
            ],
            body,
        )
            .into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ETAG, HeaderValue::from_static("W/\"1-valid-1-ceilingceilingce\"")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (VARY, HeaderValue::from_static("accept-encoding")),
        ],
        body,
    )
        .into_response())
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STARMARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let bytes: usize = std::env::var("CEILING_BODY_BYTES")
        .map_err(|_| anyhow::anyhow!("set CEILING_BODY_BYTES to the length of the body to send"))?
        .parse()?;
    let count: usize = std::env::var("CEILING_BODIES").map_or(Ok(1), |n| n.parse())?;
    // JSON objects padded with spaces (the bytes do not matter, only how many and where).
    let body = |_| -> Bytes {
        let bytes: Vec<u8> = (0..bytes)
            .map(|i| match i {
                0 => b'{',
                _ if i + 1 == bytes => b'}',
                _ => b' ',
            })
            .collect();
        Bytes::from(bytes)
    };
    let _ = BODIES.set((0..count.max(1)).map(body).collect());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let config = Config::from_env()?;
        let registry = startup::open_registry(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let state = http::AppState::new(registry, &config)?;
        let settings = server::ServerSettings {
            header_timeout: config.header_timeout,
            send_timeout: config.send_timeout,
            drain_timeout: config.request_timeout + std::time::Duration::from_secs(1),
        };
        let (connections, proxies) = (state.connections, state.proxies);
        let app = http::app_with_lookup(state, &config, get(constant_answer));
        eprintln!("ceiling: {count} {bytes}-byte bodies on {}", listener.local_addr()?);
        server::serve(listener, app, connections, proxies, settings, startup::shutdown_signal()).await;
        Ok(())
    })
}
