//! A scan as a phone's app makes it: `GET /v/{token}` asking for JSON.

use serde_json::Value;

use super::TestApp;

/// The JSON answer to a scan of `path` on the instance at `base`, failing the test unless it is
/// a 200 `application/json` answer: a scan always gets its verdict.
pub async fn scan_json(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let response =
        client.get(format!("{base}{path}")).header("accept", "application/json").send().await.expect("scan request");
    let status = response.status();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = response.text().await.expect("scan answer");
    assert_eq!(status, 200, "scan {path} on {base}: {text}");
    assert_eq!(content_type.as_deref(), Some("application/json"), "scan {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("scan {path}: {e}: {text}"))
}

impl TestApp {
    /// [`scan_json`] of `path` on this app.
    pub async fn scan(&self, path: &str) -> Value {
        scan_json(&self.client, &self.base, path).await
    }
}
