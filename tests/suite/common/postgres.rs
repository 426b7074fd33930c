//! The PostgreSQL side of the harness: a fresh database per test on a real server, the same
//! tests run on each backend, and a raw connection to go around the application with.
//!
//! The server is `STARMARK_TEST_POSTGRES` (default `postgres://root@127.0.0.1:5432/postgres`, the
//! machine's own, trust authentication). A server that does not answer fails the test, saying
//! how to start it: a test that skips would hide a missing backend.

use std::sync::Arc;

use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;
use starmark::store::Store;

/// The server the tests create their databases on, unless `STARMARK_TEST_POSTGRES` says another.
pub const DEFAULT_SERVER: &str = "postgres://root@127.0.0.1:5432/postgres";

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn NAME(backend: Backend)` once per backend, as the tests
/// `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_each_backend {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test($crate::common::postgres::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$test($crate::common::postgres::Backend::Postgres).await
            }
        }
    )*};
}

/// The test server's URL.
pub fn server_url() -> String {
    std::env::var("STARMARK_TEST_POSTGRES").ok().filter(|url| !url.trim().is_empty()).unwrap_or(DEFAULT_SERVER.into())
}

/// `url` with its database replaced by `database` (user, host, port and parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.split_once('?').map(|(_, query)| format!("?{query}")).unwrap_or_default();
    format!("{scheme}://{authority}/{database}{query}")
}

/// Connects to the test server's administrative database, failing the test with directions
/// when it does not answer.
pub async fn connect_server() -> PgConnection {
    let server = server_url();
    match PgConnection::connect(&server).await {
        Ok(connection) => connection,
        Err(e) => panic!(
            "PostgreSQL does not answer at {server} ({e}). These tests run against a real PostgreSQL: start the \
             machine's cluster with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
             (scripts/test does this when it runs as root), or set STARMARK_TEST_POSTGRES to a server where this \
             user may create databases"
        ),
    }
}

/// A database of its own for one test, created empty on the test server and dropped (with any
/// connection still open to it) when this is dropped.
pub struct TestDatabase {
    pub name: String,
    /// The URL to give the application (`DATABASE_URL`).
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let mut server = connect_server().await;
        let name = format!("starmark_test_{:016x}", rand::random::<u64>());
        // Identifiers cannot be bound; the name is ours, made of [a-z0-9_].
        let mut attempts = 0;
        loop {
            match sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut server).await {
                Ok(_) => break,
                // Another test creating its database at the same moment holds the template.
                Err(e) if attempts < 20 && e.to_string().contains("is being accessed by other users") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create the test database {name}: {e}"),
            }
        }
        let _ = server.close().await;
        let url = with_database(&server_url(), &name);
        Self { name, url }
    }

    /// A connection of its own to this database, as the server's superuser.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut server = PgConnection::connect(&server_url()).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut server).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: the test database {} was left behind", self.name);
        }
    }
}

/// A store on a backend, with what keeps it alive (its directory or database).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl TestStore {
    /// A fresh, empty store, opened the way the application opens one (`store::open`).
    pub async fn open(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (url, database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("starmark.db").display()), None),
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                (database.url.clone(), Some(database))
            }
        };
        let store = starmark::store::open(&url).await.expect("open the store");
        Self { store, database, _dir: dir }
    }

    /// The same database opened once more, as a second instance would.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        let url = match &self.database {
            Some(database) => database.url.clone(),
            None => format!("sqlite://{}", self._dir.path().join("starmark.db").display()),
        };
        starmark::store::open(&url).await.expect("open the store again")
    }

    /// A connection around the store, as someone with the database in hand would have.
    pub async fn raw_db(&self) -> RawDb {
        match &self.database {
            Some(database) => RawDb::Postgres(database.connect().await),
            None => RawDb::sqlite(&self._dir.path().join("starmark.db")).await,
        }
    }
}

/// A connection that goes around the application, as someone with the database in hand would.
pub enum RawDb {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl RawDb {
    pub async fn sqlite(path: &std::path::Path) -> Self {
        let options = SqliteConnectOptions::new().filename(path);
        RawDb::Sqlite(SqliteConnection::connect_with(&options).await.expect("open database"))
    }

    /// Runs one statement; the error's text on failure.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, String> {
        let done = match self {
            RawDb::Sqlite(db) => sqlx::query(sql).execute(db).await.map(|r| r.rows_affected()),
            RawDb::Postgres(db) => sqlx::query(sql).execute(db).await.map(|r| r.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    /// Takes a protecting trigger away, as an attacker with the database in hand would.
    pub async fn drop_trigger(&mut self, table: &str, trigger: &str) {
        let sql = match self {
            RawDb::Sqlite(_) => format!("DROP TRIGGER {trigger}"),
            RawDb::Postgres(_) => format!("DROP TRIGGER {trigger} ON {table}"),
        };
        self.execute(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The bytes `hex` spells, as an SQL expression.
    pub fn blob(&self, hex: &str) -> String {
        match self {
            RawDb::Sqlite(_) => format!("X'{hex}'"),
            RawDb::Postgres(_) => format!("decode('{hex}', 'hex')"),
        }
    }

    /// The one integer `sql` answers.
    pub async fn integer(&mut self, sql: &str) -> i64 {
        match self {
            RawDb::Sqlite(db) => sqlx::query_scalar(sql).fetch_one(db).await,
            RawDb::Postgres(db) => sqlx::query_scalar(sql).fetch_one(db).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A 32-byte hash of zeros, as an SQL expression.
    pub fn zero_hash(&self) -> &'static str {
        match self {
            RawDb::Sqlite(_) => "zeroblob(32)",
            RawDb::Postgres(_) => "decode(repeat('00', 32), 'hex')",
        }
    }

    /// The log's leaves as (index, certificate number), in order.
    pub async fn leaves(&mut self) -> Vec<(i64, String)> {
        let sql = "SELECT idx, number FROM tlog_leaves ORDER BY idx";
        match self {
            RawDb::Sqlite(db) => sqlx::query_as(sql).fetch_all(db).await,
            RawDb::Postgres(db) => sqlx::query_as(sql).fetch_all(db).await,
        }
        .expect("read the leaves")
    }
}
