//! The SQLite side of scan tallies: one row per chunk of [`CHUNK_SERIALS`] serials of a mark
//! batch, its tallies packed in one blob, rather than one row per serial.
//!
//! A flush of tens of thousands of fresh serials then costs a few hundred row writes instead of
//! tens of thousands of B-tree upserts (each a key comparison on the certificate number, a page
//! change and, for a new serial, sooner or later a page split): measured on the scan landing,
//! the store's thread spent 1.1 to 3.6 us a scan with a row per serial and 0.4 to 2.7 us with
//! chunks (more the fuller the batch, as each flush rewrites the chunks it touches; see
//! BENCHMARKS.md). The blob keeps the figures a serial's row held, exactly.
//!
//! Blob format (also written by `migrations/sqlite/0008_mark_scan_chunks.sql`): entries of
//! [`ENTRY_BYTES`], in ascending serial order, each the serial's offset in its chunk (`u16`),
//! its count (`u64`), and its first and last scan in microseconds since the Unix epoch (`i64`),
//! all big-endian.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, INSERT_CHUNK};
use crate::store::{ScanTally, SerialKey, StoreError};

/// Serials per chunk: a chunk of a batch scanned end to end is a 26 KB blob, and a flush of a
/// 1,000,000-mark batch touches at most 977 rows.
const CHUNK_SERIALS: u32 = 1024;
/// Bytes per serial in a chunk's blob.
const ENTRY_BYTES: usize = 26;
/// Chunks per multi-row upsert (four bound values each).
const CHUNKS_PER_UPSERT: usize = INSERT_CHUNK / 4;

/// One serial's figures as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tally {
    count: u64,
    first_us: i64,
    last_us: i64,
}

impl Tally {
    fn of(tally: &ScanTally) -> Self {
        Self {
            count: tally.count,
            first_us: tally.first_at.timestamp_micros(),
            last_us: tally.last_at.timestamp_micros(),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.count = self.count.saturating_add(other.count);
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
    }

    fn to_scan_tally(self) -> Result<ScanTally, StoreError> {
        Ok(ScanTally { count: self.count, first_at: micros(self.first_us)?, last_at: micros(self.last_us)? })
    }
}

/// A scan time as stored: microseconds since the Unix epoch, UTC.
fn micros(value: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(value).ok_or_else(|| StoreError::Corrupt(format!("scan time {value} out of range")))
}

/// The chunk a serial is kept in, and its offset there.
fn chunk_of(serial: u32) -> (i64, u16) {
    // The remainder is below CHUNK_SERIALS, which fits a u16.
    (i64::from(serial / CHUNK_SERIALS), (serial % CHUNK_SERIALS) as u16)
}

fn serial_of(chunk: i64, offset: u16) -> Result<u32, StoreError> {
    u32::try_from(chunk)
        .ok()
        .and_then(|chunk| chunk.checked_mul(CHUNK_SERIALS))
        .and_then(|first| first.checked_add(u32::from(offset)))
        .ok_or_else(|| StoreError::Corrupt(format!("scan chunk {chunk} out of range")))
}

/// One entry of a blob (`entry` is [`ENTRY_BYTES`] long).
fn entry_of(entry: &[u8]) -> (u16, Tally) {
    let int = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&entry[at..at + 8]);
        bytes
    };
    let offset = u16::from_be_bytes([entry[0], entry[1]]);
    (
        offset,
        Tally {
            count: u64::from_be_bytes(int(2)),
            first_us: i64::from_be_bytes(int(10)),
            last_us: i64::from_be_bytes(int(18)),
        },
    )
}

fn whole_entries(blob: &[u8]) -> Result<(), StoreError> {
    if blob.len() % ENTRY_BYTES != 0 {
        return Err(StoreError::Corrupt(format!("scan chunk of {} bytes is not whole entries", blob.len())));
    }
    Ok(())
}

/// The entry of `offset`, found by bisection without reading the rest of the chunk (a re-scan
/// of a serial that left memory reads one tally).
fn find(blob: &[u8], offset: u16) -> Result<Option<Tally>, StoreError> {
    whole_entries(blob)?;
    let (mut low, mut high) = (0, blob.len() / ENTRY_BYTES);
    while low < high {
        let middle = low + (high - low) / 2;
        let (at, tally) = entry_of(&blob[middle * ENTRY_BYTES..(middle + 1) * ENTRY_BYTES]);
        match at.cmp(&offset) {
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
            std::cmp::Ordering::Equal => return Ok(Some(tally)),
        }
    }
    Ok(None)
}

