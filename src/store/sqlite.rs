//! The embedded store: one SQLite file in WAL mode, schema from `migrations/sqlite`.

mod mark_digests;
mod scanners;
mod scans;
mod tlog;

// The statements both backends share, compiled here for SQLite (see `shared/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "shared/mod.rs"]
mod shared;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use super::columns::{details_json, signature_json, timestamp, utf8};
use super::dialect::Dialect;
use super::{NewEvent, StoreError};
use crate::domain::CertificateNumber;

/// The store type and database the shared statements are compiled for.
type Backend = SqliteStore;
type Db = Sqlite;

/// Rows per multi-row INSERT in bulk writes (well under SQLite's bound-variable limit).
const INSERT_CHUNK: usize = 400;

/// SQLite-backed [`Store`]. Writes go through a single connection so that transactions queue
/// in-process instead of fighting over SQLite's lock; reads use a small pool.
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp '{text}': {e}")))
}

/// How long a write waits for SQLite's write lock (held by another process on the same file,
/// such as `starmark import`) or for this process's single writer connection. Shorter than a
/// request's time limit (10 s by default), so the client hears "database busy, retry" (503 with
/// `Retry-After`), as on PostgreSQL, rather than a timeout; and the wait ends on its own.
const WRITE_WAIT: Duration = Duration::from_secs(8);

/// Page cache of each reader connection, in KiB.
const READER_CACHE_KIB: u32 = 512;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or a plain path) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(Path::new(url))
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(WRITE_WAIT)
            .foreign_keys(true);
        // No ping before each use: an embedded database has no connection that could go stale
        // between queries, and the ping is one more hand-off to the connection's thread each time.
        let pool = || SqlitePoolOptions::new().test_before_acquire(false);
        let writer = pool().max_connections(1).acquire_timeout(WRITE_WAIT).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        // Readers keep a small page cache each (512 KiB, where SQLite's default is 2 MiB): the
        // database's pages stay in the operating system's cache anyway, the read path answers
        // from memory and reaches the store only on a miss, and each connection's private
        // copy is memory the server holds four times over.
        let readers = options.read_only(true).pragma("cache_size", format!("-{READER_CACHE_KIB}"));
        let reader = pool().max_connections(4).connect_with(readers).await?;
        Ok(Self { reader, writer })
    }
}

