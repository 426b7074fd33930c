//! Per-client rate limits: a client over its quota gets 429 `rate-limited` with `Retry-After`
//! and the `RateLimit` fields while other clients are still answered; forwarded addresses count
//! only from trusted proxies; bulk checks pay per row; receipts per client, on both stores;
//! tokens of the body's staff are never limited.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::common::{self, assert_problem, spawn_app_on_with, spawn_app_with, Backend, TestApp};

/// A client on another loopback address than the default 127.0.0.1.
fn other_client() -> reqwest::Client {
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    reqwest::Client::builder().local_address(other).build().unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|value| value.to_str().unwrap().to_string())
}

/// Checks a refusal: 429 `rate-limited` naming `class`, `Retry-After` in seconds matching the
/// body, the policy and the client's standing (nothing left) in the draft's fields.
async fn assert_refused(response: reqwest::Response, class: &str, policy: &str) -> u64 {
    let wait: u64 = header(&response, "retry-after").expect("Retry-After").parse().expect("seconds");
    assert!(wait >= 1, "{wait}");
    assert_eq!(header(&response, "ratelimit-policy").as_deref(), Some(policy));
    let standing = header(&response, "ratelimit").expect("RateLimit");
    assert!(standing.starts_with(&format!("\"{class}\";r=0;t=")), "{standing}");
    let problem = assert_problem(response, 429, "rate-limited").await;
    assert_eq!(problem["class"], class);
    assert_eq!(problem["retry_after"], json!(wait));
    wait
}

