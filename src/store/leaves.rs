//! The transparency-log leaf of an event about to be stored, computed the same way by every
//! backend before it writes the leaf in the event's own transaction.

use super::columns::timestamp;
use super::{NewEvent, StoreError};
use crate::tlog::{leaf_data, leaf_hash, Hash, LeafInput};

/// Events per thread below which hashing leaves in parallel is not worth a thread.
const PARALLEL_FROM: usize = 512;

/// The leaf hash of an event about to be stored.
fn new_leaf(event: &NewEvent) -> Result<Hash, StoreError> {
    let at = timestamp(event.at);
    let record = &event.signed.record;
    let data = leaf_data(&LeafInput {
        number: record.number.as_str(),
        version: record.version,
        kind: event.kind.as_str(),
        at: &at,
        details: &event.details,
        record: &event.signed.canonical,
        signature: &event.signed.signature,
    })
    .map_err(|e| StoreError::Corrupt(format!("leaf data cannot be written: {e}")))?;
    Ok(leaf_hash(&data))
}

/// Leaf hashes of `events`, on every core for big batches (bulk import), so the log costs the
/// writer as little as possible.
pub(super) fn leaf_hashes(events: &[NewEvent]) -> Result<Vec<Hash>, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || events.len() < 2 * PARALLEL_FROM {
        return events.iter().map(new_leaf).collect();
    }
    let chunk = events.len().div_ceil(threads);
    let parts: Vec<Result<Vec<Hash>, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(new_leaf).collect::<Result<Vec<_>, _>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(StoreError::Corrupt("leaf hashing thread panicked".into()))))
            .collect()
    });
    let mut hashes = Vec::with_capacity(events.len());
    for part in parts {
        hashes.extend(part?);
    }
    Ok(hashes)
}

/// A stored hash, checked to be 32 bytes.
pub(super) fn hash_of(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("{what} is not a 32-byte hash")))
}

/// A log index as the databases keep it (a signed 64-bit integer).
pub(super) fn index(idx: u64) -> Result<i64, StoreError> {
    i64::try_from(idx).map_err(|_| StoreError::Corrupt(format!("log index {idx} out of range")))
}

/// A stored log index or size, which is never negative.
pub(super) fn unsigned(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what}")))
}
