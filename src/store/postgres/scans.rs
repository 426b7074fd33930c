//! The PostgreSQL side of scan tallies: one row per chunk of 1,024 serials of a mark batch, its
//! tallies packed in one blob by [`crate::store::scan_chunks`].
//!
//! A flush reads, merges and rewrites blobs, so two instances flushing at once must not both
//! read the same blob: each flush holds [`super::SCANS_LOCK`] for its transaction, as SQLite's
//! single writer does. Touched chunks are read and written a page at a time (of
//! [`CHUNKS_PER_MERGE`]), each page in one statement of bound arrays.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{batch_of, begin, lock, PostgresStore, SCANS_LOCK};
use crate::store::scan_chunks::{by_chunk, chunk_of, find_or_skip, serials, Summary, CHUNKS_PER_MERGE};
use crate::store::{ScanDeltas, ScanTally, SerialKey, StoreError};

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

    pub(super) async fn select_scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError> {
        let (chunk, offset) = chunk_of(key.serial);
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT tallies FROM mark_scan_chunks WHERE number = $1 AND batch = $2 AND chunk = $3")
                .bind(&key.number)
                .bind(i64::from(key.batch))
                .bind(chunk)
                .fetch_optional(&self.pool)
                .await?;
        let Some(blob) = blob else { return Ok(None) };
        Ok(find_or_skip(key, chunk, &blob, offset))
    }

    /// Streams the certificate's chunks, keeping only the `limit` most scanned.
    pub(super) async fn select_scan_summary(
        &self,
        number: &str,
        limit: u32,
    ) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        let mut summary = Summary::new(number, limit);
        let mut rows = sqlx::query("SELECT batch, chunk, tallies FROM mark_scan_chunks WHERE number = $1")
            .bind(number)
            .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            summary.add(batch_of(row.try_get("batch")?)?, row.try_get("chunk")?, row.try_get("tallies")?);
        }
        summary.finish()
    }

    /// Streams the batch's chunks: a batch scanned end to end is megabytes of blobs.
    pub(super) async fn select_scanned_serials(&self, number: &str, batch: u32) -> Result<Vec<u32>, StoreError> {
        let mut rows =
            sqlx::query("SELECT chunk, tallies FROM mark_scan_chunks WHERE number = $1 AND batch = $2 ORDER BY chunk")
                .bind(number)
                .bind(i64::from(batch))
                .fetch(&self.pool);
        let mut found = Vec::new();
        while let Some(row) = rows.try_next().await? {
            found.extend(serials(number, batch, row.try_get("chunk")?, row.try_get("tallies")?));
        }
        Ok(found)
    }
}
