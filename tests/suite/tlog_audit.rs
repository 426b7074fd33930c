//! `starmark audit` against a store tampered with the way an attacker with database access
//! would: drop the protecting trigger, then edit or delete. Audit must fail and name each place.

use crate::common;

use std::process::Output;

use chrono::Days;
use common::{issue_body, spawn_app, spawn_app_on, Backend, TestApp};
use serde_json::json;
use starmark::registry::clock;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three certificates; the second is suspended and reinstated (versions 1, 2, 3).
async fn populated(backend: Backend) -> TestApp {
    let app = spawn_app_on(backend).await;
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

on_each_backend!(
    a_clean_store_passes,
    an_edited_record_is_named,
    a_deleted_event_is_named,
    a_state_column_changed_behind_the_records_back_is_named,
    a_rewritten_log_contradicts_its_checkpoint,
    the_log_tables_refuse_edits_deletes_and_out_of_order_leaves,
);

async fn a_clean_store_passes(backend: Backend) {
    let app = populated(backend).await;
    let out = app.audit(&[]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("audited 5 events, 5 log leaves"), "{text}");
    assert!(text.contains("audit passed"), "{text}");
    assert!(!text.contains("FINDING"), "{text}");
}

async fn an_edited_record_is_named(backend: Backend) {
    let app = populated(backend).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("events", "events_no_update").await;
    db.execute("UPDATE events SET record = replace(record, 'five_star', 'four_star') WHERE number = 'SM2026AUDIT01'")
        .await
        .unwrap();

    let out = app.audit(&[]).await;
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

async fn a_deleted_event_is_named(backend: Backend) {
    let app = populated(backend).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("events", "events_no_delete").await;
    // The suspension (version 2 of the second certificate, the third event and leaf 2) vanishes.
    let deleted = db.execute("DELETE FROM events WHERE number = 'SM2026AUDIT02' AND version = 2").await.unwrap();
    assert_eq!(deleted, 1);

    let out = app.audit(&[]).await;
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

async fn a_state_column_changed_behind_the_records_back_is_named(backend: Backend) {
    let app = populated(backend).await;
    let mut db = app.raw_db().await;
    // The triggers refuse a state column that disagrees with the record (store_integrity.rs);
    // someone with the database in hand drops them first, and audit must still name the edit.
    db.drop_trigger("certificates", "certificates_update_needs_event").await;
    db.execute("UPDATE certificates SET state = 'revoked' WHERE number = 'SM2026AUDIT03'").await.unwrap();
    let out = app.audit(&[]).await;
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "FINDING certificate SM2026AUDIT03 (current state): column state says Some(\"revoked\") but the signed record says Some(\"valid\")"
        ),
        "{text}"
    );
}

async fn a_rewritten_log_contradicts_its_checkpoint(backend: Backend) {
    let app = populated(backend).await;
    let mut db = app.raw_db().await;
    // Rewrite a leaf to hide a change: the signed checkpoint still holds the old root.
    db.drop_trigger("tlog_leaves", "tlog_leaves_no_update").await;
    let zero = db.zero_hash();
    db.execute(&format!("UPDATE tlog_leaves SET hash = {zero} WHERE idx = 4")).await.unwrap();
    let out = app.audit(&[]).await;
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FINDING leaf 4 (certificate SM2026AUDIT03 version 1): does not match event 5"), "{text}");
}

async fn the_log_tables_refuse_edits_deletes_and_out_of_order_leaves(backend: Backend) {
    let app = populated(backend).await;
    let mut db = app.raw_db().await;
    let zero = db.zero_hash();
    assert!(db.execute(&format!("UPDATE tlog_leaves SET hash = {zero}")).await.unwrap_err().contains("append-only"));
    assert!(db.execute("DELETE FROM tlog_leaves").await.unwrap_err().contains("append-only"));
    assert!(db.execute("DELETE FROM tlog_checkpoints").await.unwrap_err().contains("append-only"));
    assert!(db.execute("UPDATE tlog_checkpoints SET note = ''").await.unwrap_err().contains("append-only"));
    // A leaf that skips ahead. SQLite checks each row before it is written, order first for a
    // leaf of an event that has one; PostgreSQL checks after the statement (all its rows at
    // once), so there a second leaf of an event is refused by the unique key before any check,
    // and the order check is seen with a leaf that is out of order and nothing else.
    let version = if backend == Backend::Postgres { 2 } else { 1 };
    let skip = db
        .execute(&format!(
            "INSERT INTO tlog_leaves (idx, number, version, hash) VALUES (9, 'SM2026AUDIT01', {version}, {zero})"
        ))
        .await;
    assert!(skip.unwrap_err().contains("in order"));
    if backend == Backend::Postgres {
        let again = db
            .execute(&format!(
                "INSERT INTO tlog_leaves (idx, number, version, hash) VALUES (9, 'SM2026AUDIT01', 1, {zero})"
            ))
            .await;
        assert!(again.unwrap_err().contains("duplicate key"));
    }
    let orphan = db
        .execute(&format!("INSERT INTO tlog_leaves (idx, number, version, hash) VALUES (5, 'SM2026NOPE', 1, {zero})"))
        .await;
    assert!(orphan.unwrap_err().contains("without its event"));
}

#[test]
fn audit_refuses_to_invent_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    starmark::crypto::keys::generate(&dir.path().join("keys")).unwrap();
    let out = common::process::output(common::starmark_command(dir.path()).arg("audit"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no database"));
    assert!(!dir.path().join("data").exists());
}

#[tokio::test]
async fn a_renamed_log_passes_when_both_names_are_given() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026AUDIT01", "审计测试一有限公司", 1)).await;
    // A log renamed before its origin was kept in the database (a different origin is refused
    // at start since): forget the kept origin, then restart under another and write once more.
    let mut db = app.raw_db().await;
    db.drop_trigger("tlog_origin", "tlog_origin_no_delete").await;
    db.execute("DELETE FROM tlog_origin").await.expect("forget the origin");
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
        app.audit(&["--origin", "starmark.test/starmark-log", "--origin", "registry.example.cn/starmark-log"]).await;
    assert!(both.status.success(), "{}", stdout(&both));
    let only_new = app.audit(&["--origin", "registry.example.cn/starmark-log"]).await;
    let text = stdout(&only_new);
    assert!(!only_new.status.success(), "{text}");
    assert!(
        text.contains("FINDING checkpoint at size 1: origin 'starmark.test/starmark-log' is not this log's"),
        "{text}"
    );
}
