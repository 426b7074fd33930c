//! Scan counting: how often each mark serial was checked, and when first. Counts are kept in
//! memory and written to the store in batches by a background flush, so a scan costs a store
//! read only the first time this process sees a serial, and never a write. With Redis, the
//! running figures are also kept there (one pipelined round trip), so every instance answers
//! with the same count; without it, or while it is down, each instance answers with what it
//! knows, and the store still receives every scan.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::store::{ScanTally, SerialKey, Store, StoreError};

/// More scans than a real package's mark sees: the mark was probably copied.
pub const SUSPICIOUS_SCANS: u64 = 10;
/// Serials kept in memory after a flush before clean entries are dropped.
const MAX_CACHED: usize = 100_000;

struct Entry {
    /// The store's tally when this process first saw the serial.
    seed: Option<ScanTally>,
    /// Everything this process knows: stored plus its own scans since.
    total: ScanTally,
    /// Not yet written: count and time span.
    pending: Option<ScanTally>,
}

/// Counts scans per serial and writes them out in batches.
pub struct ScanCounter {
    store: Arc<dyn Store>,
    entries: Mutex<HashMap<SerialKey, Entry>>,
    /// With Redis, the count every instance shares.
    shared: std::sync::OnceLock<Arc<crate::cache::shared::SharedCache>>,
}

fn merge(into: &mut ScanTally, at: DateTime<Utc>, count: u64) {
    into.count += count;
    into.first_at = into.first_at.min(at);
    into.last_at = into.last_at.max(at);
}

impl ScanCounter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, entries: Mutex::new(HashMap::new()), shared: std::sync::OnceLock::new() }
    }

    /// Counts in Redis from now on, so that every instance answers with the same figures.
    pub fn share(&self, shared: Arc<crate::cache::shared::SharedCache>) {
        let _ = self.shared.set(shared);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SerialKey, Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // few field writes), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one scan of `key` at `at` and returns the tally including it.
    pub async fn record(&self, key: SerialKey, at: DateTime<Utc>) -> Result<ScanTally, StoreError> {
        let known = self.lock().contains_key(&key);
        let stored = if known { None } else { self.store.scan_tally(&key).await? };
        let (local, seed) = {
            let mut entries = self.lock();
            let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
                seed: stored,
                total: stored.unwrap_or(ScanTally { count: 0, first_at: at, last_at: at }),
                pending: None,
            });
            merge(&mut entry.total, at, 1);
            match &mut entry.pending {
                Some(pending) => merge(pending, at, 1),
                None => entry.pending = Some(ScanTally { count: 1, first_at: at, last_at: at }),
            }
            (entry.total, entry.seed)
        };
        // The store flush above counts this scan either way; Redis, when it answers, gives the
        // figure every instance shares.
        if let Some(shared) = self.shared.get() {
            if let Some(tally) = shared.count_scan(&key, at, seed.as_ref()).await {
                return Ok(tally);
            }
        }
        Ok(local)
    }

    /// Writes pending counts to the store. On failure they stay pending for the next flush.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let deltas: Vec<(SerialKey, ScanTally)> = {
            let mut entries = self.lock();
            entries.iter_mut().filter_map(|(key, entry)| entry.pending.take().map(|p| (key.clone(), p))).collect()
        };
        if deltas.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.store.add_scans(&deltas).await {
            let mut entries = self.lock();
            for (key, delta) in deltas {
                if let Some(entry) = entries.get_mut(&key) {
                    match &mut entry.pending {
                        Some(pending) => {
                            pending.count += delta.count;
                            pending.first_at = pending.first_at.min(delta.first_at);
                            pending.last_at = pending.last_at.max(delta.last_at);
                        }
                        None => entry.pending = Some(delta),
                    }
                }
            }
            return Err(e);
        }
        let mut entries = self.lock();
        if entries.len() > MAX_CACHED {
            entries.retain(|_, entry| entry.pending.is_some());
        }
        Ok(deltas.len())
    }
}
