//! `GET /metrics`: the instance's figures in Prometheus's text format, for monitoring. It needs
//! a token (any role; Prometheus sends one with `authorization` in its scrape config), since
//! figures about the store, Redis and scanning are nobody else's business.
//!
//! Apart from the answers by status class ([`super::response_counts`], one uncontended counter a
//! request), only figures kept anyway are read: nothing else is added to the answer or scan paths.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::http::auth::{Authorized, ReaderRole};
use crate::http::AppState;

/// Prometheus's text exposition format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The figures, one `# HELP`, `# TYPE` and sample each.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.sample(name, "gauge", help, value);
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        // Counters stay well below 2^53, where f64 is still exact.
        self.sample(name, "counter", help, value as f64);
    }

    fn sample(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }

    /// One counter with a sample per value of `label`.
    fn labelled_counters(&mut self, name: &str, help: &str, label: &str, samples: &[(&str, u64)]) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} counter");
        for (value, count) in samples {
            let _ = writeln!(self.text, "{name}{{{label}=\"{value}\"}} {count}");
        }
    }
}

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

#[utoipa::path(
    get, path = "/metrics", tag = "service", summary = "Metrics",
    description = "Prometheus text exposition (docs/api.md, Metrics).",
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>, _auth: Authorized<ReaderRole>) -> Response {
    let registry = &state.registry;
    let readiness = registry.readiness().await;
    let mut out = Exposition::default();
    let [informational, success, redirection, client_error, server_error] = state.responses.totals();
    out.labelled_counters(
        "starmark_http_responses_total",
        "Answers given, by status class (counted as they leave, this scrape's own not yet).",
        "class",
        &[("1xx", informational), ("2xx", success), ("3xx", redirection), ("4xx", client_error), ("5xx", server_error)],
    );
    out.gauge("starmark_connections_open", "Connections this instance holds.", state.connections.open() as f64);
    let (refused_full, refused_client) = state.connections.refused();
    out.labelled_counters(
        "starmark_connections_refused_total",
        "Connections refused with a 503: the instance held all it may (full), or the client did (client).",
        "reason",
        &[("full", refused_full), ("client", refused_client)],
    );
    let refusals: Vec<_> = state
        .limits
        .refusals()
        .into_iter()
        .filter(|(class, _)| *class != crate::limits::Class::TokenChecks)
        .map(|(class, count)| match class {
            crate::limits::Class::Integrator => (class.name(), state.limits.integrators.refusals()),
            _ => (class.name(), count),
        })
        .collect();
    out.labelled_counters(
        "starmark_rate_limited_total",
        "Requests refused with a 429 because their client was over its rate limit, by class.",
        "class",
        &refusals,
    );
    let token_checks = state.limits.known_tokens.counts().map(|(outcome, count)| (outcome.name(), count));
    out.labelled_counters(
        "starmark_token_checks_total",
        "API tokens presented on public routes and not remembered as valid, by outcome: looked up and accepted or rejected, or skipped (not looked up, the client being over its token_checks allowance).",
        "outcome",
        &token_checks,
    );
    let key_checks = state.limits.integrators.counts().map(|(outcome, count)| (outcome.name(), count));
    out.labelled_counters(
        "starmark_integrator_key_checks_total",
        "Integrator keys presented on public routes and not remembered as valid, by outcome: looked up and accepted or rejected, refused unlooked-up as malformed or remembered bad, or skipped (a 429, the client being over its key_checks allowance).",
        "outcome",
        &key_checks,
    );
    let figures = state.limits.integrators.figures();
    let granted: Vec<_> = figures.iter().map(|key| (&*key.id, key.granted)).collect();
    let refused: Vec<_> = figures.iter().map(|key| (&*key.id, key.refused)).collect();
    out.labelled_counters(
        "starmark_integrator_requests_total",
        "Requests granted under each integrator key since start, by key id (never the key).",
        "key",
        &granted,
    );
    out.labelled_counters(
        "starmark_integrator_rate_limited_total",
        "Requests refused with a 429 under each integrator key since start, by key id.",
        "key",
        &refused,
    );
    out.gauge("starmark_store_up", "Whether the store answered this scrape's trivial query.", flag(readiness.store_ok));
    out.gauge(
        "starmark_store_ping_seconds",
        "How long the store took to answer (or fail) this scrape's trivial query.",
        readiness.store_took.as_secs_f64(),
    );
    if readiness.redis != crate::registry::readiness::RedisState::Off {
        out.gauge(
            "starmark_redis_up",
            "Whether Redis (the shared cache and change feed) answers.",
            flag(readiness.redis == crate::registry::readiness::RedisState::Up),
        );
    }
    if let Some(age) = readiness.watch_age {
        out.gauge(
            "starmark_store_watch_age_seconds",
            "How long ago the store watch last read the store's events.",
            age.as_secs_f64(),
        );
    }
    if let Some(tiers) = registry.tiers() {
        let bytes = tiers.local.weighed_bytes().await as f64;
        out.gauge("starmark_answer_cache_bytes", "Bytes of prepared answers held in this instance's cache.", bytes);
        out.counter(
            "starmark_changes_announced_total",
            "Change announcements this instance heard on the Redis change feed.",
            tiers.local.announcements_heard(),
        );
        out.counter(
            "starmark_answers_dropped_by_watch_total",
            "Cached answers the store watch dropped for a later version (changes the feed did not bring first).",
            tiers.local.answers_dropped_by_watch(),
        );
    }
    out.counter(
        "starmark_artwork_renders_total",
        "Certificate-level mark pictures drawn (requests the artwork cache could not answer).",
        state.artwork.renders(),
    );
    out.gauge(
        "starmark_artwork_cache_bytes",
        "Bytes of mark pictures kept.",
        state.artwork.weighed_bytes().await as f64,
    );
    out.counter(
        "starmark_store_checks_total",
        "Trivial queries asked of the store for readiness (at most one a second).",
        registry.store_checks(),
    );
    out.counter(
        "starmark_answers_prepared_total",
        "Answers prepared from the store (cache misses that reached it).",
        registry.answers_prepared(),
    );
    out.counter(
        "starmark_mark_signatures_verified_total",
        "Ed25519 verifications scans made (tokens no digest index vouched for).",
        registry.signatures_verified(),
    );
    let scans = registry.scans();
    let figures = scans.figures();
    out.counter("starmark_scans_stored_total", "Scans written to the store.", figures.flushed);
    out.counter(
        "starmark_scan_bytes_stored_total",
        "Bytes of scan tallies flushes wrote to the store (appended deltas and folded chunks).",
        figures.bytes_stored,
    );
    out.counter("starmark_scan_flush_failures_total", "Scan flushes the store refused.", figures.flush_failures);
    out.counter(
        "starmark_scans_not_shared_total",
        "Scans Redis was not told of because the queue to it was full.",
        figures.not_shared,
    );
    out.counter(
        "starmark_scan_serials_without_history_total",
        "Serials first met while the store could not say how often they were scanned before.",
        figures.without_history,
    );
    out.counter(
        "starmark_scans_not_counted_total",
        "Scans not counted because the counter was full (the store took no scans for long).",
        figures.not_counted,
    );
    out.counter(
        "starmark_scan_seed_loads_total",
        "Mark batches whose scanned serials were read from the store.",
        scans.seed_loads(),
    );
    out.counter(
        "starmark_scan_seed_reads_total",
        "Single serials' stored scan figures read from the store.",
        scans.seed_reads(),
    );
    let tampering = registry.tampering();
    out.counter(
        "starmark_tamper_detected_total",
        "Times a stored certificate did not match the transparency log and its status was refused.",
        tampering.detected,
    );
    out.counter(
        "starmark_status_refusals_total",
        "Requests refused with status-unconfirmed, a refusal remembered from an earlier check included.",
        tampering.refused,
    );
    out.counter(
        "starmark_tamper_logged_total",
        "Refusals written to the error log: the first of a certificate, then at most one a minute.",
        tampering.logged,
    );
    out.gauge(
        "starmark_certificates_unconfirmed",
        "Certificates whose last check against the transparency log failed.",
        tampering.unconfirmed as f64,
    );
    if let Some(checkpoint) = registry.latest_checkpoint() {
        let size = checkpoint.checkpoint.size as f64;
        out.gauge("starmark_log_size", "Entries in the transparency log's latest signed checkpoint.", size);
    }
    let mut response = out.text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
