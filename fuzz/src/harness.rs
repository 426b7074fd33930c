//! The real application in process for the targets that go through HTTP: the same router and
//! middleware stack as `starmark serve`, on a registry with an SQLite store and signing key in
//! a temporary directory, seeded through the admin API.

use std::convert::Infallible;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, response::Parts, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use starmark::config::Config;
use starmark::domain::{ApprovalNumber, Uscc};
use starmark::domain::Role;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

/// The runtime every target runs its futures on: one thread, like one request at a time.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime"))
}

/// Runs a future to completion on [`runtime`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// The seeded application and what a request needs to reach past its front door.
pub struct App {
    service: BoxCloneSyncService<Request, Response, Infallible>,
    /// An admin token (every role's routes accept it).
    pub admin: String,
    /// Numbers of the seeded certificates.
    pub numbers: Vec<String>,
    /// USCCs of their holders.
    pub usccs: Vec<String>,
    /// Genuine mark tokens of a seeded batch.
    pub tokens: Vec<String>,
    _dir: tempfile::TempDir,
}

/// The application, made on first use.
pub fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| block_on(start()))
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.join("data"),
        keys_dir: dir.join("keys"),
        public_url: "http://starmark.fuzz".into(),
        database_url: None,
        redis_url: None,
        redis_ca: None,
        issuer_name: "模糊测试认证中心 Fuzz Body".into(),
        issuer_approval: ApprovalNumber::parse("CNCA-R-2026-042").expect("approval"),
        request_timeout: Duration::from_secs(10),
        body_limit: 64 * 1024,
        log_origin: None,
        cache_stale_bound: Duration::from_secs(5),
        answer_lifetime: starmark::registry::DEFAULT_ANSWER_LIFETIME,
        cache_max_bytes: 16 * 1024 * 1024,
        // Receipts are fuzzed too; the quota is not what is under test here.
        receipts_per_minute: 1_000_000,
        ..Config::default()
    }
}

async fn start() -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path());
    std::fs::create_dir_all(&config.data_dir).expect("data dir");
    starmark::crypto::keys::generate(&config.keys_dir).expect("keygen");
    let registry = starmark::startup::open_registry(&config).await.expect("registry");
    let (_, admin) = registry.create_token(Role::Admin, "fuzz").await.expect("token");
    let state = starmark::http::AppState::new(registry, &config).expect("state");
    let service = BoxCloneSyncService::new(starmark::http::app(state, &config));
    let mut app = App { service, admin, numbers: Vec::new(), usccs: Vec::new(), tokens: Vec::new(), _dir: dir };
    for n in 1..=3u32 {
        let number = format!("SM2026FUZ{n:06}");
        let uscc = Uscc::with_check_character(&format!("91350200{n:09}")).expect("uscc").to_string();
        let body = json!({
            "number": number,
            "holder": { "name": format!("模糊测试{n}号有限公司"), "name_en": "Fuzz Co., Ltd.", "uscc": uscc, "address": "厦门市思明区示例路1号" },
            "scope": "家用电器的售后服务",
            "evaluation": { "system": 38, "commodity": 33, "customer": 24.5 }
        });
        app.admin_post("/api/v1/certificates", &body, StatusCode::CREATED).await;
        app.numbers.push(number);
        app.usccs.push(uscc);
    }
    let until = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let suspend = json!({ "action": "suspend", "reason": "fuzz", "until": until });
    app.admin_post(&format!("/api/v1/certificates/{}/status", app.numbers[2]), &suspend, StatusCode::OK).await;
    let order = app
        .admin_post(
            &format!("/api/v1/certificates/{}/marks", app.numbers[0]),
            &json!({ "count": 3 }),
            StatusCode::CREATED,
        )
        .await;
    app.tokens.push(order["first"]["token"].as_str().expect("token").to_string());
    app
}

impl App {
    async fn admin_post(&self, path: &str, body: &Value, expected: StatusCode) -> Value {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let (parts, bytes) = self.send_async(request).await;
        assert_eq!(parts.status, expected, "seeding {path}: {}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).expect("JSON answer")
    }

    async fn send_async(&self, request: Request) -> (Parts, Bytes) {
        let response = self.service.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("response body");
        (parts, bytes)
    }

    /// Sends one request through the whole stack and reads the whole answer.
    pub fn send(&self, request: Request) -> (Parts, Bytes) {
        block_on(self.send_async(request))
    }
}
