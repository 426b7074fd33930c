//! `GET /healthz`: a constant answer; also the ceiling the benchmarks compare against.

use axum::http::header;
use axum::response::IntoResponse;

pub async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n")
}
