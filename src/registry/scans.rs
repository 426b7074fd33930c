//! Scan counting: how often each mark serial was checked, and when first. A scan is answered
//! from memory at once: counting it never waits for the store or for Redis.
//!
//! - **Memory**: per serial, what this process knows (the store's tally when it first saw the
//!   serial, plus its own scans since). The map is sharded by serial so concurrent scans rarely
//!   meet on one lock.
//! - **Store**: a background flush (every second, see `startup.rs`) writes the scans not yet
//!   written in one transaction; a scan itself never writes. Knowing the stored tally of a
//!   serial this process has not seen costs no read per serial either: per (certificate,
//!   batch), a bitmap of the serials that have a stored tally is loaded with ONE query the first
//!   time the batch is seen (concurrent first scans wait for that one load) and kept up to date
//!   by this process's own flushes. A clear bit means "nothing stored" without a read; a set bit
//!   (a re-scan after a restart, or after the serial left memory) costs one read, once. Bitmaps
//!   take one bit per serial (125 KB for a 1,000,000-mark batch) and all of them together at
//!   most [`MAX_SEED_BYTES`]; past that they are dropped and reloaded as needed. Flushes of
//!   *other* instances are not seen by a loaded bitmap: without Redis, a serial first scanned
//!   elsewhere after the load starts here from this instance's own count (the store still
//!   receives every scan; with Redis, the shared figure corrects it after one round trip).
//! - **Redis** (optional): each scan is queued (bounded, [`QUEUE_CAPACITY`]) to a background
//!   task that lets scans gather for [`GATHER`], then counts them in ONE round trip, a script
//!   call (per serial: the stored seed when Redis has none, then its count and earliest first
//!   scan in its batch's hash, see `cache::shared::scan_figures`; the last time is each
//!   instance's own and goes to the store only),
//!   then writes the figures every instance shares back into the entries. A scan's answer is
//!   what this instance knows right now: its own total, or the last shared figure plus its own
//!   scans since, whichever is larger; so the next scan on any instance shows the count all
//!   instances share (as of its last round trip). When the queue is full the scan is counted
//!   locally only (and still flushed to the store), with a rate-limited warning. While Redis is
//!   down each instance answers with what it knows, and the store still receives every scan.
//! - **Store down**: a scan whose serial's earlier scans cannot be read (no bitmap yet, or a set
//!   bit) is still counted, in an entry marked as lacking that history: the scan's answer shows
//!   no count rather than a wrong one, the scan is flushed once the store takes writes again,
//!   and the entry then leaves memory, so the next scan starts from the stored tally. Such
//!   entries never reach Redis, whose figure would otherwise lack the history for good.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::cache::shared::{ScanDelta, SharedCache};
use crate::domain::{CertificateNumber, ScanTally, ScannerSet, SerialKey};
use crate::store::{CompactTally, ScanDeltas, SerialScans, Store, StoreError};

