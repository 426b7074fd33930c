//! The SQLite side of scan tallies: one row per chunk of 1,024 serials of a mark batch, its
//! tallies packed in one blob by [`crate::store::scan_chunks`], rather than one row per serial.
//! Flushes merge under SQLite's write lock and write back in multi-row upserts; the reads are
//! shared (`shared/marks.rs`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, INSERT_CHUNK};
use crate::store::columns::timestamp;
use crate::store::scan_chunks::{by_chunk, ChunkDelta, CHUNKS_PER_MERGE};
use crate::store::{ScanDeltas, StoreError};

/// Chunks per multi-row upsert (four bound values each).
const CHUNKS_PER_UPSERT: usize = INSERT_CHUNK / 4;

impl SqliteStore {
    /// Adds the deltas to the stored tallies in one transaction: per group of touched chunks,
    /// one read of their blobs and one multi-row write back.
    pub(super) async fn add_scan_tallies(&self, deltas: &ScanDeltas) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let chunks = by_chunk(deltas);
        // The write lock first: the blobs read below stay what they are until this commits,
        // whoever else writes to the file.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for group in chunks.chunk_by(|a, b| a.number == b.number && a.batch == b.batch) {
            for part in group.chunks(CHUNKS_PER_MERGE) {
                let mut select: QueryBuilder<Sqlite> =
                    QueryBuilder::new("SELECT chunk, tallies FROM mark_scan_chunks WHERE number = ");
                select.push_bind(part[0].number).push(" AND batch = ").push_bind(part[0].batch).push(" AND chunk IN (");
                let mut ids = select.separated(", ");
                for delta in part {
                    ids.push_bind(delta.chunk);
                }
                select.push(")");
                let mut stored: HashMap<i64, Vec<u8>> = HashMap::with_capacity(part.len());
                for row in select.build().fetch_all(&mut *tx).await? {
                    stored.insert(row.try_get("chunk")?, row.try_get("tallies")?);
                }
                let mut blobs: Vec<(&ChunkDelta, Vec<u8>)> = Vec::with_capacity(part.len());
                for delta in part {
                    let old = stored.remove(&delta.chunk);
                    let merged = delta.merge_into(old.as_deref());
                    if let (true, Some(old)) = (merged.replaced_damaged, old) {
                        sqlx::query(
                            "INSERT INTO mark_scan_chunks_damaged (number, batch, chunk, tallies, found_at) \
                             VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(delta.number)
                        .bind(delta.batch)
                        .bind(delta.chunk)
                        .bind(old)
                        .bind(timestamp(chrono::Utc::now()))
                        .execute(&mut *tx)
                        .await?;
                    }
                    blobs.push((delta, merged.blob));
                }
                for rows in blobs.chunks(CHUNKS_PER_UPSERT) {
                    let mut upsert: QueryBuilder<Sqlite> =
                        QueryBuilder::new("INSERT INTO mark_scan_chunks (number, batch, chunk, tallies) ");
                    upsert.push_values(rows, |mut b, (delta, blob)| {
                        b.push_bind(delta.number)
                            .push_bind(delta.batch)
                            .push_bind(delta.chunk)
                            .push_bind(blob.as_slice());
                    });
                    upsert.push(" ON CONFLICT (number, batch, chunk) DO UPDATE SET tallies = excluded.tallies");
                    upsert.build().execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
