//! What the counter holds in memory: an entry per serial, in a map split over [`SHARDS`] locks so
//! that concurrent scans rarely meet on one, keyed compactly by a certificate number's id.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, RwLock};

use super::history::History;
use super::SHARDS;
use crate::domain::{ScannerSet, SerialKey};
use crate::store::CompactTally;

/// The maps of the counter: their keys come only from tokens whose signature was checked (a
/// certificate number, a batch, a serial), so nobody can pick colliding ones at will, and a fast
/// seeded hasher is enough where SipHash cost a scan several times more over the half dozen
/// lookups it makes.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What this process knows of one serial: 160 bytes (56 of them its distinct scanners), since
/// under a flood of fresh scans the entries are most of what scanning costs in memory (tens of
/// thousands a second).
pub(super) struct Entry {
    /// The store's tally when this process first saw the serial (seeds Redis).
    pub(super) seed: CompactTally,
    /// Everything this process knows by itself: stored plus its own scans since.
    pub(super) total: CompactTally,
    /// Not yet written to the store.
    pub(super) pending: CompactTally,
    /// The figure every instance shares, from the last Redis round trip for this serial.
    pub(super) shared: CompactTally,
    /// This process's scans queued for Redis and not yet in `shared` (at most the queue's
    /// capacity, so 32 bits are plenty and leave room for `seeded` in the same word).
    pub(super) unshared: u32,
    /// False when the store could not say what it holds of the serial: `total` then lacks the
    /// earlier scans, so no count is shown and nothing goes to Redis (see the module's doc).
    pub(super) seeded: bool,
    /// Scanners not yet written to the store (the set is written whole: a union there).
    pub(super) scanners_changed: bool,
    /// The distinct scanners known here: stored, this process's own, and Redis's union.
    pub(super) scanners: ScannerSet,
}

/// What counting a scan in memory came to.
pub(super) enum Counted {
    /// The figures to show: requests and distinct scanners.
    Shown(CompactTally, ScannerSet),
    /// Counted, but the serial's earlier scans are unknown: no figure to show.
    WithoutHistory,
    /// No entry for the serial yet, and no history was given to make one.
    NoEntry,
    /// Not counted: the map is full ([`MAX_SERIALS`](super::MAX_SERIALS)).
    Full,
}

impl Entry {
    pub(super) fn new(history: History) -> Self {
        let (seed, seeded, scanners) = match history {
            History::Read(stored, scanners) => {
                (stored.as_ref().map_or_else(CompactTally::default, CompactTally::of), true, scanners)
            }
            History::Unknown => (CompactTally::default(), false, ScannerSet::default()),
        };
        Self {
            seed,
            total: seed,
            pending: CompactTally::default(),
            shared: CompactTally::default(),
            unshared: 0,
            seeded,
            scanners_changed: false,
            scanners,
        }
    }

    /// What this instance knows right now. Once Redis answered for the serial, its first-scan
    /// time is the one shown (the earliest scan Redis was told of, which every instance shares;
    /// until the round trip of an instance that scanned earlier arrives, it may be a later one).
    pub(super) fn answer(&self) -> CompactTally {
        if self.shared.count == 0 {
            return self.total;
        }
        CompactTally {
            count: self.total.count.max(self.shared.count.saturating_add(u64::from(self.unshared))),
            first_us: self.shared.first_us,
            last_us: self.total.last_us.max(self.shared.last_us),
        }
    }
}

/// A serial as the counter keys it: the certificate number by its id in [`NumberIds`], so that an
/// entry holds no text of its own (12 bytes, where a [`SerialKey`] takes 32 and an allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Serial {
    pub(super) number: u32,
    pub(super) batch: u32,
    pub(super) serial: u32,
}

/// The certificate numbers scans named, each given an id for good. Only scans of certificates
/// that exist are counted, so the table is never longer than the registry.
#[derive(Default)]
pub(super) struct NumberIds {
    table: RwLock<NumberTable>,
}

#[derive(Default)]
pub(super) struct NumberTable {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl NumberTable {
    /// The certificate number of an id ([`NumberIds::id`] gave every id it hands out a name).
    pub(super) fn name(&self, id: u32) -> &str {
        usize::try_from(id).ok().and_then(|i| self.names.get(i)).map_or("", |name| name)
    }

    pub(super) fn key(&self, serial: Serial) -> SerialKey {
        SerialKey { number: self.name(serial.number).to_string(), batch: serial.batch, serial: serial.serial }
    }
}

impl NumberIds {
    pub(super) fn table(&self) -> std::sync::RwLockReadGuard<'_, NumberTable> {
        // Every change is one push and one insert, made together under the write lock.
        self.table.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn id(&self, number: &str) -> u32 {
        if let Some(id) = self.table().ids.get(number) {
            return *id;
        }
        let mut table = self.table.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(id) = table.ids.get(number) {
            return *id;
        }
        // More certificate numbers than u32 can count would not fit in memory anyway.
        let id = u32::try_from(table.names.len()).unwrap_or(u32::MAX);
        table.names.push(number.into());
        table.ids.insert(number.into(), id);
        id
    }
}

/// One shard's entries.
pub(super) type SerialMap = FastMap<Serial, Entry>;

/// The per-serial entries, split over [`SHARDS`] locks.
pub(super) struct Entries {
    shards: Box<[Mutex<SerialMap>]>,
    /// Picks the shard (see [`FastMap`] for why a fast hasher).
    hasher: foldhash::fast::RandomState,
    pub(super) numbers: NumberIds,
}

impl Entries {
    pub(super) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(SerialMap::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            numbers: NumberIds::default(),
        }
    }

    pub(super) fn lock_shard(&self, index: usize) -> MutexGuard<'_, SerialMap> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // few field writes), so a poisoned lock is still usable.
        self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn lock(&self, key: &Serial) -> MutexGuard<'_, SerialMap> {
        // The top bits pick the shard (each shard's map has a seed of its own, so its keys do
        // not share bits of their hash there); they are below SHARDS, so they fit.
        let hash = self.hasher.hash_one(key);
        self.lock_shard((hash >> (u64::BITS - SHARDS.trailing_zeros())) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn the_answer_is_the_larger_of_local_and_shared_plus_unshared() {
        let at = Utc::now().timestamp_micros();
        let earlier = at - 60_000_000;
        let mut entry = Entry::new(History::Read(None, ScannerSet::default()));
        entry.total.merge(CompactTally { count: 3, first_us: at, last_us: at });
        assert_eq!(entry.answer().count, 3);
        entry.shared = CompactTally { count: 10, first_us: earlier, last_us: at };
        entry.unshared = 2;
        let answer = entry.answer();
        assert_eq!((answer.count, answer.first_us), (12, earlier));
        entry.shared = CompactTally { count: 1, first_us: earlier, last_us: at };
        let answer = entry.answer();
        assert_eq!(answer.count, 3, "never less than this instance counted itself");
        assert_eq!(answer.first_us, earlier, "the first-scan time every instance shares");
    }

    #[test]
    fn entries_stay_small_and_numbers_get_one_id_each() {
        assert_eq!(std::mem::size_of::<Entry>(), 160);
        assert_eq!(std::mem::size_of::<Serial>(), 12);
        let numbers = NumberIds::default();
        let (a, b) = (numbers.id("SM2026A"), numbers.id("SM2026B"));
        assert_ne!(a, b);
        assert_eq!(numbers.id("SM2026A"), a);
        let key = numbers.table().key(Serial { number: b, batch: 2, serial: 7 });
        assert_eq!(key, SerialKey { number: "SM2026B".into(), batch: 2, serial: 7 });
    }
}
