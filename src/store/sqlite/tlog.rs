//! The SQLite side of the transparency log: leaves written inside the event transactions,
//! checkpoints, and the raw reads of the audit.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{timestamp, SqliteStore, INSERT_CHUNK};
use crate::store::leaves::{hash_of, index, leaf_hashes, unsigned};
use crate::store::tlog::{LeafRow, LogEntry, LogStore, RawCertificate, RawEvent, StoredCheckpoint};
use crate::store::{NewEvent, StoreError};
use crate::tlog::{leaf_hash, Hash};

/// Rows per page when reading the whole log.
const PAGE: u32 = 10_000;

/// Appends the leaves of `events`, in order, after the last leaf. Must run inside the
/// transaction that stores the events, after they are written.
pub(super) async fn append_leaves(conn: &mut SqliteConnection, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let next: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves").fetch_one(&mut *conn).await?;
    let hashes = leaf_hashes(events)?;
    let mut idx = next;
    for (events, hashes) in events.chunks(INSERT_CHUNK).zip(hashes.chunks(INSERT_CHUNK)) {
        let mut insert: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO tlog_leaves (idx, number, version, hash) ");
        let start = idx;
        insert.push_values(events.iter().zip(hashes).enumerate(), |mut b, (i, (event, hash))| {
            b.push_bind(start + i as i64)
                .push_bind(event.signed.record.number.as_str())
                .push_bind(event.signed.record.version)
                .push_bind(hash.as_slice());
        });
        insert.build().execute(&mut *conn).await?;
        idx += events.len() as i64;
    }
    Ok(())
}

fn raw_event(row: &SqliteRow) -> Result<RawEvent, StoreError> {
    Ok(RawEvent {
        seq: row.try_get("seq")?,
        number: row.try_get("number")?,
        version: row.try_get("version")?,
        kind: row.try_get("kind")?,
        at: row.try_get("at")?,
        details: row.try_get("details")?,
        record: row.try_get("record")?,
        signature: row.try_get("signature")?,
    })
}

fn checkpoint_row(row: &SqliteRow) -> Result<StoredCheckpoint, StoreError> {
    let size: i64 = row.try_get("size")?;
    Ok(StoredCheckpoint {
        size: unsigned(size, "checkpoint size")?,
        root: hash_of(row.try_get("root")?, "checkpoint root")?,
        note: row.try_get("note")?,
    })
}

fn leaf_data_or_corrupt(event: &RawEvent) -> Result<Vec<u8>, StoreError> {
    event.leaf_data().map_err(|e| StoreError::Corrupt(format!("event {} v{}: {e}", event.number, event.version)))
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn log_origin(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT origin FROM tlog_origin WHERE id = 1").fetch_optional(&self.reader).await?)
    }

    async fn fix_log_origin(&self, origin: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO tlog_origin (id, origin) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(origin)
            .execute(&self.writer)
            .await?;
        let fixed: Option<String> =
            sqlx::query_scalar("SELECT origin FROM tlog_origin WHERE id = 1").fetch_optional(&self.writer).await?;
        fixed.ok_or_else(|| StoreError::Corrupt("the log origin was not kept".into()))
    }

    async fn log_backfill(&self) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query(
            "SELECT e.seq, e.number, e.version, e.kind, e.at, e.details, e.record, e.signature FROM events e \
             LEFT JOIN tlog_leaves l ON l.number = e.number AND l.version = e.version \
             WHERE l.idx IS NULL ORDER BY e.seq",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut next: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves").fetch_one(&mut *tx).await?;
        for row in &rows {
            let event = raw_event(row)?;
            let hash = leaf_hash(&leaf_data_or_corrupt(&event)?);
            sqlx::query("INSERT INTO tlog_leaves (idx, number, version, hash) VALUES (?, ?, ?, ?)")
                .bind(next)
                .bind(&event.number)
                .bind(event.version)
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
            next += 1;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn log_hashes(&self, from: u64, limit: u32) -> Result<Vec<Hash>, StoreError> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM tlog_leaves WHERE idx >= ? ORDER BY idx LIMIT ?")
            .bind(index(from)?)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(|bytes| hash_of(bytes, "leaf hash")).collect()
    }

    async fn log_entry(&self, number: &str, version: u32) -> Result<Option<LogEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT l.idx, e.seq, e.number, e.version, e.kind, e.at, e.details, e.record, e.signature \
             FROM tlog_leaves l JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE l.number = ? AND l.version = ?",
        )
        .bind(number)
        .bind(version)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let idx: i64 = row.try_get("idx")?;
        let event = raw_event(&row)?;
        Ok(Some(LogEntry { idx: unsigned(idx, "log index")?, data: leaf_data_or_corrupt(&event)? }))
    }

    async fn log_entries(&self, from: u64, count: u32) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.idx, e.seq, e.number, e.version, e.kind, e.at, e.details, e.record, e.signature \
             FROM tlog_leaves l JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE l.idx >= ? AND l.idx < ? ORDER BY l.idx",
        )
        .bind(index(from)?)
        .bind(index(from.saturating_add(u64::from(count)))?)
        .fetch_all(&self.reader)
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for (expected, row) in (from..).zip(&rows) {
            let idx: i64 = row.try_get("idx")?;
            if u64::try_from(idx).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!("log leaf {expected} has no event")));
            }
            entries.push(leaf_data_or_corrupt(&raw_event(row)?)?);
        }
        Ok(entries)
    }

    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tlog_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(index(checkpoint.size)?)
        .bind(checkpoint.root.as_slice())
        .bind(&checkpoint.note)
        .bind(timestamp(chrono::Utc::now()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints WHERE size = ?")
            .bind(index(size)?)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows =
            sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size").fetch_all(&self.reader).await?;
        rows.iter().map(checkpoint_row).collect()
    }

    async fn log_leaves(&self, from: u64, limit: u32) -> Result<Vec<LeafRow>, StoreError> {
        let rows =
            sqlx::query("SELECT idx, number, version, hash FROM tlog_leaves WHERE idx >= ? ORDER BY idx LIMIT ?")
                .bind(index(from)?)
                .bind(i64::from(limit.min(PAGE)))
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|row| {
                let idx: i64 = row.try_get("idx")?;
                Ok(LeafRow {
                    idx: unsigned(idx, "log index")?,
                    number: row.try_get("number")?,
                    version: row.try_get("version")?,
                    hash: hash_of(row.try_get("hash")?, "leaf hash")?,
                })
            })
            .collect()
    }

    async fn raw_events(&self, after: i64, limit: u32) -> Result<Vec<RawEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, number, version, kind, at, details, record, signature FROM events \
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit.min(PAGE)))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(raw_event).collect()
    }

    async fn raw_certificates(&self, after: &str, limit: u32) -> Result<Vec<RawCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, version, holder_name, holder_name_en, uscc, level, state, valid_until, record, signature \
             FROM certificates WHERE number > ? ORDER BY number LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit.min(PAGE)))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RawCertificate {
                    number: row.try_get("number")?,
                    version: row.try_get("version")?,
                    holder_name: row.try_get("holder_name")?,
                    holder_name_en: row.try_get("holder_name_en")?,
                    uscc: row.try_get("uscc")?,
                    level: row.try_get("level")?,
                    state: row.try_get("state")?,
                    valid_until: row.try_get("valid_until")?,
                    record: row.try_get("record")?,
                    signature: row.try_get("signature")?,
                })
            })
            .collect()
    }
}
