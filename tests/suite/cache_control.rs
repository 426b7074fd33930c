//! Every answer carries the `Cache-Control` docs/api.md and docs/tlog.md give it: what a phone,
//! a proxy or a CDN may keep, and what must reach the registry every time (a scan counts, a
//! status can change).

use crate::common;

use common::{issue_body, spawn_app};
use serde_json::{json, Value};

/// Never kept: each one counts or checks something now.
const NO_STORE: &str = "no-store";
/// Kept, but asked again (with its `ETag`) before each use.
const REVALIDATE: &str = "no-cache";
/// Kept for five minutes.
const FIVE_MINUTES: &str = "public, max-age=300";
/// Never changes once it exists.
const FOR_GOOD: &str = "public, max-age=31536000, immutable";

fn cache_control(response: &reqwest::Response) -> String {
    response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("(none)").to_string()
}

#[tokio::test]
async fn every_answer_says_how_long_it_may_be_kept() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026CACHE901", "缓存策略有限公司", 91)).await;
    app.order("SM2026CACHE901", 3).await;
    let scan = app.mark_path("SM2026CACHE901", 1, 1).await;
    let receipt = app.client.post(app.url("/api/v1/receipts")).json(&json!({"queries": ["SM2026CACHE901"]})).send();
    let receipt = receipt.await.expect("receipt request");
    assert_eq!(receipt.status(), 201);
    let receipt: Value = receipt.json().await.expect("receipt");
    let stored = format!("/api/v1/receipts/{}", receipt["id"].as_str().expect("receipt id"));
    let note = app.get("/api/v1/log/checkpoint").await.text().await.expect("checkpoint");
    let size: u64 = note.lines().nth(1).and_then(|line| line.parse().ok()).expect("the checkpoint's size");

    let gets = [
        ("/api/v1/certificates/SM2026CACHE901", "application/json", REVALIDATE),
        (scan.as_str(), "application/json", NO_STORE),
        (scan.as_str(), "text/html", NO_STORE),
        (stored.as_str(), "application/json", FOR_GOOD),
        ("/api/v1/certificates/SM2026CACHE901/mark.svg", "image/svg+xml", FIVE_MINUTES),
        ("/api/v1/log/checkpoint", "text/plain", REVALIDATE),
        (&format!("/api/v1/log/checkpoint/{size}"), "text/plain", FOR_GOOD),
        (&format!("/api/v1/log/tile/0/000.p/{size}"), "*/*", FOR_GOOD),
        ("/readyz", "application/json", NO_STORE),
    ];
    for (path, accept, expected) in gets {
        let response = app.client.get(app.url(path)).header("accept", accept).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path} ({accept})");
        assert_eq!(cache_control(&response), expected, "{path} ({accept})");
    }

    let bulk = app.client.post(app.url("/api/v1/verify/bulk")).json(&json!({"queries": ["SM2026CACHE901"]})).send();
    let bulk = bulk.await.expect("bulk request");
    assert_eq!(bulk.status(), 200);
    assert_eq!(cache_control(&bulk), NO_STORE, "bulk verification");
}