async fn scrape(app: &TestApp) -> String {
    let response = other_client().get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_client_over_its_search_quota_is_refused_and_others_are_not() {
    let app = spawn_app_with(|config| config.rate_limits = "search=3/60".parse().unwrap()).await;
    for left in (0..3).rev() {
        let answer = app.get("/api/v1/certificates?q=").await;
        assert_eq!(answer.status(), 200);
        assert_eq!(header(&answer, "ratelimit-policy").as_deref(), Some("\"search\";q=3;w=60"));
        let standing = header(&answer, "ratelimit").unwrap();
        assert!(standing.starts_with(&format!("\"search\";r={left};t=")), "{standing}");
    }
    let wait = assert_refused(app.get("/api/v1/certificates?q=").await, "search", "\"search\";q=3;w=60").await;
    assert!((1..=20).contains(&wait), "one search comes back every 20 s: {wait}");
    // The search page is the same class.
    assert_refused(app.get("/search?q=abc").await, "search", "\"search\";q=3;w=60").await;

    // Another client still gets its answers.
    let other = other_client().get(app.url("/api/v1/certificates?q=")).send().await.unwrap();
    assert_eq!(other.status(), 200);
    // Neither is anything outside the classes refused to the limited client.
    for path in ["/healthz", "/readyz", "/.well-known/starmark/keys.json", "/verify"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    let metrics = scrape(&app).await;
    assert_eq!(common::metric(&metrics, "starmark_rate_limited_total{class=\"search\"}"), 2.0, "{metrics}");
    assert_eq!(common::metric(&metrics, "starmark_rate_limited_total{class=\"scans\"}"), 0.0, "{metrics}");
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let app = spawn_app_with(|config| {
        config.rate_limits = "lookups=2/60".parse().unwrap();
        config.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    app.issue(&common::issue_body("SM2026LIMIT001", "限流查询有限公司", 1)).await;
    let path = "/api/v1/certificates/SM2026LIMIT001";
    let via_proxy = |client: &str| {
        let request = app.client.get(app.url(path)).header("x-forwarded-for", client.to_string());
        async move { request.send().await.unwrap() }
    };
    for _ in 0..2 {
        let answer = via_proxy("203.0.113.1").await;
        assert_eq!(answer.status(), 200);
        assert!(header(&answer, "ratelimit").is_none(), "lookups carry no fields when granted");
    }
    assert_refused(via_proxy("203.0.113.1").await, "lookups", "\"lookups\";q=2;w=60").await;
    // The page of a certificate is a lookup too.
    let page = app.client.get(app.url("/certificates/SM2026LIMIT001")).header("x-forwarded-for", "203.0.113.1");
    assert_refused(page.send().await.unwrap(), "lookups", "\"lookups\";q=2;w=60").await;
    // Another client behind the same proxy has its own quota.
    assert_eq!(via_proxy("203.0.113.2").await.status(), 200);

    // A client that is no trusted proxy cannot dodge its limit by naming other addresses.
    let spoofer = other_client();
    for n in 0..3 {
        let answer = spoofer.get(app.url(path)).header("x-forwarded-for", format!("198.51.100.{n}")).send().await;
        let answer = answer.unwrap();
        if n < 2 {
            assert_eq!(answer.status(), 200);
        } else {
            assert_refused(answer, "lookups", "\"lookups\";q=2;w=60").await;
        }
    }
    let forwarded = spoofer.get(app.url(path)).header("forwarded", "for=192.0.2.77").send().await.unwrap();
    assert_refused(forwarded, "lookups", "\"lookups\";q=2;w=60").await;
}

#[tokio::test]
async fn scans_and_artwork_are_limited_per_client() {
    let app = spawn_app_with(|config| config.rate_limits = "scans=2/60,artwork=1/60".parse().unwrap()).await;
    app.issue(&common::issue_body("SM2026LIMIT002", "限流图案有限公司", 2)).await;
    for _ in 0..2 {
        assert_ne!(app.get("/v/not-a-token").await.status(), 429);
    }
    assert_refused(app.get("/V/not-a-token").await, "scans", "\"scans\";q=2;w=60").await;
    assert_eq!(other_client().get(app.url("/v/not-a-token")).send().await.unwrap().status(), 200);

    let mark = app.get("/api/v1/certificates/SM2026LIMIT002/mark.svg").await;
    assert_eq!(mark.status(), 200);
    assert_eq!(header(&mark, "ratelimit-policy").as_deref(), Some("\"artwork\";q=1;w=60"));
    assert_refused(app.get("/api/v1/certificates/SM2026LIMIT002/mark.png").await, "artwork", "\"artwork\";q=1;w=60")
        .await;
}

async fn bulk(client: &reqwest::Client, app: &TestApp, rows: usize) -> reqwest::Response {
    let queries: Vec<String> = (0..rows).map(|n| format!("SM2026NONE{n:04}")).collect();
    client.post(app.url("/api/v1/verify/bulk")).json(&json!({ "queries": queries })).send().await.unwrap()
}

#[tokio::test]
async fn bulk_checks_are_charged_per_row() {
    let app = spawn_app_with(|config| config.rate_limits = "bulk=5/60".parse().unwrap()).await;
    let first = bulk(&app.client, &app, 3).await;
    assert_eq!(first.status(), 200);
    let standing = header(&first, "ratelimit").unwrap();
    assert!(standing.starts_with("\"bulk\";r=2;t="), "three rows cost three: {standing}");
    // Three more rows do not fit in the two left; nothing is charged for the refusal.
    let refused = bulk(&app.client, &app, 3).await;
    assert_eq!(header(&refused, "ratelimit").map(|s| s.starts_with("\"bulk\";r=2;")), Some(true));
    assert_problem(refused, 429, "rate-limited").await;
    assert_eq!(bulk(&app.client, &app, 2).await.status(), 200);
    assert_refused(bulk(&app.client, &app, 1).await, "bulk", "\"bulk\";q=5;w=60").await;
    assert_eq!(bulk(&other_client(), &app, 5).await.status(), 200, "another client has its own rows");

    // The page pays per row as well.
    let boundary = "----starmark-rate-limits";
    let form = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"queries\"\r\n\r\nSM2026NONE0001\nSM2026NONE0002\r\n--{boundary}--\r\n"
    );
    let page = other_client()
        .post(app.url("/verify"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(header(&page, "retry-after").is_some());
}

#[tokio::test]
async fn requests_with_a_valid_token_are_not_limited() {
    let app = spawn_app_with(|config| config.rate_limits = "search=1/60,bulk=1/60".parse().unwrap()).await;
    for _ in 0..5 {
        let answer = app.client.get(app.url("/api/v1/certificates?q=")).bearer_auth(&app.reader).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let rows = json!({ "queries": ["SM2026NONE0001", "SM2026NONE0002"] });
        let checked = app.client.post(app.url("/api/v1/verify/bulk")).bearer_auth(&app.admin).json(&rows).send();
        assert_eq!(checked.await.unwrap().status(), 200, "a token's bulk check is not charged its rows");
    }
    assert_eq!(app.get("/api/v1/certificates?q=").await.status(), 200);
    assert_refused(app.get("/api/v1/certificates?q=").await, "search", "\"search\";q=1;w=60").await;
    // A made-up token is no way around the limit.
    let forged = app
        .client
        .get(app.url("/api/v1/certificates?q="))
        .bearer_auth("smk_0123456789abcdef_0000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_refused(forged, "search", "\"search\";q=1;w=60").await;
}

/// A well-formed token nobody was given, different each time.
fn made_up_token(n: usize) -> String {
    format!("smk_{n:016x}_{}", "A".repeat(43))
}

#[tokio::test]
async fn made_up_tokens_cost_the_store_at_most_the_token_checks_allowance() {
    let app = spawn_app_with(|config| config.rate_limits = "token_checks=5/60".parse().unwrap()).await;
    let path = app.url("/api/v1/certificates/SM2026NONE0001");
    // An attacker sends a fresh made-up token with every request, hoping each makes the store
    // look it up: only the first five are looked up, the rest are limited as anonymous.
    for n in 0..40 {
        let answer = app.client.get(&path).bearer_auth(made_up_token(n)).send().await.unwrap();
        assert_eq!(answer.status(), 404, "a made-up token changes nothing of the answer");
    }
    let metrics = scrape(&app).await;
    assert_eq!(common::metric(&metrics, "starmark_token_checks_total{outcome=\"rejected\"}"), 5.0, "{metrics}");
    assert_eq!(common::metric(&metrics, "starmark_token_checks_total{outcome=\"skipped\"}"), 35.0, "{metrics}");
    assert!(!metrics.contains("class=\"token_checks\""), "skipped lookups are no 429s: {metrics}");

    // Another client's valid token is looked up once, then remembered: the staff tool is not
    // charged a lookup per request, and stays exempt.
    let staff = other_client();
    for _ in 0..20 {
        let answer = staff.get(app.url("/api/v1/certificates?q=")).bearer_auth(&app.reader).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(answer.headers().get("ratelimit").is_none(), "exempt answers carry no standing");
    }
    let metrics = scrape(&app).await;
    assert_eq!(common::metric(&metrics, "starmark_token_checks_total{outcome=\"accepted\"}"), 1.0, "{metrics}");
}

async fn receipt(client: &reqwest::Client, app: &TestApp, queries: Value) -> reqwest::Response {
    client.post(app.url("/api/v1/receipts")).json(&json!({ "queries": queries })).send().await.unwrap()
}

/// One client spending its receipts quota leaves another client's receipts alone, and a
/// receipt larger than what the client has left is refused by its size.
async fn receipts_are_limited_per_client(backend: Backend) {
    let app = spawn_app_on_with(backend, |config| config.rate_limits = "receipts=2/60".parse().unwrap()).await;
    app.issue(&common::issue_body("SM2026LIMIT003", "限流回执有限公司", 3)).await;
    let single = json!(["SM2026LIMIT003"]);
    assert_eq!(receipt(&app.client, &app, single.clone()).await.status(), 201);
    // The one unit left does not pay for a receipt of many rows (several 4 KiB units).
    let many: Vec<String> = (0..200).map(|n| format!("NOT-A-NUMBER-{n:04}")).collect();
    let large = receipt(&app.client, &app, json!(many)).await;
    assert_problem(large, 429, "rate-limited").await;
    assert_eq!(receipt(&app.client, &app, single.clone()).await.status(), 201);
    assert_refused(receipt(&app.client, &app, single.clone()).await, "receipts", "\"receipts\";q=2;w=60").await;

    // Client B is not stopped by client A's spent quota.
    let other = receipt(&other_client(), &app, single.clone()).await;
    assert_eq!(other.status(), 201);
    let issued: Value = other.json().await.unwrap();
    let id = issued["id"].as_str().unwrap();
    assert_eq!(other_client().get(app.url(&format!("/api/v1/receipts/{id}"))).send().await.unwrap().status(), 200);
}

on_each_backend!(receipts_are_limited_per_client);
