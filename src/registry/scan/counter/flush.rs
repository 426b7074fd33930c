//! Writing the counts to the store: a background flush (every second, see `startup.rs`) takes
//! what each entry holds unwritten and stores it in one transaction; what the store refuses
//! waits for the next flush.

use std::sync::atomic::Ordering;

use super::entries::{FastMap, Serial};
use super::{ScanCounter, IDLE_SHARD_SLOTS, SHARDS};
use crate::domain::{ScannerSet, SerialKey};
use crate::store::{ScanDeltas, SerialScans, StoreError};

impl ScanCounter {
    /// Puts scans a flush took back into their entries, for the next flush.
    fn pend_again(&self, taken: &ScanDeltas) {
        for batch in taken.batches() {
            let number = self.entries.numbers.id(batch.number());
            for &(serial, tally) in batch.serials() {
                let key = Serial { number, batch: batch.batch(), serial };
                if let Some(entry) = self.entries.lock(&key).get_mut(&key) {
                    entry.pending.merge(tally);
                }
            }
        }
    }

    /// Marks scanner sets a flush could not store as changed again, for the next flush.
    fn scanners_again(&self, sets: &[(Serial, ScannerSet)]) {
        for (key, _) in sets {
            if let Some(entry) = self.entries.lock(key).get_mut(key) {
                entry.scanners_changed = true;
            }
        }
    }

    /// Writes changed scanner sets to the store (a union there).
    async fn store_scanners(&self, sets: &[(Serial, ScannerSet)]) -> Result<(), StoreError> {
        if sets.is_empty() {
            return Ok(());
        }
        let keyed: Vec<(SerialKey, ScannerSet)> = {
            let numbers = self.entries.numbers.table();
            sets.iter().map(|(key, set)| (numbers.key(*key), *set)).collect()
        };
        self.store.add_scanners(&keyed).await
    }

    /// Writes pending counts to the store. On failure they stay pending for the next flush.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        // Gathered by batch as they are taken: 32 bytes a serial, however many there are.
        let mut by_batch: FastMap<(u32, u32), SerialScans> = FastMap::default();
        let mut scanner_sets: Vec<(Serial, ScannerSet)> = Vec::new();
        let mut without_history = false;
        let mut scans = 0u64;
        for index in 0..SHARDS {
            let mut entries = self.entries.lock_shard(index);
            let mut took = false;
            for (key, entry) in entries.iter_mut() {
                if let Some(pending) = entry.pending.take() {
                    scans = scans.saturating_add(pending.count);
                    by_batch.entry((key.number, key.batch)).or_default().push((key.serial, pending));
                    took = true;
                }
                if std::mem::take(&mut entry.scanners_changed) {
                    scanner_sets.push((*key, entry.scanners));
                }
                without_history |= !entry.seeded;
            }
            // A map keeps the room of its busiest second (some 500 KB a shard under a flood of
            // fresh scans); once a whole interval brought it no scan, that room goes back.
            let held = entries.len();
            if !took && entries.capacity() > 2 * held + IDLE_SHARD_SLOTS {
                entries.shrink_to(held);
            }
        }
        if by_batch.is_empty() {
            // Scanners a failed flush left behind, whose scans are stored already.
            if let Err(e) = self.store_scanners(&scanner_sets).await {
                self.scanners_again(&scanner_sets);
                self.flush_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            return Ok(0);
        }
        let named: Vec<(String, u32, SerialScans)> = {
            let numbers = self.entries.numbers.table();
            by_batch
                .into_iter()
                .map(|((number, batch), serials)| (numbers.name(number).to_string(), batch, serials))
                .collect()
        };
        let deltas = ScanDeltas::from_batches(named);
        match self.store.add_scans(&deltas).await {
            Ok(bytes) => {
                self.bytes_stored.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(e) => {
                self.pend_again(&deltas);
                self.scanners_again(&scanner_sets);
                self.flush_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        if let Err(e) = self.store_scanners(&scanner_sets).await {
            self.scanners_again(&scanner_sets);
            self.flush_failures.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        self.flushed.fetch_add(scans, Ordering::Relaxed);
        // The store takes writes again: the next scan that needs a history may ask for it.
        if self.history_failed_at.load(Ordering::Relaxed) != 0 {
            self.history_failed_at.store(0, Ordering::Relaxed);
        }
        // These serials now have a stored tally: set their bits before any entry leaves memory.
        for batch in deltas.batches() {
            if let Some(seeds) = self.stored_serials.get(batch.number(), batch.batch()) {
                self.stored_serials.grew(seeds.insert(batch.serials().iter().map(|(serial, _)| *serial)));
            }
        }
        for index in 0..SHARDS {
            let mut entries = self.entries.lock_shard(index);
            let mut over = entries.len().saturating_sub(self.cached_per_shard.load(Ordering::Relaxed));
            if over > 0 {
                // Only as many clean entries leave as the bound asks, in the map's order (which
                // a seeded hash makes arbitrary): a serial scanned again soon after is then
                // mostly still here, where dropping every clean entry made each scan of a batch
                // larger than the bound read its serial back from the store.
                entries.retain(|_, entry| {
                    let clean = entry.pending.count == 0 && !entry.scanners_changed;
                    if over > 0 && clean {
                        over -= 1;
                        return false;
                    }
                    true
                });
            }
            if without_history {
                // Their scans are stored now: the next scan reads the whole tally back.
                entries.retain(|_, entry| entry.seeded || entry.pending.count > 0 || entry.scanners_changed);
            }
        }
        Ok(deltas.serial_count())
    }
}
