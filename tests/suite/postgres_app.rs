//! The whole application on PostgreSQL, over real HTTP: issue, read, suspend, reinstate and
//! revoke; order marks and scan one, the tally flushed to the database and read back by another
//! instance (as after a restart); the transparency log's checkpoint and proofs; `starmark audit`
//! on the database, clean and then with a record edited behind the application's back.

use crate::common;

use chrono::Days;
use common::scan::scan_json;
use common::{issue_body, spawn_app_on, Backend, TestApp};
use serde_json::{json, Value};
use starmark::domain::CertificateNumber;
use starmark::registry::clock;
use starmark::tlog::{verify_inclusion, Hash, LogKey};

async fn json_of(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

async fn state_of(app: &TestApp, number: &str) -> String {
    json_of(app, &format!("/api/v1/certificates/{number}")).await["status"]["state"].as_str().unwrap().to_string()
}

fn hash(value: &Value) -> Hash {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("base64")).expect("base64");
    bytes.try_into().expect("32 bytes")
}

#[tokio::test]
async fn the_registry_runs_on_postgresql_end_to_end() {
    let app = spawn_app_on(Backend::Postgres).await;
    assert!(app.config.database_url.as_deref().is_some_and(|url| url.starts_with("postgres://")));

    // Issue and read back, signed.
    let issued = app.issue(&issue_body("SM2026PGAPP01", "数据库测试一有限公司", 81)).await;
    assert_eq!(issued["number"], "SM2026PGAPP01");
    let read = json_of(&app, "/api/v1/certificates/SM2026PGAPP01").await;
    assert_eq!(read["holder"]["name"], "数据库测试一有限公司");
    assert_eq!(read["level"], "five_star");
    assert_eq!(read["status"]["state"], "valid");
    app.verify_answer(&read).await.expect("the answer's signature verifies");
    let missing = app.get("/api/v1/certificates/SM2026NOSUCH01").await;
    common::assert_problem(missing, 404, "not-found").await;
    let again = app.post("/api/v1/certificates", &app.issuer, &issue_body("SM2026PGAPP01", "重复", 82)).await;
    assert_eq!(again.status(), 409, "a taken number is refused");

    // Suspend, reinstate, revoke.
    let until = (clock::today() + Days::new(30)).to_string();
    let (status, body) =
        app.status("SM2026PGAPP01", json!({"action": "suspend", "reason": "整改", "until": until})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state_of(&app, "SM2026PGAPP01").await, "suspended");
    let (status, body) = app.status("SM2026PGAPP01", json!({"action": "reinstate", "reason": "整改完成"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state_of(&app, "SM2026PGAPP01").await, "valid");
    let (status, body) = app.status("SM2026PGAPP01", json!({"action": "revoke", "reason": "严重违规"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state_of(&app, "SM2026PGAPP01").await, "revoked");
    let (status, _) = app.status("SM2026PGAPP01", json!({"action": "reinstate", "reason": "不可能"})).await;
    assert_eq!(status, 409, "revoked is final");
    let history = app
        .client
        .get(app.url("/api/v1/certificates/SM2026PGAPP01/history"))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 200);
    let history: Value = history.json().await.unwrap();
    let kinds: Vec<(u64, &str)> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| (event["version"].as_u64().unwrap(), event["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [(1, "issued"), (2, "suspended"), (3, "reinstated"), (4, "revoked")]);

    // Search.
    app.issue(&issue_body("SM2026PGAPP02", "数据库测试二有限公司", 83)).await;
    let found = json_of(&app, "/api/v1/certificates?q=%E6%B5%8B%E8%AF%95%E4%BA%8C").await;
    let numbers: Vec<&str> = found["items"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["SM2026PGAPP02"]);
    let page = json_of(&app, "/api/v1/certificates?limit=1").await;
    assert_eq!(page["items"][0]["number"], "SM2026PGAPP01");
    let next = page["next"].as_str().expect("a cursor");
    let page = json_of(&app, &format!("/api/v1/certificates?limit=1&cursor={next}")).await;
    assert_eq!(page["items"][0]["number"], "SM2026PGAPP02");
    assert_eq!(json_of(&app, "/api/v1/certificates?state=revoked").await["items"].as_array().unwrap().len(), 1);

    // Marks: order a batch, scan one twice, flush the tally to the database.
    let ordered = app.post("/api/v1/certificates/SM2026PGAPP02/marks", &app.issuer, &json!({"count": 3})).await;
    assert_eq!(ordered.status(), 201);
    let number = CertificateNumber::parse("SM2026PGAPP02").unwrap();
    let record = app.registry.get(&number).await.unwrap().record;
    let path = format!("/v/{}", app.registry.mark_token(&record, 1, 2).unwrap());
    assert_eq!(scan_json(&app.client, &app.base, &path).await["scans"]["requests"], 1);
    let answer = scan_json(&app.client, &app.base, &path).await;
    assert_eq!(answer["scans"]["requests"], 2);
    app.registry.scans().flush().await.unwrap();
    let (total, top) = app.registry.scan_summary(&number, 5).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!((top[0].0.batch, top[0].0.serial, top[0].1.count), (1, 2, 2));
    // Another instance on the same database, as after a restart, goes on from the stored tally.
    let (restarted, registry) = app.spawn_peer_with(|_| {}).await;
    let answer = scan_json(&app.client, &restarted, &path).await;
    assert_eq!(answer["scans"]["requests"], 3, "{answer}");
    registry.scans().flush().await.unwrap();
    assert_eq!(registry.scan_summary(&number, 5).await.unwrap().0, 3);
    // An instance that stops writes its last counts to the database as it goes.
    let stopping = starmark::startup::Application::build(&app.config).await.expect("another instance");
    let stopping_base = format!("http://{}", stopping.local_addr().unwrap());
    let stopping_registry = stopping.registry();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(stopping.run_until(async move {
        let _ = stopped.await;
    }));
    assert_eq!(scan_json(&app.client, &stopping_base, &path).await["scans"]["requests"], 4);
    let _ = stop.send(());
    server.await.unwrap().expect("a clean stop");
    assert_eq!(stopping_registry.scan_summary(&number, 5).await.unwrap().0, 4, "flushed on the way out");

    // The log: six events, six leaves, a signed checkpoint and proofs to it.
    let key = LogKey::parse_vkey(app.get("/api/v1/log/vkey").await.text().await.unwrap().trim()).expect("vkey");
    let checkpoint = key.open(&app.get("/api/v1/log/checkpoint").await.text().await.unwrap()).expect("signed");
    assert_eq!(checkpoint.size, 6);
    for index in 0..checkpoint.size {
        let proof = json_of(&app, &format!("/api/v1/log/proof/inclusion?index={index}&size=6")).await;
        let path: Vec<Hash> = proof["inclusion"].as_array().unwrap().iter().map(hash).collect();
        verify_inclusion(index, 6, &hash(&proof["leaf_hash"]), &path, &checkpoint.root).expect("included");
    }
    let answer = json_of(&app, "/api/v1/certificates/SM2026PGAPP01").await;
    assert_eq!(answer["log"]["index"], 3, "the revocation is the fourth leaf");

    // The audit passes on the database as the application left it...
    let out = app.audit(&[]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("audited 6 events, 6 log leaves"), "{text}");
    assert!(text.contains("audit passed"), "{text}");

    // ...and names a record edited behind its back by a superuser who disabled the guard.
    let mut db = app.database.as_ref().unwrap().connect().await;
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update").execute(&mut db).await.unwrap();
    let edited = sqlx::query(
        "UPDATE events SET record = replace(record, '数据库测试一', '冒名顶替一') \
         WHERE number = 'SM2026PGAPP01' AND version = 1",
    )
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    let out = app.audit(&[]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FINDING certificate SM2026PGAPP01 version 1 (event 1): record signature does not verify"),
        "{text}"
    );
    assert!(text.contains("FINDING leaf 0 (certificate SM2026PGAPP01 version 1): does not match event 1"), "{text}");
    assert!(!text.contains("SM2026PGAPP02"), "only the edited certificate is named: {text}");
}

#[tokio::test]
async fn the_application_refuses_to_start_on_an_unreachable_server_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.database_url = Some("postgres://starmark:s3cret@127.0.0.1:1/registry".into());
    starmark::crypto::keys::generate(&config.keys_dir).unwrap();
    let error = match starmark::startup::Application::build(&config).await {
        Ok(_) => panic!("started without a database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("cannot open the database at postgres://starmark:***@127.0.0.1:1/registry"), "{error}");
    assert!(error.contains("cannot connect to PostgreSQL at 127.0.0.1:1"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
}

#[tokio::test]
async fn a_change_that_cannot_get_the_write_lock_in_time_is_told_to_retry_and_changes_nothing() {
    let app = spawn_app_on(Backend::Postgres).await;
    app.issue(&issue_body("SM2026PGLOCK1", "写锁测试有限公司", 83)).await;

    // Another session holds the lock every event-writing transaction takes ("STARMARK").
    let mut holder = app.database.as_ref().expect("a PostgreSQL app").connect().await;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(0x5354_4152_4d41_524b_i64).execute(&mut holder).await.unwrap();
    let change = app
        .client
        .post(app.url("/api/v1/certificates/SM2026PGLOCK1/status"))
        .bearer_auth(&app.issuer)
        .json(&json!({"action": "revoke", "reason": "严重违规"}))
        .send();
    let change = tokio::spawn(common::wait::guarded("a change behind the events lock", change));
    // The change waits for the lock: PostgreSQL shows its transaction waiting, until the
    // lock's time limit refuses it.
    let mut observer = app.database.as_ref().expect("a PostgreSQL app").connect().await;
    let started = std::time::Instant::now();
    while lock_waiters(&mut observer).await == 0 {
        assert!(started.elapsed() < common::wait::HANG_GUARD, "the change never waited for the events lock");
        assert!(!change.is_finished(), "the change was answered without waiting for the events lock");
        tokio::time::sleep(common::wait::POLL).await;
    }
    let response = change.await.expect("the change's request").expect("an answer");
    assert_eq!(lock_waiters(&mut observer).await, 0, "refused, it waits no longer");
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    let problem = common::assert_problem(response, 503, "unavailable").await;
    assert!(!problem["detail"].as_str().unwrap().contains("lock"), "no database detail leaks: {problem}");
    assert_eq!(state_of(&app, "SM2026PGLOCK1").await, "valid", "nothing changed");

    // Once the lock is free the same request goes through.
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(0x5354_4152_4d41_524b_i64).execute(&mut holder).await.unwrap();
    let (status, body) = app.status("SM2026PGLOCK1", json!({"action": "revoke", "reason": "严重违规"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state_of(&app, "SM2026PGLOCK1").await, "revoked");
}

/// Transactions of `connection`'s database waiting for an advisory lock another one holds.
async fn lock_waiters(connection: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database \
         WHERE pg_database.datname = current_database() AND pg_locks.locktype = 'advisory' AND NOT pg_locks.granted",
    )
    .fetch_one(connection)
    .await
    .expect("pg_locks")
}
