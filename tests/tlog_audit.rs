//! `starmark audit` against a store tampered with the way an attacker with database access
//! would: drop the protecting trigger, then edit or delete. Audit must fail and name each place.

mod common;

use std::process::{Command, Output, Stdio};

use chrono::Days;
use common::{issue_body, spawn_app, TestApp};
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use starmark::registry::clock;

fn audit(app: &TestApp) -> Output {
    audit_with(app, &[])
}

fn audit_with(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_starmark"))
        .arg("audit")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STARMARK_DATA_DIR", &app.config.data_dir)
        .env("STARMARK_KEYS_DIR", &app.config.keys_dir)
        .env("STARMARK_PUBLIC_URL", &app.config.public_url)
        .env("STARMARK_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run starmark audit")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three certificates; the second is suspended and reinstated (versions 1, 2, 3).
async fn populated() -> TestApp {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026AUDIT01", "审计测试一有限公司", 1)).await;
    app.issue(&issue_body("SM2026AUDIT02", "审计测试二有限公司", 2)).await;
    let until = (clock::today() + Days::new(30)).to_string();
    let (status, _) = app.status("SM2026AUDIT02", json!({"action": "suspend", "reason": "整改", "until": until})).await;
    assert_eq!(status, 200);
    let (status, _) = app.status("SM2026AUDIT02", json!({"action": "reinstate", "reason": "整改完成"})).await;
    assert_eq!(status, 200);
    app.issue(&issue_body("SM2026AUDIT03", "审计测试三有限公司", 3)).await;
    app
}

async fn database(app: &TestApp) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(app.db_path())).await.expect("open database")
}

#[tokio::test]
async fn a_clean_store_passes() {
    let app = populated().await;
    let out = audit(&app);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("audited 5 events, 5 log leaves"), "{text}");
    assert!(text.contains("audit passed"), "{text}");
    assert!(!text.contains("FINDING"), "{text}");
}

#[tokio::test]
async fn an_edited_record_is_named() {
    let app = populated().await;
    let mut db = database(&app).await;
    sqlx::query("DROP TRIGGER events_no_update").execute(&mut db).await.unwrap();
    sqlx::query("UPDATE events SET record = replace(record, 'five_star', 'four_star') WHERE number = 'SM2026AUDIT01'")
        .execute(&mut db)
        .await
        .unwrap();

    let out = audit(&app);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FINDING certificate SM2026AUDIT01 version 1 (event 1): record signature does not verify"),
        "{text}"
    );
    assert!(text.contains("FINDING leaf 0 (certificate SM2026AUDIT01 version 1): does not match event 1"), "{text}");
    assert!(text.contains("FINDING checkpoint at size 5: its signed root differs"), "{text}");
    assert!(
        text.contains("FINDING certificate SM2026AUDIT01 (current state): record differs from the one in event 1"),
        "{text}"
    );
    assert!(!text.contains("SM2026AUDIT02"), "only the edited certificate is named: {text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit FAILED"));
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let app = populated().await;
    let mut db = database(&app).await;
    sqlx::query("DROP TRIGGER events_no_delete").execute(&mut db).await.unwrap();
    // The suspension (version 2 of the second certificate, the third event and leaf 2) vanishes.
    let deleted = sqlx::query("DELETE FROM events WHERE number = 'SM2026AUDIT02' AND version = 2")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);

    let out = audit(&app);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FINDING certificate SM2026AUDIT02 version 3 (event 4): version 2 is missing (a deleted event?)"),
        "{text}"
    );
    assert!(
        text.contains("FINDING leaf 2 (certificate SM2026AUDIT02 version 2): its event is missing from the store"),
        "{text}"
    );
    assert!(!text.contains("SM2026AUDIT01"), "{text}");
}

