//! Scan tallies packed per chunk of [`CHUNK_SERIALS`] serials of a mark batch, the same for every
//! backend: both stores keep per (certificate, batch, chunk) one base blob (`mark_scan_chunks`)
//! and the delta blobs that flushes appended since the base was last folded
//! (`mark_scan_deltas`), and read and write them only through this module, so the format cannot
//! drift apart.
//!
//! Why chunks: a flush of tens of thousands of fresh serials then costs a few hundred row writes
//! instead of tens of thousands of index upserts. Why deltas: a flush that read, merged and
//! wrote back the whole base of every chunk it touched wrote more the fuller the batch was
//! (26 KB for a chunk scanned end to end, for one scan in it), so a scan cost more the more had
//! been scanned before it. A flush now appends one delta blob per touched chunk holding only its
//! own scans (bytes in proportion to the serials it carries), and folds a chunk's deltas into
//! its base only once they are at least as large as the base ([`should_fold`]): a fold writes at
//! most twice the delta bytes it removes, so the bytes written per scan stay bounded whatever
//! the batch held before (see BENCHMARKS.md, issue 28). Readers merge a chunk's base and deltas;
//! each blob keeps the figures a serial's row held, exactly.
//!
//! A stored blob that does not decode (damaged on disk, or edited by hand) must not stop the
//! counting of every other scan: readers skip it, and the fold of its chunk keeps it aside,
//! unchanged, in `mark_scan_chunks_damaged` and starts the chunk again from the blobs that do
//! decode. Each time, an error is logged with the certificate, batch and chunk.
//!
//! Blob format (also written by `migrations/sqlite/0008_mark_scan_chunks.sql`): entries of
//! [`ENTRY_BYTES`], in ascending serial order, each the serial's offset in its chunk (`u16`),
//! its count (`u64`), and its first and last scan in microseconds since the Unix epoch (`i64`),
//! all big-endian. Base and delta blobs share it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{CompactTally, ScanDeltas, StoreError};
use crate::domain::{ScanTally, SerialKey};

/// Serials per chunk: a chunk of a batch scanned end to end is a 26 KB blob, and a flush of a
/// 1,000,000-mark batch touches at most 977 rows.
pub(super) const CHUNK_SERIALS: u32 = 1024;
/// Chunks a flush folds at most, in either store. A chunk of a batch scanned end to end is a
/// 26 KB base with up to as much again in deltas, held about three times while it is folded (as
/// read, merged, and bound to the write): 64 at a time keep that near 10 MB. A flush appends
/// deltas of about 26 bytes a scan, so under 30,000 scans a second it adds some 800 KB a second
/// that need folding, and 64 folds of up to 52 KB each keep well ahead of that; chunks left over
/// are folded by the next flushes that touch them.
pub(super) const CHUNKS_PER_FOLD: usize = 64;
/// Delta bytes a chunk gathers before it is folded however small its base: a chunk with few
/// serials is not rewritten for every scan, and a reader meets at most a few KB of deltas.
pub(super) const MIN_FOLD_BYTES: i64 = 4096;
/// Bytes per serial in a chunk's blob.
const ENTRY_BYTES: usize = 26;

/// The chunk a serial is kept in, and its offset there.
pub(super) fn chunk_of(serial: u32) -> (i64, u16) {
    // The remainder is below CHUNK_SERIALS, which fits a u16.
    (i64::from(serial / CHUNK_SERIALS), (serial % CHUNK_SERIALS) as u16)
}

/// The serial at `offset` of chunk `chunk`; a chunk number no serial can have is corrupt.
pub(super) fn serial_of(chunk: i64, offset: u16) -> Result<u32, StoreError> {
    u32::try_from(chunk)
        .ok()
        .and_then(|chunk| chunk.checked_mul(CHUNK_SERIALS))
        .and_then(|first| first.checked_add(u32::from(offset)))
        .ok_or_else(|| StoreError::Corrupt(format!("scan chunk {chunk} out of range")))
}

