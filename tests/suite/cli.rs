//! The `starmark` binary as a user runs it: keygen, key permissions, tokens, import, verify, demo.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{issue_body, spawn_app, uscc};
use serde_json::Value;

fn starmark(dir: &Path) -> Command {
    common::starmark_command(dir)
}

fn run(dir: &Path, args: &[&str]) -> Output {
    common::process::output(starmark(dir).args(args))
}

/// [`run`] for async tests: waits off the runtime's thread.
async fn run_async(dir: &Path, args: &[&str]) -> Output {
    let mut command = starmark(dir);
    command.args(args);
    common::process::output_async(command).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn keygen_makes_a_private_key_only_its_owner_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["keygen"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let private: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".key.pem"))
        .collect();
    assert_eq!(private.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&private[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let pem = std::fs::read_to_string(&private[0]).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
}

#[test]
fn serve_refuses_a_private_key_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["keygen"]).status.success());
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".key.pem") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let out = run(dir.path(), &["serve"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("readable by others") && stderr.contains("chmod 600"), "{stderr}");
}

#[test]
fn serve_without_a_key_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("starmark keygen"), "{}", text(&out.stderr));
}

#[test]
fn bad_configuration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::process::output(starmark(dir.path()).env("STARMARK_LISTEN", "localhost").arg("serve"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("STARMARK_LISTEN"), "{}", text(&out.stderr));
}

#[test]
fn a_bad_answer_lifetime_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::process::output(starmark(dir.path()).env("STARMARK_ANSWER_LIFETIME_MS", "an hour").arg("serve"));
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("STARMARK_ANSWER_LIFETIME_MS") && said.contains("is not a number"), "{said}");
}

#[test]
fn tokens_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["keygen"]).status.success());
    let out = run(dir.path(), &["token", "create", "--role", "issuer", "--label", "audit team"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("smk_"), "{token}");
    let id = &token[4..20];
    let list = text(&run(dir.path(), &["token", "list"]).stdout);
    assert!(list.contains(id) && list.contains("issuer") && list.contains("audit team"), "{list}");
    assert!(!list.contains(&token[21..]), "secrets are never listed");
    assert!(run(dir.path(), &["token", "revoke", id]).status.success());
    assert!(text(&run(dir.path(), &["token", "list"]).stdout).contains("revoked"));
    let again = run(dir.path(), &["token", "revoke", id]);
    assert!(!again.status.success());

    let bad_role = run(dir.path(), &["token", "create", "--role", "root"]);
    assert!(!bad_role.status.success());
    assert!(text(&bad_role.stderr).contains("reader, issuer or admin"), "{}", text(&bad_role.stderr));
}

