//! The SQLite side of mark digest indexes: one row per batch, replaced when rebuilt.

use sqlx::Row;

use super::{parse_timestamp, timestamp, SqliteStore};
use crate::store::{StoreError, StoredMarkDigests};

impl SqliteStore {
    pub(super) async fn upsert_mark_digests(&self, digests: &StoredMarkDigests) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mark_digests (number, batch, key_id, salt, tags, created_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (number, batch) DO UPDATE SET key_id = excluded.key_id, salt = excluded.salt, \
             tags = excluded.tags, created_at = excluded.created_at",
        )
        .bind(&digests.number)
        .bind(digests.batch)
        .bind(&digests.key_id)
        .bind(&digests.salt)
        .bind(&digests.tags)
        .bind(timestamp(digests.created_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Reads the batches out of each record's JSON; `instr` first, so that records without
    /// any batch (most) are not parsed.
    pub(super) async fn select_batches_without_digests(&self) -> Result<Vec<(String, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.number AS number, CAST(json_extract(b.value, '$.id') AS INTEGER) AS batch \
             FROM certificates c, json_each(c.record, '$.mark_batches') b \
             WHERE instr(c.record, '\"mark_batches\"') > 0 \
             AND NOT EXISTS (SELECT 1 FROM mark_digests d \
                             WHERE d.number = c.number AND d.batch = json_extract(b.value, '$.id')) \
             ORDER BY c.number, batch",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("number")?, row.try_get("batch")?))).collect()
    }

    pub(super) async fn select_mark_digests(
        &self,
        number: &str,
        batch: u32,
    ) -> Result<Option<StoredMarkDigests>, StoreError> {
        let row = sqlx::query("SELECT key_id, salt, tags, created_at FROM mark_digests WHERE number = ? AND batch = ?")
            .bind(number)
            .bind(batch)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let created_at: String = row.try_get("created_at")?;
        Ok(Some(StoredMarkDigests {
            number: number.to_string(),
            batch,
            key_id: row.try_get("key_id")?,
            salt: row.try_get("salt")?,
            tags: row.try_get("tags")?,
            created_at: parse_timestamp(&created_at)?,
        }))
    }
}