#[tokio::test]
async fn a_state_column_changed_behind_the_records_back_is_named() {
    let app = populated().await;
    let mut db = database(&app).await;
    // The triggers refuse a state column that disagrees with the record (store_integrity.rs);
    // someone with the database in hand drops them first, and audit must still name the edit.
    sqlx::query("DROP TRIGGER certificates_update_needs_event").execute(&mut db).await.unwrap();
    sqlx::query("UPDATE certificates SET state = 'revoked' WHERE number = 'SM2026AUDIT03'")
        .execute(&mut db)
        .await
        .unwrap();
    let out = audit(&app);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "FINDING certificate SM2026AUDIT03 (current state): column state says Some(\"revoked\") but the signed record says Some(\"valid\")"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_rewritten_log_contradicts_its_checkpoint() {
    let app = populated().await;
    let mut db = database(&app).await;
    // Rewrite a leaf to hide a change: the signed checkpoint still holds the old root.
    sqlx::query("DROP TRIGGER tlog_leaves_no_update").execute(&mut db).await.unwrap();
    sqlx::query("UPDATE tlog_leaves SET hash = zeroblob(32) WHERE idx = 4").execute(&mut db).await.unwrap();
    let out = audit(&app);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FINDING leaf 4 (certificate SM2026AUDIT03 version 1): does not match event 5"), "{text}");
}

#[tokio::test]
async fn the_log_tables_refuse_edits_deletes_and_out_of_order_leaves() {
    let app = populated().await;
    let mut db = database(&app).await;
    let err = |r: Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error>| r.unwrap_err().to_string();
    assert!(
        err(sqlx::query("UPDATE tlog_leaves SET hash = zeroblob(32)").execute(&mut db).await).contains("append-only")
    );
    assert!(err(sqlx::query("DELETE FROM tlog_leaves").execute(&mut db).await).contains("append-only"));
    assert!(err(sqlx::query("DELETE FROM tlog_checkpoints").execute(&mut db).await).contains("append-only"));
    assert!(err(sqlx::query("UPDATE tlog_checkpoints SET note = ''").execute(&mut db).await).contains("append-only"));
    let skip = sqlx::query(
        "INSERT INTO tlog_leaves (idx, number, version, hash) VALUES (9, 'SM2026AUDIT01', 1, zeroblob(32))",
    )
    .execute(&mut db)
    .await;
    assert!(err(skip).contains("in order"));
    let orphan =
        sqlx::query("INSERT INTO tlog_leaves (idx, number, version, hash) VALUES (5, 'SM2026NOPE', 1, zeroblob(32))")
            .execute(&mut db)
            .await;
    assert!(err(orphan).contains("without its event"));
}

#[test]
fn audit_refuses_to_invent_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    starmark::crypto::keys::generate(&dir.path().join("keys")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_starmark"))
        .arg("audit")
        .env_clear()
        .env("STARMARK_DATA_DIR", dir.path().join("data"))
        .env("STARMARK_KEYS_DIR", dir.path().join("keys"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no database"));
    assert!(!dir.path().join("data").exists());
}

#[tokio::test]
async fn a_renamed_log_passes_when_both_names_are_given() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026AUDIT01", "审计测试一有限公司", 1)).await;
    // Restart under another origin and write once more.
    let mut renamed = app.config.clone();
    renamed.log_origin = Some("registry.example.cn/starmark-log".into());
    let registry = starmark::startup::open_registry(&renamed).await.expect("restart");
    let draft = starmark::registry::parse_csv(
        format!(
            "holder_name,uscc,address,scope,system,commodity,customer\n改名测试公司,{},地址,服务,38,33,24\n",
            common::uscc(9)
        )
        .as_bytes(),
    )
    .expect("csv")
    .0
    .remove(0)
    .draft;
    registry.issue("test", draft).await.expect("issue");

    let both =
        audit_with(&app, &["--origin", "starmark.test/starmark-log", "--origin", "registry.example.cn/starmark-log"]);
    assert!(both.status.success(), "{}", stdout(&both));
    let only_new = audit_with(&app, &["--origin", "registry.example.cn/starmark-log"]);
    let text = stdout(&only_new);
    assert!(!only_new.status.success(), "{text}");
    assert!(
        text.contains("FINDING checkpoint at size 1: origin 'starmark.test/starmark-log' is not this log's"),
        "{text}"
    );
}
