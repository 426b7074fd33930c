//! The PostgreSQL side of mark digest indexes: one row per batch, replaced when rebuilt.

use sqlx::Row;

use super::{batch_of, micros, PostgresStore};
use crate::store::{StoreError, StoredMarkDigests};

impl PostgresStore {
    pub(super) async fn upsert_mark_digests(&self, digests: &StoredMarkDigests) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mark_digests (number, batch, key_id, salt, tags, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (number, batch) DO UPDATE SET key_id = excluded.key_id, salt = excluded.salt, \
             tags = excluded.tags, created_at = excluded.created_at",
        )
        .bind(&digests.number)
        .bind(i64::from(digests.batch))
        .bind(&digests.key_id)
        .bind(&digests.salt)
        .bind(&digests.tags)
        .bind(micros(digests.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Reads the batches out of each record's JSON; `strpos` first, so that records without
    /// any batch (most) are not parsed. The record is text (signed bytes), parsed here only.
    pub(super) async fn select_batches_without_digests(&self) -> Result<Vec<(String, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.number AS number, (b.value ->> 'id')::bigint AS batch \
             FROM certificates c \
             CROSS JOIN LATERAL jsonb_array_elements(c.record::jsonb -> 'mark_batches') AS b(value) \
             WHERE strpos(c.record, '\"mark_batches\"') > 0 \
             AND NOT EXISTS (SELECT 1 FROM mark_digests d \
                             WHERE d.number = c.number AND d.batch = (b.value ->> 'id')::bigint) \
             ORDER BY c.number, batch",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("number")?, batch_of(row.try_get("batch")?)?))).collect()
    }

    pub(super) async fn select_mark_digests(
        &self,
        number: &str,
        batch: u32,
    ) -> Result<Option<StoredMarkDigests>, StoreError> {
        let row =
            sqlx::query("SELECT key_id, salt, tags, created_at FROM mark_digests WHERE number = $1 AND batch = $2")
                .bind(number)
                .bind(i64::from(batch))
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredMarkDigests {
            number: number.to_string(),
            batch,
            key_id: row.try_get("key_id")?,
            salt: row.try_get("salt")?,
            tags: row.try_get("tags")?,
            created_at: row.try_get("created_at")?,
        }))
    }
}
