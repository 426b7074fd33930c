//! The recipes of docs/format.md, run literally: what the page tells an outsider to type with jq
//! and OpenSSL verifies the documented vectors and the server's live answers. A recipe that
//! drifts from the bytes the registry signs fails here.

use std::path::Path;
use std::process::Command;

use crate::common;

use common::{issue_body, spawn_app};

const FORMAT_MD: &str = include_str!("../../docs/format.md");
const VERIFIED: &str = "Signature Verified Successfully";

/// The content of the fenced block of docs/format.md tagged `tag`.
fn doc_block(tag: &str) -> String {
    let mut lines = FORMAT_MD.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else { continue };
        if info.split_whitespace().any(|word| word == tag) {
            return lines.take_while(|inner| !inner.starts_with("```")).collect::<Vec<_>>().join("\n");
        }
    }
    panic!("docs/format.md has no block tagged {tag}");
}

/// Runs `script` with `sh -e` in `dir`; (success, stdout + stderr).
fn run_script(dir: &Path, script: &str) -> (bool, String) {
    let output = common::process::output(Command::new("sh").arg("-ec").arg(script).current_dir(dir));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Runs the documented assertion recipe on `answer.json` and `keys.json` in `dir`, then the
/// same recipe without sorting the keys, which must fail.
fn check_assertion_recipe(dir: &Path) {
    let recipe = doc_block("assertion-recipe");
    assert!(recipe.contains("jq -Scj .status_assertion.assertion"), "{recipe}");
    let (ok, text) = run_script(dir, &recipe);
    assert!(ok && text.contains(VERIFIED), "the documented recipe must verify:\n{text}");
    let unsorted = recipe.replace("jq -Scj", "jq -cj");
    let (ok, text) = run_script(dir, &unsorted);
    assert!(!ok && !text.contains(VERIFIED), "the unsorted bytes must not verify:\n{text}");
}

#[test]
fn the_assertion_recipe_verifies_the_documented_vector() {
    let dir = tempfile::tempdir().unwrap();
    let answer = format!("{{\"status_assertion\": {}}}", doc_block("assertion-answer"));
    std::fs::write(dir.path().join("answer.json"), answer).unwrap();
    let keys = serde_json::json!({"keys": [{"key_id": "34750f98bd59fcfc", "pem": doc_block("vector-1-public-key-pem") + "\n"}]});
    std::fs::write(dir.path().join("keys.json"), keys.to_string()).unwrap();
    check_assertion_recipe(dir.path());
}

#[tokio::test]
async fn the_assertion_recipe_verifies_a_live_answer() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026FORMAT01", "格式核验有限公司", 1)).await;
    let answer = app.get("/api/v1/certificates/SM2026FORMAT01").await.text().await.unwrap();
    let keys = app.get("/.well-known/starmark/keys.json").await.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("answer.json"), answer).unwrap();
    std::fs::write(dir.path().join("keys.json"), keys).unwrap();
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || check_assertion_recipe(&path)).await.expect("the recipe ran");
}

/// docs/format.md section 10: the token recipe, run literally with bash, coreutils and OpenSSL,
/// verifies the genuine vector and refuses the flipped one and the one signed by another key.
#[test]
fn the_token_recipe_verifies_the_documented_vector_and_refuses_the_others() {
    let recipe = doc_block("token-recipe");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pub.pem"), doc_block("vector-1-public-key-pem") + "\n").unwrap();
    let check = |token: &str| {
        std::fs::write(dir.path().join("token.txt"), format!("{token}\n")).unwrap();
        let script = format!("set -e\nKEY_ID={}\n{recipe}", doc_block("mark-vector-key-id"));
        let output = common::process::output(Command::new("bash").arg("-c").arg(&script).current_dir(dir.path()));
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success() && text.contains(VERIFIED), text)
    };
    let (ok, text) = check(&doc_block("mark-vector-token"));
    assert!(ok, "the documented token recipe must verify the genuine vector:\n{text}");
    let (ok, text) = check(&doc_block("mark-vector-token").to_lowercase());
    assert!(ok, "readers accept lower case, and so does the recipe:\n{text}");
    for refused in ["mark-vector-flipped", "mark-vector-unknown-key"] {
        let (ok, text) = check(&doc_block(refused));
        assert!(!ok, "{refused} must not verify:\n{text}");
    }
}

