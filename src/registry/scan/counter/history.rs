//! What the store holds of a serial the counter has no entry for, known without a read per
//! serial: per (certificate, batch), a bitmap of the serials that have a stored tally is loaded
//! with one query the first time the batch is scanned and kept up to date by this process's own
//! flushes; only a set bit costs a read of that serial's tally, once.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use super::entries::FastMap;
use super::{ScanCounter, BITMAP_OVERHEAD_BYTES, HISTORY_RETRY_AFTER, MAX_BITMAP_BYTES};
use crate::domain::{CertificateNumber, ScanTally, ScannerSet, SerialKey};
use crate::store::StoreError;

/// What the store holds of a serial this process has no entry for.
pub(super) enum History {
    /// Its stored tally, or none, and its stored scanners.
    Read(Option<ScanTally>, ScannerSet),
    /// The store could not be read.
    Unknown,
}

/// Which serials of one batch have a stored tally.
pub(super) struct BatchBitmap {
    /// Set once the store's serials are in `bits`; concurrent first scans wait for one load.
    loaded: tokio::sync::OnceCell<()>,
    /// Bit `serial` set: the serial has a stored tally.
    bits: RwLock<Vec<u64>>,
}

impl BatchBitmap {
    pub(super) fn contains(&self, serial: u32) -> bool {
        let bits = self.bits.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let word = usize::try_from(serial / 64).unwrap_or(usize::MAX);
        bits.get(word).is_some_and(|w| (w >> (serial % 64)) & 1 == 1)
    }

    /// Sets the bits of `serials`; returns the bytes the bitmap grew by.
    pub(super) fn insert(&self, serials: impl IntoIterator<Item = u32>) -> usize {
        let mut bits = self.bits.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = bits.len();
        for serial in serials {
            let word = usize::try_from(serial / 64).unwrap_or(usize::MAX);
            if word >= bits.len() {
                bits.resize(word + 1, 0);
            }
            bits[word] |= 1 << (serial % 64);
        }
        (bits.len() - before) * 8
    }
}

/// The bitmaps of every batch this process has seen, bounded by [`MAX_BITMAP_BYTES`].
#[derive(Default)]
pub(super) struct StoredSerials {
    batches: RwLock<FastMap<String, FastMap<u32, Arc<BatchBitmap>>>>,
    /// Approximate memory of `batches` (bits plus a fixed overhead per batch).
    bytes: AtomicUsize,
}

impl StoredSerials {
    pub(super) fn get(&self, number: &str, batch: u32) -> Option<Arc<BatchBitmap>> {
        let batches = self.batches.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        batches.get(number).and_then(|batches| batches.get(&batch)).cloned()
    }

    /// The bitmap of a batch, made (empty, not loaded) if this process has none.
    fn get_or_insert(&self, number: &str, batch: u32) -> Arc<BatchBitmap> {
        if let Some(seeds) = self.get(number, batch) {
            return seeds;
        }
        let mut batches = self.batches.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(seeds) = batches.get(number).and_then(|batches| batches.get(&batch)) {
            return seeds.clone();
        }
        if self.bytes.load(Ordering::Relaxed) > MAX_BITMAP_BYTES {
            // Dropped bitmaps are loaded again, with one query each, when their batch is next
            // scanned; a flush only updates the bitmaps present, and a load made after it reads
            // what it wrote.
            tracing::info!(batches = batches.values().map(FastMap::len).sum::<usize>(), "scan seed bitmaps dropped");
            batches.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        self.bytes.fetch_add(BITMAP_OVERHEAD_BYTES + number.len(), Ordering::Relaxed);
        let seeds = Arc::new(BatchBitmap { loaded: tokio::sync::OnceCell::new(), bits: RwLock::new(Vec::new()) });
        batches.entry(number.to_string()).or_default().insert(batch, seeds.clone());
        seeds
    }

    pub(super) fn grew(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl ScanCounter {
    /// What the store holds of a serial this process has no entry for; a store that cannot be
    /// read (or could not a moment ago) is reported now and then and gives [`History::Unknown`].
    pub(super) async fn history(&self, number: &CertificateNumber, key: SerialKey) -> History {
        let now = || u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        let failed_at = self.history_failed_at.load(Ordering::Relaxed);
        let retry_after = u64::try_from(HISTORY_RETRY_AFTER.as_micros()).unwrap_or(u64::MAX);
        let error = if failed_at != 0 && now().saturating_sub(failed_at) < retry_after {
            "a read failed under a second ago".to_string()
        } else {
            match self.stored_tally(number, &key).await {
                Ok((stored, scanners)) => return History::Read(stored, scanners),
                Err(error) => {
                    self.history_failed_at.store(now(), Ordering::Relaxed);
                    error.to_string()
                }
            }
        };
        if let Some(serials) = self.unread_history.note() {
            tracing::warn!(
                error,
                serials,
                "earlier scans of serials could not be read from the store; their new scans are counted but shown without a count"
            );
        }
        History::Unknown
    }

    /// The store's tally and scanners of a serial this process does not hold in memory: none
    /// without a read when its batch's bitmap says so (scanners are stored only with a tally).
    async fn stored_tally(
        &self,
        number: &CertificateNumber,
        key: &SerialKey,
    ) -> Result<(Option<ScanTally>, ScannerSet), StoreError> {
        let seeds = self.stored_serials.get_or_insert(&key.number, key.batch);
        seeds
            .loaded
            .get_or_try_init(|| async {
                let serials = self.store.scanned_serials(number, key.batch).await?;
                self.seed_loads.fetch_add(1, Ordering::Relaxed);
                self.stored_serials.grew(seeds.insert(serials));
                Ok::<(), StoreError>(())
            })
            .await?;
        if !seeds.contains(key.serial) {
            return Ok((None, ScannerSet::default()));
        }
        self.seed_reads.fetch_add(1, Ordering::Relaxed);
        let (tally, scanners) = self.store.scan_history(key).await?;
        Ok((tally, scanners.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_take_a_bit_per_serial() {
        let seeds = BatchBitmap { loaded: tokio::sync::OnceCell::new(), bits: RwLock::new(Vec::new()) };
        assert_eq!(seeds.insert([1_000_000]), 15_626 * 8);
        assert_eq!(seeds.insert([0, 63, 64]), 0);
        assert!(seeds.contains(0) && seeds.contains(63) && seeds.contains(64) && seeds.contains(1_000_000));
        assert!(!seeds.contains(1) && !seeds.contains(999_999) && !seeds.contains(u32::MAX));
    }
}