impl SqliteStore {
    /// A write transaction holding SQLite's write lock from its start.
    async fn begin_events(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn insert_new_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin_events().await?;
        for chunk in events.chunks(INSERT_CHUNK) {
            let numbers: Vec<&str> = chunk.iter().map(|e| e.signed.record.number.as_str()).collect();
            let mut check: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT number FROM certificates WHERE number IN (");
            let mut separated = check.separated(", ");
            for number in &numbers {
                separated.push_bind(*number);
            }
            separated.push_unseparated(") LIMIT 1");
            if let Some(row) = check.build().fetch_optional(&mut *tx).await? {
                return Err(StoreError::Duplicate(row.try_get("number")?));
            }

            let mut insert_events: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO events (number, version, kind, actor, at, details, record, signature) ");
            let mut rows = Vec::with_capacity(chunk.len());
            for event in chunk {
                rows.push((event, utf8(&event.signed.canonical)?, signature_json(&event.signed.signature)?));
            }
            insert_events.push_values(&rows, |mut b, (event, canonical, signature)| {
                b.push_bind(event.signed.record.number.as_str())
                    .push_bind(event.signed.record.version)
                    .push_bind(event.kind.as_str())
                    .push_bind(event.actor.as_str())
                    .push_bind(timestamp(event.at))
                    .push_bind(details_json(event))
                    .push_bind(*canonical)
                    .push_bind(signature.as_str());
            });
            insert_events.build().execute(&mut *tx).await.map_err(|e| duplicate_or(e, &numbers))?;

            let mut insert_state: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO certificates (number, version, holder_name, holder_name_en, uscc, level, state, \
                 valid_until, record, signature, updated_at) ",
            );
            insert_state.push_values(&rows, |mut b, (event, canonical, signature)| {
                let record = &event.signed.record;
                b.push_bind(record.number.as_str())
                    .push_bind(record.version)
                    .push_bind(record.holder.name.as_str())
                    .push_bind(record.holder.name_en.as_deref())
                    .push_bind(record.holder.uscc.as_str())
                    .push_bind(record.level.as_str())
                    .push_bind(record.status.state.as_str())
                    .push_bind(record.valid_until.to_string())
                    .push_bind(*canonical)
                    .push_bind(signature.as_str())
                    .push_bind(timestamp(event.at));
            });
            insert_state.build().execute(&mut *tx).await.map_err(|e| duplicate_or(e, &numbers))?;
            shared::put_products(&mut tx, chunk, false).await?;
        }
        shared::append_leaves(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append_event(&self, event: &NewEvent, expected_version: u32) -> Result<(), StoreError> {
        let record = &event.signed.record;
        let canonical = utf8(&event.signed.canonical)?;
        let signature = signature_json(&event.signed.signature)?;
        let mut tx = self.begin_events().await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM certificates WHERE number = ?")
            .bind(record.number.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        shared::check_version(current, event, expected_version)?;
        sqlx::query(
            "INSERT INTO events (number, version, kind, actor, at, details, record, signature) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(record.number.as_str())
        .bind(record.version)
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(timestamp(event.at))
        .bind(details_json(event))
        .bind(canonical)
        .bind(&signature)
        .execute(&mut *tx)
        .await?;
        shared::append_leaves(&mut tx, std::slice::from_ref(event)).await?;
        if !shared::update_state(&mut tx, event, canonical, &signature, expected_version).await? {
            return Err(StoreError::VersionConflict { number: record.number.to_string(), expected: expected_version });
        }
        shared::put_products(&mut tx, std::slice::from_ref(event), true).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Instants are RFC 3339 text ([`timestamp`]) and dates `YYYY-MM-DD` text; `LIKE` already
/// ignores the case of ASCII letters.
impl Dialect for SqliteStore {
    type Db = Sqlite;
    type Instant = String;
    type Date = String;

    /// Well under SQLite's bound-variable limit.
    const ROWS_PER_STATEMENT: usize = INSERT_CHUNK;
    const TEXT_HOLDS_NUL: bool = true;
    const SNAPSHOT: Option<&'static str> = None;

    fn reads(&self) -> &SqlitePool {
        &self.reader
    }

    fn writes(&self) -> &SqlitePool {
        &self.writer
    }

    fn instant(at: DateTime<Utc>) -> String {
        timestamp(at)
    }

    fn date(day: NaiveDate) -> String {
        day.to_string()
    }

    fn read_instant(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
        parse_timestamp(&row.try_get::<String, _>(column)?)
    }

    fn read_optional_instant(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_timestamp).transpose()
    }

    fn read_instant_text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn read_date_text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn ascii_lowercase(column: &str) -> String {
        column.to_string()
    }

    fn record_field(path: &[&str]) -> String {
        format!("json_extract(record, '$.{}')", path.join("."))
    }

    fn push_numbers<'a>(sql: &mut QueryBuilder<'a, Sqlite>, numbers: &'a [CertificateNumber]) {
        sql.push(" number IN (");
        let mut separated = sql.separated(", ");
        for number in numbers {
            separated.push_bind(number.as_str());
        }
        separated.push_unseparated(")");
    }
}

/// Turns a unique-constraint violation into [`StoreError::Duplicate`].
fn duplicate_or(error: sqlx::Error, numbers: &[&str]) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            let message = db.message().to_string();
            let number = numbers.iter().find(|n| message.contains(*n)).map_or(message.clone(), |n| n.to_string());
            return StoreError::Duplicate(number);
        }
    }
    StoreError::Database(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_keep_a_small_page_cache_and_the_writer_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db").to_str().unwrap()).await.unwrap();
        let cache_size = |pool: &SqlitePool| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, i64>("PRAGMA cache_size").fetch_one(&pool).await.unwrap() }
        };
        assert_eq!(cache_size(&store.reader).await, -i64::from(READER_CACHE_KIB));
        assert_eq!(cache_size(&store.writer).await, -2000, "SQLite's default");
    }
}
