//! Mark digest indexes: what lets a scan of a fresh mark token skip its Ed25519 verification.
//!
//! Every mark of a batch is new the first time it is scanned, so no answer cache helps the
//! signature check, and a `verify_strict` costs far more than the rest of a scan. The tokens of a
//! batch are all known when it is ordered, though, so the registry makes every token of a new
//! batch once ([`MarkDigestIndex::build`]) and keeps of each only an 8-byte *tag*: the first 8
//! bytes of SHA-256(`salt` || token text), with `salt` 32 random bytes made for that index. The
//! index (8 bytes a serial, 8 MB for 1,000,000 marks, plus the salt and the signing key's id) is
//! stored by (certificate, batch); making, storing and consulting it is the registry's part
//! (`registry/scan/digests.rs`), holding it in memory is this module's.
//!
//! Loaded indexes are kept in a cache bounded by bytes ([`MarkDigests`]); a batch without one is
//! remembered briefly. An index is loaded only for a batch being scanned steadily
//! ([`LOAD_AFTER`] scans within [`DEMAND_WINDOW`]) and let go after [`IDLE_FOR`] without a scan:
//! a load reads 8 bytes a serial (8 MB for a 1,000,000-mark batch), which a batch scanned now and
//! then never pays back, and an idle index is memory nobody uses.
//!
//! Why a tag match is as good as a signature check:
//! - the tag covers the whole token text, so a match means the token is byte for byte one the
//!   registry itself signed for that serial (SHA-256 truncated to 64 bits, collisions aside);
//! - the tags are salted with a secret that never leaves the store and differs per index, so a
//!   forger cannot compute a tag offline: each guess costs a request and wins with probability
//!   2^-64, and answers say nothing about how close a guess came (constant-time compare, and a
//!   miss falls back to the very same verification as before);
//! - tokens are unchanged: ordinary Ed25519-signed tokens that anyone verifies offline against
//!   the trust list (docs/format.md section 10). Nothing changes for readers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::MOKA_ENTRY_COST;
use crate::crypto::token::{self, MarkClaims};
use crate::crypto::{KeyId, Signer};

/// Bytes of one serial's tag.
pub const TAG_LEN: usize = 8;
/// Bytes of an index's secret salt.
pub const SALT_LEN: usize = 32;
/// Memory for loaded indexes unless configured: eight batches of 1,000,000 marks.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// How long a batch found without an index is not looked up again.
const ABSENT_FOR: Duration = Duration::from_secs(3);
/// Scans of a batch within [`DEMAND_WINDOW`] before its index is loaded. Below that, verifying
/// each scan's signature (50 to 80 us) costs less than reading the index (8 bytes a serial) and
/// keeping it: a few sporadic scans of many batches would otherwise read and evict whole
/// indexes one after the other.
pub const LOAD_AFTER: u32 = 16;
/// The span [`LOAD_AFTER`] scans are counted over.
pub const DEMAND_WINDOW: Duration = Duration::from_secs(10);
/// A loaded index nobody scanned for this long is let go (and loaded again on demand). Three
/// demand windows: a batch still scanned steadily is scanned well within it, while an index of 8
/// MB held for nobody is the largest thing scans leave in memory; loading it again costs one
/// read of 10 to 30 ms (SQLite, 1,000,000 marks) and [`LOAD_AFTER`] signature checks.
pub const IDLE_FOR: Duration = Duration::from_secs(30);
/// Batches whose scans are counted towards a load at once; past it the counts start again
/// (tokens naming made-up batches cannot grow it without bound).
const DEMAND_KEYS: usize = 4096;
/// Serials a build thread makes between two looks at whether the server is stopping (a few
/// milliseconds of signing).
const STOP_CHECK_EVERY: usize = 256;

/// The tag of `token` (its upper-case text) under `salt`.
pub fn tag(salt: &[u8; SALT_LEN], token: &str) -> [u8; TAG_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(token.as_bytes());
    let digest = hasher.finalize();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&digest[..TAG_LEN]);
    tag
}

