//! The PostgreSQL side of the transparency log: leaves written inside the event transactions
//! (under [`super::EVENTS_LOCK`]), checkpoints, and the raw reads of the audit.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{begin, lock, micros, version_of, PostgresStore, BULK_ROWS, EVENTS_LOCK};
use crate::store::columns::timestamp;
use crate::store::leaves::{hash_of, index, leaf_hashes, unsigned};
use crate::store::tlog::{LeafRow, LogEntry, LogStore, RawCertificate, RawEvent, StoredCheckpoint};
use crate::store::{NewEvent, StoreError};
use crate::tlog::{leaf_hash, Hash};

/// Rows per page when reading the whole log.
const PAGE: u32 = 10_000;

/// The columns of an event as the audit reads them, `at` as the text the log hashes.
const EVENT_COLUMNS: &str = "e.seq, e.number, e.version, e.kind, e.at, e.details, e.record, e.signature";

/// Inserts leaves `first ..` with the given hashes, in order, a page per statement.
async fn insert_leaves(
    conn: &mut PgConnection,
    first: i64,
    keys: &[(&str, i64)],
    hashes: &[Hash],
) -> Result<(), StoreError> {
    let mut idx = first;
    for (keys, hashes) in keys.chunks(BULK_ROWS).zip(hashes.chunks(BULK_ROWS)) {
        let indexes: Vec<i64> = (idx..).take(keys.len()).collect();
        let numbers: Vec<&str> = keys.iter().map(|(number, _)| *number).collect();
        let versions: Vec<i64> = keys.iter().map(|(_, version)| *version).collect();
        let hashes: Vec<&[u8]> = hashes.iter().map(|hash| hash.as_slice()).collect();
        sqlx::query(
            "INSERT INTO tlog_leaves (idx, number, version, hash) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bytea[]) ORDER BY 1",
        )
        .bind(&indexes)
        .bind(&numbers)
        .bind(&versions)
        .bind(&hashes)
        .execute(&mut *conn)
        .await?;
        idx += keys.len() as i64;
    }
    Ok(())
}

async fn next_index(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves").fetch_one(conn).await?)
}

/// Appends the leaves of `events`, in order, after the last leaf. Must run inside the
/// transaction that stores the events, after they are written, under [`EVENTS_LOCK`].
pub(super) async fn append_leaves(conn: &mut PgConnection, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let next = next_index(conn).await?;
    let hashes = leaf_hashes(events)?;
    let keys: Vec<(&str, i64)> =
        events.iter().map(|e| (e.signed.record.number.as_str(), i64::from(e.signed.record.version))).collect();
    insert_leaves(conn, next, &keys, &hashes).await
}

fn raw_event(row: &PgRow) -> Result<RawEvent, StoreError> {
    let at: DateTime<Utc> = row.try_get("at")?;
    Ok(RawEvent {
        seq: row.try_get("seq")?,
        number: row.try_get("number")?,
        version: version_of(row.try_get("version")?)?,
        kind: row.try_get("kind")?,
        at: timestamp(at),
        details: row.try_get("details")?,
        record: row.try_get("record")?,
        signature: row.try_get("signature")?,
    })
}

fn checkpoint_row(row: &PgRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: unsigned(row.try_get("size")?, "checkpoint size")?,
        root: hash_of(row.try_get("root")?, "checkpoint root")?,
        note: row.try_get("note")?,
    })
}

fn leaf_data_or_corrupt(event: &RawEvent) -> Result<Vec<u8>, StoreError> {
    event.leaf_data().map_err(|e| StoreError::Corrupt(format!("event {} v{}: {e}", event.number, event.version)))
}

#[async_trait]
impl LogStore for PostgresStore {
    async fn log_origin(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT origin FROM tlog_origin WHERE id = 1").fetch_optional(&self.pool).await?)
    }

    async fn fix_log_origin(&self, origin: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO tlog_origin (id, origin) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(origin)
            .execute(&self.pool)
            .await?;
        let fixed: Option<String> =
            sqlx::query_scalar("SELECT origin FROM tlog_origin WHERE id = 1").fetch_optional(&self.pool).await?;
        fixed.ok_or_else(|| StoreError::Corrupt("the log origin was not kept".into()))
    }

