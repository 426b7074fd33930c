//! The store's own guarantees, checked by going around the application: events cannot be
//! edited or deleted, and the current state cannot change without a matching event.

use crate::common;

use common::{issue_body, spawn_app_on, Backend};

on_each_backend!(the_database_refuses_silent_edits);

async fn the_database_refuses_silent_edits(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body("SM2026GUARD001", "完整性测试有限公司", 12)).await;
    let mut db = app.raw_db().await;

    let edit_event = db.execute("UPDATE events SET actor = 'someone else'").await;
    assert!(edit_event.unwrap_err().contains("append-only"));
    let delete_event = db.execute("DELETE FROM events").await;
    assert!(delete_event.unwrap_err().contains("append-only"));

    let silent_change = db.execute("UPDATE certificates SET state = 'revoked', version = version + 1").await;
    assert!(silent_change.unwrap_err().contains("without its event"));
    let forged_record = db.execute("UPDATE certificates SET record = replace(record, 'five_star', 'four_star')").await;
    assert!(forged_record.unwrap_err().contains("without its event"));
    // The search columns are copies of the record: none can be changed behind it.
    for column in [
        "state = 'revoked'",
        "level = 'compliant'",
        "holder_name = '冒名'",
        "holder_name_en = NULL",
        "valid_until = '2099-12-31'",
        "uscc = 'X'",
    ] {
        let edit = db.execute(&format!("UPDATE certificates SET {column}")).await;
        assert!(edit.unwrap_err().contains("without its event"), "{column} was accepted");
    }
    let delete = db.execute("DELETE FROM certificates").await;
    assert!(delete.unwrap_err().contains("never deleted"));
    if backend == Backend::Postgres {
        // TRUNCATE fires no row trigger; the tables refuse it on its own.
        for table in ["events", "certificates", "tlog_leaves", "tlog_checkpoints", "receipts"] {
            let truncate = db.execute(&format!("TRUNCATE {table} CASCADE")).await;
            let message = truncate.unwrap_err();
            assert!(message.contains("append-only") || message.contains("never deleted"), "{table}: {message}");
        }
    }

    let read: serde_json::Value = app.get("/api/v1/certificates/SM2026GUARD001").await.json().await.unwrap();
    assert_eq!(read["status"]["state"], "valid");
    assert_eq!(read["level"], "five_star");
}