/// One entry of a blob (`entry` is [`ENTRY_BYTES`] long).
fn entry_of(entry: &[u8]) -> (u16, CompactTally) {
    let int = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&entry[at..at + 8]);
        bytes
    };
    let offset = u16::from_be_bytes([entry[0], entry[1]]);
    (
        offset,
        CompactTally {
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
fn find(blob: &[u8], offset: u16) -> Result<Option<CompactTally>, StoreError> {
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
fn decode(blob: &[u8]) -> Result<Vec<(u16, CompactTally)>, StoreError> {
    whole_entries(blob)?;
    let mut entries: Vec<(u16, CompactTally)> = Vec::with_capacity(blob.len() / ENTRY_BYTES);
    for entry in blob.chunks_exact(ENTRY_BYTES) {
        let (offset, tally) = entry_of(entry);
        if u32::from(offset) >= CHUNK_SERIALS || entries.last().is_some_and(|(last, _)| *last >= offset) {
            return Err(StoreError::Corrupt(format!("scan chunk entries out of order at offset {offset}")));
        }
        entries.push((offset, tally));
    }
    Ok(entries)
}

/// What happens to a damaged chunk's serials until a flush keeps the chunk aside.
const UNTIL_KEPT_ASIDE: &str = "what it holds counts as never scanned until a fold keeps it aside";

/// Logs that the stored blob of a chunk could not be read, and what happens to it.
fn report_damaged(number: &str, batch: u32, chunk: i64, error: &StoreError, outcome: &str) {
    tracing::error!(number, batch, chunk, error = %error, "scan chunk damaged: {outcome}");
}

/// The entries of chunk `chunk`, checked: decoded, and a chunk number serials can have.
fn checked(chunk: i64, blob: &[u8]) -> Result<Vec<(u16, CompactTally)>, StoreError> {
    let entries = decode(blob)?;
    // Offsets are below CHUNK_SERIALS, so when the chunk's first serial fits, every one does.
    serial_of(chunk, 0)?;
    Ok(entries)
}

/// The serials of chunk `chunk` that its blob holds a tally of, in ascending order; none, and
/// logged, when the blob is damaged.
pub(super) fn serials(number: &str, batch: u32, chunk: i64, blob: &[u8]) -> Vec<u32> {
    match checked(chunk, blob) {
        Ok(entries) => entries.into_iter().filter_map(|(offset, _)| serial_of(chunk, offset).ok()).collect(),
        Err(e) => {
            report_damaged(number, batch, chunk, &e, UNTIL_KEPT_ASIDE);
            Vec::new()
        }
    }
}

/// Whether a chunk whose deltas take `delta_bytes` and whose base takes `base_bytes` (0: none)
/// is folded now: once the deltas are as large as the base (and [`MIN_FOLD_BYTES`] at least), so
/// a fold writes at most twice the bytes it takes out of the deltas.
pub(super) fn should_fold(delta_bytes: i64, base_bytes: i64) -> bool {
    delta_bytes >= base_bytes.max(MIN_FOLD_BYTES)
}

/// The tally of `key` over the blobs of its chunk `chunk` (its base and deltas, in any order;
/// `offset` its place there): damaged blobs (and times out of range) are skipped and logged.
pub(super) fn find_in_all<'a>(
    key: &SerialKey,
    chunk: i64,
    blobs: impl IntoIterator<Item = &'a [u8]>,
    offset: u16,
) -> Option<ScanTally> {
    let mut total = CompactTally::default();
    for blob in blobs {
        match find(blob, offset) {
            Ok(Some(tally)) => total.merge(tally),
            Ok(None) => {}
            Err(e) => report_damaged(&key.number, key.batch, chunk, &e, UNTIL_KEPT_ASIDE),
        }
    }
    match total.to_option() {
        Ok(found) => found,
        Err(e) => {
            report_damaged(&key.number, key.batch, chunk, &e, UNTIL_KEPT_ASIDE);
            None
        }
    }
}

/// The entries of one stored blob of chunk `chunk`; none, and logged, when it is damaged.
pub(super) fn entries_or_skip(number: &str, batch: u32, chunk: i64, blob: &[u8], outcome: &str) -> Option<Entries> {
    match checked(chunk, blob) {
        Ok(entries) => Some(entries),
        Err(e) => {
            report_damaged(number, batch, chunk, &e, outcome);
            None
        }
    }
}

/// A chunk's entries: offsets ascending, each once.
pub(super) type Entries = Vec<(u16, CompactTally)>;

/// `more` merged into `into` (both ascending by offset).
pub(super) fn merge_entries(into: &mut Entries, more: Entries) {
    let stored = std::mem::take(into);
    *into = merged(stored, more.into_iter());
}

/// What folding a chunk's base and deltas comes to.
pub(super) struct Folded {
    /// The chunk's new base.
    pub(super) blob: Vec<u8>,
    /// Stored blobs that did not decode, to keep aside in `mark_scan_chunks_damaged` in the
    /// same transaction; the new base holds what the others held.
    pub(super) damaged: Vec<Vec<u8>>,
}

/// Folds a chunk's base (if any) and its deltas into one base; damaged blobs are left out,
/// returned to be kept aside, and logged.
pub(super) fn fold(number: &str, batch: u32, chunk: i64, base: Option<Vec<u8>>, deltas: Vec<Vec<u8>>) -> Folded {
    let mut entries = Entries::new();
    let mut damaged = Vec::new();
    for blob in base.into_iter().chain(deltas) {
        match entries_or_skip(
            number,
            batch,
            chunk,
            &blob,
            "kept aside in mark_scan_chunks_damaged; the chunk goes on from the blobs that decode",
        ) {
            Some(more) => merge_entries(&mut entries, more),
            None => damaged.push(blob),
        }
    }
    Folded { blob: encode(&entries), damaged }
}

fn encode(entries: &[(u16, CompactTally)]) -> Vec<u8> {
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
fn merged(
    stored: Vec<(u16, CompactTally)>,
    added: impl ExactSizeIterator<Item = (u16, CompactTally)>,
) -> Vec<(u16, CompactTally)> {
    let mut out: Vec<(u16, CompactTally)> = Vec::with_capacity(stored.len() + added.len());
    let mut stored = stored.into_iter().peekable();
    for (offset, tally) in added {
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

/// The scans a flush adds to one chunk: a slice of its batch's serials, ascending.
pub(super) struct ChunkDelta<'a> {
    pub(super) number: &'a str,
    pub(super) batch: u32,
    pub(super) chunk: i64,
    added: &'a [(u32, CompactTally)],
}

impl ChunkDelta<'_> {
    /// The delta blob of this flush's scans in the chunk.
    pub(super) fn blob(&self) -> Vec<u8> {
        encode(&merged(Vec::new(), self.added.iter().map(|&(serial, tally)| (chunk_of(serial).1, tally))))
    }
}

/// Groups deltas by chunk, in (certificate, batch, chunk) order, so that a flush reads and
/// writes each touched chunk once and every writer touches rows in the same order.
pub(super) fn by_chunk(deltas: &ScanDeltas) -> Vec<ChunkDelta<'_>> {
    let mut chunks: Vec<ChunkDelta<'_>> = Vec::new();
    for batch in deltas.batches() {
        // Serials are ascending, so each chunk's are one run of them.
        for run in batch.serials().chunk_by(|a, b| chunk_of(a.0).0 == chunk_of(b.0).0) {
            chunks.push(ChunkDelta {
                number: batch.number(),
                batch: batch.batch(),
                chunk: chunk_of(run[0].0).0,
                added: run,
            });
        }
    }
    chunks
}

/// Orders the summary's candidates: more scans first, then lower batch and serial.
type Rank = (u64, Reverse<u32>, Reverse<u32>);

/// The total and the `limit` most scanned serials of one certificate, fed one chunk at a time
/// so that a store can stream the chunks rather than hold them all.
pub(super) struct Summary {
    number: String,
    limit: usize,
    total: u64,
    /// The worst of the best so far on top, to be pushed out by a better one.
    best: BinaryHeap<Reverse<(Rank, i64, i64)>>,
}

impl Summary {
    /// The summary of certificate `number`.
    pub(super) fn new(number: &str, limit: u32) -> Self {
        Self {
            number: number.to_string(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            total: 0,
            best: BinaryHeap::new(),
        }
    }

    /// Counts every tally of one stored chunk, its base and deltas merged.
    pub(super) fn add(&mut self, batch: u32, chunk: i64, entries: Entries) {
        for (offset, tally) in entries {
            let Ok(serial) = serial_of(chunk, offset) else { continue };
            self.total = self.total.saturating_add(tally.count);
            let rank = (tally.count, Reverse(batch), Reverse(serial));
            if self.best.len() < self.limit {
                self.best.push(Reverse((rank, tally.first_us, tally.last_us)));
            } else if self.best.peek().is_some_and(|Reverse((worst, _, _))| rank > *worst) {
                self.best.pop();
                self.best.push(Reverse((rank, tally.first_us, tally.last_us)));
            }
        }
    }

    /// The total of all scans and the most scanned serials, most first.
    pub(super) fn finish(self) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        let mut top = Vec::with_capacity(self.best.len());
        // Ascending order of Reverse is descending rank: most scanned first.
        for Reverse(((count, Reverse(batch), Reverse(serial)), first_us, last_us)) in self.best.into_sorted_vec() {
            let key = SerialKey { number: self.number.clone(), batch, serial };
            top.push((key, CompactTally { count, first_us, last_us }.to_scan_tally()?));
        }
        Ok((self.total, top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(count: u64, first_us: i64, last_us: i64) -> CompactTally {
        CompactTally { count, first_us, last_us }
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
        assert_eq!(serials("A", 1, 2, &blob), vec![2048, 2051, 3071]);
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
            merged(stored, added.into_iter()),
            vec![(1, tally(1, 30, 30)), (2, tally(5, 5, 40)), (7, tally(1, 5, 5)), (8, tally(2, 49, 50))]
        );
        assert_eq!(merged(vec![(4, tally(1, 1, 1))], std::iter::empty()), vec![(4, tally(1, 1, 1))]);
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

    #[test]
    fn deltas_group_by_chunk_in_key_order() {
        let at = chrono::DateTime::from_timestamp_micros(1_000).unwrap();
        let one = ScanTally { count: 1, first_at: at, last_at: at };
        let key = |number: &str, batch, serial| SerialKey { number: number.into(), batch, serial };
        let deltas = [
            (key("B", 1, 5), one),
            (key("A", 2, 1), one),
            (key("A", 1, 1025), one),
            (key("A", 1, 3), one),
            (key("A", 1, 1), one),
        ];
        let deltas = ScanDeltas::from_tallies(&deltas);
        let chunks = by_chunk(&deltas);
        let shape: Vec<(&str, u32, i64, usize)> =
            chunks.iter().map(|c| (c.number, c.batch, c.chunk, c.added.len())).collect();
        assert_eq!(shape, vec![("A", 1, 0, 2), ("A", 1, 1, 1), ("A", 2, 0, 1), ("B", 1, 0, 1)]);
        let blob = chunks[0].blob();
        assert_eq!(serials("A", 1, 0, &blob), vec![1, 3]);
        assert_eq!(blob.len(), 2 * ENTRY_BYTES, "a delta holds the flush's own scans only");
        let folded = fold("A", 1, 0, Some(blob.clone()), vec![blob.clone(), chunks[0].blob()]);
        assert!(folded.damaged.is_empty());
        assert_eq!(find(&folded.blob, 3).unwrap(), Some(tally(3, 1_000, 1_000)));
        assert_eq!(folded.blob.len(), 2 * ENTRY_BYTES);
    }

    #[test]
    fn a_chunk_is_folded_once_its_deltas_are_as_large_as_its_base() {
        assert!(!should_fold(MIN_FOLD_BYTES - 1, 0), "a small chunk gathers some deltas first");
        assert!(should_fold(MIN_FOLD_BYTES, 0));
        assert!(!should_fold(20_000, 26_624), "deltas smaller than the base wait");
        assert!(should_fold(26_624, 26_624));
    }

    #[test]
    fn a_damaged_blob_is_skipped_by_readers_and_kept_aside_by_the_fold() {
        let good = encode(&[(5, tally(4, 1, 2)), (9, tally(1, 3, 3))]);
        let damaged = &good[..ENTRY_BYTES + 3];
        let later = encode(&[(5, tally(1, 8, 8))]);
        let key = SerialKey { number: "A".into(), batch: 1, serial: 5 };
        let found = |blobs: &[&[u8]]| find_in_all(&key, 0, blobs.iter().copied(), 5);
        assert_eq!(found(&[&good]), tally(4, 1, 2).to_scan_tally().ok());
        assert_eq!(found(&[&good, &later]), tally(5, 1, 8).to_scan_tally().ok(), "base and delta merged");
        let out_of_range = encode(&[(5, tally(1, i64::MAX, i64::MAX))]);
        assert_eq!(found(&[&out_of_range]), None, "times no date can hold");
        assert_eq!(found(&[damaged, &later]), tally(1, 8, 8).to_scan_tally().ok(), "the damaged blob skipped");
        assert_eq!(found(&[damaged]), None, "skipped, not an error");
        assert_eq!(serials("A", 1, 0, damaged), Vec::<u32>::new());
        assert_eq!(serials("A", 1, i64::from(u32::MAX), &good), Vec::<u32>::new(), "a chunk no serial has");
        assert!(entries_or_skip("A", 1, 0, damaged, "test").is_none());

        let mut summary = Summary::new("A", 10);
        summary.add(1, 0, decode(&good).unwrap());
        summary.add(2, 0, decode(&good).unwrap());
        let (total, top) = summary.finish().unwrap();
        assert_eq!(total, 10);
        assert_eq!(top.len(), 4);

        let folded = fold("A", 1, 0, Some(damaged.to_vec()), vec![later.clone(), damaged.to_vec()]);
        assert_eq!(folded.damaged, vec![damaged.to_vec(), damaged.to_vec()], "both kept aside as they were");
        assert_eq!(decode(&folded.blob).unwrap(), vec![(5, tally(1, 8, 8))], "what decodes goes on");
        let folded = fold("A", 1, 0, Some(good.clone()), vec![later]);
        assert!(folded.damaged.is_empty());
        assert_eq!(decode(&folded.blob).unwrap(), vec![(5, tally(5, 1, 8)), (9, tally(1, 3, 3))]);
    }
}