/// The tags of every serial of one batch.
pub struct MarkDigestIndex {
    key_id: KeyId,
    salt: [u8; SALT_LEN],
    /// `TAG_LEN` bytes per serial, serial 1 first.
    tags: Vec<u8>,
}

impl std::fmt::Debug for MarkDigestIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The salt is secret: never in logs.
        f.debug_struct("MarkDigestIndex").field("key_id", &self.key_id).field("serials", &self.serials()).finish()
    }
}

impl MarkDigestIndex {
    /// Makes the token of every serial `1..=count` of `template` (its serial ignored) with
    /// `signer`, on `threads` threads, and keeps the tag of each. Blocks for a while: about one
    /// Ed25519 signature per serial (some 15 s for 1,000,000 on two cores). Gives up, with
    /// `None`, soon after `stop` is set.
    pub fn build(
        signer: &Signer,
        template: &MarkClaims,
        count: u32,
        salt: [u8; SALT_LEN],
        threads: usize,
        stop: &AtomicBool,
    ) -> Option<Self> {
        let mut tags = vec![0u8; count as usize * TAG_LEN];
        let per_thread = (count as usize).div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (part, chunk) in tags.chunks_mut(per_thread * TAG_LEN).enumerate() {
                let salt = &salt;
                scope.spawn(move || {
                    let mut claims = template.clone();
                    let first = part * per_thread + 1;
                    for (offset, slot) in chunk.chunks_exact_mut(TAG_LEN).enumerate() {
                        if offset % STOP_CHECK_EVERY == 0 && stop.load(Ordering::Relaxed) {
                            return;
                        }
                        // At most MAX_BATCH serials, so this always fits.
                        claims.serial = u32::try_from(first + offset).unwrap_or(u32::MAX);
                        slot.copy_from_slice(&tag(salt, &token::issue(signer, &claims)));
                    }
                });
            }
        });
        (!stop.load(Ordering::SeqCst)).then(|| Self { key_id: *signer.key_id(), salt, tags })
    }

    /// An index from its stored parts; `None` when the tags are not whole.
    pub fn from_parts(key_id: KeyId, salt: [u8; SALT_LEN], tags: Vec<u8>) -> Option<Self> {
        (tags.len() % TAG_LEN == 0).then_some(Self { key_id, salt, tags })
    }

    /// The parts to store: the key id, the secret salt and the tags.
    pub fn into_parts(self) -> (KeyId, [u8; SALT_LEN], Vec<u8>) {
        (self.key_id, self.salt, self.tags)
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// How many serials the index covers.
    pub fn serials(&self) -> usize {
        self.tags.len() / TAG_LEN
    }

    /// Whether `token` (upper-case text) is byte for byte the token the registry signed with
    /// `key_id` for `serial`. False whenever the index cannot tell: the caller then verifies.
    pub fn vouches_for(&self, key_id: &KeyId, serial: u32, token: &str) -> bool {
        if &self.key_id != key_id || serial == 0 {
            return false;
        }
        let Some(start) = (serial as usize - 1).checked_mul(TAG_LEN) else {
            return false;
        };
        let Some(stored) = self.tags.get(start..start.saturating_add(TAG_LEN)) else {
            return false;
        };
        stored.ct_eq(&tag(&self.salt, token)).into()
    }

    /// Heap bytes of the index itself (its tags; the rest is inline).
    fn heap_bytes(&self) -> usize {
        self.tags.len() + std::mem::size_of::<Self>()
    }
}

