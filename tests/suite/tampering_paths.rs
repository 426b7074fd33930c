//! Every path that serves or signs a certificate's state ties it to the log first (issue 26,
//! section 3): pages, search (API and page), bulk verify (API, CSV and page), receipts (issuing
//! and re-checking one issued before), not only the API answer. Each tampering leaves a row
//! whose version is still the log's latest, the kind the cheaper version-only check let pass;
//! a fresh instance (nothing vouched for yet) must refuse the certificate everywhere.
//!
//! Also here: an edit of a row's search columns alone (section 3, "state column"), and
//! refusals that are remembered, counted and logged once rather than redone per request.

use crate::common;

use common::{assert_problem, issue_body, metric, spawn_app_on, uscc, Backend, TestApp};
use serde_json::{json, Value};

/// Revoked, then tampered with.
const TAMPERED: &str = "SM2026TPTH0001";
/// Never touched (unless a test says so): must keep answering valid beside it.
const HONEST: &str = "SM2026TPTH0002";
/// Holder numbers (for [`uscc`]) of the two.
const TAMPERED_HOLDER: u32 = 61;
const HONEST_HOLDER: u32 = 62;

/// A revoked certificate beside an honest valid one, and a receipt naming both issued before
/// anything was tampered with (its id and document).
async fn revoked_beside_valid(backend: Backend) -> (TestApp, String, Value) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body(TAMPERED, "路径篡改一有限公司", TAMPERED_HOLDER)).await;
    app.issue(&issue_body(HONEST, "路径篡改二有限公司", HONEST_HOLDER)).await;
    let (status, _) = app.status(TAMPERED, json!({"action": "revoke", "reason": "虚假宣传"})).await;
    assert_eq!(status, 200);
    let response = app.client.post(app.url("/api/v1/receipts")).json(&json!({"queries": [TAMPERED, HONEST]}));
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 201);
    let issued: Value = response.json().await.unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    let document = app.get(&format!("/api/v1/receipts/{id}")).await.json().await.unwrap();
    (app, id, document)
}

/// Runs statements as an insider, after taking the protecting triggers away.
async fn tamper(app: &TestApp, statements: &[String]) {
    let mut db = app.raw_db().await;
    for (table, trigger) in [
        ("certificates", "certificates_update_needs_event"),
        ("events", "events_no_update"),
        ("events", "events_no_delete"),
    ] {
        db.drop_trigger(table, trigger).await;
    }
    for sql in statements {
        let changed = db.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(changed, 1, "{sql}");
    }
}

fn of_version(column: &str, number: &str, version: u32) -> String {
    format!("(SELECT {column} FROM events WHERE number = '{number}' AND version = {version})")
}

/// The tamperings the cheaper check missed, each leaving the row at the log's latest version.
fn tampering(kind: &str) -> Vec<String> {
    match kind {
        // The revocation's event is gone; the row still shows the revoked version.
        "event deleted" => vec![format!("DELETE FROM events WHERE number = '{TAMPERED}' AND version = 2")],
        // The event's text was changed: it no longer hashes to its leaf.
        "event rewritten" => vec![format!(
            "UPDATE events SET details = '{{\"reason\":\"持有人申请\"}}' WHERE number = '{TAMPERED}' AND version = 2"
        )],
        // The event holds another signed version than the one its leaf logged.
        "event swapped" => vec![format!(
            "UPDATE events SET record = {}, signature = {} WHERE number = '{TAMPERED}' AND version = 2",
            of_version("record", TAMPERED, 1),
            of_version("signature", TAMPERED, 1)
        )],
        // The row holds another certificate's (valid, genuinely signed, logged) record.
        "record of another certificate" => vec![format!(
            "UPDATE certificates SET record = {}, signature = {} WHERE number = '{TAMPERED}'",
            of_version("record", HONEST, 1),
            of_version("signature", HONEST, 1)
        )],
        // The row is put back to the first, valid, signed version (caught before too).
        "older signed version" => vec![format!(
            "UPDATE certificates SET record = {}, signature = {}, version = 1, state = 'valid' WHERE number = '{TAMPERED}'",
            of_version("record", TAMPERED, 1),
            of_version("signature", TAMPERED, 1)
        )],
        other => panic!("no tampering named {other}"),
    }
}

async fn get(app: &TestApp, base: &str, path: &str) -> reqwest::Response {
    app.client.get(format!("{base}{path}")).send().await.unwrap()
}

async fn post_json(app: &TestApp, base: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(format!("{base}{path}")).json(&body).send().await.unwrap()
}

