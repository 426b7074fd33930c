//! Mark digest indexes: scans of fresh mark tokens without an Ed25519 verification each.
//!
//! Every mark of a batch is new the first time it is scanned, so no answer cache helps the
//! signature check, and a `verify_strict` costs far more than the rest of a scan. The tokens of a
//! batch are all known when it is ordered, though: [`Registry::mark_token`] makes them from the
//! record and the signing key alone. So, prepared at the state change like the read path's
//! answers, the registry makes every token of a new batch once, off the async runtime on all
//! cores, and keeps of each only an 8-byte *tag*: the first 8 bytes of SHA-256(`salt` || token
//! text), with `salt` 32 random bytes made for that index. The index (8 bytes a serial, 8 MB for
//! 1,000,000 marks, plus the salt and the signing key's id) is stored by (certificate, batch).
//!
//! A scan whose token parses and names a trusted key looks its batch's index up (kept in a cache
//! bounded by bytes; a batch without one is remembered briefly). An index is loaded from the
//! store only for a batch being scanned steadily ([`LOAD_AFTER`] scans within [`DEMAND_WINDOW`])
//! and let go after [`IDLE_FOR`] without a scan: a load reads 8 bytes a serial (8 MB for a
//! 1,000,000-mark batch), which a batch scanned now and then never pays back, and an idle index
//! is memory nobody uses. Until its index is loaded, a batch's scans verify signatures. When
//! the index was made with the token's key and the tag of the token's serial equals the token's
//! own tag (compared in constant time), the token is genuine without a signature verification.
//! In every other case (no index yet, an older batch, another key, a tag that differs because
//! the token was re-made after a renewal changed its level or validity, or a forgery) the
//! signature is verified with `verify_strict` exactly as without indexes.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{clock, Registry, RegistryError};
use crate::cache::MOKA_ENTRY_COST;
use crate::crypto::token::{self, MarkClaims, ParsedToken, TokenError};
use crate::crypto::{KeyId, Signer};
use crate::domain::{CertificateNumber, CertificateRecord, MarkError};
use crate::store::{Store, StoreError, StoredMarkDigests};

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
/// read of 10 to 30 ms (SQLite, 1,000,000 marks) and [`LOAD_AFTER`] signature checks. (It was a
/// minute until 2026-11-29: with fresh scans moving from batch to batch, as in the read-path
/// benchmark, two idle indexes were then held beside the one in use.)
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

    /// Takes a stored index back, checking its shape.
    pub fn from_stored(stored: StoredMarkDigests) -> Result<Self, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("mark digest index of {}/{}: {what}", stored.number, stored.batch))
        };
        let key_id = KeyId::parse(&stored.key_id).ok_or_else(|| corrupt("bad key id"))?;
        let salt: [u8; SALT_LEN] = stored.salt.as_slice().try_into().map_err(|_| corrupt("bad salt"))?;
        if stored.tags.len() % TAG_LEN != 0 {
            return Err(corrupt("tags are not whole"));
        }
        Ok(Self { key_id, salt, tags: stored.tags })
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

