//! The transparency log over HTTP: every event is a leaf, certificate answers carry a proof to a
//! signed checkpoint, fresh proofs and tiles are served, and bad requests are problem+json.

use crate::common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{assert_problem, issue_body, spawn_app, uscc, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use starmark::tlog::tiles::parse_entry_bundle;
use starmark::tlog::{leaf_hash, verify_consistency, verify_inclusion, Hash, LogKey};

fn hash(b64: &Value) -> Hash {
    BASE64.decode(b64.as_str().expect("base64 string")).expect("base64").try_into().expect("32 bytes")
}

fn hashes(list: &Value) -> Vec<Hash> {
    list.as_array().expect("array").iter().map(hash).collect()
}

async fn text(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("text")
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

async fn log_key(app: &TestApp) -> LogKey {
    LogKey::parse_vkey(text(app, "/api/v1/log/vkey").await.trim()).expect("vkey")
}

/// Issues two certificates and suspends the first: three events, three leaves.
async fn three_events(app: &TestApp) {
    app.issue(&issue_body("SM2026LOG0001", "日志测试一有限公司", 1)).await;
    app.issue(&issue_body("SM2026LOG0002", "日志测试二有限公司", 2)).await;
    let until = (starmark::registry::clock::today() + chrono::Days::new(60)).to_string();
    let (status, body) =
        app.status("SM2026LOG0001", json!({"action": "suspend", "reason": "监督审核未通过", "until": until})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_certificate_answer_proves_its_record_is_in_the_signed_log() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026LOG0001", "日志测试一有限公司", 1)).await;
    app.issue(&issue_body("SM2026LOG0002", "日志测试二有限公司", 2)).await;
    let answer = json_of(&app, "/api/v1/certificates/SM2026LOG0001").await;
    let log = &answer["log"];
    assert_eq!(log["index"], 0, "{answer}");
    // The answer was prepared when the certificate was issued, so its proof is to the
    // checkpoint current then (size 1); answers stay cacheable bytes, and fresh proofs to
    // later checkpoints come from /api/v1/log/proof/inclusion.
    let size = log["tree_size"].as_u64().expect("tree size");
    assert!((1..=2).contains(&size), "{answer}");

    // The leaf names this record version and pins its bytes and signature.
    let leaf_text = log["leaf"].as_str().expect("leaf");
    let leaf: Value = serde_json::from_str(leaf_text).expect("leaf json");
    assert_eq!(leaf["number"], "SM2026LOG0001");
    assert_eq!(leaf["version"], 1);
    assert_eq!(leaf["kind"], "issued");
    let canonical = starmark::crypto::canonical_value_bytes(&answer["record"]).expect("canonical");
    assert_eq!(leaf["record_sha256"], hex::encode(Sha256::digest(&canonical)));
    assert_eq!(leaf["signature"], answer["signature"]);
    let leaf_hash_value = leaf_hash(leaf_text.as_bytes());
    assert_eq!(hash(&log["leaf_hash"]), leaf_hash_value);

    // The checkpoint is signed by the published key, and the proof leads to its root.
    let checkpoint = log_key(&app).await.open(log["checkpoint"].as_str().expect("note")).expect("signed");
    assert_eq!(checkpoint.size, size);
    assert_eq!(checkpoint.origin, "starmark.test/starmark-log");
    verify_inclusion(0, size, &leaf_hash_value, &hashes(&log["inclusion"]), &checkpoint.root).expect("included");
}

/// Imports `count` certificates numbered `SM2026PACK{n:05}`, `n` from `from`.
async fn import_numbered(app: &TestApp, from: u32, count: u32) {
    let mut csv = String::from("number,holder_name,holder_name_en,uscc,address,scope,system,commodity,customer\n");
    for n in from..from + count {
        csv.push_str(&format!(
            "SM2026PACK{n:05},打包测试{n}有限公司,Packing {n} Co.,{},福州市示例路{n}号,家电售后服务,38,33,24\n",
            uscc(n + 1000)
        ));
    }
    let (rows, errors) = starmark::registry::parse_csv(csv.as_bytes()).expect("csv");
    assert!(errors.is_empty(), "{errors:?}");
    let report = app.registry.import("test", rows, &|_| {}).await.expect("import");
    assert_eq!(report.issued, u64::from(count));
}

/// Fetches the answer of `SM2026PACK{n:05}` and checks its proof against its checkpoint.
async fn check_packed_answer(app: &TestApp, key: &LogKey, n: u32) -> u64 {
    let answer = json_of(app, &format!("/api/v1/certificates/SM2026PACK{n:05}")).await;
    let log = &answer["log"];
    let (index, size) = (log["index"].as_u64().expect("index"), log["tree_size"].as_u64().expect("size"));
    let checkpoint = key.open(log["checkpoint"].as_str().expect("note")).expect("signed");
    assert_eq!(checkpoint.size, size, "SM2026PACK{n:05}");
    let leaf = leaf_hash(log["leaf"].as_str().expect("leaf").as_bytes());
    verify_inclusion(index, size, &leaf, &hashes(&log["inclusion"]), &checkpoint.root)
        .unwrap_or_else(|e| panic!("SM2026PACK{n:05} (leaf {index} of {size}): {e}"));
    app.verify_answer(&answer).await.expect("record signature");
    size
}

// Answers are kept packed against a dictionary of their stretch of 512 leaves (the log nodes the
// stretch's proofs share): across stretches, in a stretch still filling, and after the log grew
// enough for a new dictionary, every answer sent is whole and proves what it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_packed_by_stretch_of_the_log_come_out_whole() {
    let app = spawn_app().await;
    let key = log_key(&app).await;
    import_numbered(&app, 0, 1_100).await;
    for n in (0..1_100).step_by(7).chain([0, 511, 512, 1_023, 1_024, 1_099]) {
        assert_eq!(check_packed_answer(&app, &key, n).await, 1_100);
    }
    // An eighth more leaves: new answers get new dictionaries; the ones cached keep theirs.
    import_numbered(&app, 1_100, 200).await;
    for n in [3, 600, 1_050, 1_100, 1_299] {
        check_packed_answer(&app, &key, n).await;
    }
    let (status, body) = app.status("SM2026PACK00600", json!({"action": "withdraw", "reason": "持证方申请撤销"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(check_packed_answer(&app, &key, 600).await, 1_301, "the change's own answer, packed anew");
}

#[tokio::test]
async fn every_change_is_a_new_leaf_and_old_checkpoints_stay_consistent() {
    let app = spawn_app().await;
    three_events(&app).await;
    let key = log_key(&app).await;
    let latest = key.open(&text(&app, "/api/v1/log/checkpoint").await).expect("latest checkpoint");
    assert_eq!(latest.size, 3);

    let answer = json_of(&app, "/api/v1/certificates/SM2026LOG0001").await;
    assert_eq!(answer["log"]["index"], 2, "the suspension is the third leaf");
    assert_eq!(serde_json::from_str::<Value>(answer["log"]["leaf"].as_str().unwrap()).unwrap()["kind"], "suspended");

    // Every earlier size still has its checkpoint, unchanged and cacheable forever.
    for size in 1..=3u64 {
        let response = app.get(&format!("/api/v1/log/checkpoint/{size}")).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let old = key.open(&response.text().await.unwrap()).expect("old checkpoint");
        assert_eq!(old.size, size);
        let proof = json_of(&app, &format!("/api/v1/log/proof/consistency?from={size}&to=3")).await;
        verify_consistency(size, 3, &old.root, &latest.root, &hashes(&proof["consistency"])).expect("consistent");
        assert_eq!(hash(&proof["to_root"]), latest.root);
    }

    // Fresh inclusion proofs for every leaf at every size.
    for size in 1..=3u64 {
        let root = key.open(&text(&app, &format!("/api/v1/log/checkpoint/{size}")).await).unwrap().root;
        for index in 0..size {
            let proof = json_of(&app, &format!("/api/v1/log/proof/inclusion?index={index}&size={size}")).await;
            assert_eq!(hash(&proof["root_hash"]), root);
            verify_inclusion(index, size, &hash(&proof["leaf_hash"]), &hashes(&proof["inclusion"]), &root)
                .expect("included");
            assert!(proof["checkpoint"].as_str().unwrap().starts_with("starmark.test/starmark-log\n"));
        }
    }
    // Without a size, the proof is to the latest checkpoint.
    let proof = json_of(&app, "/api/v1/log/proof/inclusion?index=1").await;
    assert_eq!(proof["tree_size"], 3);
}

#[tokio::test]
async fn tiles_hold_the_leaf_hashes_and_the_entries() {
    let app = spawn_app().await;
    three_events(&app).await;
    let response = app.get("/api/v1/log/tile/0/000.p/3").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let tile = response.bytes().await.unwrap();
    assert_eq!(tile.len(), 3 * 32);

    let bundle = app.get("/api/v1/log/tile/entries/000.p/3").await.bytes().await.unwrap();
    let entries = parse_entry_bundle(&bundle).expect("bundle");
    assert_eq!(entries.len(), 3);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(&tile[i * 32..(i + 1) * 32], leaf_hash(entry).as_slice(), "entry {i}");
    }
    let shorter = app.get("/api/v1/log/tile/0/000.p/2").await.bytes().await.unwrap();
    assert_eq!(&shorter[..], &tile[..64]);

    assert_eq!(app.get("/api/v1/log/tile/0/000.p/4").await.status(), 404);
    assert_eq!(app.get("/api/v1/log/tile/0/000").await.status(), 404, "not full yet");
    assert_eq!(app.get("/api/v1/log/tile/1/000.p/1").await.status(), 404);
    assert_eq!(app.get("/api/v1/log/tile/entries/001.p/1").await.status(), 404);
    for bad in ["0/0", "0/000.p/0", "0/000.p/256", "x/000", "0/x000/001", "entries/1"] {
        assert_problem(app.get(&format!("/api/v1/log/tile/{bad}")).await, 400, "invalid-parameter").await;
    }
}

#[tokio::test]
async fn bad_proof_parameters_are_problems() {
    let app = spawn_app().await;
    three_events(&app).await;
    for query in [
        "inclusion",
        "inclusion?index=abc",
        "inclusion?index=-1",
        "inclusion?index=3",
        "inclusion?index=0&size=4",
        "inclusion?index=2&size=2",
        "inclusion?index=0&size=0",
        "consistency",
        "consistency?from=0&to=3",
        "consistency?from=3&to=2",
        "consistency?from=1&to=9",
        "consistency?from=x",
    ] {
        let body = assert_problem(app.get(&format!("/api/v1/log/proof/{query}")).await, 400, "invalid-parameter").await;
        assert!(body["parameter"].is_string(), "{query}: {body}");
    }
    assert_problem(app.get("/api/v1/log/checkpoint/99").await, 404, "not-found").await;
    assert_problem(app.get("/api/v1/log/checkpoint/abc").await, 400, "invalid-parameter").await;
    let same = json_of(&app, "/api/v1/log/proof/consistency?from=3&to=3").await;
    assert_eq!(same["consistency"], json!([]));
}

#[tokio::test]
async fn the_log_survives_a_restart_and_describes_itself() {
    let app = spawn_app().await;
    three_events(&app).await;
    let before = text(&app, "/api/v1/log/checkpoint").await;
    let info = json_of(&app, "/api/v1/log").await;
    assert_eq!(info["origin"], "starmark.test/starmark-log");
    assert_eq!(info["size"], 3);
    assert_eq!(info["vkey"], text(&app, "/api/v1/log/vkey").await.trim());

    // A second process on the same data directory loads the same tree and checkpoint.
    let again = starmark::startup::Application::build(&app.config).await.expect("restart");
    let registry = again.registry();
    assert_eq!(registry.log_size(), 3);
    assert_eq!(registry.latest_checkpoint().expect("checkpoint").note, before);
}
