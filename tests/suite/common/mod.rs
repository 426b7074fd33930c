//! Test harness: every test gets the real application on a free port, with a fresh data
//! directory, database and signing key, and tokens of each role.
#![allow(dead_code)]

pub mod browser;
pub mod commands;
pub mod console;
pub mod lifecycle;
pub mod marks;
pub mod observe;
#[macro_use]
pub mod postgres;
pub mod ports;
pub mod process;
pub mod qr;
pub mod records;
pub mod redis_cluster;
pub mod redis_feed;
pub mod redis_server;
pub mod relay;
pub mod scan;
pub mod serve_log;
pub mod server;
pub mod sqlite;
pub mod states;
pub mod wait;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};
use starmark::config::Config;
use starmark::crypto::{canonical_value_bytes, keys, Signature, Verifier};
use starmark::domain::Role;
use starmark::domain::{ApprovalNumber, Uscc};
use starmark::registry::Registry;
use starmark::startup::Application;

pub use postgres::{Backend, RawDb, TestDatabase};
pub use redis_server::RedisServer;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub registry: Arc<Registry>,
    pub config: Config,
    pub admin: String,
    pub issuer: String,
    pub reader: String,
    pub dir: tempfile::TempDir,
    /// The running server: stopped, with its background work, when the app is dropped.
    pub server: server::RunningServer,
    /// Servers started by [`TestApp::spawn_peer`], stopped with the app.
    pub peers: std::sync::Mutex<Vec<server::RunningServer>>,
    /// The app's own PostgreSQL database, when it runs on PostgreSQL (dropped with the app).
    pub database: Option<TestDatabase>,
}

/// A configuration rooted in `dir`, listening on a free loopback port.
pub fn test_config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.join("data"),
        keys_dir: dir.join("keys"),
        public_url: "http://starmark.test".into(),
        database_url: None,
        redis_url: None,
        redis_ca: None,
        issuer_name: "测试认证中心 Test Body".into(),
        issuer_approval: ApprovalNumber::parse("CNCA-R-2026-042").expect("approval"),
        request_timeout: Duration::from_secs(10),
        body_limit: 64 * 1024,
        log_origin: None,
        cache_stale_bound: Duration::from_secs(5),
        answer_lifetime: starmark::registry::DEFAULT_ANSWER_LIFETIME,
        cache_max_bytes: 16 * 1024 * 1024,
        receipts_per_minute: starmark::registry::DEFAULT_RECEIPTS_PER_MINUTE,
        ..Config::default()
    }
}

/// The `starmark` binary as a user runs it, with its data and keys in `dir`, listening on a
/// free loopback port, logging warnings only, and nothing else of the test's environment.
pub fn starmark_command(dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_starmark"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STARMARK_DATA_DIR", dir.join("data"))
        .env("STARMARK_KEYS_DIR", dir.join("keys"))
        .env("STARMARK_LISTEN", "127.0.0.1:0")
        .env("STARMARK_LOG", "warn")
        .stdin(std::process::Stdio::null());
    command
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with a chance to adjust the configuration first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    keys::generate(&config.keys_dir).expect("keygen");
    let app = Application::build(&config).await.expect("application starts");
    let base = format!("http://{}", app.local_addr().expect("bound"));
    let registry = app.registry();
    let server = server::RunningServer::start(app);
    let (_, admin) = registry.create_token(Role::Admin, "test admin").await.expect("token");
    let (_, issuer) = registry.create_token(Role::Issuer, "test issuer").await.expect("token");
    let (_, reader) = registry.create_token(Role::Reader, "test reader").await.expect("token");
    TestApp {
        base,
        client: reqwest::Client::new(),
        registry,
        config,
        admin,
        issuer,
        reader,
        dir,
        server,
        peers: Default::default(),
        database: None,
    }
}

/// The app on `backend`: on PostgreSQL with a fresh database of its own.
pub async fn spawn_app_on(backend: Backend) -> TestApp {
    spawn_app_on_with(backend, |_| {}).await
}

/// Like [`spawn_app_on`], with a chance to adjust the configuration first.
pub async fn spawn_app_on_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let url = database.as_ref().map(|database| database.url.clone());
    let mut app = spawn_app_with(|config| {
        config.database_url = url;
        adjust(config);
    })
    .await;
    app.database = database;
    app
}

/// A valid USCC made from a number, so tests can create many distinct holders.
pub fn uscc(n: u32) -> String {
    Uscc::with_check_character(&format!("91350200{n:09}")).expect("uscc").to_string()
}

