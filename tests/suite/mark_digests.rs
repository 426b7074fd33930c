//! Mark digest indexes end to end: ordering a batch prepares its index, scans of its fresh
//! tokens are then judged genuine without an Ed25519 verification, and everything the index
//! cannot vouch for (an altered token, a batch without an index, a token re-made after a
//! renewal) still goes through the signature check. Another instance loads a stored index once
//! the batch is scanned steadily (`DIGEST_INDEX_LOAD_AFTER` scans), verifying until then.

use crate::common;

use std::time::Duration;

use common::marks::tampered;
use common::scan::scan_json;
use common::{issue_body, spawn_app, TestApp};
use serde_json::{json, Value};
use sqlx::Row;
use starmark::domain::{CertificateNumber, CertificateRecord};
use starmark::registry::{Registry, DIGEST_INDEX_LOAD_AFTER};

/// Waits until `registry` holds the digest index of `number`/`batch` (built in the background).
async fn until_index(registry: &Registry, number: &str, batch: u32) {
    let started = std::time::Instant::now();
    while !registry.mark_digests_loaded(number, batch).await {
        assert!(started.elapsed() < Duration::from_secs(30), "no digest index for {number}/{batch}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn record(app: &TestApp, number: &str) -> CertificateRecord {
    app.registry.get(&CertificateNumber::parse(number).expect("number")).await.expect("certificate").record
}

/// Issues `number` as of 2025-03-01 (so that a renewal moves its validity), orders `count`
/// marks and waits for their index.
async fn issued_last_year_with_marks(app: &TestApp, number: &str, name: &str, n: u32, count: u64) {
    let mut body = issue_body(number, name, n);
    body["issued"] = json!("2025-03-01");
    app.issue(&body).await;
    app.order(number, count).await;
    until_index(&app.registry, number, 1).await;
}

/// Renews `number` and answers the renewed record.
async fn renew(app: &TestApp, number: &str) -> CertificateRecord {
    let renew = json!({"evaluation": {"system": 38, "commodity": 33, "customer": 24}});
    let response = app.post(&format!("/api/v1/certificates/{number}/renew"), &app.issuer, &renew).await;
    assert_eq!(response.status(), 200);
    record(app, number).await
}

/// Scans the tokens of `serials` of batch 1 of `record` on `base`; each must be valid.
async fn scan_valid(app: &TestApp, base: &str, record: &CertificateRecord, serials: std::ops::Range<u32>) {
    for serial in serials {
        let token = app.registry.mark_token(record, 1, serial).expect("token");
        let answer = scan_json(&app.client, base, &format!("/v/{}", token)).await;
        assert_eq!(answer["verdict"], "valid", "serial {serial}: {answer}");
    }
}

#[tokio::test]
async fn fresh_tokens_of_an_indexed_batch_scan_without_a_signature_verification() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026DIGEST01", "摘要索引电器有限公司", 61)).await;
    let answer = app.order("SM2026DIGEST01", 300).await;
    assert_eq!(answer["batch"]["count"], 300, "the order answers at once, index or not");
    until_index(&app.registry, "SM2026DIGEST01", 1).await;

    // Stored: 8 bytes a serial, a 32-byte salt, the signing key's id.
    let mut raw = app.raw_db().await;
    let db = raw.sqlite_connection();
    let row = sqlx::query("SELECT key_id, salt, tags FROM mark_digests WHERE number = ? AND batch = 1")
        .bind("SM2026DIGEST01")
        .fetch_one(&mut *db)
        .await
        .expect("index row");
    assert_eq!(row.get::<Vec<u8>, _>("tags").len(), 300 * 8);
    assert_eq!(row.get::<Vec<u8>, _>("salt").len(), 32);
    let list: Value = app.get("/.well-known/starmark/keys.json").await.json().await.expect("trust list");
    assert_eq!(row.get::<String, _>("key_id"), list["keys"][0]["key_id"].as_str().expect("key id"));

    let record = record(&app, "SM2026DIGEST01").await;
    let verified = app.registry.signatures_verified();
    for serial in [1, 150, 300] {
        let token = app.registry.mark_token(&record, 1, serial).expect("token");
        let answer = scan_json(&app.client, &app.base, &format!("/v/{}", token)).await;
        assert_eq!(answer["verdict"], "valid", "{answer}");
        assert_eq!(answer["mark"]["serial"], serial);
        // Lower case is the same token to readers, and to the index.
        let answer = scan_json(&app.client, &app.base, &format!("/v/{}", token.to_ascii_lowercase())).await;
        assert_eq!(answer["verdict"], "valid", "{answer}");
    }
    assert_eq!(app.registry.signatures_verified(), verified, "no Ed25519 verification for indexed tokens");

    // One character of the signature changed: the index does not vouch, the verification runs
    // and refuses it.
    let genuine = app.registry.mark_token(&record, 1, 42).expect("token");
    let forged = tampered(&genuine, 30);
    assert_ne!(forged, genuine);
    let answer = scan_json(&app.client, &app.base, &format!("/v/{}", forged)).await;
    assert_eq!(answer["verdict"], "not_genuine", "{answer}");
    assert_eq!(answer["reason"], "bad_signature", "{answer}");
    assert_eq!(app.registry.signatures_verified(), verified + 1, "the fallback verification ran");
    // Scanned again at once (a flood of one fake code), in lower case: refused from memory.
    let again = scan_json(&app.client, &app.base, &format!("/v/{}", forged.to_ascii_lowercase())).await;
    assert_eq!(again["reason"], "bad_signature", "{again}");
    assert_eq!(app.registry.signatures_verified(), verified + 1, "not verified again");

    // Another instance on the same store verifies the batch's first scans, then loads the index
    // from there once the batch is in demand.
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    scan_valid(&app, &peer, &record, 100..100 + DIGEST_INDEX_LOAD_AFTER).await;
    assert_eq!(
        peer_registry.signatures_verified(),
        u64::from(DIGEST_INDEX_LOAD_AFTER) - 1,
        "verified until the last of those scans loaded the index"
    );
    assert!(peer_registry.mark_digests_loaded("SM2026DIGEST01", 1).await);
    scan_valid(&app, &peer, &record, 200..210).await;
    assert_eq!(
        peer_registry.signatures_verified(),
        u64::from(DIGEST_INDEX_LOAD_AFTER) - 1,
        "the peer used the stored index"
    );
}

#[tokio::test]
async fn a_batch_scanned_now_and_then_is_verified_without_loading_its_index() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026DIGEST06", "偶尔扫码电器有限公司", 66)).await;
    app.order("SM2026DIGEST06", 100).await;
    until_index(&app.registry, "SM2026DIGEST06", 1).await;
    let record = record(&app, "SM2026DIGEST06").await;

    // A peer sees fewer scans of the batch than a load is worth: each is verified, and the
    // index stays in the store.
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    for serial in 1..DIGEST_INDEX_LOAD_AFTER {
        let token = app.registry.mark_token(&record, 1, serial).expect("token");
        assert_eq!(scan_json(&app.client, &peer, &format!("/v/{}", token)).await["verdict"], "valid");
        assert!(!peer_registry.mark_digests_loaded("SM2026DIGEST06", 1).await, "not loaded after scan {serial}");
    }
    assert_eq!(peer_registry.signatures_verified(), u64::from(DIGEST_INDEX_LOAD_AFTER) - 1);
    // A forged token among them is still refused.
    let forged = tampered(&app.registry.mark_token(&record, 1, 99).expect("token"), 30);
    let answer = scan_json(&app.client, &peer, &format!("/v/{}", forged)).await;
    assert_eq!(answer["verdict"], "not_genuine", "{answer}");
}

