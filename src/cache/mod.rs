//! The read path's memory: prepared public answers by key, in process (L1).
//!
//! L1 lives here; L2, shared by all instances in Redis, is in [`shared`].
//!
//! An entry is either a prepared answer (bytes ready to send, with their ETag) beside the parsed
//! record it was prepared from (what a scan's verdict reads, so that nothing parses an answer
//! back), or the knowledge that the key does not exist, kept briefly so that a flood of fake
//! numbers never reaches the store. Concurrent misses of one key are coalesced: one load, however many requests wait.
//! While the store watch (`registry::watch`) vouches that every change in the store has been
//! applied here, an answer is served until it is replaced or its signed status assertion reaches
//! `next_update`, whichever comes first; otherwise no answer older than a bound (5 s by default)
//! is served, so even if a change announcement is lost no instance serves a stale answer for
//! longer.
//!
//! Two structures share the work. The entries live in a read index ([`ReadIndex`]): a plain
//! map split in [`SHARDS`] shards, where hits are read (a moka lookup costs about 1.6 us with
//! 100,000 keys, its concurrent table, access-order queue and frequency sketch; a plain map
//! about 0.2 us, and at tens of thousands of hits a second that difference is most of the hit).
//! Moka decides what L1 holds: it is bounded by bytes and evicts by recency and frequency, with
//! one entry per shard, weighing what the shard holds, and a shard it evicts is emptied. Moka
//! per answer cost about 320 bytes of bookkeeping (32 MB with 100,000 answers, next to 78 MB of
//! answers); per shard it is next to nothing, at the price of evicting a shard's answers
//! together (about a thousandth of them). Moka hears of one hit in [`SAMPLED_HITS`] to keep its
//! order. Concurrent misses of a key are coalesced with moka too ([`AnswerCache::get_or_load`]),
//! in a cache that holds a loaded entry only until the read index has it.
//!
//! Answers come packed ([`packing`]); while L1 weighs less than [`CacheSettings::unpacked_bytes`]
//! (at most half its bound) it keeps them unpacked instead, as they are loaded and at the hits
//! moka hears of, so that a hit sends a slice of the bytes held with no unpacking and no copy.
//! Their weight counts what they take, so the bound holds either way; once L1 is fuller,
//! answers stay packed. An answer kept unpacked keeps its gzip form too ([`Prepared::gzip`]),
//! made once as it is unpacked and weighed with it, for clients that accept gzip.

pub mod mark_digests;
pub mod packing;
pub mod refusals;
pub mod shared;

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use moka::notification::RemovalCause;

use crate::domain::CertificateRecord;

/// An answer prepared when the state last changed: the hot path sends these bytes as they are,
/// once unpacked.
///
/// The body is kept packed ([`packing`]: about 0.75 KB instead of 3.3 KB for a certificate),
/// since with 100,000 certificates the answers are most of the server's memory; the cache keeps
/// it unpacked instead while it has room ([`Prepared::unpacked`]), so that a hit is sent
/// without unpacking. The ETag and
/// the packed body sit in one allocation together with its reference count (an `Arc<[u8]>`),
/// and the answer lives in the cache's own slot rather than behind another pointer: the
/// answers' memory is cold (a random one of 100,000 is asked for), and each separate object a
/// hit reaches is a cache miss. Cloning it shares the bytes.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The ETag, quoted (weak, e.g. `W/"3-valid-120-1a2b3c4d5e6f"`), then the body, packed or not;
    /// after an unpacked body, its gzip form's ETag and the gzip form, when it has one.
    whole: Arc<[u8]>,
    /// The dictionary the body was packed against; `None` when it is kept as it is.
    dictionary: Option<Arc<packing::Dictionary>>,
    /// The body's length unpacked, when it is packed.
    plain_len: u32,
    /// Where the ETag ends and the body begins.
    etag_len: u16,
    /// Bytes of the gzip form at the end of `whole` (0: none), after its ETag.
    gzip_len: u16,
    /// Record version the answer was prepared from.
    pub version: u32,
    /// The `next_update` its status assertion names: no instance serves the answer past it.
    pub next_update: DateTime<Utc>,
}

impl Prepared {
    /// Packs `body` against the process's default dictionary and copies it with `etag` into one
    /// buffer; fails only when `etag` could not be a header value.
    pub fn new(body: &[u8], etag: &str, version: u32, next_update: DateTime<Utc>) -> Option<Self> {
        Self::packed_with(body, etag, version, next_update, packing::default_dictionary(body))
    }

    /// Like [`Prepared::new`], packed against `dictionary` (made for answers like this one).
    pub fn packed_with(
        body: &[u8],
        etag: &str,
        version: u32,
        next_update: DateTime<Utc>,
        dictionary: Option<Arc<packing::Dictionary>>,
    ) -> Option<Self> {
        HeaderValue::from_str(etag).ok()?;
        let etag_len = u16::try_from(etag.len()).ok()?;
        let plain_len = u32::try_from(body.len()).ok();
        let (kept, dictionary) = match (dictionary, plain_len) {
            (Some(dictionary), Some(_)) => match packing::pack(body, &dictionary) {
                packing::Packed::Lz4(packed) => (Cow::Owned(packed), Some(dictionary)),
                packing::Packed::Plain => (Cow::Borrowed(body), None),
            },
            _ => (Cow::Borrowed(body), None),
        };
        let mut whole = Vec::with_capacity(etag.len() + kept.len());
        whole.extend_from_slice(etag.as_bytes());
        whole.extend_from_slice(&kept);
        let plain_len = plain_len.unwrap_or(0);
        Some(Self { whole: whole.into(), dictionary, plain_len, etag_len, gzip_len: 0, version, next_update })
    }

