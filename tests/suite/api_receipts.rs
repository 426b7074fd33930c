//! Signed verification receipts over real HTTP: issue, fetch, check genuine and unchanged,
//! changes after a revocation and a new certificate, tampering, strangers' keys, retired keys,
//! garbage, and the append-only table.

use crate::common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{assert_problem, issue_body, spawn_app, uscc, TestApp};
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use starmark::crypto::{canonical_value_bytes, KeyId};

async fn create(app: &TestApp, queries: Value) -> reqwest::Response {
    app.client.post(app.url("/api/v1/receipts")).json(&json!({ "queries": queries })).send().await.expect("request")
}

async fn check(app: &TestApp, document: &Value) -> Value {
    let response = app.client.post(app.url("/api/v1/receipts/verify")).json(document).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The public key of `key_id` from the served trust list.
async fn trusted_key(app: &TestApp, key_id: &str) -> ed25519_dalek::VerifyingKey {
    let list: Value = app.get("/.well-known/starmark/keys.json").await.json().await.unwrap();
    let entry = list["keys"].as_array().unwrap().iter().find(|k| k["key_id"] == key_id).expect("key listed");
    let raw: [u8; 32] = BASE64.decode(entry["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap()
}

#[tokio::test]
async fn a_receipt_is_signed_stored_and_checks_as_genuine_and_unchanged() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RCPT0001", "回执一号有限公司", 1)).await;
    app.issue(&issue_body("SM2026RCPT0002", "回执二号有限公司", 2)).await;
    let response = create(&app, json!(["SM2026RCPT0001", uscc(2), "SM2026RCPT0099", "bad"])).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let issued: Value = response.json().await.unwrap();
    let id = issued["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(location, format!("/receipts/{id}"));
    assert_eq!(issued["url"], format!("http://starmark.test/receipts/{id}"));

    let document = &issued["document"];
    let receipt = &document["receipt"];
    assert_eq!(receipt["format"], "starmark-receipt-v1");
    assert_eq!(receipt["issuer"]["name"], "测试认证中心 Test Body");
    assert_eq!(receipt["issuer"]["approval_number"], "CNCA-R-2026-042");
    assert_eq!(receipt["registry"], "http://starmark.test");
    assert!(chrono::DateTime::parse_from_rfc3339(receipt["issued_at"].as_str().unwrap()).is_ok());
    let results = receipt["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let outcomes: Vec<&str> = results.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["found", "found", "unknown", "malformed"]);
    assert!(results[3]["error"].is_string());
    let snapshot = &results[0]["certificates"][0];
    assert_eq!(snapshot["number"], "SM2026RCPT0001");
    assert_eq!(snapshot["holder_name"], "回执一号有限公司");
    assert_eq!(snapshot["uscc"], uscc(1));
    assert_eq!(snapshot["level"], "five_star");
    assert_eq!(snapshot["state"], "valid");
    assert_eq!(snapshot["version"], 1);
    // record_sha256 names the exact signed record version the receipt saw.
    let answer: Value = app.get("/api/v1/certificates/SM2026RCPT0001").await.json().await.unwrap();
    let record = canonical_value_bytes(&answer["record"]).unwrap();
    assert_eq!(snapshot["record_sha256"], hex::encode(Sha256::digest(&record)));
    assert_eq!(results[1]["certificates"][0]["number"], "SM2026RCPT0002");

    // Anyone can check the signature: the prefix, then the canonical receipt bytes.
    let signature = &document["signature"];
    assert_eq!(signature["alg"], "Ed25519");
    let key = trusted_key(&app, signature["key_id"].as_str().unwrap()).await;
    let mut message = b"starmark-receipt-v1\n".to_vec();
    message.extend(canonical_value_bytes(receipt).unwrap());
    let value: [u8; 64] = BASE64.decode(signature["value"].as_str().unwrap()).unwrap().try_into().unwrap();
    key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&value)).expect("signature verifies");
    // ... and recompute the id from the document.
    let canonical = canonical_value_bytes(document).unwrap();
    assert_eq!(hex::encode(&Sha256::digest(&canonical)[..16]), id);

    // Stored, byte for byte.
    let fetched = app.get(&format!("/api/v1/receipts/{id}")).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "application/json");
    assert_eq!(fetched.bytes().await.unwrap(), canonical);

    let verdict = check(&app, document).await;
    assert_eq!(verdict["genuine"], true, "{verdict}");
    assert_eq!(verdict["reason"], Value::Null);
    assert_eq!(verdict["key_id"], signature["key_id"]);
    assert_eq!(verdict["key_status"], "active");
    assert_eq!(verdict["issued_at"], receipt["issued_at"]);
    assert!(verdict["checked_at"].is_string());
    assert_eq!(verdict["unchanged"], 3, "two snapshots and one unknown row: {verdict}");
    assert_eq!(verdict["changed"], json!([]));
}

#[tokio::test]
async fn changes_since_the_receipt_are_named_field_by_field() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RCPT0101", "变更有限公司", 11)).await;
    app.issue(&issue_body("SM2026RCPT0102", "不变有限公司", 12)).await;
    let issued: Value = create(&app, json!(["SM2026RCPT0101", "SM2026RCPT0102", "SM2026RCPT0103", uscc(12)]))
        .await
        .json()
        .await
        .unwrap();
    let document = &issued["document"];

    let (status, _) = app.status("SM2026RCPT0101", json!({"action": "revoke", "reason": "虚假宣传"})).await;
    assert_eq!(status, 200);
    app.issue(&issue_body("SM2026RCPT0103", "后来者有限公司", 13)).await;
    let mut second = issue_body("SM2026RCPT0104", "不变有限公司", 12);
    second["holder"]["name_en"] = json!("Unchanged Co.");
    app.issue(&second).await;

    let verdict = check(&app, document).await;
    assert_eq!(verdict["genuine"], true, "{verdict}");
    let changed = verdict["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 3, "{verdict}");
    assert_eq!(changed[0]["row"], 1);
    assert_eq!(changed[0]["query"], "SM2026RCPT0101");
    assert_eq!(changed[0]["number"], "SM2026RCPT0101");
    assert_eq!(
        changed[0]["changes"],
        json!([{"field": "state", "then": "valid", "now": "revoked"}, {"field": "version", "then": 1, "now": 2}])
    );
    // The unknown number exists now.
    assert_eq!(changed[1]["row"], 3);
    assert_eq!(changed[1]["number"], "SM2026RCPT0103");
    assert_eq!(changed[1]["changes"], json!([{"field": "outcome", "then": "unknown", "now": "found"}]));
    // The holder has a new certificate.
    assert_eq!(changed[2]["row"], 4);
    assert_eq!(changed[2]["changes"], json!([{"field": "certificate", "then": null, "now": "SM2026RCPT0104"}]));
    assert_eq!(verdict["unchanged"], 2, "row 2 and row 4's first certificate");
}

#[tokio::test]
async fn altered_receipts_and_strangers_signatures_are_not_genuine() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RCPT0201", "篡改测试有限公司", 21)).await;
    let (status, _) = app.status("SM2026RCPT0201", json!({"action": "revoke", "reason": "r"})).await;
    assert_eq!(status, 200);
    let issued: Value = create(&app, json!(["SM2026RCPT0201"])).await.json().await.unwrap();
    let document = issued["document"].clone();
    assert_eq!(document["receipt"]["results"][0]["certificates"][0]["state"], "revoked");

    // One field edited: the revoked certificate made to read valid.
    let mut tampered = document.clone();
    tampered["receipt"]["results"][0]["certificates"][0]["state"] = json!("valid");
    let verdict = check(&app, &tampered).await;
    assert_eq!(verdict["genuine"], false);
    assert!(verdict["reason"].as_str().unwrap().contains("altered"), "{verdict}");
    assert_eq!(verdict["changed"], json!([]), "no comparison for a receipt that is not genuine");
    let mut later = document.clone();
    later["receipt"]["issued_at"] = json!("2030-01-01T00:00:00Z");
    assert_eq!(check(&app, &later).await["genuine"], false);

    // A well-formed signature by a key the registry never had.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
    let mut message = b"starmark-receipt-v1\n".to_vec();
    message.extend(canonical_value_bytes(&tampered["receipt"]).unwrap());
    let forged = json!({
        "receipt": tampered["receipt"],
        "signature": {
            "alg": "Ed25519",
            "key_id": KeyId::of(&stranger.verifying_key()).to_string(),
            "value": BASE64.encode(stranger.sign(&message).to_bytes()),
        }
    });
    let verdict = check(&app, &forged).await;
    assert_eq!(verdict["genuine"], false);
    assert_eq!(verdict["key_status"], Value::Null);
    assert!(verdict["reason"].as_str().unwrap().contains("not in the trust list"), "{verdict}");

    // A signature value that is not the registry's: zeros, or not 64 bytes at all.
    let mut zeroed = document.clone();
    zeroed["signature"]["value"] = json!(BASE64.encode([0u8; 64]));
    assert_eq!(check(&app, &zeroed).await["genuine"], false);
    let mut bad_value = document.clone();
    bad_value["signature"]["value"] = json!("AAAA");
    assert_eq!(check(&app, &bad_value).await["genuine"], false);

    // The untouched document still checks.
    assert_eq!(check(&app, &document).await["genuine"], true);
}

