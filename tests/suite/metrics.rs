//! `GET /metrics`: Prometheus's text format, behind a token, with figures that move as the
//! instance works (answers prepared, scans stored, the log's size, Redis up or down).

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{issue_body, spawn_app_with, RedisServer, TestApp};
use serde_json::json;
use starmark::domain::CertificateNumber;

/// The samples of an exposition, by name with their labels; every metric has its `# HELP` and
/// `# TYPE`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
        let (name, value) = line.rsplit_once(' ').expect("name value");
        let metric = name.split('{').next().unwrap_or(name);
        assert!(text.contains(&format!("# HELP {metric} ")) && text.contains(&format!("# TYPE {metric} ")), "{name}");
        samples.insert(name.to_string(), value.parse().expect("a number"));
    }
    samples
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.client.get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn figures_move_as_the_instance_works_and_need_a_token() {
    let mut redis = RedisServer::start().await;
    let app = spawn_app_with(|config| config.redis_url = Some(redis.url())).await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "figures are not public");

    let before = scrape(&app).await;
    assert_eq!(before["starmark_store_up"], 1.0);
    app.issue(&issue_body("SM2026METRIC1", "指标测试有限公司", 95)).await;
    let ordered = app.post("/api/v1/certificates/SM2026METRIC1/marks", &app.issuer, &json!({"count": 5})).await;
    assert_eq!(ordered.status(), 201);
    let record = app.registry.get(&CertificateNumber::parse("SM2026METRIC1").unwrap()).await.unwrap().record;
    for serial in 1..=3 {
        let token = app.registry.mark_token(&record, 1, serial).unwrap();
        let scan = app.client.get(app.url(&format!("/v/{token}"))).header("accept", "application/json").send();
        assert_eq!(scan.await.unwrap().status(), 200);
    }
    app.registry.scans().flush().await.unwrap();

    let unknown = app.get("/api/v1/certificates/SM2026NOSUCH9").await;
    assert_eq!(unknown.status(), 404);

    let after = scrape(&app).await;
    let answers = |samples: &HashMap<String, f64>, class: &str| {
        samples[&format!("starmark_http_responses_total{{class=\"{class}\"}}")]
    };
    // Counted since the first scrape: an issue, an order and the scrape itself (2xx, three scans
    // too), one 404; no server error.
    assert!(answers(&after, "2xx") - answers(&before, "2xx") >= 6.0);
    assert_eq!(answers(&after, "4xx") - answers(&before, "4xx"), 1.0);
    assert_eq!(answers(&after, "5xx"), 0.0);
    assert_eq!(after["starmark_scans_stored_total"] - before["starmark_scans_stored_total"], 3.0);
    // Three serials scanned once each: 26 bytes of delta apiece, however the flushes split them.
    assert_eq!(after["starmark_scan_bytes_stored_total"] - before["starmark_scan_bytes_stored_total"], 78.0);
    assert!(after["starmark_log_size"] > before.get("starmark_log_size").copied().unwrap_or(0.0));
    assert!(after["starmark_answers_prepared_total"] >= 1.0);
    assert!(after.contains_key("starmark_store_watch_age_seconds"));

    // Redis's state is a gauge of its own.
    let started = Instant::now();
    while scrape(&app).await.get("starmark_redis_up") != Some(&1.0) {
        assert!(started.elapsed() < Duration::from_secs(10), "redis never reported up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.kill();
    while scrape(&app).await.get("starmark_redis_up") != Some(&0.0) {
        assert!(started.elapsed() < Duration::from_secs(20), "redis never reported down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
