//! `starmark verify-receipt` as a user runs it: offline against the keys directory or a trust
//! list, online against the registry, and every documented exit status.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{issue_body, spawn_app, TestApp};
use serde_json::{json, Value};

/// Runs `starmark verify-receipt ARGS` with only `keys_dir` configured, off the async runtime.
async fn verify_receipt(keys_dir: &Path, args: &[&str]) -> Output {
    let keys_dir = keys_dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        common::process::output(
            common::starmark_command(&keys_dir).env("STARMARK_KEYS_DIR", &keys_dir).arg("verify-receipt").args(args),
        )
    })
    .await
    .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit status")
}

/// Issues a receipt for `queries` and saves the stored document; returns its path and id.
async fn saved_receipt(app: &TestApp, queries: Value, name: &str) -> (PathBuf, String) {
    let response = app.client.post(app.url("/api/v1/receipts")).json(&json!({ "queries": queries })).send().await;
    let issued: Value = response.unwrap().json().await.unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    let document = app.get(&format!("/api/v1/receipts/{id}")).await.text().await.unwrap();
    let path = app.dir.path().join(name);
    std::fs::write(&path, document).unwrap();
    (path, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_checks_use_the_keys_directory_or_a_trust_list() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026CLIR0001", "命令行回执有限公司", 1)).await;
    let (path, id) = saved_receipt(&app, json!(["SM2026CLIR0001", "SM2026CLIR0099"]), "receipt.json").await;
    let file = path.to_str().unwrap();

    let out = verify_receipt(&app.config.keys_dir, &[file]).await;
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with(&format!("GENUINE: verification receipt {id}")), "{stdout}");
    assert!(stdout.contains("issued at:") && stdout.contains("命令行回执有限公司"), "{stdout}");
    assert!(stdout.contains("SM2026CLIR0099") && stdout.contains("UNKNOWN"), "{stdout}");
    assert!(stdout.contains("--server"), "says how to learn about changes: {stdout}");

    // With the published trust list and no keys at all.
    let list = app.get("/.well-known/starmark/keys.json").await.text().await.unwrap();
    let list_path = app.dir.path().join("keys.json");
    std::fs::write(&list_path, list).unwrap();
    let nowhere = tempfile::tempdir().unwrap();
    let out = verify_receipt(nowhere.path(), &[file, "--trust-list", list_path.to_str().unwrap()]).await;
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("(active)"), "{}", text(&out.stdout));

    // One field edited: not genuine, exit 2.
    let mut tampered: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    tampered["receipt"]["results"][1]["outcome"] = json!("found");
    let forged = app.dir.path().join("forged.json");
    std::fs::write(&forged, serde_json::to_string_pretty(&tampered).unwrap()).unwrap();
    let out = verify_receipt(&app.config.keys_dir, &[forged.to_str().unwrap()]).await;
    assert_eq!(code(&out), 2, "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("NOT GENUINE: signature does not match"), "{}", text(&out.stdout));

    // A pretty-printed copy of the genuine receipt is still genuine (canonical bytes).
    let pretty: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let pretty_path = app.dir.path().join("pretty.json");
    std::fs::write(&pretty_path, serde_json::to_string_pretty(&pretty).unwrap()).unwrap();
    assert_eq!(code(&verify_receipt(&app.config.keys_dir, &[pretty_path.to_str().unwrap()]).await), 0);

    // Signed by a key the directory does not hold.
    let stranger = tempfile::tempdir().unwrap();
    starmark::crypto::keys::generate(stranger.path()).unwrap();
    let out = verify_receipt(stranger.path(), &[file]).await;
    assert_eq!(code(&out), 2);
    assert!(text(&out.stdout).contains("not in the trust list"), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_checks_report_what_changed_since() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026CLIR0101", "在线回执有限公司", 11)).await;
    let (path, _) = saved_receipt(&app, json!(["SM2026CLIR0101"]), "receipt.json").await;
    let file = path.to_str().unwrap();
    let nowhere = tempfile::tempdir().unwrap();

    let out = verify_receipt(nowhere.path(), &[file, "--server", &app.base]).await;
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("GENUINE") && stdout.contains("UNCHANGED"), "{stdout}");

    let (status, _) = app.status("SM2026CLIR0101", json!({"action": "revoke", "reason": "违规"})).await;
    assert_eq!(status, 200);
    let out = verify_receipt(nowhere.path(), &[file, "--server", &format!("{}/", app.base)]).await;
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("CHANGED SINCE"), "{stdout}");
    assert!(stdout.contains("SM2026CLIR0101: state valid -> revoked; version 1 -> 2"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_that_cannot_be_made_exit_3_and_say_why() {
    let app = spawn_app().await;
    let keys = app.config.keys_dir.clone();

    let out = verify_receipt(&keys, &["/nonexistent/receipt.json"]).await;
    assert_eq!(code(&out), 3);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot read the receipt file /nonexistent/receipt.json"), "{stderr}");

    let not_json = app.dir.path().join("not.json");
    std::fs::write(&not_json, "hello").unwrap();
    let out = verify_receipt(&keys, &[not_json.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("is not JSON"), "{}", text(&out.stderr));

    let record = app.dir.path().join("record.json");
    std::fs::write(&record, r#"{"record": {}, "signature": {}}"#).unwrap();
    let out = verify_receipt(&keys, &[record.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("is not a Starmark receipt"), "{}", text(&out.stderr));

    let (path, _) = saved_receipt(&app, json!(["SM2026CLIR0201"]), "receipt.json").await;
    let file = path.to_str().unwrap();
    let refusing = common::ports::RefusingPort::new();
    let closed = refusing.addr;
    let out = verify_receipt(&keys, &[file, "--server", &format!("http://{closed}")]).await;
    assert_eq!(code(&out), 3);
    assert!(text(&out.stderr).contains("cannot reach"), "{}", text(&out.stderr));
    let out = verify_receipt(&keys, &[file, "--server", "ftp://example"]).await;
    assert_eq!(code(&out), 3);
    let out = verify_receipt(tempfile::tempdir().unwrap().path(), &[file]).await;
    assert_eq!(code(&out), 3, "no keys and no trust list");
    assert!(text(&out.stderr).contains("--trust-list"), "{}", text(&out.stderr));

    let out = verify_receipt(&keys, &[]).await;
    assert_eq!(code(&out), 3, "usage errors are 3, since 2 means not genuine");
    let help = verify_receipt(&keys, &["--help"]).await;
    assert_eq!(code(&help), 0);
    assert!(text(&help.stdout).contains("Exit status"), "{}", text(&help.stdout));
}
