//! The log at start: a database from before the log gets its leaves, and a store whose leaves
//! no longer match the last signed checkpoint is refused rather than signed over.

use crate::common;

use common::{issue_body, spawn_app_on, Backend};

on_each_backend!(
    events_from_before_the_log_are_appended_at_start,
    a_log_that_contradicts_its_checkpoint_is_not_signed_over,
);

async fn events_from_before_the_log_are_appended_at_start(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body("SM2026START01", "启动测试一有限公司", 1)).await;
    app.issue(&issue_body("SM2026START02", "启动测试二有限公司", 2)).await;
    // Make it look like a database from before the log: no leaves, no checkpoints.
    let mut db = app.raw_db().await;
    db.drop_trigger("tlog_leaves", "tlog_leaves_no_delete").await;
    db.drop_trigger("tlog_checkpoints", "tlog_checkpoints_no_delete").await;
    for statement in ["DELETE FROM tlog_leaves", "DELETE FROM tlog_checkpoints"] {
        db.execute(statement).await.expect(statement);
    }

    let registry = starmark::startup::open_registry(&app.config).await.expect("start");
    assert_eq!(registry.log_size(), 2);
    assert_eq!(registry.latest_checkpoint().expect("signed").checkpoint.size, 2);
    assert_eq!(db.leaves().await, [(0, "SM2026START01".to_string()), (1, "SM2026START02".to_string())]);
}

async fn a_log_that_contradicts_its_checkpoint_is_not_signed_over(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body("SM2026START01", "启动测试一有限公司", 1)).await;
    let mut db = app.raw_db().await;
    db.drop_trigger("tlog_leaves", "tlog_leaves_no_update").await;
    let zero = db.zero_hash();
    db.execute(&format!("UPDATE tlog_leaves SET hash = {zero}")).await.unwrap();

    let refused = starmark::startup::open_registry(&app.config).await.err().expect("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("do not match its signed checkpoint at size 1"), "{message}");
    assert!(message.contains("starmark audit"), "{message}");
}
