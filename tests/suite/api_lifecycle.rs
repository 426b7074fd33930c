//! The certificate lifecycle over HTTP: every legal transition, every illegal one with the
//! current state named, renewal, surveillance, derived expiry, and the history of it all.

use crate::common;

use chrono::{Days, NaiveDate};
use common::{assert_problem, issue_body, spawn_app, TestApp};
use serde_json::{json, Value};
use starmark::registry::clock;

fn in_days(days: u64) -> String {
    (clock::today() + Days::new(days)).to_string()
}

fn suspend() -> Value {
    json!({"action": "suspend", "reason": "监督审核不合格", "until": in_days(60)})
}

fn action(name: &str) -> Value {
    json!({"action": name, "reason": "test reason"})
}

/// Issues a certificate and drives it into `state`.
async fn certificate_in(app: &TestApp, number: &str, state: &str) -> Value {
    let mut body = issue_body(number, "生命周期测试有限公司", 7);
    if state == "expired" {
        body["issued"] = json!("2020-01-01");
    }
    let issued = app.issue(&body).await;
    let steps: &[Value] = match state {
        "valid" | "expired" => &[],
        "suspended" => &[suspend()],
        "revoked" => &[action("revoke")],
        "withdrawn" => &[action("withdraw")],
        other => panic!("no recipe for {other}"),
    };
    let mut last = issued;
    for step in steps {
        let (status, body) = app.status(number, step.clone()).await;
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    assert_eq!(last["status"]["state"], state);
    last
}

#[tokio::test]
async fn suspend_reinstate_revoke_walk() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026LIFE0001", "生命周期测试有限公司", 7)).await;

    let (status, suspended) = app.status("SM2026LIFE0001", suspend()).await;
    assert_eq!(status, 200, "{suspended}");
    assert_eq!(suspended["status"]["state"], "suspended");
    assert_eq!(suspended["status"]["reason"], "监督审核不合格");
    assert_eq!(suspended["status"]["until"], in_days(60));
    assert_eq!(suspended["version"], 2);
    app.verify_answer(&suspended).await.expect("each version is signed");

    let (status, reinstated) = app.status("SM2026LIFE0001", json!({"action": "reinstate"})).await;
    assert_eq!(status, 200, "{reinstated}");
    assert_eq!(reinstated["status"]["state"], "valid");
    assert!(reinstated["status"].get("until").is_none());

    let (status, revoked) = app.status("SM2026LIFE0001", action("revoke")).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"]["state"], "revoked");
    assert_eq!(revoked["version"], 4);

    let read: Value = app.get("/api/v1/certificates/SM2026LIFE0001").await.json().await.unwrap();
    assert_eq!(common::without_assertion(read), revoked);

    let history: Value = app.get("/api/v1/certificates/SM2026LIFE0001/history").await.json().await.unwrap();
    let kinds: Vec<&str> = history["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["issued", "suspended", "reinstated", "revoked"]);
    let versions: Vec<u64> =
        history["events"].as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    for event in history["events"].as_array().unwrap() {
        app.verify_answer(event).await.expect("every historic version verifies");
        assert!(event.get("actor").is_none(), "staff token ids are not public");
    }
    assert_eq!(history["events"][1]["details"]["reason"], "监督审核不合格");
}

#[tokio::test]
async fn every_action_from_every_state() {
    let app = spawn_app().await;
    // (state, action, expected outcome: Some(new state) or None for 409)
    let table: &[(&str, &str, Option<&str>)] = &[
        ("valid", "suspend", Some("suspended")),
        ("valid", "reinstate", None),
        ("valid", "revoke", Some("revoked")),
        ("valid", "withdraw", Some("withdrawn")),
        ("suspended", "suspend", None),
        ("suspended", "reinstate", Some("valid")),
        ("suspended", "revoke", Some("revoked")),
        ("suspended", "withdraw", Some("withdrawn")),
        ("revoked", "suspend", None),
        ("revoked", "reinstate", None),
        ("revoked", "revoke", None),
        ("revoked", "withdraw", None),
        ("withdrawn", "suspend", None),
        ("withdrawn", "reinstate", None),
        ("withdrawn", "revoke", None),
        ("withdrawn", "withdraw", None),
        ("expired", "suspend", None),
        ("expired", "reinstate", None),
        ("expired", "revoke", None),
        ("expired", "withdraw", None),
    ];
    for (i, (state, act, outcome)) in table.iter().enumerate() {
        let number = format!("SM2026MATRIX{i:03}");
        let before = certificate_in(&app, &number, state).await;
        let body = if *act == "suspend" { suspend() } else { action(act) };
        let response = app.post(&format!("/api/v1/certificates/{number}/status"), &app.issuer, &body).await;
        match outcome {
            Some(next) => {
                assert_eq!(response.status(), 200, "{state} --{act}-->");
                let after: Value = response.json().await.unwrap();
                assert_eq!(after["status"]["state"], *next, "{state} --{act}-->");
            }
            None => {
                let problem = assert_problem(response, 409, "illegal-transition").await;
                assert_eq!(problem["current_state"], *state, "{problem}");
                assert_eq!(problem["action"], *act);
                assert!(problem["detail"].as_str().unwrap().contains(state), "{problem}");
                let after: Value = app.get(&format!("/api/v1/certificates/{number}")).await.json().await.unwrap();
                assert_eq!(
                    common::without_assertion(after),
                    common::without_assertion(before),
                    "a refused action changes nothing"
                );
            }
        }
    }
}

#[tokio::test]
async fn expiry_is_derived_from_the_dates() {
    let app = spawn_app().await;
    let expired = certificate_in(&app, "SM2020OLD00001", "expired").await;
    assert_eq!(expired["valid_until"], "2022-12-31");
    assert_eq!(expired["status"]["since"], "2023-01-01");
    assert_eq!(expired["record"]["status"]["state"], "valid", "the signed record keeps what was decided");
    let page: Value = app.get("/api/v1/certificates?state=expired").await.json().await.unwrap();
    assert_eq!(page["items"][0]["number"], "SM2020OLD00001");
    let page: Value = app.get("/api/v1/certificates?state=valid").await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_status_requests_are_explained() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026BADST001", "状态测试有限公司", 8)).await;
    let path = "/api/v1/certificates/SM2026BADST001/status";

    let too_long = json!({"action": "suspend", "reason": "x", "until": in_days(200)});
    let problem = assert_problem(app.post(path, &app.issuer, &too_long).await, 422, "invalid-transition").await;
    assert!(problem["detail"].as_str().unwrap().contains("6 months"), "{problem}");

    let past = json!({"action": "suspend", "reason": "x", "until": "2020-01-01"});
    assert_problem(app.post(path, &app.issuer, &past).await, 422, "invalid-transition").await;

    let no_end = json!({"action": "suspend", "reason": "x"});
    let problem = assert_problem(app.post(path, &app.issuer, &no_end).await, 422, "invalid-field").await;
    assert_eq!(problem["field"], "until");

    let no_reason = json!({"action": "revoke"});
    let problem = assert_problem(app.post(path, &app.issuer, &no_reason).await, 422, "invalid-transition").await;
    assert!(problem["detail"].as_str().unwrap().contains("reason"), "{problem}");

    let unknown = json!({"action": "delete", "reason": "x"});
    let problem = assert_problem(app.post(path, &app.issuer, &unknown).await, 422, "invalid-field").await;
    assert_eq!(problem["field"], "action");

    let bad_date = json!({"action": "suspend", "reason": "x", "until": "next week"});
    assert_problem(app.post(path, &app.issuer, &bad_date).await, 422, "invalid-body").await;

    let missing = app.post("/api/v1/certificates/SM2026NOPE0001/status", &app.issuer, &action("revoke")).await;
    assert_problem(missing, 404, "not-found").await;

    let reader = app.post(path, &app.reader, &action("revoke")).await;
    assert_problem(reader, 403, "forbidden").await;
    let anonymous = app.client.post(app.url(path)).json(&action("revoke")).send().await.unwrap();
    assert_problem(anonymous, 401, "unauthorized").await;

    let read: Value = app.get("/api/v1/certificates/SM2026BADST001").await.json().await.unwrap();
    assert_eq!(read["status"]["state"], "valid");
    assert_eq!(read["version"], 1, "no refused request left a trace");
}

#[tokio::test]
async fn renewal_and_surveillance() {
    let app = spawn_app().await;
    let mut body = issue_body("SM2024RENEW001", "续证测试有限公司", 9);
    body["issued"] = json!("2024-03-01");
    body["evaluation"] = json!({"system": 32, "commodity": 28, "customer": 20});
    let issued = app.issue(&body).await;
    assert_eq!(issued["level"], "three_star");

    let audit = json!({"date": clock::today().to_string(), "outcome": "passed", "note": "年度监督审核"});
    let response = app.post("/api/v1/certificates/SM2024RENEW001/surveillance", &app.issuer, &audit).await;
    assert_eq!(response.status(), 200);
    let audited: Value = response.json().await.unwrap();
    assert_eq!(audited["surveillance"][0]["outcome"], "passed");
    assert_eq!(audited["record"]["surveillance"][0]["note"], "年度监督审核");

    let future_audit = json!({"date": in_days(3), "outcome": "passed"});
    let response = app.post("/api/v1/certificates/SM2024RENEW001/surveillance", &app.issuer, &future_audit).await;
    assert_problem(response, 422, "invalid-field").await;
    let bad_outcome = json!({"date": "2025-03-01", "outcome": "great"});
    let response = app.post("/api/v1/certificates/SM2024RENEW001/surveillance", &app.issuer, &bad_outcome).await;
    assert_problem(response, 422, "invalid-body").await;

    let renew = json!({"evaluation": {"system": 38, "commodity": 33, "customer": 24}});
    // Midnight in China may pass during the request: the renewal is dated one of the two days.
    let today_before = clock::today();
    let response = app.post("/api/v1/certificates/SM2024RENEW001/renew", &app.issuer, &renew).await;
    assert_eq!(response.status(), 200);
    let renewed: Value = response.json().await.unwrap();
    let issued_on = [today_before.to_string(), clock::today().to_string()];
    assert_eq!(renewed["level"], "five_star");
    assert!(issued_on.iter().any(|day| renewed["issued"] == day.as_str()), "{renewed} issued on one of {issued_on:?}");
    assert_eq!(renewed["first_issued"], "2024-03-01");
    let until = NaiveDate::parse_from_str(renewed["valid_until"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert!(until > clock::today() + Days::new(3 * 365 - 3));
    assert_eq!(renewed["surveillance"].as_array().unwrap().len(), 1, "surveillance history is kept");
    app.verify_answer(&renewed).await.unwrap();

    let failing = json!({"evaluation": {"system": 20, "commodity": 20, "customer": 20}});
    let response = app.post("/api/v1/certificates/SM2024RENEW001/renew", &app.issuer, &failing).await;
    assert_problem(response, 422, "evaluation-failed").await;

    app.set_status("SM2024RENEW001", action("revoke")).await;
    let response = app.post("/api/v1/certificates/SM2024RENEW001/renew", &app.issuer, &renew).await;
    let problem = assert_problem(response, 409, "illegal-transition").await;
    assert_eq!(problem["current_state"], "revoked");
    let response = app.post("/api/v1/certificates/SM2024RENEW001/surveillance", &app.issuer, &audit).await;
    assert_problem(response, 409, "illegal-transition").await;

    let history: Value = app.get("/api/v1/certificates/SM2024RENEW001/history").await.json().await.unwrap();
    let kinds: Vec<&str> = history["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["issued", "surveillance", "renewed", "revoked"]);
}

#[tokio::test]
async fn concurrent_changes_are_serialised_without_loss() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RACE0001", "并发测试有限公司", 11)).await;
    // Twenty surveillance audits at once: each must become its own version, none lost.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = app.url("/api/v1/certificates/SM2026RACE0001/surveillance");
        let token = app.issuer.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"date": clock::today().to_string(), "outcome": "passed", "note": format!("audit {i}")});
            let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => ok += 1,
            // Losing the race three times is said as such, never as another fault.
            409 => assert_eq!(body["type"], "urn:starmark:problem:concurrent-change", "{body}"),
            _ => panic!("unexpected {status}: {body}"),
        }
    }
    let read: Value = app.get("/api/v1/certificates/SM2026RACE0001").await.json().await.unwrap();
    assert_eq!(read["surveillance"].as_array().unwrap().len(), ok);
    assert_eq!(read["version"].as_u64().unwrap() as usize, ok + 1);
    let history: Value = app.get("/api/v1/certificates/SM2026RACE0001/history").await.json().await.unwrap();
    assert_eq!(history["events"].as_array().unwrap().len(), ok + 1);
    assert!(ok >= 1, "every one of twenty audits lost the race");
    // Writes racing each other are not tampering: nothing was refused as unconfirmed.
    assert_eq!(app.registry.tampering().detected, 0, "concurrent writes raised a tampering alarm");
}