/// What an entry weighs against the cache's bound: moka's bookkeeping and the key's text for
/// every entry, so that absences made up by a flood of forged tokens (each names a batch that
/// has no index) are held to the bound too, plus the index's bytes when there is one.
fn weight(key: &Key, entry: &Entry) -> u32 {
    let bytes = MOKA_ENTRY_COST + key.0.len() + entry.as_ref().map_or(0, |index| index.heap_bytes());
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Cache key: certificate number and batch.
type Key = (String, u32);
/// A loaded index, or `None` for a batch found without one (remembered for `ABSENT_FOR`).
type Entry = Option<Arc<MarkDigestIndex>>;

/// An absence expires `ABSENT_FOR` after it was found; an index after `idle_for` without a use.
struct DigestExpiry {
    idle_for: Duration,
}

impl DigestExpiry {
    fn lifetime(&self, entry: &Entry) -> Duration {
        if entry.is_some() {
            self.idle_for
        } else {
            ABSENT_FOR
        }
    }
}

impl Expiry<Key, Entry> for DigestExpiry {
    fn expire_after_create(&self, _key: &Key, entry: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(self.lifetime(entry))
    }

    fn expire_after_read(
        &self,
        _key: &Key,
        entry: &Entry,
        _read_at: Instant,
        duration_until_expiry: Option<Duration>,
        _last_modified_at: Instant,
    ) -> Option<Duration> {
        if entry.is_some() {
            Some(self.idle_for)
        } else {
            duration_until_expiry
        }
    }

    fn expire_after_update(
        &self,
        _key: &Key,
        entry: &Entry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(entry))
    }
}

/// Scans of batches whose index is not loaded, counted over [`DEMAND_WINDOW`].
struct Demand {
    since: Instant,
    scans: HashMap<Key, u32>,
}

impl Demand {
    /// Counts a scan of `key`; whether its batch now has [`LOAD_AFTER`] within the window.
    fn wants(&mut self, key: &Key, now: Instant) -> bool {
        if now.saturating_duration_since(self.since) >= DEMAND_WINDOW || self.scans.len() >= DEMAND_KEYS {
            self.scans.clear();
            self.since = now;
        }
        let scans = self.scans.entry(key.clone()).or_insert(0);
        *scans += 1;
        if *scans < LOAD_AFTER {
            return false;
        }
        self.scans.remove(key);
        true
    }
}

/// The indexes loaded in this process, bounded by their bytes; loads are coalesced (one load
/// per batch however many scans wait).
pub struct MarkDigests {
    entries: Cache<Key, Entry>,
    /// Tells this cache's indexes in a thread's [`LAST_USED`] from another registry's.
    owner: u64,
    demand: Mutex<Demand>,
}

/// Gives each [`MarkDigests`] its `owner` (tests run several registries in one process).
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// Moka hears of one use in this many of a thread's last used index, or of the first after
/// [`HEARD_EVERY`], enough to keep it from looking unused when the cache must evict or when
/// [`IDLE_FOR`] runs out.
const SAMPLED_USES: u32 = 64;
const HEARD_EVERY: Duration = Duration::from_secs(1);

thread_local! {
    /// The index this thread used last. Fresh scans come in runs of one batch, and finding the
    /// index here costs a compare, where moka's lookup costs a copy of the key, a hash, its
    /// concurrent table and an access record. Held weakly: once the cache drops the index
    /// (evicted, or replaced by a rebuilt one), the memo no longer reaches it.
    static LAST_USED: RefCell<LastUsed> = const { RefCell::new(LastUsed::EMPTY) };
}

/// See [`LAST_USED`].
struct LastUsed {
    owner: u64,
    number: String,
    batch: u32,
    index: Weak<MarkDigestIndex>,
    /// Uses since moka last heard of one, and when it did.
    uses: u32,
    heard: Option<Instant>,
}

impl LastUsed {
    const EMPTY: Self = Self { owner: 0, number: String::new(), batch: 0, index: Weak::new(), uses: 0, heard: None };

    /// The index of `number`/`batch` if it is the one kept and still loaded, unless it is
    /// moka's turn to hear of a use.
    fn get(&mut self, owner: u64, number: &str, batch: u32, now: Instant) -> Option<Arc<MarkDigestIndex>> {
        if self.owner != owner || self.batch != batch || self.number != number || self.uses >= SAMPLED_USES {
            return None;
        }
        if !self.heard.is_some_and(|heard| now.saturating_duration_since(heard) < HEARD_EVERY) {
            return None;
        }
        self.uses += 1;
        self.index.upgrade()
    }

