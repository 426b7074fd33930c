//! Sharing the counts through Redis: each scan is queued to a background task that lets scans
//! gather, counts them in one round trip and writes the figures every instance shares back into
//! the entries. No scan waits for it.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::entries::{Entries, FastMap, Serial};
use super::{ScanCounter, GATHER, MAX_ROUND_TRIP, QUEUE_CAPACITY};
use crate::cache::shared::{ScanDelta, SharedCache};
use crate::domain::{ScannerSet, SerialKey};
use crate::store::{CompactTally, StoreError};

/// A scan on its way to Redis.
pub(super) type QueuedScan = (Serial, i64);

/// The Redis side: the shared cache and the queue to the task that talks to it.
pub(super) struct RedisQueue {
    pub(super) cache: Arc<SharedCache>,
    /// Started by the first scan (which runs on the runtime); `None` without a runtime.
    pub(super) queue: OnceLock<Option<mpsc::Sender<QueuedScan>>>,
}

impl ScanCounter {
    /// Counts in Redis from now on, so that every instance answers with the same figures.
    pub fn share(&self, shared: Arc<SharedCache>) {
        let _ = self.redis.set(RedisQueue { cache: shared, queue: OnceLock::new() });
    }

    /// Hands a scan to the Redis task; false without Redis or when the queue is full.
    pub(super) fn queue(&self, key: Serial, at: i64) -> bool {
        let Some(sharing) = self.redis.get() else { return false };
        let queue = sharing.queue.get_or_init(|| {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            runtime.spawn(share_scans(receiver, sharing.cache.clone(), self.entries.clone()));
            Some(sender)
        });
        let Some(queue) = queue else { return false };
        match queue.try_send((key, at)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflowed();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Notes a scan Redis will not see, and says so now and then (the store still counts it).
    fn overflowed(&self) {
        let Some(skipped) = self.overflow.note() else { return };
        tracing::warn!(
            skipped,
            capacity = QUEUE_CAPACITY,
            "scan queue to redis full; scans counted locally and in the store only"
        );
    }
}

/// The Redis task: drains what is queued, counts it in one round trip, and writes the
/// shared figures back into the entries. Ends when the counter (the queue's sender) is gone.
async fn share_scans(mut queue: mpsc::Receiver<QueuedScan>, cache: Arc<SharedCache>, entries: Arc<Entries>) {
    let mut scans = Vec::with_capacity(MAX_ROUND_TRIP);
    while queue.recv_many(&mut scans, MAX_ROUND_TRIP).await > 0 {
        // Each round trip costs this process and Redis wake-ups and system calls whatever it
        // carries; sent as soon as anything was queued, round trips under load carried a few
        // scans each. No answer waits for this: the shared figure shows a moment later.
        if scans.len() < MAX_ROUND_TRIP {
            tokio::time::sleep(GATHER).await;
            while scans.len() < MAX_ROUND_TRIP {
                let Ok(scan) = queue.try_recv() else { break };
                scans.push(scan);
            }
        }
        let mut serials: Vec<(Serial, CompactTally)> = Vec::new();
        let mut index: FastMap<Serial, usize> = FastMap::default();
        for (key, at) in scans.drain(..) {
            match index.get(&key) {
                Some(&i) => serials[i].1.merge(CompactTally::one(at)),
                None => {
                    index.insert(key, serials.len());
                    serials.push((key, CompactTally::one(at)));
                }
            }
        }
        let seeds: Vec<CompactTally> = serials
            .iter()
            .map(|(key, _)| entries.lock(key).get(key).map_or_else(CompactTally::default, |e| e.seed))
            .collect();
        let deltas = {
            let numbers = entries.numbers.table();
            serials
                .iter()
                .zip(seeds)
                .map(|((key, tally), seed)| {
                    Ok(ScanDelta { key: numbers.key(*key), tally: tally.to_scan_tally()?, seed: seed.to_option()? })
                })
                .collect::<Result<Vec<ScanDelta>, StoreError>>()
        };
        // Times made from scan moments are always in range; should one not be, these scans stay
        // unshared, as after a failed round trip.
        let deltas = match deltas {
            Ok(deltas) => deltas,
            Err(e) => {
                tracing::warn!(error = %e, "scan figures not sent to redis");
                continue;
            }
        };
        // When the round trip failed these scans stay unshared: they are in no shared figure
        // this instance knows of, and its answers go on counting them on top of the last one,
        // so no answer goes backwards. (Had Redis counted them and only the reply been lost,
        // this instance shows them twice; the store, which the flush fills, still has them once.)
        let Some(figures) = cache.count_scans(&deltas).await else { continue };
        for ((key, tally), figure) in serials.iter().zip(figures) {
            let mut entries = entries.lock(key);
            let Some(entry) = entries.get_mut(key) else { continue };
            entry.unshared = entry.unshared.saturating_sub(u32::try_from(tally.count).unwrap_or(u32::MAX));
            entry.shared = CompactTally::of(&figure);
        }
        share_scanners(&cache, &entries, &serials).await;
    }
}

/// Unions the scanner sets of the serials of one round trip with the ones every instance
/// shares, and keeps the union: the next scan of such a serial here counts every instance's
/// scanners (as of this round trip). Sent whole each time, which the union makes harmless.
async fn share_scanners(cache: &SharedCache, entries: &Entries, serials: &[(Serial, CompactTally)]) {
    let sets: Vec<(Serial, ScannerSet)> =
        serials.iter().filter_map(|(key, _)| entries.lock(key).get(key).map(|entry| (*key, entry.scanners))).collect();
    let keyed: Vec<(SerialKey, ScannerSet)> = {
        let numbers = entries.numbers.table();
        sets.iter().map(|(key, set)| (numbers.key(*key), *set)).collect()
    };
    let Some(shared) = cache.union_scanners(&keyed).await else { return };
    for ((key, _), set) in sets.iter().zip(shared) {
        if let Some(entry) = entries.lock(key).get_mut(key) {
            entry.scanners.merge(&set);
        }
    }
}
