//! The log at start: a database from before the log gets its leaves, and a store whose leaves
//! no longer match the last signed checkpoint is refused rather than signed over.

mod common;

use common::{issue_body, spawn_app, TestApp};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

async fn database(app: &TestApp) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(app.db_path())).await.expect("open database")
}

#[tokio::test]
async fn events_from_before_the_log_are_appended_at_start() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026START01", "启动测试一有限公司", 1)).await;
    app.issue(&issue_body("SM2026START02", "启动测试二有限公司", 2)).await;
    // Make it look like a database from before the log: no leaves, no checkpoints.
    let mut db = database(&app).await;
    for statement in [
        "DROP TRIGGER tlog_leaves_no_delete",
        "DROP TRIGGER tlog_checkpoints_no_delete",
        "DELETE FROM tlog_leaves",
        "DELETE FROM tlog_checkpoints",
    ] {
        sqlx::query(statement).execute(&mut db).await.expect(statement);
    }

    let registry = starmark::startup::open_registry(&app.config).await.expect("start");
    assert_eq!(registry.log_size(), 2);
    assert_eq!(registry.latest_checkpoint().expect("signed").checkpoint.size, 2);
    let leaves: Vec<(i64, String)> =
        sqlx::query_as("SELECT idx, number FROM tlog_leaves ORDER BY idx").fetch_all(&mut db).await.unwrap();
    assert_eq!(leaves, [(0, "SM2026START01".to_string()), (1, "SM2026START02".to_string())]);
}

#[tokio::test]
async fn a_log_that_contradicts_its_checkpoint_is_not_signed_over() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026START01", "启动测试一有限公司", 1)).await;
    let mut db = database(&app).await;
    sqlx::query("DROP TRIGGER tlog_leaves_no_update").execute(&mut db).await.unwrap();
    sqlx::query("UPDATE tlog_leaves SET hash = zeroblob(32)").execute(&mut db).await.unwrap();

    let refused = starmark::startup::open_registry(&app.config).await.err().expect("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("do not match its signed checkpoint at size 1"), "{message}");
    assert!(message.contains("starmark audit"), "{message}");
}