/// A chunk's entries, checked: whole entries, offsets inside the chunk and strictly ascending.
fn decode(blob: &[u8]) -> Result<Vec<(u16, Tally)>, StoreError> {
    whole_entries(blob)?;
    let mut entries: Vec<(u16, Tally)> = Vec::with_capacity(blob.len() / ENTRY_BYTES);
    for entry in blob.chunks_exact(ENTRY_BYTES) {
        let (offset, tally) = entry_of(entry);
        if u32::from(offset) >= CHUNK_SERIALS || entries.last().is_some_and(|(last, _)| *last >= offset) {
            return Err(StoreError::Corrupt(format!("scan chunk entries out of order at offset {offset}")));
        }
        entries.push((offset, tally));
    }
    Ok(entries)
}

fn encode(entries: &[(u16, Tally)]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for (offset, tally) in entries {
        blob.extend_from_slice(&offset.to_be_bytes());
        blob.extend_from_slice(&tally.count.to_be_bytes());
        blob.extend_from_slice(&tally.first_us.to_be_bytes());
        blob.extend_from_slice(&tally.last_us.to_be_bytes());
    }
    blob
}

/// The stored entries with `added` (in ascending offset order) merged in.
fn merged(stored: Vec<(u16, Tally)>, added: &[(u16, Tally)]) -> Vec<(u16, Tally)> {
    let mut out: Vec<(u16, Tally)> = Vec::with_capacity(stored.len() + added.len());
    let mut stored = stored.into_iter().peekable();
    for &(offset, tally) in added {
        while let Some(entry) = stored.next_if(|(stored_offset, _)| *stored_offset < offset) {
            out.push(entry);
        }
        match out.last_mut() {
            Some((last, into)) if *last == offset => into.merge(tally),
            _ => match stored.next_if(|(stored_offset, _)| *stored_offset == offset) {
                Some((_, mut into)) => {
                    into.merge(tally);
                    out.push((offset, into));
                }
                None => out.push((offset, tally)),
            },
        }
    }
    out.extend(stored);
    out
}

/// The scans a flush adds to one chunk, in ascending offset order.
struct ChunkDelta<'a> {
    number: &'a str,
    batch: u32,
    chunk: i64,
    added: Vec<(u16, Tally)>,
}

/// Groups deltas (sorted by key) by chunk.
fn by_chunk<'a>(ordered: &[&'a (SerialKey, ScanTally)]) -> Vec<ChunkDelta<'a>> {
    let mut chunks: Vec<ChunkDelta<'a>> = Vec::new();
    for (key, tally) in ordered.iter().copied() {
        let (chunk, offset) = chunk_of(key.serial);
        match chunks.last_mut() {
            Some(last) if last.number == key.number && last.batch == key.batch && last.chunk == chunk => {
                last.added.push((offset, Tally::of(tally)));
            }
            _ => chunks.push(ChunkDelta {
                number: key.number.as_str(),
                batch: key.batch,
                chunk,
                added: vec![(offset, Tally::of(tally))],
            }),
        }
    }
    chunks
}

/// Orders the summary's candidates: more scans first, then lower batch and serial.
type Rank = (u64, Reverse<u32>, Reverse<u32>);