#[tokio::test]
async fn batches_without_an_index_are_verified_as_before() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026DIGEST02", "无索引标志有限公司", 62)).await;
    // Ordered through the registry alone, as batches were before indexes existed: no index.
    let record = app.order_without_index("SM2026DIGEST02", 20).await;
    let token = app.registry.mark_token(&record, 1, 9).expect("token");
    let before = app.registry.signatures_verified();
    let answer = scan_json(&app.client, &app.base, &format!("/v/{}", token)).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(app.registry.signatures_verified(), before + 1, "verified");
    // Not in demand (nor with an index to load): the next scan verifies again.
    let answer =
        scan_json(&app.client, &app.base, &format!("/v/{}", app.registry.mark_token(&record, 1, 10).expect("token")))
            .await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(app.registry.signatures_verified(), before + 2);
    assert!(!app.registry.mark_digests_loaded("SM2026DIGEST02", 1).await);
    let answer = scan_json(&app.client, &app.base, &format!("/v/{}", tampered(&token, 30))).await;
    assert_eq!(answer["verdict"], "not_genuine", "{answer}");

    // Prepared now (as the background task does), the index replaces the remembered absence at
    // once in this process.
    let prepared = app.registry.prepare_mark_digests(&record, 1).await.expect("prepared");
    assert_eq!(prepared.count, 20);
    assert!(app.registry.mark_digests_loaded("SM2026DIGEST02", 1).await);
    let verified = app.registry.signatures_verified();
    let answer =
        scan_json(&app.client, &app.base, &format!("/v/{}", app.registry.mark_token(&record, 1, 11).expect("token")))
            .await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(app.registry.signatures_verified(), verified, "vouched for by the new index");
}