/// The indexes loaded in this process, bounded by their bytes; loads are coalesced (one store
/// read per batch however many scans wait).
pub(crate) struct MarkDigests {
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
    pub(crate) fn new(max_bytes: u64) -> Self {
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
    /// from the cache, loaded from the store once the batch is in demand ([`LOAD_AFTER`]).
    async fn get(&self, store: &Arc<dyn Store>, certificate: &CertificateNumber, batch: u32) -> Entry {
        let number = certificate.as_str();
        let owner = self.owner;
        let now = Instant::now();
        if let Some(index) = LAST_USED.with_borrow_mut(|last| last.get(owner, number, batch, now)) {
            return Some(index);
        }
        // Boxed: moka's futures take kilobytes, which every scan would otherwise carry.
        let key = (number.to_string(), batch);
        let entry = match Box::pin(self.entries.get(&key)).await {
            Some(entry) => entry,
            None if self.wanted(&key, now) => Box::pin(self.load(store, certificate, &key)).await,
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

    /// The index of `key` from the cache, loading it from the store if it is not there (one
    /// store read however many scans wait). A failed load counts as no index (scans then verify
    /// signatures), and is logged.
    async fn load(&self, store: &Arc<dyn Store>, certificate: &CertificateNumber, key: &Key) -> Entry {
        let (number, batch) = (key.0.as_str(), key.1);
        // Indexes past their idle time leave first, so that a batch taking over from another
        // does not hold both (moka otherwise drops expired entries in its own time).
        self.entries.run_pending_tasks().await;
        self.entries
            .get_with_by_ref(key, async {
                match store.get_mark_digests(certificate, batch).await {
                    Ok(None) => None,
                    Ok(Some(stored)) => match MarkDigestIndex::from_stored(stored) {
                        Ok(index) => Some(Arc::new(index)),
                        Err(e) => {
                            tracing::warn!(number, batch, error = %e, "mark digest index unusable; verifying signatures");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(number, batch, error = %e, "mark digest index not loaded; verifying signatures");
                        None
                    }
                }
            })
            .await
    }

    async fn put(&self, number: &str, batch: u32, index: Arc<MarkDigestIndex>) {
        self.entries.insert((number.to_string(), batch), Some(index)).await;
    }

    /// Whether the index of `number`/`batch` is loaded, without loading it.
    async fn holds(&self, number: &str, batch: u32) -> bool {
        matches!(self.entries.get(&(number.to_string(), batch)).await, Some(Some(_)))
    }
}

/// What preparing an index did.
#[derive(Clone, Copy, Debug)]
pub struct PreparedDigests {
    pub batch: u32,
    pub count: u32,
    pub elapsed: Duration,
}

fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Registry {
    /// How many Ed25519 signature verifications scans have done since start (a token vouched for
    /// by its batch's digest index, or refused a moment ago, costs none).
    pub fn signatures_verified(&self) -> u64 {
        self.signatures_verified.load(Ordering::Relaxed)
    }

    /// Makes, stores and keeps the digest index of batch `batch` of `record` (the record as it
    /// was right after the order), replacing any earlier one. The signing runs on every core,
    /// off the async runtime and outside any store transaction.
    pub async fn prepare_mark_digests(
        self: &Arc<Self>,
        record: &CertificateRecord,
        batch: u32,
    ) -> Result<PreparedDigests, RegistryError> {
        self.prepare_mark_digests_on(record, batch, build_threads()).await
    }

    /// [`Registry::prepare_mark_digests`] signing on `threads` threads.
    async fn prepare_mark_digests_on(
        self: &Arc<Self>,
        record: &CertificateRecord,
        batch: u32,
        threads: usize,
    ) -> Result<PreparedDigests, RegistryError> {
        let entry = record.mark_batches.iter().find(|b| b.id == batch).ok_or(MarkError::NoSuchBatch(batch))?;
        let count = entry.count;
        let template = super::marks::claims_of(record, batch, 1);
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let started = Instant::now();
        let this = Arc::clone(self);
        let index = tokio::task::spawn_blocking(move || {
            MarkDigestIndex::build(&this.signer, &template, count, salt, threads, &this.stopping)
        })
        .await
        .map_err(|e| RegistryError::Internal(format!("building the mark digest index failed: {e}")))?
        .ok_or_else(|| RegistryError::Internal("the server stopped before the index was built".into()))?;
        let stored = StoredMarkDigests {
            number: record.number.to_string(),
            batch,
            key_id: index.key_id.to_string(),
            salt: index.salt.to_vec(),
            tags: index.tags,
            created_at: clock::now(),
        };
        self.store.put_mark_digests(&stored).await?;
        let index = MarkDigestIndex::from_stored(stored)?;
        self.mark_digests.put(record.number.as_str(), batch, Arc::new(index)).await;
        let elapsed = started.elapsed();
        tracing::info!(
            number = %record.number,
            batch,
            count,
            seconds = elapsed.as_secs_f64(),
            "mark digest index prepared"
        );
        Ok(PreparedDigests { batch, count, elapsed })
    }

    /// [`Registry::prepare_mark_digests`] in a background task; a failure is logged (scans of
    /// the batch then verify signatures, as for a batch ordered before indexes existed).
    pub fn prepare_mark_digests_in_background(self: &Arc<Self>, record: CertificateRecord, batch: u32) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match this.prepare_mark_digests(&record, batch).await {
                Ok(_) => {}
                Err(_) if this.stopping.load(Ordering::SeqCst) => {
                    tracing::warn!(number = %record.number, batch, "mark digest index not prepared: the server stopped first; scans of the batch verify signatures");
                }
                Err(e) => {
                    tracing::error!(number = %record.number, batch, error = %e, "mark digest index not prepared");
                }
            }
        });
    }

    /// Builds, one batch at a time, the digest index of every batch that has none in the store:
    /// an order whose background build a stopping server gave up, or a batch ordered before
    /// indexes existed. Each is made from the record as it was when the batch was ordered (the
    /// tokens printed then). A task of the server, started with it, signing on one thread so
    /// that the other cores keep serving; it gives up when the server stops. Instances started
    /// together may each build the same batch (the last one stored stays; either vouches for
    /// the same tokens).
    pub async fn repair_mark_digests(self: Arc<Self>) {
        let missing = match self.store.batches_without_digests().await {
            Ok(missing) => missing,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the mark batches without a digest index; their scans verify signatures");
                return;
            }
        };
        if missing.is_empty() {
            return;
        }
        tracing::info!(batches = missing.len(), "building the missing mark digest indexes");
        let not_rebuilt = |number: &str, batch: u32, e: RegistryError| {
            tracing::warn!(number, batch, error = %e, "mark digest index not rebuilt; the batch's scans verify signatures");
        };
        for (number, batch) in missing {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let record = match self.record_at_order(&number, batch).await {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e) => {
                    not_rebuilt(&number, batch, e);
                    continue;
                }
            };
            if let Ok(Some(_)) = self.store.get_mark_digests(&record.number, batch).await {
                continue; // made meanwhile by another instance
            }
            match self.prepare_mark_digests_on(&record, batch, 1).await {
                Ok(_) => {}
                Err(_) if self.stopping.load(Ordering::SeqCst) => return,
                Err(e) => not_rebuilt(&number, batch, e),
            }
        }
    }

    /// The first record version of `number` that lists batch `batch`: the one the order made.
    async fn record_at_order(&self, number: &str, batch: u32) -> Result<Option<CertificateRecord>, RegistryError> {
        let Ok(number) = CertificateNumber::parse(number) else { return Ok(None) };
        for event in self.store.history(&number).await? {
            let record: CertificateRecord = serde_json::from_str(&event.record)
                .map_err(|e| StoreError::Corrupt(format!("event {} of {number}: {e}", event.version)))?;
            if record.mark_batches.iter().any(|b| b.id == batch) {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Whether this process holds the digest index of `number`/`batch` (never loads it).
    pub async fn mark_digests_loaded(&self, number: &str, batch: u32) -> bool {
        self.mark_digests.holds(number, batch).await
    }

    /// The signature step of a scan: the batch's digest index vouches for the token, or else its
    /// signature is verified (`verify_strict`) against the trust list. A token whose
    /// verification failed a moment ago is refused again from memory (see [`RefusalCache`]).
    ///
    /// [`RefusalCache`]: crate::cache::refusals::RefusalCache
    pub(super) async fn check_mark_signature(&self, parsed: &ParsedToken) -> Result<(), TokenError> {
        if !self.verifier.trusts(&parsed.key_id) {
            return Err(TokenError::UnknownKey(parsed.key_id));
        }
        let claims = &parsed.claims;
        if claims.batch != 0 {
            if let Some(index) = self.mark_digests.get(&self.store, &claims.number, claims.batch).await {
                if index.vouches_for(&parsed.key_id, claims.serial, parsed.text()) {
                    return Ok(());
                }
            }
        }
        if let Some(refused) = self.refusals.get(parsed.text()) {
            return Err((*refused).clone());
        }
        self.signatures_verified.fetch_add(1, Ordering::Relaxed);
        let verified = parsed.verify(&self.verifier);
        if let Err(e) = &verified {
            self.refusals.remember(parsed.text(), e.clone());
        }
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SigningKeyEntry;
    use crate::domain::{CertificateNumber, Level, Uscc};
    use ed25519_dalek::SigningKey;

    fn signer_of(seed: u8) -> Signer {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
    }

    fn claims(serial: u32) -> MarkClaims {
        MarkClaims {
            number: CertificateNumber::parse("SM2026ASC000001").unwrap(),
            uscc: Uscc::parse("91350200776049653A").unwrap(),
            level: Level::FiveStar,
            valid_until: chrono::NaiveDate::from_ymd_opt(2029, 3, 1).unwrap(),
            batch: 3,
            serial,
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

    #[test]
    fn stored_indexes_come_back_or_are_refused() {
        let signer = signer_of(1);
        let index = build(&signer, 3, 5, 2);
        let stored = StoredMarkDigests {
            number: "SM2026ASC000001".into(),
            batch: 3,
            key_id: index.key_id.to_string(),
            salt: index.salt.to_vec(),
            tags: index.tags.clone(),
            created_at: clock::now(),
        };
        let back = MarkDigestIndex::from_stored(stored.clone()).unwrap();
        assert!(back.vouches_for(signer.key_id(), 2, &token::issue(&signer, &claims(2))));
        let mut short_salt = stored.clone();
        short_salt.salt.pop();
        assert!(MarkDigestIndex::from_stored(short_salt).is_err());
        let mut ragged = stored;
        ragged.tags.pop();
        assert!(MarkDigestIndex::from_stored(ragged).is_err());
    }
}
