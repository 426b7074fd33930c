//! The transparency log's rows: leaves appended inside the event transactions (the backend
//! writes the rows of one statement, `insert_leaf_rows`), checkpoints, and the raw reads of the
//! audit.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;

use super::{rows, Backend, Connection};
use crate::domain::{CertificateNumber, Uscc};
use crate::store::dialect::Dialect;
use crate::store::leaves::{index, leaf_hashes, unsigned};
use crate::store::tlog::{LeafRow, LogEntry, LogStore, LoggedEvent, RawCertificate, RawEvent, StoredCheckpoint};
use crate::store::{NewEvent, StoreError};
use crate::tlog::{leaf_hash, Hash};

/// Rows per page when reading the whole log.
const PAGE: u32 = 10_000;

/// The columns of an event as the audit reads them.
const EVENT_COLUMNS: &str = "e.seq, e.number, e.version, e.kind, e.at, e.details, e.record, e.signature";

/// The columns of an event as the change feed reads it: the audit's, and who acted.
const LOGGED_COLUMNS: &str =
    "l.idx, e.seq, e.number, e.version, e.kind, e.actor, e.at, e.details, e.record, e.signature";

/// Rows of `l.idx` and [`LOGGED_COLUMNS`], each with the leaf data its columns make.
fn logged_events(rows: &[rows::DbRow]) -> Result<Vec<LoggedEvent>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok(LoggedEvent {
                idx: unsigned(row.try_get("idx")?, "log index")?,
                leaf: leaf_data_or_corrupt(&rows::raw_event(row)?)?,
                event: rows::event(row)?,
            })
        })
        .collect()
}

/// The index the next leaf takes. Only inside a transaction that appends events.
pub(in crate::store) async fn next_index(conn: &mut Connection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves").fetch_one(conn).await?)
}

/// Appends the leaves of `events`, in order, after the last leaf. Must run inside the
/// transaction that stores the events, after they are written.
pub(in crate::store) async fn append_leaves(conn: &mut Connection, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let next = next_index(conn).await?;
    let hashes = leaf_hashes(events)?;
    let keys: Vec<(&str, i64)> =
        events.iter().map(|e| (e.signed.record.number.as_str(), i64::from(e.signed.record.version))).collect();
    insert_leaves(conn, next, &keys, &hashes).await
}

/// Inserts leaves `first ..` for the `(number, version)` keys with the given hashes, in order,
/// [`Dialect::ROWS_PER_STATEMENT`] leaves per statement.
async fn insert_leaves(
    conn: &mut Connection,
    first: i64,
    keys: &[(&str, i64)],
    hashes: &[Hash],
) -> Result<(), StoreError> {
    let page = Backend::ROWS_PER_STATEMENT;
    for (start, (keys, hashes)) in (first..).step_by(page).zip(keys.chunks(page).zip(hashes.chunks(page))) {
        Backend::insert_leaf_rows(conn, start, keys, hashes).await?;
    }
    Ok(())
}

fn leaf_data_or_corrupt(event: &RawEvent) -> Result<Vec<u8>, StoreError> {
    event.leaf_data().map_err(|e| StoreError::Corrupt(format!("event {} v{}: {e}", event.number, event.version)))
}

#[async_trait]
impl LogStore for Backend {
    async fn log_origin(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT origin FROM tlog_origin WHERE id = 1").fetch_optional(self.reads()).await?)
    }

    async fn fix_log_origin(&self, origin: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO tlog_origin (id, origin) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(origin)
            .execute(self.writes())
            .await?;
        let fixed: Option<String> =
            sqlx::query_scalar("SELECT origin FROM tlog_origin WHERE id = 1").fetch_optional(self.writes()).await?;
        fixed.ok_or_else(|| StoreError::Corrupt("the log origin was not kept".into()))
    }

    async fn log_backfill(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin_events().await?;
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
        let events = rows.iter().map(rows::raw_event).collect::<Result<Vec<_>, _>>()?;
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
                .fetch_all(self.reads())
                .await?;
        rows.into_iter().map(|bytes| crate::store::leaves::hash_of(bytes, "leaf hash")).collect()
    }

    async fn log_entry(&self, number: &CertificateNumber, version: u32) -> Result<Option<LogEntry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT l.idx, {EVENT_COLUMNS} \
             FROM tlog_leaves l JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE l.number = $1 AND l.version = $2"
        ))
        .bind(number.as_str())
        .bind(i64::from(version))
        .fetch_optional(self.reads())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let event = rows::raw_event(&row)?;
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
        .fetch_all(self.reads())
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for (expected, row) in (from..).zip(&rows) {
            let idx: i64 = row.try_get("idx")?;
            if u64::try_from(idx).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!("log leaf {expected} has no event")));
            }
            entries.push(leaf_data_or_corrupt(&rows::raw_event(row)?)?);
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
        .bind(Self::instant(Utc::now()))
        .execute(self.writes())
        .await?;
        Ok(())
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints WHERE size = $1")
            .bind(index(size)?)
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(rows::checkpoint).transpose()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(rows::checkpoint).transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows =
            sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size").fetch_all(self.reads()).await?;
        rows.iter().map(rows::checkpoint).collect()
    }

    async fn log_leaves(&self, from: u64, limit: u32) -> Result<Vec<LeafRow>, StoreError> {
        let rows =
            sqlx::query("SELECT idx, number, version, hash FROM tlog_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2")
                .bind(index(from)?)
                .bind(i64::from(limit.min(PAGE)))
                .fetch_all(self.reads())
                .await?;
        rows.iter().map(rows::leaf).collect()
    }

    async fn logged_events(&self, from: u64, count: u32) -> Result<Vec<LoggedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOGGED_COLUMNS} \
             FROM tlog_leaves l JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx"
        ))
        .bind(index(from)?)
        .bind(index(from.saturating_add(u64::from(count.min(PAGE))))?)
        .fetch_all(self.reads())
        .await?;
        let events = logged_events(&rows)?;
        if let Some((expected, _)) = (from..).zip(&events).find(|(expected, event)| event.idx != *expected) {
            return Err(StoreError::Corrupt(format!("log leaf {expected} has no event")));
        }
        Ok(events)
    }

    async fn logged_events_of_holder(
        &self,
        uscc: &Uscc,
        before: u64,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOGGED_COLUMNS} \
             FROM certificates c JOIN tlog_leaves l ON l.number = c.number \
             JOIN events e ON e.number = l.number AND e.version = l.version \
             WHERE c.uscc = $1 AND l.idx < $2 ORDER BY l.idx DESC LIMIT $3"
        ))
        .bind(uscc.as_str())
        .bind(index(before)?)
        .bind(i64::from(limit.min(PAGE)))
        .fetch_all(self.reads())
        .await?;
        logged_events(&rows)
    }

    async fn raw_events(&self, after: i64, limit: u32) -> Result<Vec<RawEvent>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"))
                .bind(after)
                .bind(i64::from(limit.min(PAGE)))
                .fetch_all(self.reads())
                .await?;
        rows.iter().map(rows::raw_event).collect()
    }

    async fn raw_certificates(&self, after: &str, limit: u32) -> Result<Vec<RawCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, version, holder_name, holder_name_en, uscc, level, state, valid_until, record, signature \
             FROM certificates WHERE number > $1 ORDER BY number LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit.min(PAGE)))
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(rows::raw_certificate).collect()
    }
}
