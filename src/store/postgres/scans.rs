//! The PostgreSQL side of scan tallies: per chunk of 1,024 serials of a mark batch, a base blob
//! and the delta blobs flushes appended since it was last folded (formats and the folding rule
//! in [`crate::store::scan_chunks`]).
//!
//! A fold reads, merges and rewrites a base and deletes the deltas it read, so two instances
//! flushing at once must not both fold the same chunk: each flush holds [`super::SCANS_LOCK`]
//! for its transaction, as SQLite's single writer does. Deltas are appended in one statement of
//! bound arrays a page; the reads are shared (`shared/marks.rs`).

use sqlx::Row;

use super::shared::fold_chunk;
use super::{begin, lock, PostgresStore, SCANS_LOCK};
use crate::store::scan_chunks::{by_chunk, should_fold, CHUNKS_PER_FOLD};
use crate::store::{ScanDeltas, StoreError};

/// Chunks per statement (bound arrays).
const CHUNKS_PER_STATEMENT: usize = 1000;

/// A chunk due for folding: certificate, batch, chunk, and its delta bytes.
type Due = (String, i64, i64, i64);

impl PostgresStore {
    /// Adds the deltas to the stored tallies in one transaction: one delta blob per touched
    /// chunk, appended, then the touched chunks that are due folded (at most
    /// [`CHUNKS_PER_FOLD`], the largest deltas first).
    pub(super) async fn add_scan_tallies(&self, deltas: &ScanDeltas) -> Result<u64, StoreError> {
        if deltas.is_empty() {
            return Ok(0);
        }
        let chunks = by_chunk(deltas);
        let mut tx = begin(&self.pool).await?;
        lock(&mut tx, SCANS_LOCK).await?;
        let mut due: Vec<Due> = Vec::new();
        let mut written: u64 = 0;
        for page in chunks.chunks(CHUNKS_PER_STATEMENT) {
            let numbers: Vec<&str> = page.iter().map(|c| c.number).collect();
            let batches: Vec<i64> = page.iter().map(|c| i64::from(c.batch)).collect();
            let ids: Vec<i64> = page.iter().map(|c| c.chunk).collect();
            let blobs: Vec<Vec<u8>> = page.iter().map(|c| c.blob()).collect();
            written += blobs.iter().map(|blob| blob.len() as u64).sum::<u64>();
            sqlx::query(
                "INSERT INTO mark_scan_deltas (number, batch, chunk, tallies) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])",
            )
            .bind(&numbers)
            .bind(&batches)
            .bind(&ids)
            .bind(&blobs)
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query(
                "SELECT d.number AS number, d.batch AS batch, d.chunk AS chunk, sum(octet_length(d.tallies))::bigint AS delta_bytes, \
                 max(octet_length(c.tallies))::bigint AS base_bytes \
                 FROM mark_scan_deltas d \
                 JOIN UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS t(number, batch, chunk) \
                 ON d.number = t.number AND d.batch = t.batch AND d.chunk = t.chunk \
                 LEFT JOIN mark_scan_chunks c ON c.number = d.number AND c.batch = d.batch AND c.chunk = d.chunk \
                 GROUP BY d.number, d.batch, d.chunk",
            )
            .bind(&numbers)
            .bind(&batches)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let delta_bytes: i64 = row.try_get("delta_bytes")?;
                let base_bytes: Option<i64> = row.try_get("base_bytes")?;
                if should_fold(delta_bytes, base_bytes.unwrap_or(0)) {
                    due.push((row.try_get("number")?, row.try_get("batch")?, row.try_get("chunk")?, delta_bytes));
                }
            }
        }
        due.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2))));
        due.truncate(CHUNKS_PER_FOLD);
        due.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        for (number, batch, chunk, _) in &due {
            written += fold_chunk(&mut tx, number, *batch, *chunk).await?;
        }
        tx.commit().await?;
        Ok(written)
    }
}
