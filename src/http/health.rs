//! `GET /healthz`: a constant answer; also the ceiling the benchmarks compare against.

use axum::http::header;
use axum::response::IntoResponse;

#[utoipa::path(
    get, path = "/healthz", tag = "service", summary = "Liveness",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String, example = "ok\n"))
)]
pub async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n")
}