    /// The JSON answer (unpacked: a copy when it is kept packed); `None` if it no longer
    /// unpacks, which `new` ruled out.
    pub fn body(&self) -> Option<Cow<'_, [u8]>> {
        let kept = &self.whole[usize::from(self.etag_len)..self.whole.len() - self.gzip_kept_len()];
        match &self.dictionary {
            Some(dictionary) => packing::unpack(kept, self.plain_len as usize, dictionary).map(Cow::Owned),
            None => Some(Cow::Borrowed(kept)),
        }
    }

    /// The same answer with its body kept as it is sent, so that sending it is a slice of its
    /// bytes rather than an unpacking into new ones; `None` when it is kept so already (or no
    /// longer unpacks, which `new` ruled out).
    ///
    /// It keeps the body's gzip form beside it ([`Prepared::gzip`]) when that is smaller.
    pub fn unpacked(&self) -> Option<Self> {
        self.dictionary.as_ref()?;
        let body = self.body()?;
        let etag = &self.whole[..usize::from(self.etag_len)];
        let gzip = gzip_form(etag, &body).filter(|(_, packed)| packed.len() <= usize::from(u16::MAX));
        let gzip_kept = gzip.as_ref().map_or(0, |(tag, packed)| tag.len() + packed.len());
        let mut whole = Vec::with_capacity(etag.len() + body.len() + gzip_kept);
        whole.extend_from_slice(etag);
        whole.extend_from_slice(&body);
        let mut gzip_len = 0;
        if let Some((tag, packed)) = gzip {
            whole.extend_from_slice(&tag);
            whole.extend_from_slice(&packed);
            gzip_len = u16::try_from(packed.len()).ok()?;
        }
        let (plain_len, etag_len, version, next_update) =
            (self.plain_len, self.etag_len, self.version, self.next_update);
        Some(Self { whole: whole.into(), dictionary: None, plain_len, etag_len, gzip_len, version, next_update })
    }

    /// Bytes [`Prepared::unpacked`] would add to what the answer keeps for its body (0 when it
    /// is unpacked); the gzip form, when one is made, is weighed once it is there.
    fn unpacked_growth(&self) -> usize {
        match self.dictionary {
            Some(_) => (self.plain_len as usize + usize::from(self.etag_len)).saturating_sub(self.whole.len()),
            None => 0,
        }
    }

    /// Bytes the gzip form takes at the end of `whole`, its ETag included (0 without one).
    fn gzip_kept_len(&self) -> usize {
        match self.gzip_len {
            0 => 0,
            len => usize::from(len) + usize::from(self.etag_len) + GZIP_TAG.len(),
        }
    }

    /// The ETag of the gzip form, when the answer keeps one: the identity ETag with
    /// [`GZIP_TAG`] before its closing quote, so that each representation has its own.
    pub fn gzip_etag(&self) -> Option<&str> {
        if self.gzip_len == 0 {
            return None;
        }
        let start = self.whole.len() - self.gzip_kept_len();
        std::str::from_utf8(&self.whole[start..start + usize::from(self.etag_len) + GZIP_TAG.len()]).ok()
    }

    /// Whether the answer keeps a gzip form.
    pub fn has_gzip(&self) -> bool {
        self.gzip_len > 0
    }

    /// The gzip form's ETag header and body, both sharing this answer's bytes; `None` when the
    /// answer keeps no gzip form ([`Prepared::has_gzip`]).
    pub fn into_send_gzip(self) -> Option<(HeaderValue, Bytes)> {
        if self.gzip_len == 0 {
            return None;
        }
        let start = self.whole.len() - self.gzip_kept_len();
        let tag_end = start + usize::from(self.etag_len) + GZIP_TAG.len();
        let whole = Bytes::from_owner(self.whole);
        let etag = HeaderValue::from_maybe_shared(whole.slice(start..tag_end)).ok()?;
        Some((etag, whole.slice(tag_end..)))
    }

    /// The bytes of the gzip form (a gzip member, RFC 1952), when the answer keeps one.
    pub fn gzip(&self) -> Option<&[u8]> {
        if self.gzip_len == 0 {
            return None;
        }
        Some(&self.whole[self.whole.len() - usize::from(self.gzip_len)..])
    }

    /// Whether `other` is this very answer (not merely an equal one).
    fn is(&self, other: &Prepared) -> bool {
        Arc::ptr_eq(&self.whole, &other.whole)
    }

    /// The body's length unpacked, without unpacking it.
    pub fn body_len(&self) -> usize {
        match self.dictionary {
            Some(_) => self.plain_len as usize,
            None => self.whole.len() - usize::from(self.etag_len) - self.gzip_kept_len(),
        }
    }

    /// The ETag as text (checked to be a header value by [`Prepared::new`]).
    pub fn etag(&self) -> &str {
        std::str::from_utf8(&self.whole[..usize::from(self.etag_len)]).unwrap_or_default()
    }

    /// The ETag header and the body to send, unpacked (the ETag shares this answer's bytes);
    /// `None` if the body no longer unpacks, which `new` ruled out.
    pub fn into_send(self) -> Option<(HeaderValue, Bytes)> {
        let gzip_kept = self.gzip_kept_len();
        let whole = Bytes::from_owner(self.whole);
        let etag_len = usize::from(self.etag_len);
        let etag = HeaderValue::from_maybe_shared(whole.slice(..etag_len)).ok()?;
        let body_end = whole.len() - gzip_kept;
        let body = match &self.dictionary {
            Some(dictionary) => Bytes::from(packing::unpack(&whole[etag_len..], self.plain_len as usize, dictionary)?),
            None => whole.slice(etag_len..body_end),
        };
        Some((etag, body))
    }

    /// Bytes the answer keeps (ETag and body as kept), for the cache's memory bound and for
    /// measuring how well answers pack.
    pub fn kept_len(&self) -> usize {
        self.whole.len()
    }

    /// How long from now the answer may still be served (zero once `next_update` has passed).
    fn time_left(&self) -> Duration {
        (self.next_update - Utc::now()).to_std().unwrap_or(Duration::ZERO)
    }
}

/// What the gzip form's ETag adds before the identity ETag's closing quote.
pub const GZIP_TAG: &str = "-gzip";

/// Bodies shorter than this are not worth a gzip form.
const GZIP_FROM: usize = 256;

/// The gzip form of `body` and its ETag (from the identity `etag`), when the body is long
/// enough and the form comes out at most seven eighths of it; `None` otherwise, and for an ETag
/// that does not end in a quote. Made once per answer kept unpacked, on the load's path, so at
/// the default level rather than the slowest.
fn gzip_form(etag: &[u8], body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::io::Write;
    let (quote, inner) = etag.split_last()?;
    if *quote != b'"' || body.len() < GZIP_FROM {
        return None;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
    encoder.write_all(body).ok()?;
    let packed = encoder.finish().ok()?;
    if packed.len() > body.len() / 8 * 7 {
        return None;
    }
    let tag = [inner, GZIP_TAG.as_bytes(), b"\""].concat();
    HeaderValue::from_bytes(&tag).ok()?;
    Some((tag, packed))
}

/// What the cache knows about a key, as `GET` sends it.
#[derive(Clone, Debug)]
pub enum Cached {
    Answer(Prepared),
    /// The store has no such key (as of a moment ago).
    Absent,
}

/// What the cache holds for a key: [`Cached`], and beside an answer that was scanned, the
/// record it was prepared from.
///
/// The record sits beside the bytes, parsed, so that a scan's verdict reads a typed value and
/// never the answer's JSON. Only an answer a scan asked about holds one: a lookup sends the bytes
/// alone, and a parsed record (about two thirds of a kilobyte) would weigh near what the packed
/// answer does. It is the record the registry confirmed against the log when it prepared the answer, or rebuilt from the
/// signed record a copy in Redis carries ([`shared::SignedParts`]).
#[derive(Clone, Debug)]
pub enum Held {
    Answer(Prepared, Option<Arc<CertificateRecord>>),
    /// The store has no such key (as of a moment ago).
    Absent,
}

/// What a scan finds in the read index for a key ([`AnswerCache::hit_record`]).
#[derive(Clone, Debug)]
pub enum RecordHit {
    /// The record the held answer was prepared from.
    Record(Arc<CertificateRecord>),
    /// An answer of this record version is held, without its record: no scan asked yet.
    AnswerOnly(u32),
    /// The store has no such key (as of a moment ago).
    Absent,
}

impl Held {
    /// What `GET` sends: the answer without its record (a hit clones only what it sends).
    pub fn to_cached(&self) -> Cached {
        match self {
            Held::Answer(prepared, _) => Cached::Answer(prepared.clone()),
            Held::Absent => Cached::Absent,
        }
    }

    /// Like [`Held::to_cached`], letting go of the record.
    pub fn into_cached(self) -> Cached {
        match self {
            Held::Answer(prepared, _) => Cached::Answer(prepared),
            Held::Absent => Cached::Absent,
        }
    }

    /// What a scan reads of this entry.
    pub fn record_hit(&self) -> RecordHit {
        match self {
            Held::Answer(_, Some(record)) => RecordHit::Record(Arc::clone(record)),
            Held::Answer(prepared, None) => RecordHit::AnswerOnly(prepared.version),
            Held::Absent => RecordHit::Absent,
        }
    }

    fn weight(&self) -> usize {
        ENTRY_COST
            + match self {
                Held::Answer(prepared, record) => prepared.kept_len() + record.as_deref().map_or(0, record_weight),
                Held::Absent => 0,
            }
    }
}

/// What a parsed record beside an answer weighs.
fn record_weight(record: &CertificateRecord) -> usize {
    std::mem::size_of::<CertificateRecord>() + record.heap_bytes()
}

/// What one moka entry costs beyond its value's own heap bytes: the entry, copies of the key,
/// its deque and timer nodes (about 320 bytes, measured with heaptrack on 100,000 answers).
/// Every byte-bounded cache weighs its entries with it, so that a bound counts memory the entries
/// really take, and a flood of entries with small values (absences) is held to the same bound.
pub(crate) const MOKA_ENTRY_COST: usize = 320;

/// What an answer cache entry costs beyond its key and the answer's kept bytes: the read index's
/// slot with its map's spare room (about 190 bytes; moka's entry per shard is shared by about a
/// hundred answers). An absence costs as much bookkeeping as an answer.
const ENTRY_COST: usize = 192;

/// What a load brought, and whether it was read from the store by the load itself (rather than
/// copied from Redis, where an answer may have been made up to the staleness bound before).
pub struct Loaded {
    pub value: Held,
    pub from_store: bool,
}

impl From<Held> for Loaded {
    /// A value of unknown age: treated like a copy from Redis.
    fn from(value: Held) -> Self {
        Self { value, from_store: false }
    }
}

/// A cached value, when it was loaded and when it stops being served whatever happens. Moments
/// are microseconds of the cache's [`Clock`]: the read index holds 100,000 of them for as many
/// certificates, so an entry is kept to 80 bytes.
#[derive(Clone)]
struct Entry {
    value: Held,
    loaded: u64,
    /// No later than the moment the store was read for it: when a load from the store began,
    /// or the staleness bound before a copy from Redis (or of unknown origin) arrived. 0 when
    /// that would lie before the cache's clock began.
    made: u64,
    expires: u64,
}

/// Moments as the cache keeps them: microseconds since the cache began, never 0 (8 bytes where
/// an `Instant` takes 16). Read from the system's monotonic clock; unit tests move a clock of
/// their own by hand instead of sleeping.
#[derive(Clone)]
struct Clock {
    base: Instant,
    #[cfg(test)]
    manual: Option<Arc<std::sync::Mutex<Instant>>>,
}

impl Clock {
    fn system() -> Self {
        Self {
            base: Instant::now(),
            #[cfg(test)]
            manual: None,
        }
    }

    /// The current moment.
    fn instant(&self) -> Instant {
        #[cfg(test)]
        if let Some(manual) = &self.manual {
            return *manual.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Instant::now()
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX).max(1)
    }

    fn now(&self) -> u64 {
        self.micros(self.instant())
    }
}

fn micros_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Longer than any load of an answer takes (a store read, or a Redis read bounded at 150 ms).
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(500);

/// Moka hears of one hit in this many (per worker thread), enough for its eviction order.
pub const SAMPLED_HITS: u32 = 64;

/// A key held inside the map's own slot when it is short (every certificate number is), so
/// that comparing it on a hit does not reach for another cold allocation.
#[derive(Clone, PartialEq, Eq)]
enum SlotKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<str>),
}