/// The bulk form, posted as a browser without JavaScript posts it.
async fn post_bulk_form(app: &TestApp, base: &str, queries: &str, action: &str) -> reqwest::Response {
    let boundary = "----starmark-tamper-boundary";
    let field = |name: &str, value: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let body = format!("{}{}--{boundary}--\r\n", field("queries", queries), field("action", action));
    app.client
        .post(format!("{base}/verify?lang=en"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A page answered 503 saying the status cannot be confirmed, and never showing it valid.
async fn page_unconfirmed(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 503, "{what}");
    let html = response.text().await.unwrap();
    assert!(html.contains("cannot be confirmed"), "{what}: {html}");
    assert!(!html.contains("state-valid") && !html.contains("verdict-valid"), "{what}: {html}");
}

/// Every path of `base` (a fresh instance) refuses `TAMPERED` and still serves `HONEST`.
/// `by_holder`: also by the holder's USCC (not when the row holds another holder's record: the
/// search index, built from records, then knows the row under that other holder only).
async fn every_path_refuses(app: &TestApp, base: &str, receipt_id: &str, receipt: &Value, by_holder: bool) {
    let answer = get(app, base, &format!("/api/v1/certificates/{TAMPERED}")).await;
    assert_problem(answer, 503, "status-unconfirmed").await;
    page_unconfirmed(get(app, base, &format!("/certificates/{TAMPERED}?lang=en")).await, "certificate page").await;

    let search = get(app, base, &format!("/api/v1/certificates?q={TAMPERED}")).await;
    assert_problem(search, 503, "status-unconfirmed").await;
    let holder = uscc(TAMPERED_HOLDER);
    if by_holder {
        let by_holder = get(app, base, &format!("/api/v1/certificates?uscc={holder}")).await;
        assert_problem(by_holder, 503, "status-unconfirmed").await;
    }
    page_unconfirmed(get(app, base, &format!("/search?q={TAMPERED}&lang=en")).await, "search page").await;

    let queries = if by_holder { vec![TAMPERED.to_string(), holder] } else { vec![TAMPERED.to_string()] };
    for query in queries {
        let bulk = post_json(app, base, "/api/v1/verify/bulk", json!({"queries": [query]})).await;
        assert_problem(bulk, 503, "status-unconfirmed").await;
        let csv = post_json(app, base, "/api/v1/verify/bulk?format=csv", json!({"queries": [query]})).await;
        assert_eq!(csv.status(), 503, "bulk CSV for {query}");
        for action in ["check", "csv", "receipt"] {
            let form = post_bulk_form(app, base, &query, action).await;
            assert_eq!(form.status(), 503, "bulk page ({action}) for {query}");
            assert!(!form.text().await.unwrap().contains("state-valid"));
        }
    }

    // Nothing is signed for it, and a receipt issued before is not compared with its row.
    let issue = post_json(app, base, "/api/v1/receipts", json!({"queries": [TAMPERED]})).await;
    assert_problem(issue, 503, "status-unconfirmed").await;
    let single = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let single = single
        .post(format!("{base}/receipts"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("number={TAMPERED}&lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(single.status(), 503, "no receipt from the certificate page's button");
    let check = post_json(app, base, "/api/v1/receipts/verify", receipt.clone()).await;
    assert_problem(check, 503, "status-unconfirmed").await;
    assert_eq!(get(app, base, &format!("/receipts/{receipt_id}?lang=en")).await.status(), 503, "receipt page");

    let honest: Value = get(app, base, &format!("/api/v1/certificates/{HONEST}")).await.json().await.unwrap();
    assert_eq!(honest["status"]["state"], "valid", "no false alarm beside it: {honest}");
    let honest = post_json(app, base, "/api/v1/verify/bulk", json!({"queries": [HONEST]})).await;
    assert_eq!(honest.status(), 200);
}

async fn refused_everywhere(backend: Backend, kind: &str) {
    let (app, receipt_id, receipt) = revoked_beside_valid(backend).await;
    tamper(&app, &tampering(kind)).await;
    let peer = app.spawn_peer().await;
    every_path_refuses(&app, &peer, &receipt_id, &receipt, kind != "record of another certificate").await;
}

on_each_backend!(
    a_deleted_event_is_refused_on_every_path,
    a_rewritten_event_is_refused_on_every_path,
    a_swapped_event_is_refused_on_every_path,
    another_certificates_record_is_refused_on_every_path,
    an_older_signed_version_is_refused_on_every_path,
    a_state_column_edit_never_steers_a_search,
    a_refusal_is_remembered_counted_and_logged_once,
);

async fn a_deleted_event_is_refused_on_every_path(backend: Backend) {
    refused_everywhere(backend, "event deleted").await;
}

async fn a_rewritten_event_is_refused_on_every_path(backend: Backend) {
    refused_everywhere(backend, "event rewritten").await;
}

async fn a_swapped_event_is_refused_on_every_path(backend: Backend) {
    refused_everywhere(backend, "event swapped").await;
}

async fn another_certificates_record_is_refused_on_every_path(backend: Backend) {
    refused_everywhere(backend, "record of another certificate").await;
}

async fn an_older_signed_version_is_refused_on_every_path(backend: Backend) {
    refused_everywhere(backend, "older signed version").await;
}

/// The numbers a search answered, or `None` when it refused with `status-unconfirmed`.
async fn searched(app: &TestApp, base: &str, query: &str) -> Option<Vec<String>> {
    let response = get(app, base, &format!("/api/v1/certificates?{query}")).await;
    if response.status() == 503 {
        assert_problem(response, 503, "status-unconfirmed").await;
        return None;
    }
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.unwrap();
    Some(page["items"].as_array().unwrap().iter().map(|item| item["number"].as_str().unwrap().to_string()).collect())
}

/// An insider sets the revoked certificate's `state` column to `valid` and the valid one's to
/// `revoked`, leaving both signed records alone: with the search index and without it (the
/// store's own filters), the revoked one never appears among valid ones, and the valid one
/// never silently vanishes from them.
async fn a_state_column_edit_never_steers_a_search(backend: Backend) {
    let (app, _, _) = revoked_beside_valid(backend).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("certificates", "certificates_update_needs_event").await;
    for (number, state) in [(TAMPERED, "valid"), (HONEST, "revoked")] {
        let sql = format!("UPDATE certificates SET state = '{state}' WHERE number = '{number}'");
        assert_eq!(db.execute(&sql).await.unwrap(), 1);
    }
    let (indexed, _) = app.spawn_peer_with(|_| {}).await;
    let (unindexed, _) = app.spawn_peer_with(|config| config.search_index_max = 0).await;
    for base in [unindexed.as_str(), indexed.as_str()] {
        for query in ["state=valid", "state=valid&q=路径篡改", "state=revoked", "q=路径篡改"] {
            // Refusing the whole page (503) is fine; a page led by the columns is not.
            let Some(numbers) = searched(&app, base, query).await else { continue };
            let (listed, left_out) = match query {
                "state=revoked" => (TAMPERED, HONEST),
                "q=路径篡改" => continue,
                _ => (HONEST, TAMPERED),
            };
            assert!(!numbers.iter().any(|n| n == left_out), "{base} {query}: {numbers:?}");
            assert!(numbers.iter().any(|n| n == listed), "{base} {query}: vanished silently: {numbers:?}");
        }
        // Read by number, the edited rows are refused, never served from a row that lies.
        for number in [TAMPERED, HONEST] {
            let answer = get(&app, base, &format!("/api/v1/certificates/{number}")).await;
            assert_problem(answer, 503, "status-unconfirmed").await;
            let bulk = post_json(&app, base, "/api/v1/verify/bulk", json!({"queries": [number]})).await;
            assert_problem(bulk, 503, "status-unconfirmed").await;
        }
        let ready: Value = get(&app, base, "/readyz").await.json().await.unwrap();
        assert_eq!(ready["tampering"]["certificates"], json!([TAMPERED, HONEST]), "{ready}");
    }
}

/// A crowd asking for a tampered certificate: each is refused and counted, the error log says
/// it once, and once the row is repaired the certificate is served again without a restart.
async fn a_refusal_is_remembered_counted_and_logged_once(backend: Backend) {
    let (app, _, _) = revoked_beside_valid(backend).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("certificates", "certificates_update_needs_event").await;
    let edit = format!("UPDATE certificates SET state = 'valid' WHERE number = '{TAMPERED}'");
    assert_eq!(db.execute(&edit).await.unwrap(), 1);
    let peer = app.spawn_peer().await;

    const REQUESTS: u64 = 25;
    for _ in 0..REQUESTS {
        let answer = get(&app, &peer, &format!("/api/v1/certificates/{TAMPERED}")).await;
        assert_problem(answer, 503, "status-unconfirmed").await;
    }
    let page = get(&app, &peer, &format!("/certificates/{TAMPERED}?lang=en")).await;
    page_unconfirmed(page, "certificate page").await;
    let ready: Value = get(&app, &peer, "/readyz").await.json().await.unwrap();
    let checked = ready["tampering"]["detected_total"].as_u64().unwrap();
    assert!(checked < REQUESTS, "refusals are remembered, not checked afresh each time: {ready}");
    assert_eq!(ready["tampering"]["refused_total"], REQUESTS + 1, "{ready}");
    let metrics = app.client.get(format!("{peer}/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert_eq!(metric(&text, "starmark_status_refusals_total"), (REQUESTS + 1) as f64, "every refusal counted");
    assert_eq!(metric(&text, "starmark_tamper_logged_total"), 1.0, "one error line, not one a request: {text}");

    // Repaired: the row says again what its record says, and is served at once.
    let repair = format!("UPDATE certificates SET state = 'revoked' WHERE number = '{TAMPERED}'");
    assert_eq!(db.execute(&repair).await.unwrap(), 1);
    let answer = get(&app, &peer, &format!("/api/v1/certificates/{TAMPERED}")).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["status"]["state"], "revoked", "{answer}");
    let ready: Value = get(&app, &peer, "/readyz").await.json().await.unwrap();
    assert_eq!(ready["tampering"]["unconfirmed"], 0, "{ready}");
}
