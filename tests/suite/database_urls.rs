//! The forms of `DATABASE_URL` the README documents: a plain path and `sqlite://path` for an
//! SQLite file, and a PostgreSQL URL whose libpq-style `sslmode` is honoured.

use crate::common;

use common::{issue_body, spawn_app_with, TestDatabase};
use sqlx::Connection;

/// An app on `url`; it must store its certificate there and nowhere else.
async fn issues_into(url: String, file: &std::path::Path) {
    let app = spawn_app_with(|config| config.database_url = Some(url.clone())).await;
    app.issue(&issue_body("SM2026DBURL001", "数据库地址有限公司", 97)).await;
    assert!(file.is_file(), "{url}: no database at {}", file.display());
    assert!(!app.db_path().exists(), "{url}: the default file was made too");
    let mut db = common::RawDb::sqlite(file).await;
    assert_eq!(db.integer("SELECT COUNT(*) FROM certificates WHERE number = 'SM2026DBURL001'").await, 1);
}

#[tokio::test]
async fn a_plain_path_or_an_sqlite_url_names_the_file() {
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let plain = elsewhere.path().join("plain").join("registry.db");
    std::fs::create_dir_all(plain.parent().expect("parent")).expect("folder");
    issues_into(plain.display().to_string(), &plain).await;
    // With `sqlite://`, missing folders are made.
    let url = elsewhere.path().join("made").join("for").join("it.db");
    issues_into(format!("sqlite://{}", url.display()), &url).await;
}

/// Whether every connection to `database` other than this one is encrypted.
async fn encrypted(database: &TestDatabase) -> Vec<bool> {
    let mut conn = sqlx::PgConnection::connect(&database.url).await.expect("connect");
    let name = database.url.rsplit('/').next().expect("database name").split('?').next().expect("name");
    sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
         WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_all(&mut conn)
    .await
    .expect("pg_stat_ssl")
}

/// This build's SQLx has no TLS (README, `DATABASE_URL`): `?sslmode=require` must stop the start
/// with a message naming `sslmode`, never fall back to an unencrypted connection; and
/// `sslmode=disable` is honoured.
#[tokio::test]
async fn sslmode_in_a_postgresql_url_is_honoured_or_refused() {
    let database = TestDatabase::create().await;
    let separator = if database.url.contains('?') { '&' } else { '?' };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = common::test_config(dir.path());
    starmark::crypto::keys::generate(&config.keys_dir).expect("keygen");
    config.database_url = Some(format!("{}{separator}sslmode=require", database.url));
    let refused = starmark::startup::Application::build(&config).await.err().expect("no unencrypted fallback");
    assert!(format!("{refused:#}").contains("sslmode"), "{refused:#}");
    assert!(encrypted(&database).await.is_empty(), "no connection was left open");

    let url = format!("{}{separator}sslmode=disable", database.url);
    let mut app = spawn_app_with(|config| config.database_url = Some(url)).await;
    app.issue(&issue_body("SM2026SSLMODE1", "连接参数有限公司", 98)).await;
    let connections = encrypted(&database).await;
    assert!(!connections.is_empty(), "the app holds no connection");
    assert!(connections.iter().all(|&ssl| !ssl), "sslmode=disable, yet encrypted: {connections:?}");
    app.database = Some(database);
}