/// Certificate numbers have at most 32 characters.
const INLINE_KEY: usize = 32;

impl SlotKey {
    fn new(key: &str) -> Self {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(key.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always the bytes of a whole `&str` (see `new`), so always UTF-8.
            Self::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Self::Heap(key) => key,
        }
    }
}

// Hashes as the `str` it holds, so the map can be asked with a `&str`.
impl std::hash::Hash for SlotKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for SlotKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// One shard of the read index: its entries and what they weigh. A shard is also what moka
/// weighs and evicts as one ([`AnswerCache`]).
#[derive(Default)]
struct Shard {
    entries: HashMap<SlotKey, Entry>,
    /// What `entries` weigh (keys, answers as kept, bookkeeping).
    bytes: u64,
}

/// What an entry of `key` weighs against the cache's bound.
fn weight_of(key: &str, entry: &Entry) -> u64 {
    (key.len() + entry.value.weight()) as u64
}

impl Shard {
    /// Puts `entry` (unless `key` has one and `replace` is false); whether it was put. An
    /// absence first drops the shard's expired entries (see [`Shard::sweep`]).
    fn put(&mut self, key: &str, entry: Entry, replace: bool, now: u64) -> bool {
        if !replace && self.entries.contains_key(key) {
            return false;
        }
        if matches!(entry.value, Held::Absent) {
            self.sweep(now);
        }
        let added = weight_of(key, &entry);
        if let Some(old) = self.entries.insert(SlotKey::new(key), entry) {
            self.bytes = self.bytes.saturating_sub(weight_of(key, &old));
        }
        self.bytes += added;
        true
    }

    fn take(&mut self, key: &str) -> bool {
        let Some(old) = self.entries.remove(key) else { return false };
        self.bytes = self.bytes.saturating_sub(weight_of(key, &old));
        true
    }

    /// Drops the entries past their expiry (absences, mostly: an answer's lasts hours), so that
    /// the made-up numbers of a flood do not stay until their shard is evicted.
    fn sweep(&mut self, now: u64) {
        let Shard { entries, bytes } = self;
        entries.retain(|key, entry| {
            let keep = now < entry.expires;
            if !keep {
                *bytes = bytes.saturating_sub(weight_of(key.as_str(), entry));
            }
            keep
        });
    }
}

/// The entries L1 holds, in a plain map split in shards. Only [`AnswerCache`] writes it, and
/// tells moka what each shard weighs after every change.
struct ReadIndex {
    shards: Box<[RwLock<Shard>]>,
}

/// Shards of the read index, and so the groups of answers moka weighs and evicts together:
/// enough that a shard is a small part of the bound (about 100 answers, 100 KB, with 100,000
/// certificates) and that the workers rarely meet on one lock; few enough that a shard's map
/// has little spare room.
pub const SHARDS: usize = 1024;

/// A shard's place, as moka keys it.
type ShardId = u32;

impl ReadIndex {
    fn new() -> Self {
        Self { shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect() }
    }

    fn shard_of(key: &str) -> ShardId {
        // Only spreads keys over the shards; each shard's map hashes with its own random keys.
        let spread = key.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        (spread % SHARDS) as ShardId
    }

    // A panic while holding one of these locks cannot leave a shard half-changed (every change
    // is one insert or remove and its weight), so a poisoned lock is still usable.
    fn read(&self, shard: ShardId) -> RwLockReadGuard<'_, Shard> {
        self.shards[shard as usize].read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, shard: ShardId) -> RwLockWriteGuard<'_, Shard> {
        self.shards[shard as usize].write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, shard: ShardId, key: &str) -> Option<Entry> {
        self.read(shard).entries.get(key).cloned()
    }

    /// What `take` makes of the entry of `key`, read under the shard's lock: a hit copies only
    /// what it needs, not the whole entry.
    fn get_with<R>(&self, shard: ShardId, key: &str, take: impl FnOnce(&Entry) -> Option<R>) -> Option<R> {
        self.read(shard).entries.get(key).and_then(take)
    }

    /// What the shard's entries weigh now.
    fn bytes(&self, shard: ShardId) -> u64 {
        self.read(shard).bytes
    }

    /// Puts `entry` for `key`, replacing any only when `replace` says so (a load does not: an
    /// entry already there was put after a change, and so is at least as new as one a load
    /// brings); whether it was put.
    fn put(&self, shard: ShardId, key: &str, entry: Entry, replace: bool, now: u64) -> bool {
        self.write(shard).put(key, entry, replace, now)
    }

    fn remove(&self, shard: ShardId, key: &str) -> bool {
        self.write(shard).take(key)
    }

    /// Lets `change` alter the entry of `key` under the shard's lock, weighing it afresh; whether
    /// it changed it.
    fn update(&self, shard: ShardId, key: &str, change: impl FnOnce(&mut Entry) -> bool) -> bool {
        let mut held = self.write(shard);
        let Shard { entries, bytes } = &mut *held;
        let Some(entry) = entries.get_mut(key) else { return false };
        let before = weight_of(key, entry);
        if !change(entry) {
            return false;
        }
        *bytes = bytes.saturating_sub(before) + weight_of(key, entry);
        true
    }

    /// Removes the entry of `key` if `unwanted` says so, deciding under the shard's lock.
    fn remove_if(&self, shard: ShardId, key: &str, unwanted: impl FnOnce(&Entry) -> bool) -> bool {
        let mut held = self.write(shard);
        if held.entries.get(key).is_some_and(unwanted) {
            return held.take(key);
        }
        false
    }

    /// Puts `unpacked` in place of the answer of `key` if that is still `packed`; whether it did.
    fn unpack(&self, shard: ShardId, key: &str, packed: &Prepared, unpacked: Prepared) -> bool {
        let mut held = self.write(shard);
        let Shard { entries, bytes } = &mut *held;
        let Some(Entry { value: Held::Answer(prepared, _), .. }) = entries.get_mut(key) else { return false };
        if !prepared.is(packed) {
            return false;
        }
        let grown = unpacked.kept_len().saturating_sub(prepared.kept_len());
        *prepared = unpacked;
        *bytes += grown as u64;
        true
    }

    /// Empties a shard moka evicted, handing its map's memory back.
    fn evict(&self, shard: ShardId) {
        if let Some(held) = self.shards.get(shard as usize) {
            *held.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Shard::default();
        }
    }

    fn clear(&self) {
        for shard in self.shards.iter() {
            *shard.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Shard::default();
        }
    }
}

/// Settings of the answer cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheSettings {
    /// Memory bound, counting keys, answers as kept and each entry's bookkeeping.
    pub max_bytes: u64,
    /// No answer is served longer than this after it was loaded.
    pub stale_bound: Duration,
    /// How long "no such key" is remembered.
    pub absent_for: Duration,
    /// Answers are kept unpacked while the cache weighs less than this (and never past half of
    /// `max_bytes`): a hit of an unpacked answer sends a slice of it, but it takes about four
    /// times the memory, so how much memory buys that speed is the operator's choice.
    pub unpacked_bytes: u64,
}

/// The default of [`CacheSettings::unpacked_bytes`]: a few thousand answers.
pub const DEFAULT_UNPACKED_BYTES: u64 = 8 * 1024 * 1024;

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            stale_bound: Duration::from_secs(5),
            absent_for: Duration::from_secs(2),
            unpacked_bytes: DEFAULT_UNPACKED_BYTES,
        }
    }
}

thread_local! {
    /// Hits served on this thread, for sampling which ones moka hears of.
    static HITS: Cell<u32> = const { Cell::new(0) };
}

/// Answers are kept unpacked at most while the cache weighs less than this share of its bound.
const UNPACKED_SHARE: u64 = 2;