#[tokio::test]
async fn garbage_is_a_problem_not_a_verdict() {
    let app = spawn_app().await;
    let post = |body: &'static str| {
        app.client.post(app.url("/api/v1/receipts/verify")).header("content-type", "application/json").body(body).send()
    };
    assert_problem(post("not json").await.unwrap(), 400, "malformed-json").await;
    for body in [
        "[1, 2]",
        "{}",
        "{\"receipt\": 1, \"signature\": {}}",
        "{\"receipt\": {\"format\": \"other\"}, \"signature\": {}}",
        "{\"receipt\": {\"format\": \"starmark-receipt-v1\"}}",
    ] {
        let problem = assert_problem(post(body).await.unwrap(), 422, "invalid-body").await;
        assert!(problem["detail"].as_str().unwrap().contains("not a Starmark receipt"), "{problem}");
    }
    let text = app.client.post(app.url("/api/v1/receipts/verify")).body("{}").send().await.unwrap();
    assert_problem(text, 415, "unsupported-media-type").await;

    assert_problem(app.get("/api/v1/receipts/not-an-id").await, 400, "invalid-parameter").await;
    assert_problem(app.get("/api/v1/receipts/0123456789ABCDEF0123456789ABCDEF").await, 400, "invalid-parameter").await;
    assert_problem(app.get(&format!("/api/v1/receipts/{}", "0".repeat(32))).await, 404, "not-found").await;
    assert_problem(create(&app, json!([])).await, 422, "invalid-field").await;
}

