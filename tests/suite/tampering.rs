//! A tampered database row is never served or signed as valid (issue 26, section 3).
//!
//! Each test plays an insider with the database in hand: drop the protecting triggers, then
//! edit the current state, put back an older signed version, delete an event or rewrite a leaf.
//! The server must then refuse the certificate's status everywhere (API, pages, scan, bulk
//! verify, receipts, search) with `status-unconfirmed`, sign nothing for it, and show the
//! tampering in `/readyz` and `/metrics`; an honest registry must never raise the alarm.

use crate::common;

use chrono::Days;
use common::{assert_problem, issue_body, metric, spawn_app_on, Backend, TestApp};
use serde_json::{json, Value};
use starmark::domain::CertificateNumber;
use starmark::registry::clock;

/// Revoked, then tampered with.
const TAMPERED: &str = "SM2026TAMP0001";
/// Never touched: must keep answering valid beside it.
const HONEST: &str = "SM2026TAMP0002";

/// A revoked certificate (with the mark token of its valid days) beside an honest valid one.
async fn revoked_beside_valid(backend: Backend) -> (TestApp, String) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body(TAMPERED, "篡改测试一有限公司", 1)).await;
    app.issue(&issue_body(HONEST, "篡改测试二有限公司", 2)).await;
    let record = app.registry.get(&CertificateNumber::parse(TAMPERED).unwrap()).await.unwrap().record;
    let token = app.registry.mark_token(&record, 0, 0).unwrap();
    let (status, _) = app.status(TAMPERED, json!({"action": "revoke", "reason": "虚假宣传"})).await;
    assert_eq!(status, 200);
    (app, token)
}

/// Puts the current-state row of `TAMPERED` back to its first, valid, signed version.
async fn put_back_version_one(app: &TestApp) {
    let mut db = app.raw_db().await;
    db.drop_trigger("certificates", "certificates_update_needs_event").await;
    let changed = db
        .execute(&format!(
            "UPDATE certificates SET \
             record = (SELECT record FROM events WHERE number = '{TAMPERED}' AND version = 1), \
             signature = (SELECT signature FROM events WHERE number = '{TAMPERED}' AND version = 1), \
             version = 1, state = 'valid' WHERE number = '{TAMPERED}'"
        ))
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

async fn get_at(app: &TestApp, base: &str, path: &str) -> reqwest::Response {
    app.client.get(format!("{base}{path}")).send().await.unwrap()
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).json(&body).send().await.unwrap()
}

/// The public answer of a fresh instance (nothing cached) refuses the status.
async fn fresh_instance_refuses(app: &TestApp, peer: &str) {
    let response = get_at(app, peer, &format!("/api/v1/certificates/{TAMPERED}")).await;
    let problem = assert_problem(response, 503, "status-unconfirmed").await;
    assert_eq!(problem["number"], TAMPERED);
    assert!(problem.get("status_assertion").is_none(), "{problem}");
    let honest: Value = get_at(app, peer, &format!("/api/v1/certificates/{HONEST}")).await.json().await.unwrap();
    assert_eq!(honest["status"]["state"], "valid", "no false alarm beside it: {honest}");
}

/// The certificate page says the status cannot be confirmed and shows no state badge.
async fn page_refuses(app: &TestApp) {
    let response = app.get(&format!("/certificates/{TAMPERED}?lang=en")).await;
    assert_eq!(response.status(), 503);
    let html = response.text().await.unwrap();
    assert!(html.contains("cannot be confirmed"), "{html}");
    assert!(!html.contains("state-valid"), "{html}");
}

/// Bulk verify, receipts and search refuse rather than list the certificate.
async fn lists_refuse(app: &TestApp) {
    let bulk = post_json(app, "/api/v1/verify/bulk", json!({"queries": [TAMPERED]})).await;
    assert_problem(bulk, 503, "status-unconfirmed").await;
    let receipt = post_json(app, "/api/v1/receipts", json!({"queries": [TAMPERED]})).await;
    assert_problem(receipt, 503, "status-unconfirmed").await;
    let search = app.get(&format!("/api/v1/certificates?q={TAMPERED}")).await;
    assert_problem(search, 503, "status-unconfirmed").await;
    let honest = post_json(app, "/api/v1/verify/bulk", json!({"queries": [HONEST]})).await;
    assert_eq!(honest.status(), 200);
}