#[tokio::test]
async fn a_change_behind_another_process_holding_the_write_lock_is_told_to_retry() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026LOCKED1", "写锁等待有限公司", 8)).await;
    // Another process (say, `starmark import`) holds the embedded database's write lock.
    let mut holder = app.raw_db().await;
    holder.execute("BEGIN IMMEDIATE").await.unwrap();

    let started = std::time::Instant::now();
    let revoke = action("revoke");
    let change = app.post("/api/v1/certificates/SM2026LOCKED1/status", &app.issuer, &revoke);
    let response = common::wait::guarded("a change behind the write lock", change).await;
    let waited = started.elapsed();
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert_problem(response, 503, "unavailable").await;
    // The only evidence that it waited for the lock at all: SQLite's busy wait shows nowhere else.
    assert!(waited >= std::time::Duration::from_secs(7), "refused after {waited:?}, before the wait's bound");
    let current: Value = app.get("/api/v1/certificates/SM2026LOCKED1").await.json().await.unwrap();
    assert_eq!(current["status"]["state"], "valid", "nothing changed, and reads go on meanwhile");

    holder.execute("ROLLBACK").await.unwrap();
    let (status, body) = app.status("SM2026LOCKED1", action("revoke")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_request_past_its_time_limit_is_a_503_that_says_when_to_retry() {
    let app = common::spawn_app_with(|config| config.request_timeout = std::time::Duration::from_millis(500)).await;
    app.issue(&issue_body("SM2026SLOW001", "超时测试有限公司", 9)).await;
    let mut holder = app.raw_db().await;
    holder.execute("BEGIN IMMEDIATE").await.unwrap();

    let revoke = action("revoke");
    let change = app.post("/api/v1/certificates/SM2026SLOW001/status", &app.issuer, &revoke);
    let response = common::wait::guarded("a change past its time limit", change).await;
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    // `timeout`, not the `unavailable` of the store's 8 s lock wait: the time limit cut it off.
    assert_problem(response, 503, "timeout").await;
    holder.execute("ROLLBACK").await.unwrap();
}