#[test]
fn import_reports_bad_rows_by_line_and_writes_none_of_them() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["keygen"]).status.success());
    let header = "number,holder_name,holder_name_en,uscc,address,scope,system,commodity,customer,level,issued\n";
    let rows = [
        format!("SM2026IMP00001,导入一号有限公司,Import One,{},地址1,服务范围,38,33,24,five_star,2026-01-05", uscc(1)),
        "SM2026IMP00002,坏代码有限公司,,91350200776049653B,地址2,服务范围,38,33,24,,".to_string(),
        format!("SM2026IMP00003,不及格有限公司,,{},地址3,服务范围,20,20,20,,", uscc(3)),
        format!("SM2026IMP00001,重复编号有限公司,,{},地址4,服务范围,38,33,24,,", uscc(4)),
        format!("SM2026IMP00005,等级不符有限公司,,{},地址5,服务范围,38,33,24,compliant,", uscc(5)),
        format!(",自动编号有限公司,,{},地址6,服务范围,36.5,32,22,,", uscc(6)),
        format!("SM2026IMP00007,坏日期有限公司,,{},地址7,服务范围,38,33,24,,01/02/2026", uscc(7)),
    ];
    let csv = format!("{header}{}\n", rows.join("\n"));
    let file = dir.path().join("batch.csv");
    std::fs::write(&file, csv).unwrap();
    let out = run(dir.path(), &["import", file.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success(), "refused rows make the exit code non-zero");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 3: uscc: check character should be"), "{stderr}");
    assert!(stderr.contains("line 4: score") && stderr.contains("below 70"), "{stderr}");
    assert!(stderr.contains("line 5: certificate SM2026IMP00001 appears more than once"), "{stderr}");
    assert!(stderr.contains("line 6: the level given (compliant)"), "{stderr}");
    assert!(stderr.contains("line 8: issued:"), "{stderr}");
    assert!(text(&out.stdout).contains("issued 2 certificates"), "{}", text(&out.stdout));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = common::test_config(dir.path());
        let registry = starmark::startup::open_registry(&config).await.unwrap();
        assert_eq!(registry.count().await.unwrap(), 2);
        let number = starmark::domain::CertificateNumber::parse("SM2026IMP00001").unwrap();
        let first = registry.get(&number).await.unwrap();
        assert_eq!(first.record.holder.name, "导入一号有限公司");
        assert_eq!(first.record.issued.to_string(), "2026-01-05");
        assert_eq!(registry.history(&number).await.unwrap().len(), 1);
        let query = starmark::domain::SearchQuery {
            text: Some("自动编号".into()),
            uscc: None,
            level: None,
            state: None,
            today: starmark::registry::clock::today(),
            after: None,
            limit: 10,
        };
        let (found, _) = registry.search(&query).await.unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].record.number.as_str().starts_with("SM"));
        assert_eq!(found[0].record.evaluation.system.to_string(), "36.5");
    });

    // Importing the same file again refuses every numbered row as existing.
    let again = run(dir.path(), &["import", file.to_str().unwrap(), "--quiet"]);
    assert!(
        text(&again.stderr).contains("line 2: certificate SM2026IMP00001 already exists"),
        "{}",
        text(&again.stderr)
    );

    let bad_header = dir.path().join("bad.csv");
    std::fs::write(&bad_header, "number,colour\nX,red\n").unwrap();
    let out = run(dir.path(), &["import", bad_header.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown column 'colour'"), "{}", text(&out.stderr));
    let missing = run(dir.path(), &["import", "/nonexistent.csv"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot open /nonexistent.csv"));
}

#[tokio::test]
async fn verify_checks_a_saved_answer_offline() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026VRFY0001", "离线验证有限公司", 13)).await;
    let answer: Value = app.get("/api/v1/certificates/SM2026VRFY0001").await.json().await.unwrap();
    let dir = app.dir.path();
    let saved = dir.join("answer.json");
    std::fs::write(&saved, answer.to_string()).unwrap();
    let out = run_async(dir, &["verify", saved.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("GENUINE: certificate SM2026VRFY0001 version 1"), "{stdout}");
    assert!(stdout.contains("离线验证有限公司"));

    // With the published trust list instead of the keys directory.
    let list = app.get("/.well-known/starmark/keys.json").await.text().await.unwrap();
    let list_path = dir.join("keys.json");
    std::fs::write(&list_path, list).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path(), &["verify", saved.to_str().unwrap(), "--trust-list", list_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    let mut tampered = answer.clone();
    tampered["record"]["valid_until"] = Value::String("2099-12-31".into());
    let forged = dir.join("forged.json");
    std::fs::write(&forged, tampered.to_string()).unwrap();
    let out = run_async(dir, &["verify", forged.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(text(&out.stdout).starts_with("NOT GENUINE"), "{}", text(&out.stdout));

    let unrelated = tempfile::tempdir().unwrap();
    assert!(run(unrelated.path(), &["keygen"]).status.success());
    let out = run(unrelated.path(), &["verify", saved.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("not in the trust list"), "{}", text(&out.stdout));

    let not_json = dir.join("note.txt");
    std::fs::write(&not_json, "hello").unwrap();
    let out = run_async(dir, &["verify", not_json.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not JSON"));
}

/// Starts `starmark demo`, waits for the address it prints, and kills it when dropped.
struct Demo {
    child: common::process::Guard,
    base: String,
    token: String,
    /// The mark URL the banner prints.
    scan: String,
}

/// [`start_demo_blocking`] on a blocking thread, so the test's runtime keeps running meanwhile.
async fn start_demo(dir: &Path) -> Demo {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || start_demo_blocking(&dir)).await.expect("the demo's start ran to its end")
}

fn start_demo_blocking(dir: &Path) -> Demo {
    let mut child =
        common::process::Guard::spawn(starmark(dir).arg("demo").stdout(Stdio::piped()).stderr(Stdio::inherit()))
            .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // Keep draining even when nobody listens, so the demo never sees a closed pipe.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut base, mut token, mut scan) = (None, None, None);
    while base.is_none() || token.is_none() || scan.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("demo printed its address and token in time");
        if let Some(rest) = line.strip_prefix("Starmark demo is answering on ") {
            base = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("scan a mark:") {
            scan = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("admin token:") {
            token = Some(rest.trim().to_string());
        }
    }
    Demo { child, base: base.unwrap(), token: token.unwrap(), scan: scan.unwrap() }
}

#[tokio::test]
async fn demo_serves_every_level_and_state_and_keeps_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let client = reqwest::Client::new();
    let expect = [
        ("SM2026ASC000001", "five_star", "valid"),
        ("SM2026ASC000002", "four_star", "valid"),
        ("SM2026ASC000003", "three_star", "valid"),
        ("SM2026ASC000004", "compliant", "valid"),
        ("SM2025ASC000017", "four_star", "suspended"),
        ("SM2024ASC000203", "three_star", "revoked"),
        ("SM2024ASC000311", "five_star", "withdrawn"),
        ("SM2021ASC000045", "three_star", "expired"),
    ];
    for (number, level, state) in expect {
        let answer: Value = client
            .get(format!("{}/api/v1/certificates/{number}", demo.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["level"], level, "{number}");
        assert_eq!(answer["status"]["state"], state, "{number}");
    }
    let status = client
        .post(format!("{}/api/v1/certificates/SM2026ASC000003/status", demo.base))
        .bearer_auth(&demo.token)
        .json(&serde_json::json!({"action": "revoke", "reason": "demo"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the printed token works");
    let scanned: Value =
        client.get(&demo.scan).header("accept", "application/json").send().await.unwrap().json().await.unwrap();
    assert_eq!(scanned["verdict"], "valid", "the printed mark URL opens a genuine, valid mark: {scanned}");
    let page = client.get(format!("{}/verify", demo.base)).send().await.unwrap();
    assert_eq!(page.status(), 200, "the printed pages answer");
    let token = demo.token.clone();
    drop(demo);

    // A second run reuses the key, data and token, and does not seed twice.
    let again = start_demo(dir.path()).await;
    assert_eq!(again.token, token);
    let page: Value =
        client.get(format!("{}/api/v1/certificates?limit=100", again.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn a_stopping_server_does_not_wait_for_a_digest_index_it_would_throw_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = start_demo(dir.path()).await;
    // A million marks: their digest index takes some 15 s of signing on two cores in a release
    // build, minutes in a test build, and is built in the background after the order's answer.
    let ordered = reqwest::Client::new()
        .post(format!("{}/api/v1/certificates/SM2026ASC000001/marks", demo.base))
        .bearer_auth(&demo.token)
        .json(&serde_json::json!({ "count": 1_000_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(ordered.status(), 201);
    let ordered: Value = ordered.json().await.unwrap();
    let batch = ordered["batch"]["id"].as_i64().unwrap_or_else(|| panic!("no batch id in {ordered}"));

    // SIGTERM whether or not the build has begun: either way it must not be waited for.
    let term = common::process::output(Command::new("kill").args(["-TERM", &demo.child.id().to_string()]));
    assert!(term.status.success());
    let mut exited = None;
    common::wait::until_true("the demo exits after SIGTERM", || {
        exited = demo.child.try_wait().unwrap();
        std::future::ready(exited.is_some())
    })
    .await;
    let exited = exited.expect("exited");
    assert!(exited.success(), "{exited}");
    // What shows it gave up rather than finished: the batch has no stored index (the next start
    // builds it, see `repair_mark_digests`).
    let mut db = common::RawDb::sqlite(&dir.path().join("data").join("starmark.db")).await;
    let stored = db
        .integer(&format!("SELECT count(*) FROM mark_digests WHERE number = 'SM2026ASC000001' AND batch = {batch}"))
        .await;
    assert_eq!(stored, 0, "the stopping server finished the digest index of batch {batch} instead of giving it up");
}