/// Entries a coalesced load keeps in moka after it ended, for requests that waited for it and
/// have yet to read it (the read index has it by then; see [`AnswerCache::get_or_load`]).
const LOADS_HELD: u64 = 10_000;

/// The in-process answer cache.
#[derive(Clone)]
pub struct AnswerCache {
    /// What L1 holds, as moka sees it: one entry per shard of the read index, weighing what the
    /// shard holds. A shard moka evicts is emptied.
    shards: Cache<ShardId, u32>,
    /// Coalesces concurrent loads of one key; holds a loaded entry only briefly.
    loads: Cache<String, Entry>,
    index: Arc<ReadIndex>,
    clock: Clock,
    stale_bound: Duration,
    absent_for: Duration,
    /// Answers are kept unpacked while the cache weighs less than this ([`AnswerCache::unpacked`]).
    unpack_below: u64,
    /// What the store watch vouches for (see [`AnswerCache::verified`]).
    watch: Arc<Vouched>,
    /// How changes made elsewhere reached this cache.
    heard: Arc<Heard>,
}

/// How changes made elsewhere reached the cache: announcements on the change feed, and answers
/// the store watch had to drop (a change the feed did not bring first, or the feed is down).
#[derive(Default)]
struct Heard {
    announced: AtomicU64,
    dropped_by_watch: AtomicU64,
    /// Drops after the in-flight grace that are still to run.
    drops_scheduled: AtomicU64,
}

/// The store watch's word, in microseconds of the cache's clock (0: not yet).
struct Vouched {
    /// When the last complete look at the store's changes began: every change committed before
    /// then has been applied to L1.
    checked_from: AtomicU64,
    /// When the watch's first look had ended (it noted where the store's events end): entries
    /// made before it may miss a change the watch never saw; only later ones are trusted past
    /// the bound.
    first_look: AtomicU64,
}

impl AnswerCache {
    pub fn new(settings: CacheSettings) -> Self {
        Self::with_clock(settings, Clock::system())
    }