/// `/readyz` names the certificate and `/metrics` counts the detections.
async fn tampering_is_reported(app: &TestApp) {
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["tampering"]["certificates"], json!([TAMPERED]), "{ready}");
    assert!(ready["tampering"]["detected_total"].as_u64().unwrap() >= 1, "{ready}");
    let metrics = app.client.get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(metric(&text, "starmark_tamper_detected_total") >= 1.0, "{text}");
    assert_eq!(metric(&text, "starmark_certificates_unconfirmed"), 1.0, "{text}");
}

on_each_backend!(
    a_state_edited_behind_the_records_back_is_never_valid,
    an_older_signed_version_put_back_is_never_valid,
    a_deleted_event_is_never_valid_and_its_tile_is_a_clear_error,
    a_rewritten_leaf_is_never_valid_and_a_restart_is_refused,
    an_honest_registry_raises_no_alarm,
);

async fn a_state_edited_behind_the_records_back_is_never_valid(backend: Backend) {
    let (app, token) = revoked_beside_valid(backend).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("certificates", "certificates_update_needs_event").await;
    let changed = db
        .execute(&format!(
            "UPDATE certificates SET state = 'valid', \
             record = replace(record, '\"state\":\"revoked\"', '\"state\":\"valid\"') WHERE number = '{TAMPERED}'"
        ))
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let edited = db
        .integer(&format!(
            "SELECT COUNT(*) FROM certificates WHERE number = '{TAMPERED}' AND record LIKE '%\"state\":\"valid\"%'"
        ))
        .await;
    assert_eq!(edited, 1, "the record itself now says valid");

    let peer = app.spawn_peer().await;
    fresh_instance_refuses(&app, &peer).await;
    let scan = app.client.get(format!("{peer}/v/{token}")).header("accept", "application/json").send().await.unwrap();
    assert_problem(scan, 503, "status-unconfirmed").await;
    let page = app.client.get(format!("{peer}/v/{token}?lang=en")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("cannot be confirmed"), "{html}");
    assert!(!html.contains("verdict-valid") && !html.contains("state-valid"), "{html}");
    page_refuses(&app).await;
    lists_refuse(&app).await;
    tampering_is_reported(&app).await;
}

async fn an_older_signed_version_put_back_is_never_valid(backend: Backend) {
    let (app, token) = revoked_beside_valid(backend).await;
    put_back_version_one(&app).await;

    let peer = app.spawn_peer().await;
    fresh_instance_refuses(&app, &peer).await;
    let scan = app.client.get(format!("{peer}/v/{token}")).header("accept", "application/json").send().await.unwrap();
    assert_problem(scan, 503, "status-unconfirmed").await;
    // No successor is signed on top of the put-back record either.
    let (status, problem) = app.status(TAMPERED, json!({"action": "withdraw", "reason": "持有人申请"})).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "urn:starmark:problem:status-unconfirmed", "{problem}");
    page_refuses(&app).await;
    lists_refuse(&app).await;
    tampering_is_reported(&app).await;
}

async fn a_deleted_event_is_never_valid_and_its_tile_is_a_clear_error(backend: Backend) {
    let (app, _) = revoked_beside_valid(backend).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("events", "events_no_delete").await;
    // The revocation (leaf 2) vanishes, and the row is put back to the version before it.
    let deleted = db.execute(&format!("DELETE FROM events WHERE number = '{TAMPERED}' AND version = 2")).await.unwrap();
    assert_eq!(deleted, 1);
    put_back_version_one(&app).await;

    let peer = app.spawn_peer().await;
    fresh_instance_refuses(&app, &peer).await;
    page_refuses(&app).await;
    lists_refuse(&app).await;
    let tile = app.get("/api/v1/log/tile/entries/000.p/3").await;
    let problem = assert_problem(tile, 503, "log-damaged").await;
    assert!(problem["detail"].as_str().unwrap().contains("transparency log"), "{problem}");
    tampering_is_reported(&app).await;
}

