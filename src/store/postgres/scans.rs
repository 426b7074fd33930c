//! The PostgreSQL side of scan tallies: one row per chunk of 1,024 serials of a mark batch, its
//! tallies packed in one blob by [`crate::store::scan_chunks`].
//!
//! A flush reads, merges and rewrites blobs, so two instances flushing at once must not both
//! read the same blob: each flush holds [`super::SCANS_LOCK`] for its transaction, as SQLite's
//! single writer does. Touched chunks are read and written a page at a time (of
//! [`CHUNKS_PER_MERGE`]), each page in one statement of bound arrays. The reads are shared
//! (`shared/marks.rs`).

use std::collections::HashMap;

use sqlx::Row;

use super::{begin, lock, PostgresStore, SCANS_LOCK};
use crate::store::scan_chunks::{by_chunk, CHUNKS_PER_MERGE};
use crate::store::{ScanDeltas, StoreError};

/// A stored chunk's key.
type ChunkKey = (String, i64, i64);

impl PostgresStore {
    /// Adds the deltas to the stored tallies in one transaction.
    pub(super) async fn add_scan_tallies(&self, deltas: &ScanDeltas) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let chunks = by_chunk(deltas);
        let mut tx = begin(&self.pool).await?;
        lock(&mut tx, SCANS_LOCK).await?;
        for page in chunks.chunks(CHUNKS_PER_MERGE) {
            let numbers: Vec<&str> = page.iter().map(|c| c.number).collect();
            let batches: Vec<i64> = page.iter().map(|c| i64::from(c.batch)).collect();
            let ids: Vec<i64> = page.iter().map(|c| c.chunk).collect();
            let rows = sqlx::query(
                "SELECT s.number, s.batch, s.chunk, s.tallies FROM mark_scan_chunks s \
                 JOIN UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS t(number, batch, chunk) \
                 ON s.number = t.number AND s.batch = t.batch AND s.chunk = t.chunk",
            )
            .bind(&numbers)
            .bind(&batches)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            let mut stored: HashMap<ChunkKey, Vec<u8>> = HashMap::with_capacity(rows.len());
            for row in rows {
                stored.insert(
                    (row.try_get("number")?, row.try_get("batch")?, row.try_get("chunk")?),
                    row.try_get("tallies")?,
                );
            }
            let mut blobs = Vec::with_capacity(page.len());
            for delta in page {
                let key = (delta.number.to_string(), i64::from(delta.batch), delta.chunk);
                let old = stored.remove(&key);
                let merged = delta.merge_into(old.as_deref());
                if let (true, Some(old)) = (merged.replaced_damaged, old) {
                    sqlx::query(
                        "INSERT INTO mark_scan_chunks_damaged (number, batch, chunk, tallies) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(delta.number)
                    .bind(i64::from(delta.batch))
                    .bind(delta.chunk)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                }
                blobs.push(merged.blob);
            }
            sqlx::query(
                "INSERT INTO mark_scan_chunks (number, batch, chunk, tallies) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bytea[]) \
                 ON CONFLICT (number, batch, chunk) DO UPDATE SET tallies = excluded.tallies",
            )
            .bind(&numbers)
            .bind(&batches)
            .bind(&ids)
            .bind(&blobs)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
