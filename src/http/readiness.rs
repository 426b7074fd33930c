//! `GET /readyz`: whether this instance can do its work, for load balancers and monitoring
//! (`/healthz` only says the process answers HTTP). 200 when the store answers, else 503; the
//! body says the same for each part, and names certificates whose stored state did not match
//! the transparency log (they fail closed one by one; the instance serves the rest).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::AppState;

#[utoipa::path(
    get, path = "/readyz", tag = "service", summary = "Readiness",
    responses(
        (status = 200, description = "Ready: the store answers", body = ref("#/components/schemas/Readiness")),
        (status = 503, description = "Not ready", content_type = "application/json", body = ref("#/components/schemas/Readiness")),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.registry.readiness().await;
    let status = if readiness.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let millis = |duration: std::time::Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let tampering = state.registry.tampering();
    let body = json!({
        "ready": readiness.ready(),
        "store": if readiness.store_ok { "ok" } else { "unavailable" },
        "store_ms": millis(readiness.store_took),
        "redis": readiness.redis.as_str(),
        "store_watch_age_ms": readiness.watch_age.map(millis),
        "tampering": {
            "detected_total": tampering.detected,
            "unconfirmed": tampering.unconfirmed,
            "refused_total": tampering.refused,
            "certificates": tampering.numbers,
        },
    });
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