#[tokio::test]
async fn a_missing_index_is_built_again_by_the_next_instance_from_the_orders_record() {
    let app = spawn_app().await;
    issued_last_year_with_marks(&app, "SM2025DIGEST05", "补建索引有限公司", 65, 20).await;
    let printed = app.registry.mark_token(&record(&app, "SM2025DIGEST05").await, 1, 5).expect("token");

    // The index is lost (deleted here; a server stopped during its background build never
    // stores it), and the certificate is renewed: its marks would now be made differently.
    let mut raw = app.raw_db().await;
    let db = raw.sqlite_connection();
    sqlx::query("DELETE FROM mark_digests WHERE number = 'SM2025DIGEST05'").execute(&mut *db).await.expect("delete");
    let renewed = renew(&app, "SM2025DIGEST05").await;

    // The next instance to start builds it again, from the record as the order left it.
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    until_index(&peer_registry, "SM2025DIGEST05", 1).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mark_digests WHERE number = 'SM2025DIGEST05'")
        .fetch_one(&mut *db)
        .await
        .expect("count");
    assert_eq!(stored, 1, "stored again");
    let answer = scan_json(&app.client, &peer, &format!("/v/{}", printed)).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(peer_registry.signatures_verified(), 0, "the rebuilt index vouches for the printed mark");
    let remade = app.registry.mark_token(&renewed, 1, 5).expect("token");
    assert_ne!(remade, printed);
    let answer = scan_json(&app.client, &peer, &format!("/v/{}", remade)).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(peer_registry.signatures_verified(), 1, "not the renewed record's tokens: verified");
}

#[tokio::test]
async fn tokens_made_again_after_a_renewal_are_verified_and_valid() {
    let app = spawn_app().await;
    issued_last_year_with_marks(&app, "SM2025DIGEST03", "续证标志有限公司", 63, 50).await;
    let before_renewal = record(&app, "SM2025DIGEST03").await;
    let printed = app.registry.mark_token(&before_renewal, 1, 12).expect("token");

    let renewed = renew(&app, "SM2025DIGEST03").await;
    assert_ne!(renewed.valid_until, before_renewal.valid_until);

    let verified = app.registry.signatures_verified();
    // The printed mark is still byte for byte the token of the index: no verification.
    let answer = scan_json(&app.client, &app.base, &format!("/v/{}", printed)).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(app.registry.signatures_verified(), verified);
    // Made again from the renewed record, the token differs from the index's: verified.
    let remade = app.registry.mark_token(&renewed, 1, 12).expect("token");
    assert_ne!(remade, printed);
    let answer = scan_json(&app.client, &app.base, &format!("/v/{}", remade)).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(app.registry.signatures_verified(), verified + 1, "the fallback verification ran");
}

#[tokio::test]
async fn the_cli_prepares_the_index_before_it_exits() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026DIGEST04", "命令行标志有限公司", 64)).await;
    let mut command = app.starmark();
    command.args(["marks", "order", "SM2026DIGEST04", "--count", "40"]);
    let output = common::process::output_async(command).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "SM2026DIGEST04/1");
    assert!(stderr.contains("prepared the digest index of 40 marks"), "{stderr}");

    let mut raw = app.raw_db().await;
    let db = raw.sqlite_connection();
    let tags: Vec<u8> = sqlx::query_scalar("SELECT tags FROM mark_digests WHERE number = ? AND batch = 1")
        .bind("SM2026DIGEST04")
        .fetch_one(&mut *db)
        .await
        .expect("index row");
    assert_eq!(tags.len(), 40 * 8);
    let record = record(&app, "SM2026DIGEST04").await;
    // A server started now (the running one learns of the CLI's change within its stale bound):
    // the batch's first scans are verified until it is in demand, then the stored index serves.
    let (server, server_registry) = app.spawn_peer_with(|_| {}).await;
    scan_valid(&app, &server, &record, 1..DIGEST_INDEX_LOAD_AFTER + 1).await;
    let verified = server_registry.signatures_verified();
    assert_eq!(verified, u64::from(DIGEST_INDEX_LOAD_AFTER) - 1);
    let answer =
        scan_json(&app.client, &server, &format!("/v/{}", app.registry.mark_token(&record, 1, 40).expect("token")))
            .await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(server_registry.signatures_verified(), verified, "the server loaded the index the CLI stored");
}