impl SqliteStore {
    /// Adds the deltas to the stored tallies in one transaction: per group of touched chunks,
    /// one read of their blobs and one multi-row write back.
    pub(super) async fn add_scan_tallies(&self, deltas: &[(SerialKey, ScanTally)]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut ordered: Vec<&(SerialKey, ScanTally)> = deltas.iter().collect();
        ordered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let chunks = by_chunk(&ordered);
        // The write lock first: the blobs read below stay what they are until this commits,
        // whoever else writes to the file.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for group in chunks.chunk_by(|a, b| a.number == b.number && a.batch == b.batch) {
            for part in group.chunks(INSERT_CHUNK) {
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
                    let entries = match stored.remove(&delta.chunk) {
                        Some(blob) => decode(&blob)?,
                        None => Vec::new(),
                    };
                    blobs.push((delta, encode(&merged(entries, &delta.added))));
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

    pub(super) async fn select_scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError> {
        let (chunk, offset) = chunk_of(key.serial);
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT tallies FROM mark_scan_chunks WHERE number = ? AND batch = ? AND chunk = ?")
                .bind(&key.number)
                .bind(key.batch)
                .bind(chunk)
                .fetch_optional(&self.reader)
                .await?;
        let Some(blob) = blob else { return Ok(None) };
        find(&blob, offset)?.map(Tally::to_scan_tally).transpose()
    }

    /// Reads the certificate's chunks one at a time, keeping only the `limit` most scanned.
    pub(super) async fn select_scan_summary(
        &self,
        number: &str,
        limit: u32,
    ) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut total: u64 = 0;
        // The worst of the best so far on top, to be pushed out by a better one.
        let mut best: BinaryHeap<Reverse<(Rank, i64, i64)>> = BinaryHeap::new();
        let mut rows = sqlx::query("SELECT batch, chunk, tallies FROM mark_scan_chunks WHERE number = ?")
            .bind(number)
            .fetch(&self.reader);
        while let Some(row) = rows.try_next().await? {
            let batch: u32 = row.try_get("batch")?;
            let chunk: i64 = row.try_get("chunk")?;
            let blob: &[u8] = row.try_get("tallies")?;
            for (offset, tally) in decode(blob)? {
                total = total.saturating_add(tally.count);
                let rank = (tally.count, Reverse(batch), Reverse(serial_of(chunk, offset)?));
                if best.len() < limit {
                    best.push(Reverse((rank, tally.first_us, tally.last_us)));
                } else if best.peek().is_some_and(|Reverse((worst, _, _))| rank > *worst) {
                    best.pop();
                    best.push(Reverse((rank, tally.first_us, tally.last_us)));
                }
            }
        }
        let mut top = Vec::with_capacity(best.len());
        // Ascending order of Reverse is descending rank: most scanned first.
        for Reverse(((count, Reverse(batch), Reverse(serial)), first_us, last_us)) in best.into_sorted_vec() {
            let key = SerialKey { number: number.to_string(), batch, serial };
            top.push((key, Tally { count, first_us, last_us }.to_scan_tally()?));
        }
        Ok((total, top))
    }

    /// Reads the batch's chunks one at a time: a batch scanned end to end is megabytes of blobs.
    pub(super) async fn select_scanned_serials(&self, number: &str, batch: u32) -> Result<Vec<u32>, StoreError> {
        let mut rows =
            sqlx::query("SELECT chunk, tallies FROM mark_scan_chunks WHERE number = ? AND batch = ? ORDER BY chunk")
                .bind(number)
                .bind(batch)
                .fetch(&self.reader);
        let mut serials = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let chunk: i64 = row.try_get("chunk")?;
            for (offset, _) in decode(row.try_get("tallies")?)? {
                serials.push(serial_of(chunk, offset)?);
            }
        }
        Ok(serials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(count: u64, first_us: i64, last_us: i64) -> Tally {
        Tally { count, first_us, last_us }
    }

    #[test]
    fn entries_round_trip_through_the_blob() {
        let entries = vec![(0, tally(1, -5, 7)), (3, tally(u64::MAX, i64::MIN, i64::MAX)), (1023, tally(12, 100, 200))];
        let blob = encode(&entries);
        assert_eq!(blob.len(), 3 * ENTRY_BYTES);
        assert_eq!(decode(&blob).unwrap(), entries);
        assert_eq!(decode(&[]).unwrap(), vec![]);
        for (offset, tally) in &entries {
            assert_eq!(find(&blob, *offset).unwrap(), Some(*tally));
        }
        for absent in [1, 2, 4, 1022] {
            assert_eq!(find(&blob, absent).unwrap(), None);
        }
        assert_eq!(find(&[], 0).unwrap(), None);
        assert!(find(&blob[1..], 0).is_err());
    }

    #[test]
    fn a_blob_that_is_not_whole_ordered_entries_is_corrupt() {
        let blob = encode(&[(5, tally(1, 1, 1)), (9, tally(1, 1, 1))]);
        assert!(matches!(decode(&blob[..ENTRY_BYTES + 1]), Err(StoreError::Corrupt(_))));
        let swapped = encode(&[(9, tally(1, 1, 1)), (5, tally(1, 1, 1))]);
        assert!(matches!(decode(&swapped), Err(StoreError::Corrupt(_))));
        let twice = encode(&[(5, tally(1, 1, 1)), (5, tally(1, 1, 1))]);
        assert!(matches!(decode(&twice), Err(StoreError::Corrupt(_))));
        let outside = encode(&[(1024, tally(1, 1, 1))]);
        assert!(matches!(decode(&outside), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn merging_adds_counts_and_widens_the_span_in_offset_order() {
        let stored = vec![(2, tally(3, 10, 20)), (7, tally(1, 5, 5))];
        let added = [(1, tally(1, 30, 30)), (2, tally(2, 5, 40)), (8, tally(1, 50, 50)), (8, tally(1, 49, 49))];
        assert_eq!(
            merged(stored, &added),
            vec![(1, tally(1, 30, 30)), (2, tally(5, 5, 40)), (7, tally(1, 5, 5)), (8, tally(2, 49, 50))]
        );
        assert_eq!(merged(vec![(4, tally(1, 1, 1))], &[]), vec![(4, tally(1, 1, 1))]);
    }

    #[test]
    fn serials_map_to_chunks_and_back() {
        for serial in [0, 1, 1023, 1024, 1_000_000, u32::MAX] {
            let (chunk, offset) = chunk_of(serial);
            assert_eq!(serial_of(chunk, offset).unwrap(), serial);
        }
        assert_eq!(chunk_of(1024), (1, 0));
        assert!(serial_of(i64::from(u32::MAX), 0).is_err());
    }
}