    fn keep(&mut self, owner: u64, number: &str, batch: u32, index: &Arc<MarkDigestIndex>, now: Instant) {
        self.owner = owner;
        self.number.clear();
        self.number.push_str(number);
        self.batch = batch;
        self.index = Arc::downgrade(index);
        self.uses = 0;
        self.heard = Some(now);
    }
}

impl MarkDigests {
    /// A cache holding at most `max_bytes` of indexes and their bookkeeping.
    pub fn new(max_bytes: u64) -> Self {
        Self::with_idle(max_bytes, IDLE_FOR)
    }

    /// A cache that lets an index go after `idle_for` without a use.
    fn with_idle(max_bytes: u64, idle_for: Duration) -> Self {
        let entries =
            Cache::builder().max_capacity(max_bytes).weigher(weight).expire_after(DigestExpiry { idle_for }).build();
        let demand = Mutex::new(Demand { since: Instant::now(), scans: HashMap::new() });
        Self { entries, owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed), demand }
    }

    /// The index of `number`/`batch`: the one this thread used last when it is that one, else
    /// from the cache, loaded with `load` once the batch is in demand ([`LOAD_AFTER`]). `load`
    /// gives `None` for a batch without a usable index, which is then remembered briefly.
    pub async fn get<L>(&self, number: &str, batch: u32, load: impl FnOnce() -> L) -> Option<Arc<MarkDigestIndex>>
    where
        L: Future<Output = Option<Arc<MarkDigestIndex>>>,
    {
        let owner = self.owner;
        let now = Instant::now();
        if let Some(index) = LAST_USED.with_borrow_mut(|last| last.get(owner, number, batch, now)) {
            return Some(index);
        }
        // Boxed: moka's futures take kilobytes, which every scan would otherwise carry.
        let key = (number.to_string(), batch);
        let entry = match Box::pin(self.entries.get(&key)).await {
            Some(entry) => entry,
            None if self.wanted(&key, now) => Box::pin(self.load(&key, load())).await,
            None => None,
        };
        if let Some(index) = &entry {
            LAST_USED.with_borrow_mut(|last| last.keep(owner, number, batch, index, now));
        }
        entry
    }

    /// Counts a scan of a batch whose index is not loaded; whether to load it now.
    fn wanted(&self, key: &Key, now: Instant) -> bool {
        // A panic while counting leaves at worst a wrong count: the lock stays usable.
        self.demand.lock().unwrap_or_else(std::sync::PoisonError::into_inner).wants(key, now)
    }

    /// The index of `key` from the cache, running `load` if it is not there (one load however
    /// many scans wait).
    async fn load(&self, key: &Key, load: impl Future<Output = Entry>) -> Entry {
        // Indexes past their idle time leave first, so that a batch taking over from another
        // does not hold both (moka otherwise drops expired entries in its own time).
        self.entries.run_pending_tasks().await;
        self.entries.get_with_by_ref(key, load).await
    }

    /// Keeps `index` as the index of `number`/`batch`, replacing any loaded one.
    pub async fn put(&self, number: &str, batch: u32, index: Arc<MarkDigestIndex>) {
        self.entries.insert((number.to_string(), batch), Some(index)).await;
    }

    /// Whether the index of `number`/`batch` is loaded, without loading it.
    pub async fn holds(&self, number: &str, batch: u32) -> bool {
        matches!(self.entries.get(&(number.to_string(), batch)).await, Some(Some(_)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::keys::SigningKeyEntry;
    use crate::domain::{CertificateNumber, Level, Uscc};
    use ed25519_dalek::SigningKey;

    fn signer_of(seed: u8) -> Signer {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
    }

    /// The claims of serial `serial` of batch 3 of a fixed certificate.
    pub(crate) fn claims(serial: u32) -> MarkClaims {
        MarkClaims {
            number: CertificateNumber::parse("SM2026ASC000001").unwrap(),
            uscc: Uscc::parse("91350200776049653A").unwrap(),
            level: Level::FiveStar,
            valid_until: chrono::NaiveDate::from_ymd_opt(2029, 3, 1).unwrap(),
            batch: 3,
            serial,
            gtin: None,
        }
    }

    #[test]
    fn a_tag_is_the_start_of_the_salted_sha256_of_the_token() {
        let salt = [7u8; SALT_LEN];
        let mut input = salt.to_vec();
        input.extend_from_slice(b"SM2026ASC000001.TOKEN");
        let digest = Sha256::digest(&input);
        assert_eq!(tag(&salt, "SM2026ASC000001.TOKEN"), digest[..TAG_LEN]);
        assert_ne!(tag(&[8u8; SALT_LEN], "SM2026ASC000001.TOKEN"), tag(&salt, "SM2026ASC000001.TOKEN"));
        assert_ne!(tag(&salt, "SM2026ASC000001.TOKEM"), tag(&salt, "SM2026ASC000001.TOKEN"));
    }

    fn build(signer: &Signer, count: u32, salt: u8, threads: usize) -> MarkDigestIndex {
        MarkDigestIndex::build(signer, &claims(0), count, [salt; SALT_LEN], threads, &AtomicBool::new(false))
            .expect("built")
    }

    #[test]
    fn a_build_gives_up_soon_after_the_server_stops() {
        let signer = signer_of(1);
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let built = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                stop.store(true, Ordering::SeqCst);
            });
            MarkDigestIndex::build(&signer, &claims(0), 1_000_000, [1u8; SALT_LEN], 2, &stop)
        });
        assert!(built.is_none(), "a stopped build keeps nothing");
        // The whole batch takes some 15 s on two cores in a release build, far more in a test build.
        assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
    }

    #[test]
    fn the_index_vouches_for_exactly_the_tokens_it_was_made_of() {
        let signer = signer_of(1);
        let index = build(&signer, 10, 9, 3);
        assert_eq!(index.serials(), 10);
        let key_id = *signer.key_id();
        for serial in 1..=10 {
            let token = token::issue(&signer, &claims(serial));
            assert!(index.vouches_for(&key_id, serial, &token), "serial {serial}");
        }
        let seventh = token::issue(&signer, &claims(7));
        // Another serial's slot, out of range, serial 0.
        assert!(!index.vouches_for(&key_id, 6, &seventh));
        assert!(!index.vouches_for(&key_id, 11, &token::issue(&signer, &claims(11))));
        assert!(!index.vouches_for(&key_id, 0, &seventh));
        assert!(!index.vouches_for(&key_id, u32::MAX, &seventh));
        // Another key id, even with the right text.
        let other = signer_of(2);
        assert!(!index.vouches_for(other.key_id(), 7, &seventh));
        assert!(!index.vouches_for(other.key_id(), 7, &token::issue(&other, &claims(7))));
        // The same claims with another validity (a token re-made after a renewal).
        let mut renewed = claims(7);
        renewed.valid_until = chrono::NaiveDate::from_ymd_opt(2032, 3, 1).unwrap();
        assert!(!index.vouches_for(&key_id, 7, &token::issue(&signer, &renewed)));
        // One character of the signature changed.
        let mut forged = seventh.into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(!index.vouches_for(&key_id, 7, std::str::from_utf8(&forged).unwrap()));
    }

    #[test]
    fn threads_split_the_serials_without_gaps() {
        let signer = signer_of(1);
        let one = build(&signer, 7, 3, 1);
        for threads in [2, 3, 7, 16] {
            let many = build(&signer, 7, 3, threads);
            assert_eq!(many.tags, one.tags, "{threads} threads");
        }
    }

    #[test]
    fn the_last_used_index_is_found_while_loaded_and_moka_hears_of_some_uses() {
        let index = Arc::new(build(&signer_of(1), 3, 1, 1));
        let mut last = LastUsed::EMPTY;
        let now = Instant::now();
        assert!(last.get(1, "SM2026ASC000001", 3, now).is_none(), "nothing kept yet");
        last.keep(1, "SM2026ASC000001", 3, &index, now);
        for _ in 0..SAMPLED_USES {
            assert!(last.get(1, "SM2026ASC000001", 3, now).is_some_and(|kept| Arc::ptr_eq(&kept, &index)));
        }
        assert!(last.get(1, "SM2026ASC000001", 3, now).is_none(), "moka's turn");
        last.keep(1, "SM2026ASC000001", 3, &index, now);
        assert!(last.get(1, "SM2026ASC000001", 3, now + HEARD_EVERY).is_none(), "moka's turn, a while later");
        assert!(last.get(2, "SM2026ASC000001", 3, now).is_none(), "another registry's cache");
        assert!(last.get(1, "SM2026ASC000002", 3, now).is_none(), "another certificate");
        assert!(last.get(1, "SM2026ASC000001", 4, now).is_none(), "another batch");
        assert!(last.get(1, "SM2026ASC000001", 3, now).is_some(), "still the kept one");
        drop(index);
        assert!(last.get(1, "SM2026ASC000001", 3, now).is_none(), "dropped by the cache");
    }

    #[test]
    fn a_batch_is_wanted_after_enough_scans_within_the_window() {
        let start = Instant::now();
        let mut demand = Demand { since: start, scans: HashMap::new() };
        let key = ("SM2026ASC000001".to_string(), 3);
        for n in 1..LOAD_AFTER {
            assert!(!demand.wants(&key, start), "scan {n}");
        }
        assert!(demand.wants(&key, start), "scan {LOAD_AFTER}");
        // Counting starts again (a failed load is tried again after as many scans).
        assert!(!demand.wants(&key, start));

        // Sporadic scans: the window ends before they add up.
        let mut demand = Demand { since: start, scans: HashMap::new() };
        for n in 0..10 * LOAD_AFTER {
            let at = start + DEMAND_WINDOW / (LOAD_AFTER / 2) * n;
            assert!(!demand.wants(&key, at), "sporadic scan {n}");
        }

        // Made-up batches cannot hold more than DEMAND_KEYS counts.
        let mut demand = Demand { since: start, scans: HashMap::new() };
        for batch in 0..3 * DEMAND_KEYS as u32 {
            demand.wants(&("SM2026ASC000001".to_string(), batch), start);
            assert!(demand.scans.len() <= DEMAND_KEYS);
        }
    }

    #[tokio::test]
    async fn an_index_nobody_scans_is_let_go_and_a_used_one_stays() {
        let digests = MarkDigests::with_idle(64 * 1024 * 1024, Duration::from_millis(300));
        let index = Arc::new(build(&signer_of(1), 3, 1, 1));
        digests.put("SM2026ASC000001", 1, Arc::clone(&index)).await;
        digests.put("SM2026ASC000001", 2, index).await;
        let key = ("SM2026ASC000001".to_string(), 1);
        // Batch 1 is used every 100 ms for a second; batch 2 is not.
        for _ in 0..10 {
            assert!(matches!(digests.entries.get(&key).await, Some(Some(_))), "used, so kept");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        digests.entries.run_pending_tasks().await;
        assert!(digests.holds("SM2026ASC000001", 1).await);
        assert!(!digests.holds("SM2026ASC000001", 2).await, "idle for longer than its bound");
    }

    #[tokio::test]
    async fn absences_count_their_bookkeeping_against_the_bound() {
        // Forged tokens naming made-up batches: each absence weighs what its entry takes.
        let digests = MarkDigests::new(10 * MOKA_ENTRY_COST as u64);
        for batch in 0..1_000u32 {
            digests.entries.insert(("SM2026ASC000001".to_string(), batch), None).await;
            digests.entries.run_pending_tasks().await;
        }
        let held = digests.entries.entry_count();
        assert!((1..10).contains(&held), "moka holds {held} absences");
    }
}
