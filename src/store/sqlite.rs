//! The embedded store: one SQLite file in WAL mode, schema from `migrations/sqlite`.

mod mark_digests;
mod receipts;
mod scanners;
mod scans;
mod tlog;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::columns::{details_json, like_escape, signature_json, timestamp, utf8, SELECT_CERTIFICATES};
use super::{
    EventKind, NewEvent, Role, RowColumns, ScanDeltas, ScanTally, SearchQuery, SerialKey, Store, StoreError,
    StoredCertificate, StoredEvent, StoredReceipt, StoredToken,
};
use crate::crypto::Signature;
use crate::domain::{CertificateNumber, CertificateRecord, State, Uscc};

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

    fn certificate_from_row(row: &SqliteRow) -> Result<StoredCertificate, StoreError> {
        let canonical: String = row.try_get("record")?;
        let record: CertificateRecord =
            serde_json::from_str(&canonical).map_err(|e| StoreError::Corrupt(format!("record does not parse: {e}")))?;
        let signature: String = row.try_get("signature")?;
        let signature: Signature = serde_json::from_str(&signature)
            .map_err(|e| StoreError::Corrupt(format!("signature does not parse: {e}")))?;
        let updated_at: String = row.try_get("updated_at")?;
        let version: i64 = row.try_get("version")?;
        let columns = RowColumns {
            number: row.try_get("number")?,
            version: u32::try_from(version)
                .map_err(|_| StoreError::Corrupt(format!("version {version} out of range")))?,
            holder_name: row.try_get("holder_name")?,
            holder_name_en: row.try_get("holder_name_en")?,
            uscc: row.try_get("uscc")?,
            level: row.try_get("level")?,
            state: row.try_get("state")?,
            valid_until: row.try_get("valid_until")?,
        };
        Ok(StoredCertificate {
            record,
            canonical,
            signature,
            updated_at: parse_timestamp(&updated_at)?,
            columns: Some(columns),
        })
    }

    fn token_from_row(row: &SqliteRow) -> Result<StoredToken, StoreError> {
        let role: String = row.try_get("role")?;
        let created_at: String = row.try_get("created_at")?;
        let revoked_at: Option<String> = row.try_get("revoked_at")?;
        Ok(StoredToken {
            id: row.try_get("id")?,
            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
            secret_hash: row.try_get("secret_hash")?,
            label: row.try_get("label")?,
            created_at: parse_timestamp(&created_at)?,
            revoked_at: revoked_at.as_deref().map(parse_timestamp).transpose()?,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_new(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
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
        }
        tlog::append_leaves(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append(&self, event: &NewEvent, expected_version: u32) -> Result<(), StoreError> {
        let record = &event.signed.record;
        let canonical = utf8(&event.signed.canonical)?;
        let signature = signature_json(&event.signed.signature)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<u32> = sqlx::query_scalar("SELECT version FROM certificates WHERE number = ?")
            .bind(record.number.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        match current {
            None => return Err(StoreError::NotFound(record.number.to_string())),
            Some(version) if version != expected_version || record.version != expected_version + 1 => {
                return Err(StoreError::VersionConflict {
                    number: record.number.to_string(),
                    expected: expected_version,
                })
            }
            Some(_) => {}
        }
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
        tlog::append_leaves(&mut tx, std::slice::from_ref(event)).await?;
        sqlx::query(
            "UPDATE certificates SET version = ?, holder_name = ?, holder_name_en = ?, uscc = ?, level = ?, \
             state = ?, valid_until = ?, record = ?, signature = ?, updated_at = ? WHERE number = ? AND version = ?",
        )
        .bind(record.version)
        .bind(&record.holder.name)
        .bind(record.holder.name_en.as_deref())
        .bind(record.holder.uscc.as_str())
        .bind(record.level.as_str())
        .bind(record.status.state.as_str())
        .bind(record.valid_until.to_string())
        .bind(canonical)
        .bind(&signature)
        .bind(timestamp(event.at))
        .bind(record.number.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn existing_numbers(&self, numbers: &[String]) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in numbers.chunks(INSERT_CHUNK) {
            let mut query: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT number FROM certificates WHERE number IN (");
            let mut separated = query.separated(", ");
            for number in chunk {
                separated.push_bind(number.as_str());
            }
            separated.push_unseparated(")");
            for row in query.build().fetch_all(&self.reader).await? {
                found.push(row.try_get("number")?);
            }
        }
        Ok(found)
    }

    async fn get(&self, number: &CertificateNumber) -> Result<Option<StoredCertificate>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_CERTIFICATES} WHERE number = ?"))
            .bind(number.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(Self::certificate_from_row).transpose()
    }

    async fn get_many(&self, numbers: &[String]) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut found = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(INSERT_CHUNK) {
            let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(format!("{SELECT_CERTIFICATES} WHERE number IN ("));
            let mut separated = query.separated(", ");
            for number in chunk {
                separated.push_bind(number.as_str());
            }
            separated.push_unseparated(")");
            for row in query.build().fetch_all(&self.reader).await? {
                found.push(Self::certificate_from_row(&row)?);
            }
        }
        Ok(found)
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<StoredCertificate>, StoreError> {
        // Filters read the signed record, not the row's copies of its fields: an edit of a copy
        // alone can neither add a row to a filter's answer nor hide one from it. Only the
        // indexed `number` and `uscc` lookups use columns; the registry checks every row's
        // columns against its record before using it.
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(format!("{SELECT_CERTIFICATES} WHERE 1 = 1"));
        if let Some(text) = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let upper = text.to_ascii_uppercase();
            let pattern = format!("%{}%", like_escape(text));
            sql.push(" AND (number = ")
                .push_bind(upper.clone())
                .push(" OR number LIKE ")
                .push_bind(format!("{}%", like_escape(&upper)))
                .push(" ESCAPE '\\' OR json_extract(record, '$.holder.uscc') = ")
                .push_bind(upper)
                .push(" OR json_extract(record, '$.holder.name') LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR json_extract(record, '$.holder.name_en') LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(uscc) = &query.uscc {
            sql.push(" AND uscc = ").push_bind(uscc.as_str().to_string());
        }
        if let Some(level) = query.level {
            sql.push(" AND json_extract(record, '$.level') = ").push_bind(level.as_str());
        }
        let today = query.today.to_string();
        const STATE: &str = "json_extract(record, '$.status.state')";
        const VALID_UNTIL: &str = "json_extract(record, '$.valid_until')";
        match query.state {
            None => {}
            Some(State::Expired) => {
                sql.push(format!(" AND {STATE} IN ('valid', 'suspended') AND {VALID_UNTIL} < ")).push_bind(today);
            }
            Some(state @ (State::Valid | State::Suspended)) => {
                sql.push(format!(" AND {STATE} = "))
                    .push_bind(state.as_str())
                    .push(format!(" AND {VALID_UNTIL} >= "))
                    .push_bind(today);
            }
            Some(state) => {
                sql.push(format!(" AND {STATE} = ")).push_bind(state.as_str());
            }
        }
        if let Some(after) = &query.after {
            sql.push(" AND number > ").push_bind(after.as_str().to_string());
        }
        sql.push(" ORDER BY number LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.reader).await?;
        rows.iter().map(Self::certificate_from_row).collect()
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, String, u32)>, StoreError> {
        let rows = sqlx::query_as::<_, (i64, String, u32)>(
            "SELECT seq, number, version FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows)
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let (seq,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM events").fetch_one(&self.reader).await?;
        Ok(seq.unwrap_or(0))
    }

    async fn history(&self, number: &CertificateNumber) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, number, version, kind, actor, at, details, record, signature FROM events \
             WHERE number = ? ORDER BY version",
        )
        .bind(number.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let at: String = row.try_get("at")?;
                let details: String = row.try_get("details")?;
                let signature: String = row.try_get("signature")?;
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    number: row.try_get("number")?,
                    version: row.try_get("version")?,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind '{kind}'")))?,
                    actor: row.try_get("actor")?,
                    at: parse_timestamp(&at)?,
                    details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    record: row.try_get("record")?,
                    signature: serde_json::from_str(&signature).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn reserve_sequence(&self, year: i32, count: u64) -> Result<u64, StoreError> {
        let count = i64::try_from(count).map_err(|_| StoreError::Corrupt("sequence count too large".into()))?;
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO number_sequences (year, last) VALUES (?, ?) \
             ON CONFLICT (year) DO UPDATE SET last = last + excluded.last RETURNING last",
        )
        .bind(year)
        .bind(count)
        .fetch_one(&self.writer)
        .await?;
        u64::try_from(last - count + 1).map_err(|_| StoreError::Corrupt("negative sequence".into()))
    }

    async fn count_certificates(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates").fetch_one(&self.reader).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn count_holder_certificates(&self, uscc: &Uscc) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE uscc = ?")
            .bind(uscc.as_str())
            .fetch_one(&self.reader)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn add_scans(&self, deltas: &ScanDeltas) -> Result<(), StoreError> {
        self.add_scan_tallies(deltas).await
    }

    async fn scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError> {
        self.select_scan_tally(key).await
    }

    async fn scan_summary(&self, number: &str, limit: u32) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        self.select_scan_summary(number, limit).await
    }

    async fn insert_token(&self, token: &StoredToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, role, secret_hash, label, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)",
        )
        .bind(&token.id)
        .bind(token.role.as_str())
        .bind(&token.secret_hash)
        .bind(&token.label)
        .bind(timestamp(token.created_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_token(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        let row =
            sqlx::query("SELECT id, role, secret_hash, label, created_at, revoked_at FROM api_tokens WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        row.as_ref().map(Self::token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, secret_hash, label, created_at, revoked_at FROM api_tokens ORDER BY created_at",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(timestamp(at))
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_receipt(&self, receipt: &StoredReceipt) -> Result<(), StoreError> {
        self.insert_receipt(receipt).await
    }

    async fn get_receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        self.select_receipt(id).await
    }

    async fn put_mark_digests(&self, digests: &crate::store::StoredMarkDigests) -> Result<(), StoreError> {
        self.upsert_mark_digests(digests).await
    }

    async fn get_mark_digests(
        &self,
        number: &str,
        batch: u32,
    ) -> Result<Option<crate::store::StoredMarkDigests>, StoreError> {
        self.select_mark_digests(number, batch).await
    }

    async fn batches_without_digests(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.select_batches_without_digests().await
    }

    async fn scanned_serials(&self, number: &str, batch: u32) -> Result<Vec<u32>, StoreError> {
        self.select_scanned_serials(number, batch).await
    }

    async fn add_scanners(&self, sets: &[(SerialKey, super::ScannerSet)]) -> Result<(), StoreError> {
        self.union_scanners(sets).await
    }

    async fn scanners(&self, key: &SerialKey) -> Result<Option<super::ScannerSet>, StoreError> {
        self.select_scanners(key).await
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