async fn a_rewritten_leaf_is_never_valid_and_a_restart_is_refused(backend: Backend) {
    let (app, _) = revoked_beside_valid(backend).await;
    // An instance that loaded the log before the edit keeps the true tree in memory.
    let peer = app.spawn_peer().await;
    let mut db = app.raw_db().await;
    db.drop_trigger("tlog_leaves", "tlog_leaves_no_update").await;
    let zero = db.zero_hash();
    let rewritten = db
        .execute(&format!("UPDATE tlog_leaves SET hash = {zero} WHERE number = '{TAMPERED}' AND version = 2"))
        .await
        .unwrap();
    assert_eq!(rewritten, 1);
    put_back_version_one(&app).await;

    fresh_instance_refuses(&app, &peer).await;
    page_refuses(&app).await;
    let restarted = match starmark::startup::open_registry(&app.config).await {
        Ok(_) => panic!("a log that contradicts its signed checkpoint must not be served"),
        Err(e) => format!("{e:#}"),
    };
    assert!(restarted.contains("do not match its signed checkpoint"), "{restarted}");
    assert!(restarted.contains("starmark audit"), "{restarted}");
    tampering_is_reported(&app).await;
}

async fn an_honest_registry_raises_no_alarm(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body(HONEST, "诚实测试有限公司", 3)).await;
    let until = (clock::today() + Days::new(30)).to_string();
    let (status, _) = app.status(HONEST, json!({"action": "suspend", "reason": "整改", "until": until})).await;
    assert_eq!(status, 200);
    let (status, _) = app.status(HONEST, json!({"action": "reinstate", "reason": "整改完成"})).await;
    assert_eq!(status, 200);
    let renew = json!({"evaluation": {"system": 38, "commodity": 33, "customer": 24}});
    let response = app.post(&format!("/api/v1/certificates/{HONEST}/renew"), &app.issuer, &renew).await;
    assert_eq!(response.status(), 200);
    let record = app.registry.get(&CertificateNumber::parse(HONEST).unwrap()).await.unwrap().record;
    let token = app.registry.mark_token(&record, 0, 0).unwrap();

    // The instance that wrote, and a restarted one that rebuilt everything from the store.
    let peer = app.spawn_peer().await;
    for base in [app.base.as_str(), peer.as_str()] {
        let answer: Value = get_at(&app, base, &format!("/api/v1/certificates/{HONEST}")).await.json().await.unwrap();
        assert_eq!(answer["status"]["state"], "valid", "{answer}");
        assert_eq!(answer["version"], 4, "{answer}");
        assert!(answer["status_assertion"].is_object(), "{answer}");
        let scan: Value = app
            .client
            .get(format!("{base}/v/{token}"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(scan["verdict"], "valid", "{scan}");
        let page = get_at(&app, base, &format!("/certificates/{HONEST}")).await;
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("state-valid"));
        let ready: Value = get_at(&app, base, "/readyz").await.json().await.unwrap();
        assert_eq!(ready["tampering"]["detected_total"], 0, "{ready}");
    }
    let bulk: Value = post_json(&app, "/api/v1/verify/bulk", json!({"queries": [HONEST]})).await.json().await.unwrap();
    assert!(bulk.to_string().contains("\"valid\""), "{bulk}");
    let search = app.get(&format!("/api/v1/certificates?q={HONEST}")).await;
    assert_eq!(search.status(), 200);
    let receipt = post_json(&app, "/api/v1/receipts", json!({"queries": [HONEST]})).await;
    assert_eq!(receipt.status(), 201);
    let metrics = app.client.get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    assert_eq!(metric(&metrics.text().await.unwrap(), "starmark_tamper_detected_total"), 0.0);

    // The check runs where answers are prepared, never on a cache hit: hits prepare nothing.
    let prepared = |app: &TestApp| {
        let request = app.client.get(app.url("/metrics")).bearer_auth(&app.reader).send();
        async move { metric(&request.await.unwrap().text().await.unwrap(), "starmark_answers_prepared_total") }
    };
    // The drops the cache schedules a moment after each write have run, so the answer read
    // next stays cached; the store watch may still drop it, and on a machine too busy for the
    // watch to look within the staleness bound an answer is prepared again. Neither comes near
    // one preparation a hit.
    common::observe::until_scheduled_drops_ran(&app.registry).await;
    let before = prepared(&app).await;
    for _ in 0..20 {
        assert_eq!(app.get(&format!("/api/v1/certificates/{HONEST}")).await.status(), 200);
    }
    let after = prepared(&app).await;
    assert!(after - before < 10.0, "cached answers are served without a check: {before} -> {after} over 20 hits");
}
