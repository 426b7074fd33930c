//! The problem types no ordinary request meets: a change that keeps losing its race
//! (`concurrent-change`) and a server fault (`internal`), each made to happen for real.

use crate::common;

use common::{assert_problem, issue_body, spawn_app};
use serde_json::{json, Value};

async fn events_of(app: &common::TestApp, number: &str) -> usize {
    let history: Value =
        app.get(&format!("/api/v1/certificates/{number}/history")).await.json().await.expect("history");
    history["events"].as_array().expect("events").len()
}

#[tokio::test]
async fn a_change_that_keeps_losing_its_race_is_a_409_concurrent_change_and_changes_nothing() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RACE0901", "竞争变更有限公司", 92)).await;
    // As the store sees it another writer always gets there first: every update of the row is
    // skipped (SQLite's RAISE(IGNORE)), so each attempt finds that the version it read is no
    // longer the one it could write over. The row and its signed record stay as they are, so
    // reads still confirm them against the log.
    let mut db = app.raw_db().await;
    let trigger = "CREATE TRIGGER always_overtaken BEFORE UPDATE ON certificates \
                   WHEN OLD.number = 'SM2026RACE0901' BEGIN SELECT RAISE(IGNORE); END";
    db.execute(trigger).await.expect("trigger");

    let revoke = json!({"action": "revoke", "reason": "并发测试"});
    let response = app.post("/api/v1/certificates/SM2026RACE0901/status", &app.issuer, &revoke).await;
    let problem = assert_problem(response, 409, "concurrent-change").await;
    assert!(problem["detail"].as_str().unwrap_or("").contains("SM2026RACE0901"), "{problem}");
    let current: Value = app.get("/api/v1/certificates/SM2026RACE0901").await.json().await.expect("certificate");
    assert_eq!(current["status"]["state"], "valid", "nothing changed");
    assert_eq!(events_of(&app, "SM2026RACE0901").await, 1, "no event was written");
}

#[tokio::test]
async fn a_server_fault_is_a_500_internal_that_names_no_cause() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026FAULT901", "服务故障有限公司", 93)).await;
    // A store that answers, but not as the schema says: a fault, not an outage to wait out.
    let mut db = app.raw_db().await;
    db.execute("ALTER TABLE events RENAME TO events_elsewhere").await.expect("rename");
    let revoke = json!({"action": "revoke", "reason": "故障测试"});
    let response = app.post("/api/v1/certificates/SM2026FAULT901/status", &app.issuer, &revoke).await;
    assert!(response.headers().get("retry-after").is_none(), "no promise that a retry soon helps");
    let problem = assert_problem(response, 500, "internal").await;
    assert_eq!(problem["detail"], "the server failed; the fault is logged");
    let said = problem.to_string();
    assert!(!said.contains("events") && !said.contains("table"), "the cause is not sent: {said}");

    db.execute("ALTER TABLE events_elsewhere RENAME TO events").await.expect("rename back");
    let current: Value = app.get("/api/v1/certificates/SM2026FAULT901").await.json().await.expect("certificate");
    assert_eq!(current["status"]["state"], "valid", "nothing changed");
    assert_eq!(events_of(&app, "SM2026FAULT901").await, 1, "no event was written");
}