    fn with_clock(settings: CacheSettings, clock: Clock) -> Self {
        let index = Arc::new(ReadIndex::new());
        let evicted = Arc::clone(&index);
        let shards = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_: &ShardId, bytes: &u32| *bytes)
            // Only an eviction empties the shard: a replaced weight (cause `Replaced`) or an
            // invalidation (the cache changed the shard itself) leaves it as it is.
            .eviction_listener(move |shard: Arc<ShardId>, _bytes: u32, cause: RemovalCause| {
                if cause == RemovalCause::Size {
                    evicted.evict(*shard);
                }
            })
            .build();
        let loads = Cache::builder().max_capacity(LOADS_HELD).time_to_live(IN_FLIGHT_GRACE).build();
        Self {
            shards,
            loads,
            index,
            clock,
            stale_bound: settings.stale_bound,
            absent_for: settings.absent_for,
            unpack_below: settings.unpacked_bytes.min(settings.max_bytes / UNPACKED_SHARE),
            watch: Arc::new(Vouched { checked_from: AtomicU64::new(0), first_look: AtomicU64::new(0) }),
            heard: Arc::default(),
        }
    }

    /// Change announcements heard on the Redis feed since start (each forgets its key).
    pub fn announcements_heard(&self) -> u64 {
        self.heard.announced.load(Ordering::Relaxed)
    }

    /// Answers the store watch dropped since start because it found a later version in the
    /// store: changes the feed did not bring first. Growing while Redis is up means the feed
    /// loses announcements.
    pub fn answers_dropped_by_watch(&self) -> u64 {
        self.heard.dropped_by_watch.load(Ordering::Relaxed)
    }

    /// Drops scheduled to run after the in-flight grace of a change that have yet to run: while
    /// any is pending, an answer read now may still be dropped, so a test that warms the cache
    /// after a change waits for none to be left rather than sleeping past the grace.
    pub fn drops_pending(&self) -> u64 {
        self.heard.drops_scheduled.load(Ordering::SeqCst)
    }

    /// Said by the store watch after a complete look at the store's changes that began at
    /// `checked_from`, once each change it found was forgotten: no entry can then be older than
    /// the store as it was at `checked_from`, except one made before the watch first looked
    /// (whose changes the watch never saw). While the watch keeps saying so within the bound,
    /// answers are served until they are replaced; when it falls silent (the store cannot be
    /// read), at most `stale_bound` after they were loaded.
    pub fn verified(&self, checked_from: Instant) {
        let watch = &self.watch;
        // The first look only noted where the store's events end: entries made from now on
        // hold every change up to there, and the watch applies every later one.
        let now = self.clock.now();
        let _ = watch.first_look.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
        watch.checked_from.fetch_max(self.clock.micros(checked_from), Ordering::SeqCst);
    }

    /// How long ago the store watch last read the store's events (`None` before its first
    /// look): past the staleness bound, answers are served no longer than that after they loaded.
    pub fn watch_age(&self) -> Option<Duration> {
        let checked_from = self.watch.checked_from.load(Ordering::Relaxed);
        (checked_from != 0).then(|| Duration::from_micros(self.clock.now().saturating_sub(checked_from)))
    }

    /// Bytes of answers held. moka settles its bookkeeping lazily, and a cache with little
    /// traffic may not settle for long, so its pending work is run first: the figure is for
    /// metrics scrapes, not the hot path.
    pub async fn weighed_bytes(&self) -> u64 {
        self.shards.run_pending_tasks().await;
        self.shards.weighted_size()
    }

    /// The longest an entry is served after it was loaded.
    pub fn stale_bound(&self) -> Duration {
        self.stale_bound
    }

    /// A new entry for `value`, loaded now; read from the store by a load that began at
    /// `read_from`, if it was (otherwise it may be a copy made up to the staleness bound ago:
    /// Redis keeps copies no longer). Answers live until the `next_update` of their status
    /// assertion (set when they were prepared: an hour by default, never past midnight in China,
    /// when expiry dates may turn a valid certificate into an expired one); whether a long-lived
    /// answer may still be served is decided at each hit. Absences live briefly.
    fn entry(&self, value: Held, read_from: Option<Instant>) -> Entry {
        let value = match value {
            Held::Answer(prepared, record) => Held::Answer(self.unpacked(prepared), record),
            absent => absent,
        };
        let now = self.clock.instant();
        let loaded = self.clock.micros(now);
        let made = match read_from.or_else(|| now.checked_sub(self.stale_bound)) {
            Some(made) if made >= self.clock.base => self.clock.micros(made),
            _ => 0,
        };
        let lifetime = match &value {
            Held::Answer(prepared, _) => prepared.time_left(),
            Held::Absent => self.absent_for,
        };
        let expires = loaded.saturating_add(micros_of(lifetime));
        Entry { value, loaded, made, expires }
    }

    /// `prepared` unpacked, if there is room for that: an answer kept unpacked is sent as a
    /// slice of its bytes, with no unpacking and no copy, but takes about four times the memory.
    /// Answers are unpacked when they are loaded and at the hits moka hears of (so the answers
    /// asked for most are the likeliest to be), while the cache weighs less than its unpacked
    /// bound ([`CacheSettings::unpacked_bytes`], at most half its bound);
    /// their weight counts what they take, so the bound holds either way.
    fn unpacked(&self, prepared: Prepared) -> Prepared {
        if !self.room_to_unpack(&prepared) {
            return prepared;
        }
        prepared.unpacked().unwrap_or(prepared)
    }

    fn room_to_unpack(&self, prepared: &Prepared) -> bool {
        let growth = prepared.unpacked_growth() as u64;
        growth > 0 && self.shards.weighted_size().saturating_add(growth) <= self.unpack_below
    }

    /// Keeps the answer of `key` unpacked from now on, if it is packed and there is room.
    async fn unpack_held(&self, shard: ShardId, key: &str) {
        let packed = self.index.get_with(shard, key, |entry| match &entry.value {
            Held::Answer(prepared, _) if self.room_to_unpack(prepared) => Some(prepared.clone()),
            _ => None,
        });
        let Some(packed) = packed else { return };
        let Some(unpacked) = packed.unpacked() else { return };
        if self.index.unpack(shard, key, &packed, unpacked) {
            self.reweigh(shard).await;
        }
    }

    /// Whether `entry` may be served at `now` (microseconds of the clock): before it expires,
    /// and either within the bound of its load or while the store watch vouches for it.
    fn servable(&self, entry: &Entry, now: u64) -> bool {
        now < entry.expires
            && (now.saturating_sub(entry.loaded) < micros_of(self.stale_bound) || self.vouched_for(entry, now))
    }

    fn vouched_for(&self, entry: &Entry, now: u64) -> bool {
        let watch = &self.watch;
        let checked_from = watch.checked_from.load(Ordering::Relaxed);
        let first_look = watch.first_look.load(Ordering::Relaxed);
        if checked_from == 0 || first_look == 0 || entry.made == 0 {
            return false;
        }
        entry.made >= first_look && now.saturating_sub(checked_from) < micros_of(self.stale_bound)
    }

    /// The cached entry, or the result of `load`, run once for all concurrent callers of `key`.
    /// A load says whether it read the store itself ([`Loaded`]); a bare [`Held`] is taken
    /// for a copy.
    pub async fn get_or_load<F, T, E>(&self, key: &str, load: F) -> Result<Held, Arc<E>>
    where
        F: Future<Output = Result<T, E>>,
        T: Into<Loaded>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.hit_with(key, Held::clone).await {
            return Ok(hit);
        }
        let shard = ReadIndex::shard_of(key);
        if let Some(held) = self.index.get(shard, key) {
            if self.servable(&held, self.clock.now()) {
                return Ok(held.value); // became servable since: put meanwhile
            }
            // Expired, or possibly stale and nobody would have told us: load afresh.
            self.forget(key).await;
        }
        let mut loaded_here = false;
        let load = async {
            loaded_here = true;
            let began = self.clock.instant();
            let loaded: Loaded = load.await?.into();
            Ok(self.entry(loaded.value, loaded.from_store.then_some(began)))
        };
        let entry = self.loads.try_get_with(key.to_string(), load).await?;
        // Every request that waited keeps it (the first does; the others find it there), unless
        // it may not be served even now (an answer past its `next_update`, say an old copy).
        let now = self.clock.now();
        if self.servable(&entry, now) && self.index.put(shard, key, entry.clone(), false, now) {
            self.reweigh(shard).await;
        }
        if loaded_here {
            self.loads.invalidate(key).await;
        }
        Ok(entry.value)
    }

    /// The answer the read index holds for `key`, when it may be served: the hot path of
    /// [`AnswerCache::get_or_load`], for callers that make their load only on a miss. Its future
    /// is a few words: a future carrying a load (a store read, a Redis round trip) takes
    /// kilobytes, and every request moves its handler's future a few times.
    pub async fn hit(&self, key: &str) -> Option<Cached> {
        self.hit_with(key, Held::to_cached).await
    }

    /// Like [`AnswerCache::hit`], what a scan's verdict reads of the entry held.
    pub async fn hit_record(&self, key: &str) -> Option<RecordHit> {
        self.hit_with(key, Held::record_hit).await
    }

    /// Keeps `record` beside the answer of `key` when that answer is of the record's version and
    /// holds none yet (the first scan of a certificate that was only looked up); whether it did.
    /// Any other entry stays as it is: a record of another version is not the answer's.
    pub async fn keep_record(&self, key: &str, record: Arc<CertificateRecord>) -> bool {
        let shard = ReadIndex::shard_of(key);
        let kept = self.index.update(shard, key, |entry| match &mut entry.value {
            Held::Answer(prepared, slot @ None) if prepared.version == record.version => {
                *slot = Some(record);
                true
            }
            _ => false,
        });
        if kept {
            self.reweigh(shard).await;
        }
        kept
    }

    /// `take` of what the read index holds for `key`, when it may be served.
    async fn hit_with<R>(&self, key: &str, take: impl FnOnce(&Held) -> R) -> Option<R> {
        let shard = ReadIndex::shard_of(key);
        let now = self.clock.now();
        let hit = self.index.get_with(shard, key, |entry| self.servable(entry, now).then(|| take(&entry.value)))?;
        let sampled = HITS.with(|hits| {
            let n = hits.get().wrapping_add(1);
            hits.set(n);
            n % SAMPLED_HITS == 0
        });
        if sampled {
            // So that moka's eviction order knows this shard is wanted, and the answer asked for
            // is kept unpacked if there is room (boxed: a rare moment, and these futures are large).
            let _ = Box::pin(self.shards.get(&shard)).await;
            Box::pin(self.unpack_held(shard, key)).await;
        }
        Some(hit)
    }

    /// Tells moka what `shard` weighs now (read afresh, so that of two changes told in the
    /// wrong order the later telling still has the latest weight). Between the change and the
    /// telling another thread may change the shard too, or moka may evict it: the worst is a
    /// shard weighed at a figure already gone, or an emptied one told as unweighed while a
    /// concurrent put refills it; either lasts until the shard's next change, and is off by
    /// at most that put.
    async fn reweigh(&self, shard: ShardId) {
        match u32::try_from(self.index.bytes(shard)).unwrap_or(u32::MAX) {
            0 => self.shards.invalidate(&shard).await,
            bytes => self.shards.insert(shard, bytes).await,
        }
    }

    /// Replaces the entry of `key` (after a write, or on an invalidation message).
    pub async fn put(&self, key: &str, value: Held) {
        let entry = self.entry(value, None);
        let shard = ReadIndex::shard_of(key);
        self.index.put(shard, key, entry.clone(), true, entry.loaded);
        self.reweigh(shard).await;
        self.loads.invalidate(key).await;
    }

    /// Forgets `key`; the next request loads it afresh.
    pub async fn forget(&self, key: &str) {
        let shard = ReadIndex::shard_of(key);
        if self.index.remove(shard, key) {
            self.reweigh(shard).await;
        }
        self.loads.invalidate(key).await;
    }

    /// Forgets `key` now and once more a moment later: a load that started before the change
    /// (and so may have read the old state) cannot then keep its result in the cache.
    pub async fn forget_now_and_soon(&self, key: &str) {
        self.forget(key).await;
        self.forget_soon(key);
    }

    /// Applies a change to `key` announced on the change feed: counts it, and forgets `key` now
    /// and soon.
    pub async fn announced(&self, key: &str) {
        self.heard.announced.fetch_add(1, Ordering::Relaxed);
        self.forget_now_and_soon(key).await;
    }

    /// Like [`AnswerCache::forget_now_and_soon`], for changes to record versions: the answer
    /// of each key of `changed` older than its version is dropped, now and once more after the
    /// in-flight grace (one timer for them all: a bulk import changes thousands at once); an
    /// answer of that version or later (the one the change itself put) stays.
    pub async fn forget_older_now_and_soon(&self, changed: Vec<(String, u32)>) {
        let mut dropped = 0;
        for (key, version) in &changed {
            dropped += u64::from(self.forget_older(key, *version).await);
        }
        self.heard.dropped_by_watch.fetch_add(dropped, Ordering::Relaxed);
        let cache = self.clone();
        self.heard.drops_scheduled.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(IN_FLIGHT_GRACE).await;
            for (key, version) in &changed {
                cache.forget_older(key, *version).await;
            }
            cache.heard.drops_scheduled.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Forgets the answer of `key` if it is older than `version`; whether one was held.
    async fn forget_older(&self, key: &str, version: u32) -> bool {
        let older = |entry: &Entry| !matches!(&entry.value, Held::Answer(prepared, _) if prepared.version >= version);
        let shard = ReadIndex::shard_of(key);
        let dropped = self.index.remove_if(shard, key, older);
        if dropped {
            self.reweigh(shard).await;
        }
        if self.loads.get(key).await.is_some_and(|entry| older(&entry)) {
            self.loads.invalidate(key).await;
        }
        dropped
    }

    /// Puts the answer made after a change, and forgets it a moment later for the same reason:
    /// a load in flight from before the change may overwrite it.
    pub async fn replace(&self, key: &str, value: Held) {
        self.put(key, value).await;
        self.forget_soon(key);
    }

    fn forget_soon(&self, key: &str) {
        let (cache, key) = (self.clone(), key.to_string());
        self.heard.drops_scheduled.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(IN_FLIGHT_GRACE).await;
            cache.forget(&key).await;
            cache.heard.drops_scheduled.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Forgets everything (after invalidation messages may have been lost).
    pub fn forget_all(&self) {
        self.index.clear();
        self.shards.invalidate_all();
        self.loads.invalidate_all();
    }

    /// Runs moka's pending work now (evictions reach the read index then); for tests.
    #[cfg(test)]
    async fn settle(&self) {
        self.shards.run_pending_tasks().await;
    }

    /// Entries the read index holds; for tests.
    #[cfg(test)]
    fn indexed(&self) -> usize {
        self.index.shards.iter().map(|s| s.read().map_or(0, |s| s.entries.len())).sum()
    }

    /// Entries the read index holds in shards moka does not weigh (outside the bound); for tests.
    #[cfg(test)]
    fn unweighed(&self) -> usize {
        (0..SHARDS as ShardId)
            .filter(|shard| !self.shards.contains_key(shard))
            .map(|shard| self.index.read(shard).entries.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An answer whose assertion is good for `for_ms` milliseconds from now.
    fn answer_for(text: &str, version: u32, for_ms: i64) -> Held {
        let next_update = Utc::now() + chrono::Duration::milliseconds(for_ms);
        let prepared = Prepared::new(text.as_bytes(), &format!("\"v{version}\""), version, next_update);
        Held::Answer(prepared.expect("a valid ETag"), Some(record()))
    }

    fn answer(text: &str, version: u32) -> Held {
        answer_for(text, version, 3_600_000)
    }

    /// The record every test answer was prepared from.
    fn record() -> Arc<CertificateRecord> {
        use crate::domain::certificate::tests::{draft, issuer};
        use crate::domain::CertificateNumber;
        let issued = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date");
        let record = CertificateRecord::issue(draft(), CertificateNumber::assigned(2026, 7), issuer(), issued);
        Arc::new(record.expect("a record"))
    }

    /// What an answer's record weighs beside its bytes.
    fn weight_of_record() -> usize {
        record_weight(&record())
    }

    /// The hands of a cache's clock, moved by the test.
    struct Hands(Arc<std::sync::Mutex<Instant>>);

    impl Hands {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }

        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    /// A cache on a clock that stands still until the test moves it.
    fn on_manual_clock(settings: CacheSettings) -> (AnswerCache, Hands) {
        let hands = Arc::new(std::sync::Mutex::new(Instant::now()));
        let clock = Clock { base: *hands.lock().unwrap(), manual: Some(hands.clone()) };
        (AnswerCache::with_clock(settings, clock), Hands(hands))
    }

    #[test]
    fn a_large_answer_is_kept_packed_and_sent_as_it_was_made() {
        let body: Vec<u8> = (0..40)
            .flat_map(|n| {
                format!("{{\"serial\":{n},\"holder\":\"第{n}号电器有限公司\",\"standard\":\"GB/T 27922-2011\"}},")
                    .into_bytes()
            })
            .collect();
        let next_update = Utc::now() + chrono::Duration::hours(1);
        let prepared = Prepared::new(&body, "W/\"7-valid-9-abcdef\"", 7, next_update).expect("a valid ETag");
        assert!(
            prepared.kept_len() < body.len() / 2,
            "kept in {} bytes for a body of {}",
            prepared.kept_len(),
            body.len()
        );
        assert_eq!(prepared.body_len(), body.len());
        assert_eq!(prepared.body().as_deref(), Some(&body[..]));
        assert_eq!(prepared.etag(), "W/\"7-valid-9-abcdef\"");
        let (etag, sent) = prepared.into_send().expect("unpacks");
        assert_eq!((etag.to_str().expect("text"), &sent[..]), ("W/\"7-valid-9-abcdef\"", &body[..]));

        let small = Prepared::new(b"{}", "\"1\"", 1, next_update).expect("a valid ETag");
        assert_eq!((small.kept_len(), small.body_len(), small.body().as_deref()), (5, 2, Some(&b"{}"[..])));
    }

    #[test]
    fn entries_and_answers_stay_small() {
        // Held in the read index for every certificate in memory.
        assert!(std::mem::size_of::<Prepared>() <= 48, "{}", std::mem::size_of::<Prepared>());
        assert!(std::mem::size_of::<Cached>() <= 48);
        // The record beside the answer is one pointer more.
        assert!(std::mem::size_of::<Held>() <= 56, "{}", std::mem::size_of::<Held>());
        assert!(std::mem::size_of::<Entry>() <= 80, "{}", std::mem::size_of::<Entry>());
    }

    /// A load that brings `value` at once (a copy, as far as the cache can tell).
    async fn load(value: Held) -> Result<Held, std::io::Error> {
        Ok(value)
    }

    fn settings(stale_ms: u64, absent_ms: u64) -> CacheSettings {
        CacheSettings {
            max_bytes: 1024 * 1024,
            stale_bound: Duration::from_millis(stale_ms),
            absent_for: Duration::from_millis(absent_ms),
            unpacked_bytes: u64::MAX,
        }
    }

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let cache = AnswerCache::new(settings(5_000, 1_000));
        let loads = Arc::new(AtomicUsize::new(0));
        let mut waiting = Vec::new();
        for _ in 0..100 {
            let (cache, loads) = (cache.clone(), loads.clone());
            waiting.push(tokio::spawn(async move {
                cache
                    .get_or_load("SM1", async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::io::Error>(answer("{}", 1))
                    })
                    .await
                    .map(|c| matches!(c, Held::Answer(..)))
            }));
        }
        for task in waiting {
            assert!(task.await.unwrap().unwrap());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn absences_expire_sooner_than_answers_and_both_expire() {
        let (cache, clock) = on_manual_clock(settings(400, 100));
        cache.get_or_load("gone", load(Held::Absent)).await.unwrap();
        cache.get_or_load("here", load(answer("a", 1))).await.unwrap();
        clock.advance(Duration::from_millis(200));
        let again = cache.get_or_load("gone", load(answer("now exists", 1))).await.unwrap();
        assert!(matches!(again, Held::Answer(..)), "the absence was forgotten");
        let still = cache.get_or_load("here", load(answer("b", 2))).await.unwrap();
        assert!(matches!(still, Held::Answer(p, _) if p.version == 1), "the answer is still cached");
        clock.advance(Duration::from_millis(250));
        let fresh = cache.get_or_load("here", load(answer("b", 2))).await.unwrap();
        assert!(matches!(fresh, Held::Answer(p, _) if p.version == 2), "nothing outlives the bound");
    }

    #[tokio::test]
    async fn vouched_answers_outlive_the_bound_others_do_not() {
        let (cache, clock) = on_manual_clock(settings(100, 100));
        // Loaded before the watch first looked (plus the bound): not trusted past the bound.
        cache.get_or_load("early", load(answer("a", 1))).await.unwrap();
        cache.verified(clock.now());
        clock.advance(Duration::from_millis(120));
        cache.verified(clock.now());
        cache.get_or_load("k", load(answer("a", 1))).await.unwrap();
        let early = cache.get_or_load("early", load(answer("b", 2))).await.unwrap();
        assert!(matches!(early, Held::Answer(p, _) if p.version == 2), "it may be a copy from before the watch");

        clock.advance(Duration::from_millis(150));
        cache.verified(clock.now());
        let kept = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(kept, Held::Answer(p, _) if p.version == 1), "the watch would have dropped it");
        // The watch falls silent (the store cannot be read): the bound holds again.
        clock.advance(Duration::from_millis(150));
        let fresh = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(fresh, Held::Answer(p, _) if p.version == 2), "without the watch the bound holds");
    }

    #[tokio::test]
    async fn answers_read_from_the_store_after_the_first_look_are_trusted_at_once() {
        let (cache, clock) = on_manual_clock(settings(100, 100));
        let from_store = |value: Held| async move { Ok::<_, std::io::Error>(Loaded { value, from_store: true }) };
        cache.get_or_load("before", from_store(answer("a", 1))).await.unwrap();
        clock.advance(Duration::from_millis(1));
        cache.verified(clock.now());
        cache.get_or_load("store", from_store(answer("a", 1))).await.unwrap();
        cache.get_or_load("copy", load(answer("a", 1))).await.unwrap();
        clock.advance(Duration::from_millis(150));
        cache.verified(clock.now());

        let store = cache.get_or_load("store", from_store(answer("b", 2))).await.unwrap();
        assert!(matches!(store, Held::Answer(p, _) if p.version == 1), "read after the first look: vouched for");
        let copy = cache.get_or_load("copy", from_store(answer("b", 2))).await.unwrap();
        assert!(matches!(copy, Held::Answer(p, _) if p.version == 2), "a copy may predate the first look");
        let before = cache.get_or_load("before", from_store(answer("b", 2))).await.unwrap();
        assert!(matches!(before, Held::Answer(p, _) if p.version == 2), "read before the watch's first look");
    }

    #[tokio::test]
    async fn a_change_drops_older_answers_and_keeps_its_own() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        cache.get_or_load("old", load(answer("a", 1))).await.unwrap();
        cache.put("new", answer("b", 2)).await;
        cache.get_or_load("gone", load(Held::Absent)).await.unwrap();
        let changed = ["old", "new", "gone"].map(|key| (key.to_string(), 2)).to_vec();
        cache.forget_older_now_and_soon(changed).await;
        let old = cache.get_or_load("old", load(answer("c", 2))).await.unwrap();
        assert!(matches!(old, Held::Answer(p, _) if p.version == 2), "version 1 was dropped");
        let new = cache.get_or_load("new", load(answer("c", 3))).await.unwrap();
        assert!(matches!(new, Held::Answer(p, _) if p.version == 2), "the change's own answer stays");
        let gone = cache.get_or_load("gone", load(answer("c", 2))).await.unwrap();
        assert!(matches!(gone, Held::Answer(..)), "an absence is dropped: the change may have created it");
    }

    #[tokio::test]
    async fn no_answer_is_served_past_its_next_update_even_when_trusted() {
        let (cache, clock) = on_manual_clock(settings(60_000, 1_000));
        cache.get_or_load("k", load(answer_for("a", 1, 150))).await.unwrap();
        let kept = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(kept, Held::Answer(p, _) if p.version == 1), "still before its next_update");
        clock.advance(Duration::from_millis(250));
        let fresh = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(fresh, Held::Answer(p, _) if p.version == 2), "its assertion said a fresher one exists");

        // One already past its next_update (an old copy from Redis, say) is served to the
        // requests that waited for it, and never kept.
        let late = cache.get_or_load("late", load(answer_for("old", 1, -1))).await.unwrap();
        assert!(matches!(late, Held::Answer(p, _) if p.version == 1));
        let again = cache.get_or_load("late", load(answer("new", 2))).await.unwrap();
        assert!(matches!(again, Held::Answer(p, _) if p.version == 2), "a late answer is not kept");
    }

    #[tokio::test]
    async fn a_load_in_flight_during_a_change_does_not_stay() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        let slow = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load("k", async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, std::io::Error>(answer("old", 1))
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        cache.forget_now_and_soon("k").await; // the change is announced mid-load
        slow.await.unwrap().unwrap();
        tokio::time::sleep(IN_FLIGHT_GRACE + Duration::from_millis(100)).await;
        let got = cache.get_or_load("k", async { Ok::<_, std::io::Error>(answer("new", 2)) }).await.unwrap();
        assert!(matches!(got, Held::Answer(p, _) if p.version == 2), "the old load's result was dropped");
    }

    #[tokio::test]
    async fn put_replaces_and_forget_drops() {
        let cache = AnswerCache::new(settings(5_000, 1_000));
        cache.get_or_load("k", load(answer("a", 1))).await.unwrap();
        cache.put("k", answer("b", 2)).await;
        let got = cache.get_or_load("k", load(answer("c", 3))).await.unwrap();
        assert!(matches!(got, Held::Answer(p, _) if p.version == 2));
        cache.forget("k").await;
        let got = cache.get_or_load("k", load(answer("c", 3))).await.unwrap();
        assert!(matches!(got, Held::Answer(p, _) if p.version == 3));
    }

    #[tokio::test]
    async fn what_moka_evicts_the_read_index_lets_go_of() {
        // Room for seven answers of 1 KB (each weighs 1.5 KB with its bookkeeping, and its
        // record): moka evicts the rest, and hits must not keep serving (or holding the memory
        // of) what it dropped.
        let max_bytes = 10 * (1_100 + weight_of_record() as u64);
        let cache = AnswerCache::new(CacheSettings { max_bytes, ..settings(60_000, 1_000) });
        let body = "x".repeat(1_000);
        for n in 0..100u32 {
            let load = async { Ok::<_, std::io::Error>(answer(&body, n)) };
            cache.get_or_load(&format!("k{n}"), load).await.unwrap();
            cache.settle().await;
        }
        cache.settle().await;
        let held = cache.shards.entry_count();
        assert!(held <= 10, "moka holds {held} shards");
        assert!((1..=10).contains(&cache.indexed()), "the read index holds {} answers", cache.indexed());
        assert_eq!(cache.unweighed(), 0, "the read index holds only shards moka holds");
        // An evicted key loads afresh; one still held is served from the read index.
        let reloads = AtomicUsize::new(0);
        for n in 0..100u32 {
            cache
                .get_or_load(&format!("k{n}"), async {
                    reloads.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(answer(&body, n))
                })
                .await
                .unwrap();
        }
        assert!(reloads.load(Ordering::SeqCst) >= 90, "evicted keys were loaded again");
    }

    #[tokio::test]
    async fn absences_count_their_bookkeeping_against_the_bound() {
        // A flood of fake numbers: each absence weighs what its entries take, not its few bytes.
        let cache = AnswerCache::new(CacheSettings { max_bytes: 10 * ENTRY_COST as u64, ..settings(60_000, 60_000) });
        for n in 0..1_000u32 {
            cache.get_or_load(&format!("SMFAKE{n:06}"), load(Held::Absent)).await.unwrap();
            cache.settle().await;
        }
        cache.settle().await;
        let held = cache.shards.entry_count();
        assert!((1..10).contains(&held), "moka holds {held} shards");
        assert!((1..10).contains(&cache.indexed()), "the read index holds {} absences", cache.indexed());
        assert_eq!(cache.unweighed(), 0, "the read index holds only shards moka holds");
    }

    #[tokio::test]
    async fn a_shard_weighs_what_it_holds_and_sheds_expired_absences() {
        let cache = AnswerCache::new(settings(60_000, 50));
        let (one, two) = (cache.entry(answer("one", 1), None), cache.entry(answer("second", 2), None));
        let absent = cache.entry(Held::Absent, None);
        let mut shard = Shard::default();
        let now = absent.loaded;
        assert!(shard.put("k", one.clone(), true, now));
        assert_eq!(shard.bytes, weight_of("k", &one));
        assert!(shard.put("k", two.clone(), true, now), "replaced");
        assert_eq!(shard.bytes, weight_of("k", &two));
        assert!(!shard.put("k", one.clone(), false, now), "kept: the key has an entry");
        assert!(shard.put("gone", absent.clone(), true, now));
        assert_eq!(shard.bytes, weight_of("k", &two) + weight_of("gone", &absent));
        shard.sweep(absent.expires - 1);
        assert_eq!(shard.entries.len(), 2, "nothing expired yet");
        shard.sweep(absent.expires);
        assert_eq!((shard.entries.len(), shard.bytes), (1, weight_of("k", &two)), "the absence went");
        assert!(shard.take("k") && !shard.take("k"));
        assert_eq!((shard.entries.len(), shard.bytes), (0, 0));
    }

    #[tokio::test]
    async fn moka_evicts_whole_shards_and_every_key_of_one_goes() {
        // Keys that share a shard: a shard is what moka weighs and evicts.
        let mut together = (0..).map(|n| format!("SM{n:06}"));
        let first = together.next().unwrap_or_default();
        let shard = ReadIndex::shard_of(&first);
        let mates: Vec<String> = together.filter(|k| ReadIndex::shard_of(k) == shard).take(2).collect();
        let max_bytes = 4 * (1_400 + weight_of_record() as u64);
        let cache = AnswerCache::new(CacheSettings { max_bytes, ..settings(60_000, 1_000) });
        let body = "y".repeat(1_000);
        for key in std::iter::once(&first).chain(&mates) {
            cache.get_or_load(key, async { Ok::<_, std::io::Error>(answer(&body, 1)) }).await.unwrap();
        }
        cache.settle().await;
        assert_eq!(cache.shards.entry_count(), 1, "three answers, one shard");
        assert_eq!(cache.index.bytes(shard), 3 * weight_of(&first, &cache.entry(answer(&body, 1), None)));
        // Other shards fill the bound, asked for more often: the three go together.
        for n in 0..50u32 {
            let key = format!("OTHER{n}");
            if ReadIndex::shard_of(&key) == shard {
                continue;
            }
            for _ in 0..3 {
                cache.get_or_load(&key, async { Ok::<_, std::io::Error>(answer(&body, 1)) }).await.unwrap();
                let _ = cache.shards.get(&ReadIndex::shard_of(&key)).await;
            }
            cache.settle().await;
        }
        assert!(!cache.shards.contains_key(&shard), "the shard was evicted");
        for key in std::iter::once(&first).chain(&mates) {
            assert!(cache.hit(key).await.is_none(), "{key} went with its shard");
        }
        assert_eq!(cache.unweighed(), 0);
    }

    #[tokio::test]
    async fn hits_come_from_the_read_index_and_forget_reaches_both() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        cache.get_or_load("k", load(answer("a", 1))).await.unwrap();
        assert_eq!(cache.indexed(), 1);
        for _ in 0..(3 * SAMPLED_HITS) {
            let got = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
            assert!(matches!(got, Held::Answer(p, _) if p.version == 1));
        }
        cache.forget("k").await;
        assert_eq!(cache.indexed(), 0);
        let got = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(got, Held::Answer(p, _) if p.version == 2));
        cache.forget_all();
        assert_eq!(cache.indexed(), 0);
    }

    #[tokio::test]
    async fn an_entry_holds_its_record_beside_the_bytes_and_weighs_both() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        let record = record();
        let next_update = Utc::now() + chrono::Duration::hours(1);
        // Bytes that are no certificate at all: the record is read from beside them, never from them.
        let prepared = Prepared::new(b"not json", "\"v1\"", 1, next_update).expect("a valid ETag");
        cache.put("k", Held::Answer(prepared, Some(Arc::clone(&record)))).await;
        let Some(RecordHit::Record(held)) = cache.hit_record("k").await else { panic!("no record") };
        assert!(Arc::ptr_eq(&held, &record), "the very record put beside the answer");
        let Some(Cached::Answer(sent)) = cache.hit("k").await else { panic!("no answer") };
        assert_eq!(sent.body().as_deref(), Some(&b"not json"[..]));
        let entry = cache.index.get(ReadIndex::shard_of("k"), "k").expect("held");
        let expected = 1 + ENTRY_COST + sent.kept_len() + weight_of_record();
        assert_eq!(weight_of("k", &entry), expected as u64, "the record counts against the bound");

        cache.get_or_load("gone", load(Held::Absent)).await.unwrap();
        assert!(matches!(cache.hit_record("gone").await, Some(RecordHit::Absent)), "a known absence");
        assert!(cache.hit_record("never").await.is_none(), "a miss");
    }

    /// A packed answer of several kilobytes, and its body.
    fn packed_answer(version: u32) -> (Held, Vec<u8>) {
        let body: Vec<u8> = (0..40)
            .flat_map(|n| {
                format!("{{\"serial\":{n},\"holder\":\"第{n}号电器有限公司\",\"scope\":\"家用电器\"}},").into_bytes()
            })
            .collect();
        let dictionary = packing::Dictionary::new(&[], &body);
        let next_update = Utc::now() + chrono::Duration::hours(1);
        let prepared = Prepared::packed_with(&body, "\"p\"", version, next_update, Some(dictionary)).expect("an ETag");
        assert!(prepared.unpacked_growth() > 0, "packed");
        (Held::Answer(prepared, Some(record())), body)
    }

    /// What the read index holds for `key` and what its shard weighs.
    fn held(cache: &AnswerCache, key: &str) -> (Prepared, u64, u64) {
        let shard = ReadIndex::shard_of(key);
        let entry = cache.index.get(shard, key).expect("held");
        let Held::Answer(prepared, _) = &entry.value else { panic!("not an answer") };
        (prepared.clone(), weight_of(key, &entry), cache.index.bytes(shard))
    }

    #[test]
    fn an_unpacked_answer_keeps_a_gzip_form_with_an_etag_of_its_own() {
        use std::io::Read;
        let (Held::Answer(packed, _), body) = packed_answer(1) else { panic!("an answer") };
        assert!(!packed.has_gzip() && packed.gzip_etag().is_none(), "a packed answer keeps none");
        let kept = packed.unpacked().expect("unpacks");
        assert_eq!(kept.gzip_etag(), Some("\"p-gzip\""));
        let gzip = kept.gzip().expect("a gzip form").to_vec();
        assert!(gzip.len() < body.len() / 2, "{} against {}", gzip.len(), body.len());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..]).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, body);
        assert_eq!((kept.body().as_deref(), kept.body_len()), (Some(&body[..]), body.len()));
        let (etag, sent) = kept.clone().into_send().expect("sends");
        assert_eq!((etag.to_str().unwrap(), &sent[..]), ("\"p\"", &body[..]));
        let (etag, sent) = kept.into_send_gzip().expect("sends gzip");
        assert_eq!((etag.to_str().unwrap(), &sent[..]), ("\"p-gzip\"", &gzip[..]));

        // Too short to be worth it, or not compressible enough: no gzip form.
        assert!(gzip_form(b"\"p\"", b"{}").is_none());
        let mut x: u32 = 0x9e37_79b9;
        let noise: Vec<u8> = (0..2_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        assert!(gzip_form(b"\"p\"", &noise).is_none());
        assert!(gzip_form(b"unquoted", &body).is_none());
    }

    #[tokio::test]
    async fn answers_loaded_while_the_cache_has_room_are_kept_unpacked_and_weighed_so() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        let (answer, body) = packed_answer(1);
        cache.get_or_load("k", load(answer)).await.unwrap();
        let (kept, weight, shard_bytes) = held(&cache, "k");
        assert!(kept.gzip().is_some(), "with its gzip form");
        assert_eq!(kept.kept_len(), 3 + body.len() + kept.gzip_kept_len(), "the ETag and the body as it is sent");
        assert_eq!(weight, shard_bytes, "the shard weighs the unpacked answer");
        let Some(Cached::Answer(sent)) = cache.hit("k").await else { panic!("no answer") };
        let (etag, sent) = sent.into_send().expect("sends");
        assert_eq!((etag.to_str().unwrap(), &sent[..]), ("\"p\"", &body[..]));
    }

    #[tokio::test]
    async fn a_full_cache_keeps_answers_packed_until_a_hit_finds_room() {
        let filler = || answer(&"x".repeat(1_000), 1);
        let filler_weight = weight_of("f0", &AnswerCache::new(settings(60_000, 1_000)).entry(filler(), None));
        // Unpacking stops once the cache weighs half its bound: three fillers' worth.
        let max_bytes = 2 * 3 * filler_weight;
        let cache = AnswerCache::new(CacheSettings { max_bytes, ..settings(60_000, 1_000) });
        for n in 0..3 {
            cache.get_or_load(&format!("f{n}"), load(filler())).await.unwrap();
        }
        cache.settle().await;
        let (answer, body) = packed_answer(1);
        cache.get_or_load("k", load(answer)).await.unwrap();
        assert!(held(&cache, "k").0.kept_len() < body.len() / 2, "no room: kept packed");

        for n in 0..3 {
            cache.forget(&format!("f{n}")).await;
        }
        cache.settle().await;
        for _ in 0..SAMPLED_HITS {
            let Some(Cached::Answer(sent)) = cache.hit("k").await else { panic!("no answer") };
            assert_eq!(sent.body().as_deref(), Some(&body[..]));
        }
        let (kept, weight, shard_bytes) = held(&cache, "k");
        assert_eq!(kept.kept_len(), 3 + body.len() + kept.gzip_kept_len(), "a sampled hit unpacked it for keeps");
        assert_eq!(weight, shard_bytes, "and its shard weighs it so");
        cache.settle().await;
        assert_eq!(cache.weighed_bytes().await, shard_bytes, "moka was told");
    }

    #[tokio::test]
    async fn a_record_is_kept_only_beside_the_answer_of_its_version() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        let next_update = Utc::now() + chrono::Duration::hours(1);
        let prepared = |version| Prepared::new(b"{}", &format!("\"v{version}\""), version, next_update);
        let record = record();
        let version = record.version;
        let shard = ReadIndex::shard_of("k");

        // A looked-up answer holds its bytes alone, and weighs them alone.
        cache.put("k", Held::Answer(prepared(version).expect("an ETag"), None)).await;
        assert!(matches!(cache.hit_record("k").await, Some(RecordHit::AnswerOnly(v)) if v == version));
        let bare = cache.index.bytes(shard);

        // Another version's record is not this answer's: nothing changes.
        let mut other = (*record).clone();
        other.version += 1;
        assert!(!cache.keep_record("k", Arc::new(other)).await);
        assert_eq!(cache.index.bytes(shard), bare);

        // The answer's own record is kept once, weighed, and what a scan then reads.
        assert!(cache.keep_record("k", Arc::clone(&record)).await);
        assert_eq!(cache.index.bytes(shard), bare + weight_of_record() as u64, "the record counts against the bound");
        assert!(!cache.keep_record("k", record.clone()).await, "kept already");
        let Some(RecordHit::Record(held)) = cache.hit_record("k").await else { panic!("no record") };
        assert!(Arc::ptr_eq(&held, &record));

        // Nothing is kept for a key without an answer, and forgetting the answer lets go of both.
        assert!(!cache.keep_record("none", Arc::clone(&record)).await);
        cache.forget("k").await;
        assert!(cache.hit_record("k").await.is_none());
        assert_eq!(cache.index.bytes(shard), 0);
    }

    #[tokio::test]
    async fn failed_loads_are_not_cached() {
        let cache = AnswerCache::new(settings(5_000, 1_000));
        let failed = cache.get_or_load("k", async { Err::<Held, _>(std::io::Error::other("store down")) }).await;
        assert!(failed.is_err());
        let got = cache.get_or_load("k", async { Ok::<_, std::io::Error>(answer("a", 1)) }).await.unwrap();
        assert!(matches!(got, Held::Answer(..)));
    }
}
