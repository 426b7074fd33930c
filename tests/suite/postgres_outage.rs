//! PostgreSQL goes away under a running instance (a relay between them is cut, as a restart or a
//! network failure would): answers held in memory are still served, anything that needs the
//! database is a prompt 503 with `Retry-After` rather than a hang, a scan of a cached
//! certificate still gets its verdict and is counted, and once the database is back the
//! instance recovers by itself and every scan made meanwhile reaches it.

use crate::common;

use std::time::{Duration, Instant};

use common::relay::Relay;
use common::{assert_problem, issue_body, spawn_app_with, TestApp, TestDatabase};
use serde_json::{json, Value};
use starmark::domain::CertificateNumber;

/// Longest a request may take to say the database is unavailable: the pool's wait for a
/// connection (3 s) and some slack, well under the request time limit (10 s in tests).
const PROMPT: Duration = Duration::from_secs(6);

/// How long the pool waits for a connection before it gives up.
const POOL_WAIT: Duration = Duration::from_secs(3);

async fn stored_scans(app: &TestApp, number: &str) -> u64 {
    app.registry.scan_summary(&CertificateNumber::parse(number).unwrap(), 5).await.unwrap().0
}

#[tokio::test]
async fn an_instance_rides_out_a_database_outage_and_recovers_by_itself() {
    let database = TestDatabase::create().await;
    let mut relay = Relay::in_front_of(&database.url).await;
    let url = relay.url(&database.url);
    let mut app = spawn_app_with(|config| config.database_url = Some(url)).await;
    app.database = Some(database);
    app.issue(&issue_body("SM2026OUTAGE1", "断库测试有限公司", 91)).await;
    app.issue(&issue_body("SM2026OUTAGE2", "断库测试二有限公司", 92)).await;
    for _ in 0..2 {
        let ordered = app.post("/api/v1/certificates/SM2026OUTAGE1/marks", &app.issuer, &json!({"count": 10})).await;
        assert_eq!(ordered.status(), 201);
    }
    // The answers the writes put are dropped again a moment later (a read in flight before a
    // write must not stay cached); what is read after that stays in memory.
    common::observe::until_scheduled_drops_ran(&app.registry).await;
    assert_eq!(app.get("/api/v1/certificates/SM2026OUTAGE1").await.status(), 200);
    let first = app.mark_path("SM2026OUTAGE1", 1, 1).await;
    let second = app.mark_path("SM2026OUTAGE1", 1, 2).await;
    let fresh_batch = [app.mark_path("SM2026OUTAGE1", 2, 1).await, app.mark_path("SM2026OUTAGE1", 2, 2).await];
    assert_eq!(app.scan(&first).await["scans"]["requests"], 1);
    app.registry.scans().flush().await.unwrap();

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    relay.cut().await;

    // In memory: served (within the staleness bound of the last look at the store).
    let cached = app.get("/api/v1/certificates/SM2026OUTAGE1").await;
    assert_eq!(cached.status(), 200, "a cached answer needs no database");
    // A serial of a batch already seen is counted from memory.
    assert_eq!(app.scan(&second).await["scans"]["requests"], 1);
    // A batch never seen needs the database for its earlier scans: the verdict without a count,
    // and only the first such scan waits for the pool.
    let started = Instant::now();
    let answer = app.scan(&fresh_batch[0]).await;
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_eq!((answer["verdict"].as_str(), &answer["scans"]), (Some("valid"), &Value::Null), "{answer}");
    // A second one, within a second of that failure, does not try the store: it cannot have
    // waited for the pool's 3 s.
    let started = Instant::now();
    assert_eq!(app.scan(&fresh_batch[1]).await["scans"], Value::Null);
    assert!(started.elapsed() < POOL_WAIT, "a second scan waited {:?} for the pool", started.elapsed());

    // What needs the database is a prompt 503 that says when to come back, never a hang or 500.
    let started = Instant::now();
    let unknown = app.get("/api/v1/certificates/SM2026NOSUCH1").await;
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_eq!(unknown.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert_problem(unknown, 503, "unavailable").await;
    let started = Instant::now();
    let change = app
        .post("/api/v1/certificates/SM2026OUTAGE2/status", &app.issuer, &json!({"action": "revoke", "reason": "违规"}))
        .await;
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert!(change.headers().contains_key("retry-after"));
    assert_problem(change, 503, "unavailable").await;

    // Not ready while the database is away (once its one question a second to the store is
    // asked after the cut), and it says which part is missing.
    common::wait::until_true("not ready while the database is away", || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!((ready["ready"].as_bool(), ready["store"].as_str()), (Some(false), Some("unavailable")), "{ready}");

    // Back: the instance reconnects by itself; the scans made meanwhile reach the database.
    relay.restore().await;
    common::wait::until_true("recovery after the database came back", || async {
        app.get("/api/v1/certificates/SM2026NOSUCH1").await.status() == 404
    })
    .await;
    common::wait::until_true("the outage's scans reaching the database", || async {
        stored_scans(&app, "SM2026OUTAGE1").await >= 4
    })
    .await;
    assert_eq!(stored_scans(&app, "SM2026OUTAGE1").await, 4, "every scan stored once");
    assert_eq!(app.scan(&fresh_batch[0]).await["scans"]["requests"], 2, "the whole count again");
    let (status, body) = app.status("SM2026OUTAGE2", json!({"action": "revoke", "reason": "违规"})).await;
    assert_eq!(status, 200, "{body}");
    // Ready again once its one question a second to the store is answered.
    common::wait::until_true("ready again after the database came back", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
}
