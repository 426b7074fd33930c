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
//!   most [`MAX_BITMAP_BYTES`]; past that they are dropped and reloaded as needed. Flushes of
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
//!
//! One file a job: `entries.rs` holds the sharded per-serial map, `history.rs` finds what the
//! store holds of a serial, `redis.rs` shares the counts, `flush.rs` writes them to the store,
//! and `warning.rs` keeps a flood of one warning to a line now and then.

mod entries;
mod flush;
mod history;
mod redis;
mod warning;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::{CertificateNumber, ScanTally, ScannerSet, SerialKey};
use crate::store::{CompactTally, Store, StoreError};
use entries::{Counted, Entries, Entry, Serial};
use history::{History, StoredSerials};
use redis::RedisQueue;
use warning::ThrottledWarning;

/// More scans than a real package's mark sees: the mark was probably copied.
pub const SUSPICIOUS_SCANS: u64 = 10;
/// Serials kept in memory after a flush; past it, clean entries are dropped until it holds. A
/// clean entry spares a re-scan of its serial a read of its chunk from the store (which costs a
/// scan several times what the rest of it does); each costs about 200 bytes in its shard's map
/// (some 50 MB for all), whose capacity stays where the busiest second between two flushes took
/// it. A batch of up to this many serials is re-scanned from memory alone.
const MAX_CACHED: usize = 1 << 18;
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
/// `redis.rs`).
const GATHER: Duration = Duration::from_millis(5);
/// Memory for the bitmaps of stored serials of all batches together (see `history.rs`).
pub const MAX_BITMAP_BYTES: usize = 32 * 1024 * 1024;
/// What one batch's bitmap costs besides its bits (map entries, key, locks), for the budget.
const BITMAP_OVERHEAD_BYTES: usize = 128;
/// How long after a failed read of a serial's history scans count without asking the store: a
/// store that is down may take seconds to say so (its pool waits for a connection), and a scan
/// answers at once, so while it is down one scan a second pays that wait, not every one.
const HISTORY_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Shortest time between two warnings of the same kind (a full Redis queue, an unreadable
/// stored tally): under a flood, one line every few seconds says as much as thousands.
const WARNING_EVERY: Duration = Duration::from_secs(10);

/// What the scan counter did since start (see [`ScanCounter::figures`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct CounterFigures {
    /// Scans written to the store.
    pub flushed: u64,
    /// Bytes of tallies flushes wrote to the store (see `store/scan_chunks.rs`).
    pub bytes_stored: u64,
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
    stored_serials: StoredSerials,
    /// With Redis, the count every instance shares.
    redis: OnceLock<RedisQueue>,
    /// Stored tallies read one serial at a time (a serial whose seed bit is set).
    seed_reads: AtomicU64,
    /// Batches whose seed bitmap was loaded from the store.
    seed_loads: AtomicU64,
    /// Scans not queued for Redis because the queue was full.
    overflow: ThrottledWarning,
    /// Scans counted without their serial's history because the store could not be read.
    unread_history: ThrottledWarning,
    /// Scans not counted because the map was full ([`MAX_SERIALS`]).
    not_counted: ThrottledWarning,
    /// Scans written to the store since start.
    flushed: AtomicU64,
    /// Bytes of tallies flushes wrote to the store since start.
    bytes_stored: AtomicU64,
    /// Flushes the store refused since start.
    flush_failures: AtomicU64,
    /// Entries a shard's map may hold: [`MAX_SERIALS`] over the shards.
    max_per_shard: AtomicUsize,
    /// Clean entries a shard's map keeps after a flush: [`MAX_CACHED`] over the shards.
    cached_per_shard: AtomicUsize,
    /// When a read of a serial's history last failed, in microseconds since `epoch` (0: not
    /// since the last flush that succeeded): for [`HISTORY_RETRY_AFTER`] after it, scans do not
    /// ask the store again. An atomic, since every fresh serial's scan reads it.
    history_failed_at: AtomicU64,
    epoch: Instant,
}

impl ScanCounter {
    /// A counter that has counted nothing yet and flushes to `store`; Redis joins with
    /// [`ScanCounter::share`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            entries: Arc::new(Entries::new()),
            stored_serials: StoredSerials::default(),
            redis: OnceLock::new(),
            seed_reads: AtomicU64::new(0),
            seed_loads: AtomicU64::new(0),
            overflow: ThrottledWarning::default(),
            unread_history: ThrottledWarning::default(),
            not_counted: ThrottledWarning::default(),
            flushed: AtomicU64::new(0),
            bytes_stored: AtomicU64::new(0),
            flush_failures: AtomicU64::new(0),
            max_per_shard: AtomicUsize::new(MAX_SERIALS / SHARDS),
            cached_per_shard: AtomicUsize::new(MAX_CACHED / SHARDS),
            history_failed_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Holds at most `serials` serials in memory (at least one a shard) instead of a million,
    /// so that a test reaches a full counter, as a long store outage would, without the memory.
    pub fn limit_serials(&self, serials: usize) {
        self.max_per_shard.store((serials / SHARDS).max(1), Ordering::Relaxed);
    }

    /// Keeps at most `serials` serials (at least one a shard) in memory after a flush instead of
    /// [`MAX_CACHED`], so that a test sees entries leave memory without scanning that many.
    pub fn limit_cached(&self, serials: usize) {
        self.cached_per_shard.store((serials / SHARDS).max(1), Ordering::Relaxed);
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
            bytes_stored: self.bytes_stored.load(Ordering::Relaxed),
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

    /// Like [`ScanCounter::record`], and counts `scanner` (a hash from `scan/scanners.rs`;
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
        let full = entries.len() >= self.max_per_shard.load(Ordering::Relaxed);
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
        let counter = ScanCounter::new(store.clone());
        counter.limit_serials(2 * SHARDS);
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
        counter.limit_cached(SHARDS);
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
}
