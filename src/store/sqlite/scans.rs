//! The SQLite side of scan tallies: per chunk of 1,024 serials of a mark batch, a base blob and
//! the delta blobs flushes appended since it was last folded (formats and the folding rule in
//! [`crate::store::scan_chunks`]). A flush appends its deltas and folds the chunks that are due,
//! all under SQLite's write lock; the reads are shared (`shared/marks.rs`).

use sqlx::{QueryBuilder, Row, Sqlite};

use super::shared::fold_chunk;
use super::{SqliteStore, INSERT_CHUNK};
use crate::store::scan_chunks::{by_chunk, should_fold, ChunkDelta, CHUNKS_PER_FOLD};
use crate::store::{ScanDeltas, StoreError};

/// Deltas per multi-row insert (four bound values each).
const DELTAS_PER_INSERT: usize = INSERT_CHUNK / 4;
/// Chunks whose sizes one query asks for.
const CHUNKS_PER_QUERY: usize = 400;

/// A chunk due for folding: certificate, batch, chunk, and its delta bytes.
type Due<'a> = (&'a str, u32, i64, i64);

impl SqliteStore {
    /// Adds the deltas to the stored tallies in one transaction: one delta blob per touched
    /// chunk, appended, then the touched chunks that are due folded (at most
    /// [`CHUNKS_PER_FOLD`], the largest deltas first).
    pub(super) async fn add_scan_tallies(&self, deltas: &ScanDeltas) -> Result<u64, StoreError> {
        if deltas.is_empty() {
            return Ok(0);
        }
        let chunks = by_chunk(deltas);
        let blobs: Vec<(&ChunkDelta, Vec<u8>)> = chunks.iter().map(|delta| (delta, delta.blob())).collect();
        // The write lock first: what is read below stays what it is until this commits,
        // whoever else writes to the file.
        let mut written: u64 = blobs.iter().map(|(_, blob)| blob.len() as u64).sum();
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for rows in blobs.chunks(DELTAS_PER_INSERT) {
            let mut insert: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO mark_scan_deltas (number, batch, chunk, tallies) ");
            insert.push_values(rows, |mut b, (delta, blob)| {
                b.push_bind(delta.number).push_bind(delta.batch).push_bind(delta.chunk).push_bind(blob.as_slice());
            });
            insert.build().execute(&mut *tx).await?;
        }
        let mut due: Vec<Due> = Vec::new();
        for group in chunks.chunk_by(|a, b| a.number == b.number && a.batch == b.batch) {
            for part in group.chunks(CHUNKS_PER_QUERY) {
                let (number, batch) = (part[0].number, part[0].batch);
                let mut sizes: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "SELECT d.chunk AS chunk, sum(length(d.tallies)) AS delta_bytes, max(length(c.tallies)) AS base_bytes \
                     FROM mark_scan_deltas d LEFT JOIN mark_scan_chunks c \
                     ON c.number = d.number AND c.batch = d.batch AND c.chunk = d.chunk WHERE d.number = ",
                );
                sizes.push_bind(number).push(" AND d.batch = ").push_bind(batch).push(" AND d.chunk IN (");
                let mut ids = sizes.separated(", ");
                for delta in part {
                    ids.push_bind(delta.chunk);
                }
                sizes.push(") GROUP BY d.chunk");
                for row in sizes.build().fetch_all(&mut *tx).await? {
                    let delta_bytes: i64 = row.try_get("delta_bytes")?;
                    let base_bytes: Option<i64> = row.try_get("base_bytes")?;
                    if should_fold(delta_bytes, base_bytes.unwrap_or(0)) {
                        due.push((number, batch, row.try_get("chunk")?, delta_bytes));
                    }
                }
            }
        }
        due.sort_by_key(|&(number, batch, chunk, bytes)| (std::cmp::Reverse(bytes), number, batch, chunk));
        due.truncate(CHUNKS_PER_FOLD);
        due.sort_by_key(|&(number, batch, chunk, _)| (number, batch, chunk));
        for (number, batch, chunk, _) in due {
            written += fold_chunk(&mut tx, number, i64::from(batch), chunk).await?;
        }
        tx.commit().await?;
        Ok(written)
    }
}
