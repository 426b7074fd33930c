//! What is kept beside the marks and their scans: verification receipts, mark digest indexes,
//! and the reads of scan tallies and distinct scanners (the merging writes are the backend's).

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{batch_of, Backend};
use crate::domain::{CertificateNumber, ScanTally, ScannerSet, SerialKey};
use crate::store::dialect::Dialect;
use crate::store::scan_chunks::{
    chunk_of, entries_or_skip, find_in_all, fold, merge_entries, serials, Entries, Summary,
};
use crate::store::{StoreError, StoredMarkDigests, StoredReceipt};

/// The stored set of `key`, or none (and logged) when its bytes are damaged.
fn decoded_scanners(key: &SerialKey, bytes: &[u8]) -> Option<ScannerSet> {
    let set = ScannerSet::decode(bytes);
    if set.is_none() {
        tracing::error!(number = %key.number, key.batch, key.serial, "stored scanners damaged: counted again from now");
    }
    set
}

/// `set` added to the stored set of `key` (`stored`: none yet, or damaged and so counted again
/// from now), encoded for storing.
pub(in crate::store) fn union_of(key: &SerialKey, stored: Option<&Vec<u8>>, set: &ScannerSet) -> Vec<u8> {
    let mut union = stored.and_then(|bytes| decoded_scanners(key, bytes)).unwrap_or_default();
    union.merge(set);
    union.encode()
}

