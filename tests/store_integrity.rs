//! The store's own guarantees, checked by going around the application: events cannot be
//! edited or deleted, and the current state cannot change without a matching event.

mod common;

use common::{issue_body, spawn_app};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

#[tokio::test]
async fn the_database_refuses_silent_edits() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026GUARD001", "完整性测试有限公司", 12)).await;
    let options = SqliteConnectOptions::new().filename(app.db_path());
    let mut db = SqliteConnection::connect_with(&options).await.expect("open database");

    let edit_event = sqlx::query("UPDATE events SET actor = 'someone else'").execute(&mut db).await;
    assert!(edit_event.unwrap_err().to_string().contains("append-only"));
    let delete_event = sqlx::query("DELETE FROM events").execute(&mut db).await;
    assert!(delete_event.unwrap_err().to_string().contains("append-only"));

    let silent_change =
        sqlx::query("UPDATE certificates SET state = 'revoked', version = version + 1").execute(&mut db).await;
    assert!(silent_change.unwrap_err().to_string().contains("without its event"));
    let forged_record = sqlx::query("UPDATE certificates SET record = replace(record, 'five_star', 'four_star')")
        .execute(&mut db)
        .await;
    assert!(forged_record.unwrap_err().to_string().contains("without its event"));
    // The search columns are copies of the record: none can be changed behind it.
    for column in
        ["state = 'revoked'", "level = 'compliant'", "holder_name = '冒名'", "valid_until = '2099-12-31'", "uscc = 'X'"]
    {
        let edit = sqlx::query(&format!("UPDATE certificates SET {column}")).execute(&mut db).await;
        assert!(edit.unwrap_err().to_string().contains("without its event"), "{column} was accepted");
    }
    let delete = sqlx::query("DELETE FROM certificates").execute(&mut db).await;
    assert!(delete.unwrap_err().to_string().contains("never deleted"));

    let read: serde_json::Value = app.get("/api/v1/certificates/SM2026GUARD001").await.json().await.unwrap();
    assert_eq!(read["status"]["state"], "valid");
    assert_eq!(read["level"], "five_star");
}
