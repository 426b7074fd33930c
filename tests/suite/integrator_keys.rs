//! Integrator keys (issue 30 §2): made by the real `starmark key` command, presented as
//! `Authorization: Bearer smi_…` on public reads over HTTP. A key has its own quota above the
//! anonymous one, shared by the integrator's addresses, 429 with `Retry-After` past it; other
//! clients are not touched; a revoked, unknown or malformed key is a 401, never anonymous; made-up
//! keys cost the store at most the `key_checks` allowance; the key never reaches logs or metrics.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, assert_problem, spawn_app_on_with, spawn_app_with, Backend, ServeProcess, TestApp};

/// A client calling from `ip` (a loopback address).
fn client_at(ip: &str) -> reqwest::Client {
    let ip: IpAddr = ip.parse().unwrap();
    reqwest::Client::builder().local_address(ip).build().unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|value| value.to_str().unwrap().to_string())
}

/// `starmark ARGS` on the app's store: (success, stdout, stderr).
async fn starmark(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let mut command = app.starmark();
    command.args(args);
    let out = common::process::output_async(command).await;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Creates a key with the real command and returns (key, id).
async fn create_key(app: &TestApp, label: &str, rate: Option<&str>) -> (String, String) {
    let mut args = vec!["key", "create", "--label", label];
    if let Some(rate) = rate {
        args.extend(["--rate", rate]);
    }
    let (ok, key, said) = starmark(app, &args).await;
    assert!(ok, "key create: {said}");
    assert!(key.starts_with("smi_") && key.len() == 4 + 16 + 1 + 43, "one key on stdout: {key}");
    let id = key[4..20].to_string();
    assert!(said.contains(&id) && said.contains(label), "{said}");
    assert!(!said.contains(&key), "the key is printed once, on stdout only: {said}");
    (key, id)
}

/// The `key list` row of `id`, split at its tabs.
async fn listed(app: &TestApp, id: &str) -> Vec<String> {
    let (ok, list, said) = starmark(app, &["key", "list"]).await;
    assert!(ok, "key list: {said}");
    assert!(list.starts_with("ID\tRATE\tCREATED\tLAST USE\tSTATE\tLABEL"), "{list}");
    let row = list.lines().find(|line| line.starts_with(id)).unwrap_or_else(|| panic!("{id} in {list}"));
    row.split('\t').map(str::to_string).collect()
}

async fn scrape(app: &TestApp) -> String {
    let response = client_at("127.0.0.9").get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The SHA-256 of a file's bytes in hex, by openssl (an implementation apart from the server's).
fn openssl_sha256(path: &std::path::Path) -> String {
    let out = common::process::try_output(std::process::Command::new("openssl").args(["dgst", "-sha256", "-r"]).arg(path))
        .unwrap_or_else(|e| {
            panic!("the `openssl` command line tool is needed to check stored key hashes ({e}); install it with `apt-get install openssl`")
        });
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("a digest").to_string()
}

/// Checks a 429 `rate-limited` of `class`: `Retry-After` matching the body, and the fields.
async fn assert_refused(response: reqwest::Response, class: &str, policy: &str) -> u64 {
    let wait: u64 = header(&response, "retry-after").expect("Retry-After").parse().expect("seconds");
    assert!(wait >= 1);
    assert_eq!(header(&response, "ratelimit-policy").as_deref(), Some(policy));
    let standing = header(&response, "ratelimit").expect("RateLimit");
    assert!(standing.starts_with(&format!("\"{class}\";r=0;t=")), "{standing}");
    let problem = assert_problem(response, 429, "rate-limited").await;
    assert_eq!(problem["class"], class);
    assert_eq!(problem["retry_after"], json!(wait));
    wait
}

/// The user's side, on each store: a key made by the command line, used from two addresses
/// at a quota above the anonymous one, refused past it, listed with its last use, revoked.
async fn a_key_has_its_own_quota_until_it_is_revoked(backend: Backend) {
    let app = spawn_app_on_with(backend, |config| config.rate_limits = "lookups=2/60".parse().unwrap()).await;
    app.issue(&common::issue_body("SM2026KEYS0001", "集成密钥有限公司", 301)).await;
    let path = "/api/v1/certificates/SM2026KEYS0001";
    let (key, id) = create_key(&app, "Platform X", Some("5/min")).await;
    // Stored is the SHA-256 of the secret, as openssl computes it, and nothing that gives the key.
    let secret_file = app.dir.path().join("secret");
    std::fs::write(&secret_file, &key[21..]).unwrap();
    let digest = openssl_sha256(&secret_file);
    let mut db = app.raw_db().await;
    let sql = format!("SELECT COUNT(*) FROM integrator_keys WHERE id = '{id}' AND secret_hash = {}", db.blob(&digest));
    assert_eq!(db.integer(&sql).await, 1, "the stored hash is SHA-256 of the secret");
    let row = listed(&app, &id).await;
    assert_eq!(row[1..], ["5/min".to_string(), row[2].clone(), "never".into(), "live".into(), "Platform X".into()]);

    // Anonymous, one address gets two lookups a minute.
    let anonymous = client_at("127.0.0.2");
    for _ in 0..2 {
        assert_eq!(anonymous.get(app.url(path)).send().await.unwrap().status(), 200);
    }
    assert_refused(anonymous.get(app.url(path)).send().await.unwrap(), "lookups", "\"lookups\";q=2;w=60").await;

    // The integrator calls from two addresses; both spend the key's one quota of five.
    let (first, second) = (client_at("127.0.0.3"), client_at("127.0.0.4"));
    for n in 0..5 {
        let from = if n % 2 == 0 { &first } else { &second };
        let answer = from.get(app.url(path)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(answer.status(), 200, "request {n} under the key");
        assert_eq!(header(&answer, "ratelimit-policy").as_deref(), Some("\"integrator\";q=5;w=60"));
        let standing = header(&answer, "ratelimit").unwrap();
        assert!(standing.starts_with(&format!("\"integrator\";r={};t=", 4 - n)), "{standing}");
    }
    let wait = assert_refused(
        second.get(app.url(path)).bearer_auth(&key).send().await.unwrap(),
        "integrator",
        "\"integrator\";q=5;w=60",
    )
    .await;
    assert!((1..=12).contains(&wait), "one request comes back every 12 s: {wait}");
    // Every class is the key's one purse: a search is refused too.
    let search = first.get(app.url("/api/v1/certificates?q=")).bearer_auth(&key).send().await.unwrap();
    assert_refused(search, "integrator", "\"integrator\";q=5;w=60").await;
    // The integrator's addresses were not charged as anonymous clients, and others are untouched.
    for client in [&first, &second, &client_at("127.0.0.5")] {
        assert_eq!(client.get(app.url(path)).send().await.unwrap().status(), 200);
    }

    // The first use was written at once; `key list` shows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let row = listed(&app, &id).await;
        if row[3] != "never" || Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let last_use = chrono::DateTime::parse_from_rfc3339(&row[3]).expect("the last use, an instant");
    let age = chrono::Utc::now().signed_duration_since(last_use);
    assert!(age < chrono::Duration::seconds(60), "used just now: {row:?}");

    // Counted by key id, never by the key.
    let metrics = scrape(&app).await;
    assert_eq!(common::metric(&metrics, &format!("starmark_integrator_requests_total{{key=\"{id}\"}}")), 5.0);
    assert_eq!(common::metric(&metrics, &format!("starmark_integrator_rate_limited_total{{key=\"{id}\"}}")), 2.0);
    assert_eq!(common::metric(&metrics, "starmark_rate_limited_total{class=\"integrator\"}"), 2.0);
    assert_eq!(common::metric(&metrics, "starmark_integrator_key_checks_total{outcome=\"accepted\"}"), 1.0);
    assert!(!metrics.contains(&key[20..]), "the key's secret is not in the metrics");

    // Revoked: a fresh instance refuses it at once, this one within the documented 30 s.
    let (ok, said, _) = starmark(&app, &["key", "revoke", &id]).await;
    assert!(ok && said.contains("within 30 s"), "{said}");
    let revoked_at = Instant::now();
    let peer = app.spawn_peer().await;
    let refused = client_at("127.0.0.3").get(format!("{peer}{path}")).bearer_auth(&key).send().await.unwrap();
    let problem = assert_problem(refused, 401, "invalid-key").await;
    assert!(problem["detail"].as_str().unwrap().contains("unknown or revoked"), "{problem}");
    loop {
        let answer = first.get(app.url(path)).bearer_auth(&key).send().await.unwrap();
        if answer.status() == 401 {
            assert!(header(&answer, "www-authenticate").unwrap().starts_with("Bearer"));
            assert_problem(answer, 401, "invalid-key").await;
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(32),
            "still served {:?} after revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let row = listed(&app, &id).await;
    assert!(row[4].starts_with("revoked "), "{row:?}");
}

on_each_backend!(a_key_has_its_own_quota_until_it_is_revoked);

/// A key without `--rate` gets the default, above the anonymous allowance.
#[tokio::test]
async fn the_default_rate_is_above_the_anonymous_one() {
    let app = spawn_app_with(|config| config.rate_limits = "search=2/60".parse().unwrap()).await;
    let (key, id) = create_key(&app, "Default rate", None).await;
    assert_eq!(listed(&app, &id).await[1], "200/s");
    for n in 0..20 {
        let answer = app.client.get(app.url("/api/v1/certificates?q=")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(answer.status(), 200, "search {n} under the key");
    }
    // A bulk check is charged its rows to the key's purse.
    let rows: Vec<String> = (0..150).map(|n| format!("SM2026NONE{n:04}")).collect();
    let bulk = app.client.post(app.url("/api/v1/verify/bulk")).bearer_auth(&key).json(&json!({ "queries": rows }));
    let bulk = bulk.send().await.unwrap();
    assert_eq!(bulk.status(), 200);
    let standing = header(&bulk, "ratelimit").unwrap();
    let left: u64 = standing.split("r=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!(left < 60, "150 rows charged to a purse of 200: {standing}");
    assert_eq!(app.get("/api/v1/certificates?q=").await.status(), 200);
    assert_eq!(app.get("/api/v1/certificates?q=").await.status(), 200);
    assert_eq!(app.get("/api/v1/certificates?q=").await.status(), 429, "anonymous, the same address has two");
}

/// A well-formed key nobody was given, different for each `n`.
fn made_up_key(n: usize) -> String {
    format!("smi_{n:016x}_{}", "A".repeat(43))
}

/// The attacker's side: a stream of made-up keys is refused (401, never served as anonymous),
/// and only the client's `key_checks` allowance of them is looked up; the rest are 429s, while
/// the same bad key again and malformed keys are refused from memory, and an integrator
/// elsewhere is served.
#[tokio::test]
async fn made_up_keys_are_refused_and_looked_up_at_most_the_allowance() {
    let app = spawn_app_with(|config| config.rate_limits = "key_checks=5/60".parse().unwrap()).await;
    let path = app.url("/api/v1/certificates/SM2026NONE0001");
    let attacker = client_at("127.0.0.6");
    for n in 0..40 {
        let answer = attacker.get(&path).bearer_auth(made_up_key(n)).send().await.unwrap();
        if n < 5 {
            let problem = assert_problem(answer, 401, "invalid-key").await;
            assert!(problem["detail"].as_str().unwrap().contains("unknown or revoked"), "{problem}");
        } else {
            assert_refused(answer, "key_checks", "\"key_checks\";q=5;w=60").await;
        }
    }
    // A key looked up once stays refused without a lookup, allowance or not.
    let again = attacker.get(&path).bearer_auth(made_up_key(0)).send().await.unwrap();
    assert_problem(again, 401, "invalid-key").await;
    // Malformed keys are refused by their shape.
    for malformed in ["smi_", "smi_nothexnothexnoth_x", &format!("{}=", made_up_key(1))] {
        let answer = attacker.get(&path).bearer_auth(malformed).send().await.unwrap();
        let problem = assert_problem(answer, 401, "invalid-key").await;
        assert!(problem["detail"].as_str().unwrap().contains("malformed"), "{problem}");
    }
    // The attacker still has its anonymous allowance: without a key it is served.
    assert_eq!(attacker.get(&path).send().await.unwrap().status(), 404);

    // An integrator elsewhere is served, its key looked up once and then remembered.
    let (key, _) = create_key(&app, "Platform Y", None).await;
    let integrator = client_at("127.0.0.7");
    for _ in 0..10 {
        assert_eq!(integrator.get(&path).bearer_auth(&key).send().await.unwrap().status(), 404);
    }
    let metrics = scrape(&app).await;
    let outcome =
        |name: &str| common::metric(&metrics, &format!("starmark_integrator_key_checks_total{{outcome=\"{name}\"}}"));
    assert_eq!(outcome("rejected"), 5.0, "five lookups of made-up keys: {metrics}");
    assert_eq!(outcome("skipped"), 35.0);
    assert_eq!(outcome("known_bad"), 1.0);
    assert_eq!(outcome("malformed"), 3.0);
    assert_eq!(outcome("accepted"), 1.0, "one lookup of the valid key");
    assert_eq!(common::metric(&metrics, "starmark_rate_limited_total{class=\"key_checks\"}"), 35.0);
}

#[tokio::test]
async fn the_command_line_explains_its_errors() {
    let app = spawn_app_with(|_| {}).await;
    let (ok, _, said) = starmark(&app, &["key", "list"]).await;
    assert!(ok && said.contains("no integrator keys yet"), "{said}");
    for (rate, says) in [
        ("fast", "is not a rate; use N/s, N/min or N/h"),
        ("0/s", "the count must be"),
        ("5/day", "the unit must be s, min or h"),
    ] {
        let (ok, out, said) = starmark(&app, &["key", "create", "--label", "Platform Z", "--rate", rate]).await;
        assert!(!ok && out.is_empty() && said.contains(says), "--rate {rate}: {said}");
    }
    let (ok, _, said) = starmark(&app, &["key", "create", "--label", " "]).await;
    assert!(!ok && said.contains("label"), "{said}");
    let (ok, _, said) = starmark(&app, &["key", "revoke", "0123456789abcdef"]).await;
    assert!(!ok && said.contains("no integrator key with id 0123456789abcdef"), "{said}");
    let (_, id) = create_key(&app, "Platform Z", Some("10/s")).await;
    assert!(starmark(&app, &["key", "revoke", &id]).await.0);
    let (ok, _, said) = starmark(&app, &["key", "revoke", &id]).await;
    assert!(!ok && said.contains("already revoked"), "{said}");
    // A staff token is not a key and a key is not a staff token.
    let (key, _) = create_key(&app, "Platform Z2", None).await;
    let body = common::issue_body("SM2026KEYS0002", "密钥不是令牌有限公司", 302);
    let admin = app.post("/api/v1/certificates", &key, &body).await;
    assert_eq!(admin.status(), 401, "a key has no admin rights");
}

/// A server logging at its most verbose never writes a key, used, refused or revoked.
#[tokio::test]
async fn no_key_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    // Child processes run off the runtime's thread.
    let (live, revoked) = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            let out = common::process::output(common::starmark_command(&path).args(args));
            assert!(out.status.success(), "starmark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        run(&["keygen"]);
        let live = run(&["key", "create", "--label", "log test", "--rate", "2/min"]);
        let revoked = run(&["key", "create", "--label", "revoked"]);
        run(&["key", "revoke", &revoked[4..20]]);
        (live, revoked)
    })
    .await
    .expect("join");
    let forged = format!("{}{}", &live[..live.len() - 6], "ZZZZZZ");

    let mut command = std::process::Command::new("sh");
    command
        .env_clear()
        .args(["-c", "STARMARK_LOG=debug exec \"$0\" serve", env!("CARGO_BIN_EXE_starmark")])
        .envs(common::starmark_command(dir.path()).get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
    let server = tokio::task::spawn_blocking(move || ServeProcess::start(command)).await.expect("join");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    for (key, status) in [(&live, 404), (&live, 404), (&live, 429), (&revoked, 401), (&forged, 401)] {
        let answer = client.get(url("/api/v1/certificates/SM2026NONE0001")).bearer_auth(key).send().await.unwrap();
        assert_eq!(answer.status(), status);
        let body: Value = answer.json().await.unwrap();
        assert!(!body.to_string().contains(&key[20..]), "{body}");
    }
    let end = client.get(url("/end-of-the-key-test")).send().await.unwrap();
    assert_eq!(end.status(), 404);
    let lines = server.lines_until("/end-of-the-key-test", Duration::from_secs(60));
    let log = lines.join("\n");
    assert!(log.contains("/api/v1/certificates/SM2026NONE0001"), "the requests themselves are logged:\n{log}");
    for key in [&live, &revoked, &forged] {
        assert!(!log.contains(&key[20..]), "a key's secret is in the log:\n{log}");
        assert!(!log.contains(key.as_str()), "a key is in the log:\n{log}");
    }
}

/// The store keeps keys and their last uses alike on both backends: a later use moves the last
/// use on, an older one (another instance's batch arriving late) does not move it back.
async fn the_store_keeps_keys_and_their_last_uses(backend: Backend) {
    use chrono::{DateTime, Utc};
    use starmark::store::StoredIntegratorKey;
    let store = common::postgres::TestStore::open(backend).await;
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    let key = StoredIntegratorKey {
        id: "00112233445566ff".into(),
        label: "Platform S".into(),
        secret_hash: vec![7; 32],
        rate: starmark::limits::Policy { quota: 4_000_000_000, window_secs: 3600 },
        created_at: at("2026-12-01T08:00:00.123456Z"),
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_integrator_key(&key).await.unwrap();
    assert!(store.insert_integrator_key(&key).await.is_err(), "an id is taken once");
    let uses = [(key.id.as_str(), at("2026-12-02T10:00:00.5Z")), ("ffffffffffffffff", at("2026-12-02T10:00:00Z"))];
    store.record_integrator_key_uses(&uses).await.unwrap();
    store.record_integrator_key_uses(&[(key.id.as_str(), at("2026-12-02T09:59:59Z"))]).await.unwrap();
    let found = store.find_integrator_key(&key.id).await.unwrap().expect("stored");
    assert_eq!(found.last_used_at, Some(at("2026-12-02T10:00:00.5Z")), "an older use does not move it back");
    assert_eq!((found.rate, found.created_at, found.secret_hash), (key.rate, key.created_at, key.secret_hash.clone()));
    assert!(store.revoke_integrator_key(&key.id, at("2026-12-03T00:00:00Z")).await.unwrap());
    assert!(!store.revoke_integrator_key(&key.id, at("2026-12-04T00:00:00Z")).await.unwrap(), "revoked once");
    assert!(!store.revoke_integrator_key("ffffffffffffffff", at("2026-12-04T00:00:00Z")).await.unwrap());
    let listed = store.list_integrator_keys().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revoked_at, Some(at("2026-12-03T00:00:00Z")));
    assert!(store.find_integrator_key("ffffffffffffffff").await.unwrap().is_none());
}

on_each_backend!(the_store_keeps_keys_and_their_last_uses);

/// `key list`'s LAST USE column for the only key of the registry in `dir`.
fn last_use_in(dir: &std::path::Path) -> String {
    let out = common::process::output(common::starmark_command(dir).args(["key", "list"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    list.lines().nth(1).expect("one key").split('\t').nth(3).expect("LAST USE").to_string()
}

/// Last use is written at a key's first use, then not per request but in batches: a later use
/// reaches the store with the next batch, here the one a stopping server writes.
#[tokio::test]
async fn last_use_is_written_without_a_write_per_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    let key = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| common::process::output(common::starmark_command(&path).args(args));
        assert!(run(&["keygen"]).status.success());
        let out = run(&["key", "create", "--label", "last use"]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
    .await
    .expect("join");
    let command = {
        let mut command = common::starmark_command(dir.path());
        command.arg("serve");
        command
    };
    let mut server = tokio::task::spawn_blocking(move || ServeProcess::start(command)).await.expect("join");
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/certificates/SM2026NONE0001", server.base);
    assert_eq!(client.get(&url).bearer_auth(&key).send().await.unwrap().status(), 404);
    let path = dir.path().to_path_buf();
    let first = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let last = last_use_in(&path);
            if last != "never" || Instant::now() > deadline {
                return last;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .expect("join");
    assert_ne!(first, "never", "the first use is written at once");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        assert_eq!(client.get(&url).bearer_auth(&key).send().await.unwrap().status(), 404);
    }
    let path = dir.path().to_path_buf();
    let later = tokio::task::spawn_blocking(move || last_use_in(&path)).await.expect("join");
    assert_eq!(later, first, "later uses wait for the next batch");

    // SIGTERM: the server stops gracefully and writes the uses it holds.
    let pid = server.child.id().to_string();
    let killed = common::process::output(std::process::Command::new("kill").args(["-TERM", &pid]));
    assert!(killed.status.success());
    let path = dir.path().to_path_buf();
    let last = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        last_use_in(&path)
    })
    .await
    .expect("join");
    assert!(last > first, "the later use was written at shutdown: {first} then {last}");
}

/// Fail closed: while the database is away, a key that must be looked up is a prompt 503 with
/// `Retry-After`, never served as anonymous nor refused as bad; a key found valid before is
/// served from memory; once the database is back the waiting key is looked up and served.
#[tokio::test]
async fn a_key_that_cannot_be_looked_up_is_a_503() {
    use common::relay::Relay;
    let database = common::TestDatabase::create().await;
    let mut relay = Relay::in_front_of(&database.url).await;
    let url = relay.url(&database.url);
    let mut app = spawn_app_with(|config| config.database_url = Some(url)).await;
    app.database = Some(database);
    app.issue(&common::issue_body("SM2026KEYS0003", "断库密钥有限公司", 303)).await;
    common::observe::until_scheduled_drops_ran(&app.registry).await;
    let rate = starmark::limits::integrators::parse_rate("100/s").unwrap();
    let (_, known) = app.registry.create_integrator_key("known", rate).await.unwrap();
    let (_, waiting) = app.registry.create_integrator_key("waiting", rate).await.unwrap();
    let path = "/api/v1/certificates/SM2026KEYS0003";
    assert_eq!(app.client.get(app.url(path)).bearer_auth(&known).send().await.unwrap().status(), 200);

    relay.cut().await;
    assert_eq!(app.client.get(app.url(path)).bearer_auth(&known).send().await.unwrap().status(), 200);
    let started = Instant::now();
    let answer = app.client.get(app.url(path)).bearer_auth(&waiting).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
    assert!(header(&answer, "retry-after").is_some());
    assert_problem(answer, 503, "unavailable").await;

    relay.restore().await;
    common::wait::until_true("the waiting key is served once the database is back", || async {
        app.client.get(app.url(path)).bearer_auth(&waiting).send().await.unwrap().status() == 200
    })
    .await;
}