/// docs/tlog.md: the checkpoint recipe, run literally with bash, coreutils and OpenSSL on a live
/// server's checkpoint, verifies it, and refuses it once its tree size is changed.
#[tokio::test]
async fn the_checkpoint_recipe_verifies_a_live_checkpoint_and_refuses_an_edited_one() {
    let recipe = {
        let tlog_md = include_str!("../../docs/tlog.md");
        let start = tlog_md.find("```bash checkpoint-recipe\n").expect("docs/tlog.md has the checkpoint recipe");
        let body = &tlog_md[start..].split_once('\n').expect("a block").1;
        body.split("\n```").next().expect("a closed block").to_string()
    };
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026FORMAT02", "检查点核验有限公司", 2)).await;
    let checkpoint = app.get("/api/v1/log/checkpoint").await.text().await.unwrap();
    let vkey = app.get("/api/v1/log/vkey").await.text().await.unwrap();
    let dir = app.dir.path();
    std::fs::write(dir.join("vkey.txt"), &vkey).unwrap();
    let check = |text: &str| {
        std::fs::write(dir.join("checkpoint.txt"), text).unwrap();
        let mut command = Command::new("bash");
        command.arg("-ec").arg(&recipe).current_dir(dir);
        async move {
            let output = common::process::output_async(command).await;
            let said =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            (output.status.success() && said.contains(VERIFIED), said)
        }
    };
    let (ok, said) = check(&checkpoint).await;
    assert!(ok, "the documented checkpoint recipe must verify the server's checkpoint:\n{checkpoint}\n{said}");
    let mut lines: Vec<String> = checkpoint.lines().map(str::to_string).collect();
    let size: u64 = lines[1].parse().expect("the second line is the tree size");
    lines[1] = (size + 1).to_string();
    let (ok, said) = check(&(lines.join("\n") + "\n")).await;
    assert!(!ok, "a checkpoint with another size must not verify:\n{said}");
}

/// Runs the documented receipt recipe (docs/format.md section 11) on `receipt.json` and
/// `keys.json` in `dir`, then the documented id check against `id`.
fn check_receipt_recipe(dir: &Path, id: &str) -> (bool, String) {
    let recipe = doc_block("receipt-recipe");
    assert!(recipe.contains("printf 'starmark-receipt-v1\\n'; jq -Scj .receipt receipt.json"), "{recipe}");
    let id_check = format!("test \"$(jq -Scj . receipt.json | sha256sum | cut -c1-32)\" = \"{id}\"");
    run_script(dir, &format!("{recipe}\n{id_check}"))
}

/// Vector 1's public key as the only key of a trust list, in `dir`.
fn vector_one_trust_list(dir: &Path) {
    let keys = serde_json::json!({"keys": [{"key_id": "34750f98bd59fcfc", "pem": doc_block("vector-1-public-key-pem") + "\n"}]});
    std::fs::write(dir.join("keys.json"), keys.to_string()).unwrap();
}

#[test]
fn the_receipt_recipe_verifies_the_documented_vector_and_refuses_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    vector_one_trust_list(dir.path());
    let document = doc_block("receipt-document");
    std::fs::write(dir.path().join("receipt.json"), &document).unwrap();
    let (ok, text) = check_receipt_recipe(dir.path(), &doc_block("receipt-id"));
    assert!(ok && text.contains(VERIFIED), "the documented recipe must verify the vector:\n{text}");
    let message = std::fs::read(dir.path().join("message.bin")).unwrap();
    assert_eq!(message, doc_block("receipt-message-text").into_bytes(), "the recipe signs the documented bytes");

    let changed = document.replacen("\"state\": \"valid\"", "\"state\": \"revoked\"", 1);
    assert_ne!(changed, document);
    std::fs::write(dir.path().join("receipt.json"), changed).unwrap();
    let (ok, text) = check_receipt_recipe(dir.path(), &doc_block("receipt-id"));
    assert!(!ok && !text.contains(VERIFIED), "a changed receipt must not verify:\n{text}");
}

#[tokio::test]
async fn the_receipt_recipe_verifies_a_live_receipt() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026FORMAT02", "回执核验有限公司", 2)).await;
    let issued = app.client.post(app.url("/api/v1/receipts")).json(&serde_json::json!({"queries": ["SM2026FORMAT02"]}));
    let issued: serde_json::Value = issued.send().await.unwrap().json().await.unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    let receipt = app.get(&format!("/api/v1/receipts/{id}")).await.text().await.unwrap();
    let keys = app.get("/.well-known/starmark/keys.json").await.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("receipt.json"), receipt).unwrap();
    std::fs::write(dir.path().join("keys.json"), keys).unwrap();
    let (ok, text) = check_receipt_recipe(dir.path(), &id);
    assert!(ok && text.contains(VERIFIED), "the documented recipe must verify a live receipt:\n{text}");
}