#[tokio::test]
async fn bulk_checks_can_ask_for_a_receipt() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RCPT0301", "批量回执有限公司", 31)).await;
    let answer: Value = app
        .client
        .post(app.url("/api/v1/verify/bulk"))
        .json(&json!({"queries": ["SM2026RCPT0301", "SM2026RCPT0399"], "receipt": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let receipt = &answer["receipt"];
    let id = receipt["id"].as_str().unwrap();
    assert_eq!(receipt["url"], format!("http://starmark.test/receipts/{id}"));
    assert_eq!(receipt["document"]["receipt"]["issued_at"], answer["checked_at"]);
    let stored: Value = app.get(&format!("/api/v1/receipts/{id}")).await.json().await.unwrap();
    assert_eq!(&stored, &receipt["document"]);
    assert_eq!(check(&app, &stored).await["unchanged"], 2);

    // ?receipt=1 with a CSV list; the CSV download names the receipt in a header.
    let response = app
        .client
        .post(app.url("/api/v1/verify/bulk?receipt=1"))
        .header("content-type", "text/csv")
        .body("number\nSM2026RCPT0301\n")
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["receipt"]["document"]["receipt"]["results"][0]["row"], 2);
    let csv = app
        .client
        .post(app.url("/api/v1/verify/bulk?receipt=1&format=csv"))
        .json(&json!({"queries": ["SM2026RCPT0301"]}))
        .send()
        .await
        .unwrap();
    let url = csv.headers()["starmark-receipt"].to_str().unwrap().to_string();
    assert!(url.starts_with("http://starmark.test/receipts/"), "{url}");
}

#[tokio::test]
async fn receipts_signed_by_a_retired_key_stay_genuine() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RCPT0401", "轮换有限公司", 41)).await;
    let issued: Value = create(&app, json!(["SM2026RCPT0401"])).await.json().await.unwrap();
    starmark::crypto::keys::generate(&app.config.keys_dir).expect("new active key");
    let (peer, _) = app.spawn_peer_with(|_| {}).await;
    let verdict: Value = app
        .client
        .post(format!("{peer}/api/v1/receipts/verify"))
        .json(&issued["document"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["genuine"], true, "{verdict}");
    assert_eq!(verdict["key_status"], "retired");
    assert_eq!(verdict["changed"], json!([]));
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_a_receipt() {
    let app = spawn_app().await;
    let issued: Value = create(&app, json!(["SM2026RCPT0501"])).await.json().await.unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    let mut raw = app.raw_db().await;
    let db = raw.sqlite_connection();
    let edit = sqlx::query("UPDATE receipts SET document = replace(document, 'unknown', 'found') WHERE id = ?")
        .bind(&id)
        .execute(&mut *db)
        .await;
    assert!(edit.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM receipts").execute(&mut *db).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let stored: Value = app.get(&format!("/api/v1/receipts/{id}")).await.json().await.unwrap();
    assert_eq!(stored, issued["document"]);
}

/// docs/format.md, section 11: the receipt checks with OpenSSL alone, and its id and signed
/// message come out of jq and sha256sum as documented: the recipe runs as written, with tools we
/// did not write.
#[tokio::test]
async fn the_documented_openssl_recipe_checks_a_receipt_and_its_id() {
    let have = |tool: &'static str| async move {
        let ran = tokio::task::spawn_blocking(move || {
            common::process::try_output(std::process::Command::new(tool).arg("--version")).is_ok()
        });
        ran.await.expect("the check ran")
    };
    assert!(
        have("openssl").await,
        "openssl is not installed; this test checks receipts with it: install Debian's openssl or run scripts/test"
    );
    assert!(
        have("jq").await,
        "jq is not installed; this test runs the documented jq steps: install Debian's jq or run scripts/test"
    );
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026RCPT0601", "互操作有限公司 \"引号\"", 61)).await;
    let issued: Value = create(&app, json!(["SM2026RCPT0601", uscc(61), "=1+1"])).await.json().await.unwrap();
    let id = issued["id"].as_str().unwrap();
    let dir = app.dir.path();
    let stored = app.get(&format!("/api/v1/receipts/{id}")).await.bytes().await.unwrap();
    let keys = app.get("/.well-known/starmark/keys.json").await.bytes().await.unwrap();
    std::fs::write(dir.join("keys.json"), &keys).unwrap();

    let jq_steps = format!(
        r#"test "$(jq -Scj . receipt.json | sha256sum | cut -c1-32)" = "{id}"
{{ printf 'starmark-receipt-v1\n'; jq -Scj .receipt receipt.json; }} > message.bin
jq -r .signature.value receipt.json | base64 -d > sig.bin
KEY_ID=$(jq -r .signature.key_id receipt.json)
jq -r --arg id "$KEY_ID" '.keys[] | select(.key_id == $id) | .pem' keys.json > pub.pem
"#
    );
    let openssl_steps = r#"test "$(openssl pkey -pubin -in pub.pem -outform DER | tail -c 32 | sha256sum | cut -c1-16)" = "$KEY_ID"
openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in message.bin -sigfile sig.bin
"#;
    // Writes the receipt and runs the recipe on it.
    let run = |document: &Value| {
        std::fs::write(dir.join("receipt.json"), document.to_string()).unwrap();
        let script = format!("set -e\n{jq_steps}{openssl_steps}");
        let mut command = std::process::Command::new("sh");
        command.arg("-c").arg(&script).current_dir(dir);
        async move {
            let out = common::process::output_async(command).await;
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.success(), said)
        }
    };
    let document: Value = serde_json::from_slice(&stored).unwrap();
    let (ok, said) = run(&document).await;
    assert!(ok && said.contains("Signature Verified Successfully"), "{said}");

    // The same recipe refuses an edited receipt (at jq's id check).
    let mut edited = document.clone();
    edited["receipt"]["results"][0]["certificates"][0]["level"] = json!("compliant");
    let (ok, said) = run(&edited).await;
    assert!(!ok, "{said}");
}