    async fn log_backfill(&self) -> Result<u64, StoreError> {
        let mut tx = begin(&self.pool).await?;
        lock(&mut tx, EVENTS_LOCK).await?;
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e \
             LEFT JOIN tlog_leaves l ON l.number = e.number AND l.version = e.version \
             WHERE l.idx IS NULL ORDER BY e.seq"
        ))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let events = rows.iter().map(raw_event).collect::<Result<Vec<_>, _>>()?;
        let hashes = events
            .iter()
            .map(|event| Ok(leaf_hash(&leaf_data_or_corrupt(event)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let keys: Vec<(&str, i64)> = events.iter().map(|e| (e.number.as_str(), i64::from(e.version))).collect();
        let next = next_index(&mut tx).await?;
        insert_leaves(&mut tx, next, &keys, &hashes).await?;
        tx.commit().await?;
        Ok(events.len() as u64)
    }

    async fn log_hashes(&self, from: u64, limit: u32) -> Result<Vec<Hash>, StoreError> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM tlog_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2")
                .bind(index(from)?)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(|bytes| hash_of(bytes, "leaf hash")).collect()
    }

    async fn log_entry(&self, number: &str, version: u32) -> Result<Option<LogEntry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT l.idx, {EVENT_COLUMNS} \
             FROM tlog_leaves l JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE l.number = $1 AND l.version = $2"
        ))
        .bind(number)
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let event = raw_event(&row)?;
        Ok(Some(LogEntry { idx: unsigned(row.try_get("idx")?, "log index")?, data: leaf_data_or_corrupt(&event)? }))
    }

    async fn log_entries(&self, from: u64, count: u32) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT l.idx, {EVENT_COLUMNS} \
             FROM tlog_leaves l JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx"
        ))
        .bind(index(from)?)
        .bind(index(from.saturating_add(u64::from(count)))?)
        .fetch_all(&self.pool)
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
            "INSERT INTO tlog_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(index(checkpoint.size)?)
        .bind(checkpoint.root.as_slice())
        .bind(&checkpoint.note)
        .bind(micros(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints WHERE size = $1")
            .bind(index(size)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows =
            sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size").fetch_all(&self.pool).await?;
        rows.iter().map(checkpoint_row).collect()
    }

    async fn log_leaves(&self, from: u64, limit: u32) -> Result<Vec<LeafRow>, StoreError> {
        let rows =
            sqlx::query("SELECT idx, number, version, hash FROM tlog_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2")
                .bind(index(from)?)
                .bind(i64::from(limit.min(PAGE)))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(LeafRow {
                    idx: unsigned(row.try_get("idx")?, "log index")?,
                    number: row.try_get("number")?,
                    version: version_of(row.try_get("version")?)?,
                    hash: hash_of(row.try_get("hash")?, "leaf hash")?,
                })
            })
            .collect()
    }

    async fn raw_events(&self, after: i64, limit: u32) -> Result<Vec<RawEvent>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"))
                .bind(after)
                .bind(i64::from(limit.min(PAGE)))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(raw_event).collect()
    }

    async fn raw_certificates(&self, after: &str, limit: u32) -> Result<Vec<RawCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, version, holder_name, holder_name_en, uscc, level, state, valid_until, record, signature \
             FROM certificates WHERE number > $1 ORDER BY number LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit.min(PAGE)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let valid_until: NaiveDate = row.try_get("valid_until")?;
                Ok(RawCertificate {
                    number: row.try_get("number")?,
                    version: version_of(row.try_get("version")?)?,
                    holder_name: row.try_get("holder_name")?,
                    holder_name_en: row.try_get("holder_name_en")?,
                    uscc: row.try_get("uscc")?,
                    level: row.try_get("level")?,
                    state: row.try_get("state")?,
                    valid_until: valid_until.to_string(),
                    record: row.try_get("record")?,
                    signature: row.try_get("signature")?,
                })
            })
            .collect()
    }
}