/// The maps of this module: their keys come only from tokens whose signature was checked (a
/// certificate number, a batch, a serial), so nobody can pick colliding ones at will, and a fast
/// seeded hasher is enough where SipHash cost a scan about 2,000 instructions over the half
/// dozen lookups it makes (callgrind).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// More scans than a real package's mark sees: the mark was probably copied.
pub const SUSPICIOUS_SCANS: u64 = 10;
/// Serials kept in memory after a flush before clean entries are dropped. A clean entry only
/// spares a re-scan of its serial one indexed read; each costs 117 bytes in its shard's map
/// (224 before entries were made compact), whose capacity stays where the busiest second
/// between two flushes took it (100,000 kept, under 35,000 fresh scans a second, held 44 MB
/// with the larger entries).
const MAX_CACHED: usize = 32_768;
/// Serials in memory at most, counted or waiting for the store: about 140 MB. Flushed every
/// second, the map holds a second or two of fresh serials (60,000 a second at the most measured
/// here), so only a store that takes no writes for a long while under heavy scanning fills it;
/// then scans of serials not already in memory are answered without a count and not counted,
/// with a warning, rather than growing until the process runs out of memory and loses every
/// scan it holds.
const MAX_SERIALS: usize = 1 << 20;
/// Room a shard's map keeps when it has been idle for a flush interval (see [`ScanCounter::flush`]).
const IDLE_SHARD_SLOTS: usize = 64;
/// Locks the serial map is split over.
const SHARDS: usize = 32;
const _: () = assert!(SHARDS.is_power_of_two() && SHARDS > 1);
/// Scans waiting for the Redis task; when it is full, scans are counted locally only.
pub const QUEUE_CAPACITY: usize = 65_536;
/// Most scans sent to Redis in one round trip.
const MAX_ROUND_TRIP: usize = 2_048;
/// How long the Redis task lets scans gather after the first one before it sends them (see
/// [`share_scans`]).
const GATHER: Duration = Duration::from_millis(5);
/// Memory for the seed bitmaps of all batches together.
pub const MAX_SEED_BYTES: usize = 32 * 1024 * 1024;
/// What one batch's bitmap costs besides its bits (map entries, key, locks), for the budget.
const SEED_OVERHEAD_BYTES: usize = 128;
/// How long after a failed read of a serial's history scans count without asking the store: a
/// store that is down may take seconds to say so (its pool waits for a connection), and a scan
/// answers at once, so while it is down one scan a second pays that wait, not every one.
const HISTORY_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Shortest time between two warnings of the same kind (a full Redis queue, an unreadable
/// stored tally): under a flood, one line every few seconds says as much as thousands.
const WARNING_EVERY: Duration = Duration::from_secs(10);

/// What this process knows of one serial: 160 bytes (56 of them its distinct scanners), since
/// under a flood of fresh scans the entries are most of what scanning costs in memory (tens of
/// thousands a second).
struct Entry {
    /// The store's tally when this process first saw the serial (seeds Redis).
    seed: CompactTally,
    /// Everything this process knows by itself: stored plus its own scans since.
    total: CompactTally,
    /// Not yet written to the store.
    pending: CompactTally,
    /// The figure every instance shares, from the last Redis round trip for this serial.
    shared: CompactTally,
    /// This process's scans queued for Redis and not yet in `shared` (at most the queue's
    /// capacity, so 32 bits are plenty and leave room for `seeded` in the same word).
    unshared: u32,
    /// False when the store could not say what it holds of the serial: `total` then lacks the
    /// earlier scans, so no count is shown and nothing goes to Redis (see the module's doc).
    seeded: bool,
    /// Scanners not yet written to the store (the set is written whole: a union there).
    scanners_changed: bool,
    /// The distinct scanners known here: stored, this process's own, and Redis's union.
    scanners: ScannerSet,
}

/// What the store holds of a serial this process has no entry for.
enum History {
    /// Its stored tally, or none, and its stored scanners.
    Read(Option<ScanTally>, ScannerSet),
    /// The store could not be read.
    Unknown,
}

/// What counting a scan in memory came to.
enum Counted {
    /// The figures to show: requests and distinct scanners.
    Shown(CompactTally, ScannerSet),
    /// Counted, but the serial's earlier scans are unknown: no figure to show.
    WithoutHistory,
    /// No entry for the serial yet, and no history was given to make one.
    NoEntry,
    /// Not counted: the map is full ([`MAX_SERIALS`]).
    Full,
}

impl Entry {
    fn new(history: History) -> Self {
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
    fn answer(&self) -> CompactTally {
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

/// A serial as the counter keys it: the certificate number by its id in [`Numbers`], so that an
/// entry holds no text of its own (12 bytes, where a [`SerialKey`] takes 32 and an allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Serial {
    number: u32,
    batch: u32,
    serial: u32,
}

/// The certificate numbers scans named, each given an id for good. Only scans of certificates
/// that exist are counted, so the table is never longer than the registry.
#[derive(Default)]
struct Numbers {
    table: RwLock<NumberTable>,
}

#[derive(Default)]
struct NumberTable {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl NumberTable {
    /// The certificate number of an id ([`Numbers::id`] gave every id it hands out a name).
    fn name(&self, id: u32) -> &str {
        usize::try_from(id).ok().and_then(|i| self.names.get(i)).map_or("", |name| name)
    }

    fn key(&self, serial: Serial) -> SerialKey {
        SerialKey { number: self.name(serial.number).to_string(), batch: serial.batch, serial: serial.serial }
    }
}

impl Numbers {
    fn table(&self) -> std::sync::RwLockReadGuard<'_, NumberTable> {
        // Every change is one push and one insert, made together under the write lock.
        self.table.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn id(&self, number: &str) -> u32 {
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
type SerialMap = FastMap<Serial, Entry>;

/// The per-serial entries, split over [`SHARDS`] locks.
struct Entries {
    shards: Box<[Mutex<SerialMap>]>,
    /// Picks the shard (see [`FastMap`] for why a fast hasher).
    hasher: foldhash::fast::RandomState,
    numbers: Numbers,
}

impl Entries {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(SerialMap::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            numbers: Numbers::default(),
        }
    }

    fn lock_shard(&self, index: usize) -> MutexGuard<'_, SerialMap> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // few field writes), so a poisoned lock is still usable.
        self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self, key: &Serial) -> MutexGuard<'_, SerialMap> {
        // The top bits pick the shard (each shard's map has a seed of its own, so its keys do
        // not share bits of their hash there); they are below SHARDS, so they fit.
        let hash = self.hasher.hash_one(key);
        self.lock_shard((hash >> (u64::BITS - SHARDS.trailing_zeros())) as usize)
    }
}

/// Which serials of one batch have a stored tally.
struct BatchSeeds {
    /// Set once the store's serials are in `bits`; concurrent first scans wait for one load.
    loaded: tokio::sync::OnceCell<()>,
    /// Bit `serial` set: the serial has a stored tally.
    bits: RwLock<Vec<u64>>,
}

impl BatchSeeds {
    fn contains(&self, serial: u32) -> bool {
        let bits = self.bits.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let word = usize::try_from(serial / 64).unwrap_or(usize::MAX);
        bits.get(word).is_some_and(|w| (w >> (serial % 64)) & 1 == 1)
    }

    /// Sets the bits of `serials`; returns the bytes the bitmap grew by.
    fn insert(&self, serials: impl IntoIterator<Item = u32>) -> usize {
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

/// The seed bitmaps of every batch this process has seen, bounded by [`MAX_SEED_BYTES`].
#[derive(Default)]
struct Seeds {
    batches: RwLock<FastMap<String, FastMap<u32, Arc<BatchSeeds>>>>,
    /// Approximate memory of `batches` (bits plus a fixed overhead per batch).
    bytes: AtomicUsize,
}

impl Seeds {
    fn get(&self, number: &str, batch: u32) -> Option<Arc<BatchSeeds>> {
        let batches = self.batches.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        batches.get(number).and_then(|batches| batches.get(&batch)).cloned()
    }

    /// The bitmap of a batch, made (empty, not loaded) if this process has none.
    fn get_or_insert(&self, number: &str, batch: u32) -> Arc<BatchSeeds> {
        if let Some(seeds) = self.get(number, batch) {
            return seeds;
        }
        let mut batches = self.batches.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(seeds) = batches.get(number).and_then(|batches| batches.get(&batch)) {
            return seeds.clone();
        }
        if self.bytes.load(Ordering::Relaxed) > MAX_SEED_BYTES {
            // Dropped bitmaps are loaded again, with one query each, when their batch is next
            // scanned; a flush only updates the bitmaps present, and a load made after it reads
            // what it wrote.
            tracing::info!(batches = batches.values().map(FastMap::len).sum::<usize>(), "scan seed bitmaps dropped");
            batches.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        self.bytes.fetch_add(SEED_OVERHEAD_BYTES + number.len(), Ordering::Relaxed);
        let seeds = Arc::new(BatchSeeds { loaded: tokio::sync::OnceCell::new(), bits: RwLock::new(Vec::new()) });
        batches.entry(number.to_string()).or_default().insert(batch, seeds.clone());
        seeds
    }

    fn grew(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A scan on its way to Redis.
type QueuedScan = (Serial, i64);

/// The Redis side: the shared cache and the queue to the task that talks to it.
struct Sharing {
    cache: Arc<SharedCache>,
    /// Started by the first scan (which runs on the runtime); `None` without a runtime.
    queue: OnceLock<Option<mpsc::Sender<QueuedScan>>>,
}

/// What the scan counter did since start (see [`ScanCounter::figures`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct CounterFigures {
    /// Scans written to the store.
    pub flushed: u64,
    /// Flushes the store refused (their scans waited for the next).
    pub flush_failures: u64,
    /// Scans Redis was not told of because its queue was full.
    pub not_shared: u64,
    /// Serials first met while the store could not say their earlier scans.
    pub without_history: u64,
    /// Scans not counted because the counter was full.
    pub not_counted: u64,
}

/// Counts scans per serial and writes them out in batches.
pub struct ScanCounter {
    store: Arc<dyn Store>,
    entries: Arc<Entries>,
    seeds: Seeds,
    /// With Redis, the count every instance shares.
    shared: OnceLock<Sharing>,
    /// Stored tallies read one serial at a time (a serial whose seed bit is set).
    seed_reads: AtomicU64,
    /// Batches whose seed bitmap was loaded from the store.
    seed_loads: AtomicU64,
    /// Scans not queued for Redis because the queue was full.
    overflow: Occasional,
    /// Scans counted without their serial's history because the store could not be read.
    unread_history: Occasional,
    /// Scans not counted because the map was full ([`MAX_SERIALS`]).
    not_counted: Occasional,
    /// Scans written to the store since start.
    flushed: AtomicU64,
    /// Flushes the store refused since start.
    flush_failures: AtomicU64,
    /// Entries a shard's map may hold: [`MAX_SERIALS`] over the shards.
    max_per_shard: usize,
    /// When a read of a serial's history last failed, in microseconds since `epoch` (0: not
    /// since the last flush that succeeded): for [`HISTORY_RETRY_AFTER`] after it, scans do not
    /// ask the store again. An atomic, since every fresh serial's scan reads it.
    history_failed_at: AtomicU64,
    epoch: Instant,
}

/// Events worth a warning that may come by the thousand: counted, and reported at most once
/// per [`WARNING_EVERY`] with how many came since the last report.
#[derive(Default)]
struct Occasional {
    since_last: AtomicU64,
    /// Since start, for the metrics.
    total: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Occasional {
    /// Counts one event; `Some(events since the last report)` when it is time to report.
    fn note(&self) -> Option<u64> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.since_last.fetch_add(1, Ordering::Relaxed);
        let Ok(mut last) = self.last.try_lock() else { return None };
        if last.is_some_and(|last| last.elapsed() < WARNING_EVERY) {
            return None;
        }
        *last = Some(Instant::now());
        Some(self.since_last.swap(0, Ordering::Relaxed))
    }
}

impl ScanCounter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            entries: Arc::new(Entries::new()),
            seeds: Seeds::default(),
            shared: OnceLock::new(),
            seed_reads: AtomicU64::new(0),
            seed_loads: AtomicU64::new(0),
            overflow: Occasional::default(),
            unread_history: Occasional::default(),
            not_counted: Occasional::default(),
            flushed: AtomicU64::new(0),
            flush_failures: AtomicU64::new(0),
            max_per_shard: MAX_SERIALS / SHARDS,
            history_failed_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Counts in Redis from now on, so that every instance answers with the same figures.
    pub fn share(&self, shared: Arc<SharedCache>) {
        let _ = self.shared.set(Sharing { cache: shared, queue: OnceLock::new() });
    }

    /// How many stored tallies scans read one serial at a time since start (only serials that
    /// have one and that this process did not hold in memory).
    pub fn seed_reads(&self) -> u64 {
        self.seed_reads.load(Ordering::Relaxed)
    }

    /// How many batches' seed bitmaps were loaded from the store since start (one query each).
    pub fn seed_loads(&self) -> u64 {
        self.seed_loads.load(Ordering::Relaxed)
    }

    /// What counting came to since start, for the metrics.
    pub fn figures(&self) -> CounterFigures {
        CounterFigures {
            flushed: self.flushed.load(Ordering::Relaxed),
            flush_failures: self.flush_failures.load(Ordering::Relaxed),
            not_shared: self.overflow.total.load(Ordering::Relaxed),
            without_history: self.unread_history.total.load(Ordering::Relaxed),
            not_counted: self.not_counted.total.load(Ordering::Relaxed),
        }
    }

    /// Counts one scan of serial `serial` of batch `batch` of certificate `number` at `at` and
    /// returns the tally including it. Waits for nothing but, the first time this process sees
    /// the serial's batch, the one query loading its seed bitmap (and one read for a serial that
    /// has a stored tally but left memory). `None` when that read failed: the scan is counted
    /// all the same, but its serial's earlier scans are unknown, so there is no figure to show;
    /// `None` too, and the scan not counted, when the map is full ([`MAX_SERIALS`]).
    pub async fn record(
        &self,
        number: &CertificateNumber,
        batch: u32,
        serial: u32,
        at: DateTime<Utc>,
    ) -> Result<Option<ScanTally>, StoreError> {
        Ok(self.record_scan(number, batch, serial, at, None).await?.map(|(tally, _)| tally))
    }

    /// Like [`ScanCounter::record`], and counts `scanner` (a hash from `registry::scanners`;
    /// `None` for a request that is not a consumer's scan: HEAD, a bot) among the serial's
    /// distinct scanners. Returns the request tally and the distinct scanners known here.
    pub async fn record_scan(
        &self,
        number: &CertificateNumber,
        batch: u32,
        serial: u32,
        at: DateTime<Utc>,
        scanner: Option<u32>,
    ) -> Result<Option<(ScanTally, ScannerSet)>, StoreError> {
        // Kept to the microsecond, as the store and Redis keep it, so an answer shows the same
        // first-scan time whichever of them it comes from.
        let at = at.timestamp_micros();
        let key = Serial { number: self.entries.numbers.id(number.as_str()), batch, serial };
        let counted = match self.count(key, at, scanner, None) {
            Counted::NoEntry => {
                let history = self.history(number, SerialKey { number: number.to_string(), batch, serial }).await;
                self.count(key, at, scanner, Some(history))
            }
            counted => counted,
        };
        match counted {
            Counted::Shown(answer, scanners) => Ok(Some((answer.to_scan_tally()?, scanners))),
            Counted::Full => {
                if let Some(scans) = self.not_counted.note() {
                    tracing::error!(
                        scans,
                        serials = MAX_SERIALS,
                        "scan counter full: the store has taken no scans for a while; scans of serials not in memory are not counted"
                    );
                }
                Ok(None)
            }
            // `NoEntry` cannot follow a given history; either way there is no figure to show.
            Counted::WithoutHistory | Counted::NoEntry => Ok(None),
        }
    }

    /// Counts the scan in the entry of `key`, making the entry from `history` when given.
    fn count(&self, key: Serial, at: i64, scanner: Option<u32>, history: Option<History>) -> Counted {
        let mut entries = self.entries.lock(&key);
        let full = entries.len() >= self.max_per_shard;
        let entry = match entries.entry(key) {
            std::collections::hash_map::Entry::Occupied(held) => held.into_mut(),
            std::collections::hash_map::Entry::Vacant(_) if full && history.is_some() => return Counted::Full,
            std::collections::hash_map::Entry::Vacant(vacant) => match history {
                Some(history) => vacant.insert(Entry::new(history)),
                None => return Counted::NoEntry,
            },
        };
        entry.total.merge(CompactTally::one(at));
        entry.pending.merge(CompactTally::one(at));
        if let Some(scanner) = scanner {
            entry.scanners_changed |= entry.scanners.insert(scanner, at);
        }
        if !entry.seeded {
            return Counted::WithoutHistory;
        }
        // Queued under the entry's lock, so the Redis task cannot return this scan's figure
        // before it is known to be on its way.
        if self.queue(key, at) {
            entry.unshared = entry.unshared.saturating_add(1);
        }
        Counted::Shown(entry.answer(), entry.scanners)
    }

    /// What the store holds of a serial this process has no entry for; a store that cannot be
    /// read (or could not a moment ago) is reported now and then and gives [`History::Unknown`].
    async fn history(&self, number: &CertificateNumber, key: SerialKey) -> History {
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
        let seeds = self.seeds.get_or_insert(&key.number, key.batch);
        seeds
            .loaded
            .get_or_try_init(|| async {
                let serials = self.store.scanned_serials(number, key.batch).await?;
                self.seed_loads.fetch_add(1, Ordering::Relaxed);
                self.seeds.grew(seeds.insert(serials));
                Ok::<(), StoreError>(())
            })
            .await?;
        if !seeds.contains(key.serial) {
            return Ok((None, ScannerSet::default()));
        }
        self.seed_reads.fetch_add(1, Ordering::Relaxed);
        let tally = self.store.scan_tally(key).await?;
        let scanners = self.store.scanners(key).await?.unwrap_or_default();
        Ok((tally, scanners))
    }

    /// Hands a scan to the Redis task; false without Redis or when the queue is full.
    fn queue(&self, key: Serial, at: i64) -> bool {
        let Some(sharing) = self.shared.get() else { return false };
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
        if let Err(e) = self.store.add_scans(&deltas).await {
            self.pend_again(&deltas);
            self.scanners_again(&scanner_sets);
            self.flush_failures.fetch_add(1, Ordering::Relaxed);
            return Err(e);
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
            if let Some(seeds) = self.seeds.get(batch.number(), batch.batch()) {
                self.seeds.grew(seeds.insert(batch.serials().iter().map(|(serial, _)| *serial)));
            }
        }
        for index in 0..SHARDS {
            let mut entries = self.entries.lock_shard(index);
            if entries.len() > MAX_CACHED / SHARDS {
                entries.retain(|_, entry| entry.pending.count > 0 || entry.scanners_changed);
            } else if without_history {
                // Their scans are stored now: the next scan reads the whole tally back.
                entries.retain(|_, entry| entry.seeded || entry.pending.count > 0 || entry.scanners_changed);
            }
        }
        Ok(deltas.serial_count())
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SubsecRound;

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("scans.db").display());
        let store = crate::store::open(&url).await.unwrap();
        (dir, store)
    }

    const NUMBER: &str = "SM2026SEED0001";

    fn number(text: &str) -> CertificateNumber {
        CertificateNumber::parse(text).expect("a certificate number")
    }

    /// A store, and a connection of its own to take the scan tallies' table away and back.
    async fn store_and_side() -> (tempfile::TempDir, Arc<dyn Store>, sqlx::SqliteConnection) {
        use sqlx::Connection;
        let (dir, store) = store().await;
        let side = sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("scans.db").display()))
            .await
            .unwrap();
        (dir, store, side)
    }

    /// Renames the scan tallies' table away, so that every read or write of it fails.
    async fn hide_tallies(side: &mut sqlx::SqliteConnection) {
        sqlx::query("ALTER TABLE mark_scan_chunks RENAME TO held_aside").execute(side).await.unwrap();
    }

    async fn restore_tallies(side: &mut sqlx::SqliteConnection) {
        sqlx::query("ALTER TABLE held_aside RENAME TO mark_scan_chunks").execute(side).await.unwrap();
    }

    #[tokio::test]
    async fn fresh_serials_cost_one_load_per_batch_and_no_read_each() {
        let (_dir, store) = store().await;
        let counter = Arc::new(ScanCounter::new(store));
        let at = Utc::now();
        let mut scans = Vec::new();
        for serial in 1..=500 {
            let counter = counter.clone();
            scans.push(tokio::spawn(
                async move { counter.record(&number(NUMBER), 1, serial, at).await.unwrap().unwrap() },
            ));
        }
        for scan in scans {
            assert_eq!(scan.await.unwrap().count, 1);
        }
        assert_eq!(counter.seed_loads(), 1, "500 concurrent first scans wait for one load");
        assert_eq!(counter.seed_reads(), 0);
        assert_eq!(counter.record(&number(NUMBER), 1, 3, at).await.unwrap().unwrap().count, 2);
        assert_eq!(counter.record(&number(NUMBER), 2, 3, at).await.unwrap().unwrap().count, 1);
        assert_eq!(counter.seed_loads(), 2, "one load per batch");
        assert_eq!(counter.flush().await.unwrap(), 501);
    }

    #[tokio::test]
    async fn a_flush_the_store_refuses_keeps_every_scan_for_the_next_one() {
        let (_dir, store, mut side) = store_and_side().await;
        let at = Utc::now();
        let counter = ScanCounter::new(store.clone());
        // Two certificates, two batches, serials over several chunks, one serial scanned twice.
        for serial in 1..=3_000 {
            counter.record(&number(NUMBER), 1 + serial % 2, serial, at).await.unwrap();
        }
        counter.record(&number("SM2026SEED0002"), 1, 77, at).await.unwrap();
        counter.record(&number(NUMBER), 2, 1, at).await.unwrap();

        hide_tallies(&mut side).await;
        assert!(counter.flush().await.is_err(), "the store cannot take the scans");
        counter.record(&number(NUMBER), 1, 2_000, at).await.unwrap();
        restore_tallies(&mut side).await;

        assert_eq!(counter.flush().await.unwrap(), 3_001, "the serials refused and the one scanned since");
        assert_eq!(counter.flush().await.unwrap(), 0, "nothing left pending");
        let (total, top) = store.scan_summary(&number(NUMBER), 2).await.unwrap();
        assert_eq!(total, 3_002, "every scan stored once");
        assert_eq!(
            top.iter().map(|(key, tally)| (key.batch, key.serial, tally.count)).collect::<Vec<_>>(),
            vec![(1, 2_000, 2), (2, 1, 2)]
        );
        assert_eq!(store.scan_summary(&number("SM2026SEED0002"), 2).await.unwrap().0, 1);
    }

    #[tokio::test]
    async fn a_scan_whose_history_cannot_be_read_is_counted_and_shown_without_a_count() {
        let (_dir, store, mut side) = store_and_side().await;
        let at = Utc::now();
        let before = ScanCounter::new(store.clone());
        before.record(&number(NUMBER), 1, 5, at).await.unwrap();
        before.record(&number(NUMBER), 1, 5, at).await.unwrap();
        before.flush().await.unwrap();

        // A new process while the store cannot be read: no bitmap, so no serial's history.
        let after = ScanCounter::new(store.clone());
        hide_tallies(&mut side).await;
        assert_eq!(after.record(&number(NUMBER), 1, 5, at).await.unwrap(), None, "two stored scans unknown: no count");
        assert_eq!(after.record(&number(NUMBER), 1, 5, at).await.unwrap(), None, "still unknown");
        assert_eq!(after.record(&number(NUMBER), 1, 6, at).await.unwrap(), None, "not even whether it is the first");
        assert!(after.flush().await.is_err());
        restore_tallies(&mut side).await;

        assert_eq!(after.flush().await.unwrap(), 2, "both serials' scans reach the store");
        assert_eq!(store.scan_summary(&number(NUMBER), 2).await.unwrap().0, 5, "every scan stored once");
        let five = after.record(&number(NUMBER), 1, 5, at).await.unwrap().unwrap();
        assert_eq!(five.count, 5, "the whole history once the store answers");
        assert_eq!(five.first_at, at.trunc_subsecs(6));
        assert_eq!(after.record(&number(NUMBER), 1, 6, at).await.unwrap().unwrap().count, 2);
        after.flush().await.unwrap();
        assert_eq!(store.scan_summary(&number(NUMBER), 2).await.unwrap().0, 7);
    }

    #[tokio::test]
    async fn a_full_map_answers_without_counting_new_serials_and_keeps_what_it_holds() {
        let (_dir, store, mut side) = store_and_side().await;
        let mut counter = ScanCounter::new(store.clone());
        counter.max_per_shard = 2;
        let at = Utc::now();
        hide_tallies(&mut side).await;
        let counted = |answer: Option<ScanTally>| answer.is_some();
        // Without the store every serial is counted without a figure, until the shards are full.
        let mut held = 0;
        for serial in 1..=1_000 {
            counter.record(&number(NUMBER), 1, serial, at).await.unwrap();
            held = (0..SHARDS).map(|i| counter.entries.lock_shard(i).len()).sum::<usize>();
        }
        assert_eq!(held, 2 * SHARDS, "no more than the bound");
        restore_tallies(&mut side).await;
        assert_eq!(counter.flush().await.unwrap(), 2 * SHARDS);
        assert_eq!(
            store.scan_summary(&number(NUMBER), 1).await.unwrap().0,
            2 * SHARDS as u64,
            "what was held is stored"
        );
        // Flushed, the map has room again: scans are counted with their figures.
        assert!(counted(counter.record(&number(NUMBER), 1, 1, at).await.unwrap()));
    }

    #[tokio::test]
    async fn the_maps_give_their_room_back_once_scans_stop() {
        let (_dir, store) = store().await;
        let counter = ScanCounter::new(store);
        let at = Utc::now();
        let room = |counter: &ScanCounter| (0..SHARDS).map(|i| counter.entries.lock_shard(i).capacity()).sum::<usize>();
        for serial in 1..=60_000 {
            counter.record(&number(NUMBER), 1, serial, at).await.unwrap();
        }
        let busy = room(&counter);
        assert!(busy >= 60_000, "{busy} slots");
        counter.flush().await.unwrap();
        assert!(room(&counter) * 2 > busy, "the room stays while scans come");
        counter.flush().await.unwrap();
        assert!(room(&counter) <= SHARDS * IDLE_SHARD_SLOTS, "{} slots after an idle interval", room(&counter));
        assert_eq!(counter.record(&number(NUMBER), 1, 7, at).await.unwrap().unwrap().count, 2, "figures still known");
    }

    #[tokio::test]
    async fn a_stored_tally_is_read_once_and_flushed_serials_are_known_stored() {
        let (_dir, store) = store().await;
        let at = Utc::now();
        let before = ScanCounter::new(store.clone());
        for _ in 0..3 {
            before.record(&number(NUMBER), 1, 9, at).await.unwrap();
        }
        before.flush().await.unwrap();

        // Another process on the same store: the bitmap says serial 9 has a tally.
        let after = ScanCounter::new(store.clone());
        assert_eq!(after.record(&number(NUMBER), 1, 8, at).await.unwrap().unwrap().count, 1);
        assert_eq!(after.seed_reads(), 0);
        let stored = after.record(&number(NUMBER), 1, 9, at).await.unwrap().unwrap();
        assert_eq!(stored.count, 4);
        assert_eq!(stored.first_at, at.trunc_subsecs(6), "the first scan, as the store kept it");
        assert_eq!(after.record(&number(NUMBER), 1, 9, at).await.unwrap().unwrap().count, 5);
        assert_eq!(after.seed_reads(), 1, "read once, then from memory");

        // Its own flush sets the bits, so a serial that leaves memory is read back, not lost.
        after.flush().await.unwrap();
        let eight = Serial { number: after.entries.numbers.id(NUMBER), batch: 1, serial: 8 };
        after.entries.lock(&eight).remove(&eight);
        assert_eq!(after.record(&number(NUMBER), 1, 8, at).await.unwrap().unwrap().count, 2);
        assert_eq!(after.seed_reads(), 2);
        assert_eq!(after.seed_loads(), 1);
        after.flush().await.unwrap();
        let scanned = after.store.scan_summary(&number(NUMBER), 10).await.unwrap();
        assert_eq!(scanned.0, 7, "every scan reached the store once: 3 + 2 of serial 9, 2 of serial 8");
    }

    #[test]
    fn bitmaps_take_a_bit_per_serial() {
        let seeds = BatchSeeds { loaded: tokio::sync::OnceCell::new(), bits: RwLock::new(Vec::new()) };
        assert_eq!(seeds.insert([1_000_000]), 15_626 * 8);
        assert_eq!(seeds.insert([0, 63, 64]), 0);
        assert!(seeds.contains(0) && seeds.contains(63) && seeds.contains(64) && seeds.contains(1_000_000));
        assert!(!seeds.contains(1) && !seeds.contains(999_999) && !seeds.contains(u32::MAX));
    }

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
        let numbers = Numbers::default();
        let (a, b) = (numbers.id("SM2026A"), numbers.id("SM2026B"));
        assert_ne!(a, b);
        assert_eq!(numbers.id("SM2026A"), a);
        let key = numbers.table().key(Serial { number: b, batch: 2, serial: 7 });
        assert_eq!(key, SerialKey { number: "SM2026B".into(), batch: 2, serial: 7 });
    }
}