#[tokio::test]
async fn receipts_are_rate_limited_with_retry_after() {
    let app = common::spawn_app_with(|config| config.receipts_per_minute = 1).await;
    app.issue(&common::issue_body("SM2026RATE0001", "限流测试有限公司", 1)).await;
    let body = serde_json::json!({"queries": ["SM2026RATE0001"]});
    // A burst of ten, then one a minute.
    for n in 0..10 {
        let response = app.client.post(app.url("/api/v1/receipts")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201, "receipt {n} of the burst");
    }
    let refused = app.client.post(app.url("/api/v1/receipts")).json(&body).send().await.unwrap();
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let problem = common::assert_problem(refused, 429, "too-many-requests").await;
    assert_eq!(problem["retry_after"], serde_json::json!(wait));
    // Checking without a receipt is not limited.
    let check = app.client.post(app.url("/api/v1/verify/bulk")).json(&body).send().await.unwrap();
    assert_eq!(check.status(), 200);
    // Nor is the page left hanging: it says to come back.
    let page = app
        .client
        .post(app.url("/receipts"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("number=SM2026RATE0001&lang=en")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    let page_wait: u64 = page.headers()["retry-after"].to_str().unwrap().parse().expect("seconds");
    assert!((1..=60).contains(&page_wait), "the page says when to come back: {page_wait}");
    assert!(page.text().await.unwrap().contains("try again in a moment"));
}

#[tokio::test]
async fn a_large_receipt_costs_the_quota_by_its_size() {
    // One token a second, a burst of ten: ten single checks' receipts, or one receipt of 40 KiB.
    let app = common::spawn_app_with(|config| config.receipts_per_minute = 60).await;
    app.issue(&issue_body("SM2026SIZE0001", "容量测试有限公司", 2)).await;
    let queries: Vec<String> = (0..1_000).map(|n| format!("NOT-A-NUMBER-{n:04}")).collect();
    let started = std::time::Instant::now();
    let large = create(&app, json!(queries)).await;
    assert_eq!(large.status(), 201, "a full bucket takes a receipt larger than its burst");
    let large: Value = large.json().await.unwrap();
    let bytes = canonical_value_bytes(&large["document"]).unwrap().len();
    assert!(bytes > 100 * 1024, "{bytes} bytes");

    // The receipt owes what it stored beyond the burst: the next one, small as it is, waits.
    let refused = create(&app, json!(["SM2026SIZE0001"])).await;
    // At most this many tokens (one a second) came back between the two receipts.
    let refilled = started.elapsed().as_secs() + 1;
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    // docs/api.md: one unit a started 4 KiB (written out, not the source's constant).
    let owed = u64::try_from(bytes.div_ceil(4096)).unwrap() - 10;
    assert!(owed >= 15, "{owed}");
    assert!(wait + refilled >= owed && wait <= owed + 1, "waits {wait} s for {owed} tokens owed, {refilled} back");
    assert_problem(refused, 429, "too-many-requests").await;
}