/// Folds a chunk's deltas into its base, keeping damaged blobs aside, inside the flush's
/// transaction; returns the bytes written.
pub(in crate::store) async fn fold_chunk(
    conn: &mut super::Connection,
    number: &str,
    batch: i64,
    chunk: i64,
) -> Result<u64, StoreError> {
    // Batches are stored from u32 values (the schemas check it), so this holds; rows that did
    // not would be left as they are.
    let Ok(batch_number) = u32::try_from(batch) else { return Ok(0) };
    let base: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT tallies FROM mark_scan_chunks WHERE number = $1 AND batch = $2 AND chunk = $3")
            .bind(number)
            .bind(batch)
            .bind(chunk)
            .fetch_optional(&mut *conn)
            .await?;
    let deltas: Vec<Vec<u8>> = sqlx::query_scalar(
        "DELETE FROM mark_scan_deltas WHERE number = $1 AND batch = $2 AND chunk = $3 RETURNING tallies",
    )
    .bind(number)
    .bind(batch)
    .bind(chunk)
    .fetch_all(&mut *conn)
    .await?;
    let folded = fold(number, batch_number, chunk, base, deltas);
    let written = folded.blob.len() + folded.damaged.iter().map(Vec::len).sum::<usize>();
    for damaged in folded.damaged {
        sqlx::query(
            "INSERT INTO mark_scan_chunks_damaged (number, batch, chunk, tallies, found_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(number)
        .bind(batch)
        .bind(chunk)
        .bind(damaged)
        .bind(Backend::instant(chrono::Utc::now()))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO mark_scan_chunks (number, batch, chunk, tallies) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (number, batch, chunk) DO UPDATE SET tallies = excluded.tallies",
    )
    .bind(number)
    .bind(batch)
    .bind(chunk)
    .bind(folded.blob)
    .execute(&mut *conn)
    .await?;
    Ok(written as u64)
}

impl Backend {
    /// Stores a receipt; storing the very same receipt again is a no-op, while another
    /// document under a taken id is refused as corrupt (ids are derived from the documents).
    pub(super) async fn insert_receipt(&self, receipt: &StoredReceipt) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO receipts (id, issued_at, document) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&receipt.id)
        .bind(Self::instant(receipt.issued_at))
        .bind(&receipt.document)
        .execute(self.writes())
        .await?;
        if done.rows_affected() == 0 {
            receipt.same_as(self.select_receipt(&receipt.id).await?.as_ref())?;
        }
        Ok(())
    }

    pub(super) async fn select_receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        let row = sqlx::query("SELECT id, issued_at, document FROM receipts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reads())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredReceipt {
            id: row.try_get("id")?,
            issued_at: Self::read_instant(&row, "issued_at")?,
            document: row.try_get("document")?,
        }))
    }

    /// Stores the digest index of a batch, replacing an earlier one of the same batch.
    pub(super) async fn upsert_mark_digests(&self, digests: &StoredMarkDigests) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mark_digests (number, batch, key_id, salt, tags, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (number, batch) DO UPDATE SET key_id = excluded.key_id, salt = excluded.salt, \
             tags = excluded.tags, created_at = excluded.created_at",
        )
        .bind(digests.number.as_str())
        .bind(i64::from(digests.batch))
        .bind(&digests.key_id)
        .bind(&digests.salt)
        .bind(&digests.tags)
        .bind(Self::instant(digests.created_at))
        .execute(self.writes())
        .await?;
        Ok(())
    }

    pub(super) async fn select_mark_digests(
        &self,
        number: &CertificateNumber,
        batch: u32,
    ) -> Result<Option<StoredMarkDigests>, StoreError> {
        let row =
            sqlx::query("SELECT key_id, salt, tags, created_at FROM mark_digests WHERE number = $1 AND batch = $2")
                .bind(number.as_str())
                .bind(i64::from(batch))
                .fetch_optional(self.reads())
                .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredMarkDigests {
            number: number.clone(),
            batch,
            key_id: row.try_get("key_id")?,
            salt: row.try_get("salt")?,
            tags: row.try_get("tags")?,
            created_at: Self::read_instant(&row, "created_at")?,
        }))
    }

    pub(super) async fn select_scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError> {
        Ok(self.select_serial_history(key).await?.0)
    }

    /// A serial's tally (its chunk's base and deltas merged) and its stored distinct scanners,
    /// in one query: what a scan of a serial that left memory reads.
    pub(super) async fn select_serial_history(
        &self,
        key: &SerialKey,
    ) -> Result<(Option<ScanTally>, Option<ScannerSet>), StoreError> {
        let (chunk, offset) = chunk_of(key.serial);
        let sql = "SELECT CAST(0 AS BIGINT) AS kind, tallies AS bytes FROM mark_scan_chunks \
                   WHERE number = $1 AND batch = $2 AND chunk = $3 \
                   UNION ALL SELECT CAST(1 AS BIGINT), tallies FROM mark_scan_deltas \
                   WHERE number = $1 AND batch = $2 AND chunk = $3 \
                   UNION ALL SELECT CAST(2 AS BIGINT), scanners FROM mark_scanners \
                   WHERE number = $1 AND batch = $2 AND serial = $4";
        let rows = sqlx::query(sql)
            .bind(&key.number)
            .bind(i64::from(key.batch))
            .bind(chunk)
            .bind(i64::from(key.serial))
            .fetch_all(self.reads())
            .await?;
        let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
        let mut scanners = None;
        for row in rows {
            let kind: i64 = row.try_get("kind")?;
            let bytes: Vec<u8> = row.try_get("bytes")?;
            if kind == 2 {
                scanners = decoded_scanners(key, &bytes);
            } else {
                blobs.push(bytes);
            }
        }
        Ok((find_in_all(key, chunk, blobs.iter().map(Vec::as_slice), offset), scanners))
    }

    /// A read transaction that sees one snapshot: a chunk's base and deltas read in two
    /// statements then agree even if a flush folds the chunk in between.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'_, super::Db>, StoreError> {
        let mut tx = self.reads().begin().await?;
        if let Some(statement) = Self::SNAPSHOT {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// The deltas of a certificate's chunks (of one batch when `batch` is given), merged per
    /// chunk; damaged ones are left out, and logged. Folding keeps them no larger than the bases.
    async fn select_deltas(
        conn: &mut super::Connection,
        number: &str,
        batch: Option<u32>,
        outcome: &str,
    ) -> Result<std::collections::BTreeMap<(u32, i64), Entries>, StoreError> {
        let mut found: std::collections::BTreeMap<(u32, i64), Entries> = std::collections::BTreeMap::new();
        let mut rows = match batch {
            Some(batch) => {
                sqlx::query("SELECT batch, chunk, tallies FROM mark_scan_deltas WHERE number = $1 AND batch = $2")
                    .bind(number)
                    .bind(i64::from(batch))
                    .fetch(&mut *conn)
            }
            None => sqlx::query("SELECT batch, chunk, tallies FROM mark_scan_deltas WHERE number = $1")
                .bind(number)
                .fetch(&mut *conn),
        };
        while let Some(row) = rows.try_next().await? {
            let (batch, chunk): (u32, i64) = (batch_of(row.try_get("batch")?)?, row.try_get("chunk")?);
            let blob: Vec<u8> = row.try_get("tallies")?;
            if let Some(entries) = entries_or_skip(number, batch, chunk, &blob, outcome) {
                merge_entries(found.entry((batch, chunk)).or_default(), entries);
            }
        }
        Ok(found)
    }

    /// Streams the certificate's chunks, keeping only the `limit` most scanned.
    pub(super) async fn select_scan_summary(
        &self,
        number: &str,
        limit: u32,
    ) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        const LEFT_OUT: &str = "left out of the scan summary";
        let mut tx = self.snapshot().await?;
        let mut deltas = Self::select_deltas(&mut tx, number, None, LEFT_OUT).await?;
        let mut summary = Summary::new(number, limit);
        {
            let mut rows = sqlx::query("SELECT batch, chunk, tallies FROM mark_scan_chunks WHERE number = $1")
                .bind(number)
                .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let (batch, chunk): (u32, i64) = (batch_of(row.try_get("batch")?)?, row.try_get("chunk")?);
                let blob: Vec<u8> = row.try_get("tallies")?;
                let mut entries = entries_or_skip(number, batch, chunk, &blob, LEFT_OUT).unwrap_or_default();
                if let Some(more) = deltas.remove(&(batch, chunk)) {
                    merge_entries(&mut entries, more);
                }
                summary.add(batch, chunk, entries);
            }
        }
        tx.rollback().await?;
        for ((batch, chunk), entries) in deltas {
            summary.add(batch, chunk, entries);
        }
        summary.finish()
    }

    /// Streams the batch's chunks (a batch scanned end to end is megabytes of blobs), then its
    /// deltas.
    pub(super) async fn select_scanned_serials(&self, number: &str, batch: u32) -> Result<Vec<u32>, StoreError> {
        let mut found = Vec::new();
        let mut tx = self.snapshot().await?;
        for table in ["mark_scan_chunks", "mark_scan_deltas"] {
            let sql = format!("SELECT chunk, tallies FROM {table} WHERE number = $1 AND batch = $2 ORDER BY chunk");
            let mut rows = sqlx::query(&sql).bind(number).bind(i64::from(batch)).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                found.extend(serials(number, batch, row.try_get("chunk")?, row.try_get("tallies")?));
            }
        }
        tx.rollback().await?;
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    pub(super) async fn select_scanners(&self, key: &SerialKey) -> Result<Option<ScannerSet>, StoreError> {
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT scanners FROM mark_scanners WHERE number = $1 AND batch = $2 AND serial = $3")
                .bind(&key.number)
                .bind(i64::from(key.batch))
                .bind(i64::from(key.serial))
                .fetch_optional(self.reads())
                .await?;
        Ok(blob.and_then(|blob| decoded_scanners(key, &blob)))
    }
}