/// An issue request for a five-star certificate; tweak the JSON as needed.
pub fn issue_body(number: &str, name: &str, n: u32) -> Value {
    json!({
        "number": number,
        "holder": { "name": name, "name_en": "Example Co., Ltd.", "uscc": uscc(n), "address": "厦门市思明区示例路1号" },
        "scope": "家用电器的售后服务",
        "evaluation": { "system": 38, "commodity": 33, "customer": 24.5 }
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// Issues a certificate and returns its JSON, failing the test on anything but 201.
    pub async fn issue(&self, body: &Value) -> Value {
        let response = self.post("/api/v1/certificates", &self.issuer, body).await;
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "issue failed: {json}");
        json
    }

    pub async fn status(&self, number: &str, body: Value) -> (u16, Value) {
        let response = self.post(&format!("/api/v1/certificates/{number}/status"), &self.issuer, &body).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// Checks `record` + `signature` of an answer against the served trust list.
    pub async fn verify_answer(&self, answer: &Value) -> Result<(), String> {
        let list: Value = self.get("/.well-known/starmark/keys.json").await.json().await.expect("trust list");
        let mut verifier = Verifier::default();
        for key in list["keys"].as_array().expect("keys") {
            let raw = BASE64.decode(key["public_key"].as_str().expect("b64")).expect("base64");
            let raw: [u8; 32] = raw.try_into().expect("32 bytes");
            verifier = verifier.with_key(ed25519_dalek::VerifyingKey::from_bytes(&raw).expect("key"));
        }
        let signature: Signature = serde_json::from_value(answer["signature"].clone()).map_err(|e| e.to_string())?;
        let canonical = canonical_value_bytes(&answer["record"]).map_err(|e| e.to_string())?;
        verifier.verify(&canonical, &signature).map_err(|e| e.to_string())
    }

    /// Starts a second server on the same data and keys (another instance behind the same
    /// registry) and returns its base URL.
    pub async fn spawn_peer(&self) -> String {
        self.spawn_peer_with(|_| {}).await.0
    }

    /// Like [`TestApp::spawn_peer`], with a chance to adjust the peer's configuration; returns
    /// its base URL and registry.
    pub async fn spawn_peer_with(&self, adjust: impl FnOnce(&mut Config)) -> (String, Arc<Registry>) {
        let mut config = self.config.clone();
        adjust(&mut config);
        let peer = Application::build(&config).await.expect("peer starts");
        let base = format!("http://{}", peer.local_addr().expect("bound"));
        let registry = peer.registry();
        self.peers.lock().expect("peers").push(server::RunningServer::start(peer));
        (base, registry)
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.data_dir.join("starmark.db")
    }

    /// A connection to the app's database that goes around the application.
    pub async fn raw_db(&self) -> RawDb {
        match &self.database {
            Some(database) => RawDb::Postgres(database.connect().await),
            None => RawDb::sqlite(&self.db_path()).await,
        }
    }
}

/// A `GET` answer without its status assertion, which is made fresh for each prepared answer,
/// so it can be compared with the answer of the write that produced it.
pub fn without_assertion(mut answer: Value) -> Value {
    if let Some(object) = answer.as_object_mut() {
        object.remove("status_assertion");
    }
    answer
}

/// Asserts a problem+json answer with the given status and type slug; returns the body.
pub async fn assert_problem(response: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["type"], format!("urn:starmark:problem:{slug}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

/// `starmark serve` as a user starts it, killed when dropped so that it never outlives its test.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub addr: std::net::SocketAddr,
    /// The lines it logs after the one saying where it listens, colours removed.
    log: std::sync::mpsc::Receiver<String>,
}

impl ServeProcess {
    /// Starts `command` (a `starmark serve` from [`starmark_command`], to which this adds the
    /// log level it reads its address from) and waits up to a minute for it to listen.
    pub fn start(mut command: std::process::Command) -> Self {
        use std::io::BufRead;
        command.env("STARMARK_LOG", "info").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("starmark serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                // Keep draining even when nobody listens, so the server never sees a closed pipe.
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!("starmark serve did not say it was listening within a minute: {:?}", child.wait());
            };
            let line = without_colours(&line);
            if let Some(rest) = line.split("starmark listening").nth(1) {
                let address = rest.split("address=").nth(1).expect("the address is logged").trim();
                break address.parse::<std::net::SocketAddr>().expect("a socket address");
            }
        };
        Self { child, base: format!("http://{addr}"), addr, log: rx }
    }

    /// The first line it logs, from now on, that contains `needle`, or `None` after `within`.
    pub fn wait_for_line(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = without_colours(&self.log.recv_timeout(left).ok()?);
            if line.contains(needle) {
                return Some(line);
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of one sample (`name` with its labels, as written) in a Prometheus exposition.
pub fn metric(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{exposition}"))
}

/// `text` without the terminal colour sequences (`ESC [ ... m`) a log line may carry.
pub fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}
