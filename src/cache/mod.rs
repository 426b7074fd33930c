//! The read path's memory: prepared public answers by key, in process (L1).
//!
//! L1 lives here; L2, shared by all instances in Redis, is in [`shared`].
//!
//! An entry is either a prepared answer (bytes ready to send, with their ETag) or the knowledge
//! that the key does not exist, kept briefly so that a flood of fake numbers never reaches the
//! store. Concurrent misses of one key are coalesced: one load, however many requests wait.
//! While change announcements are known to arrive (the Redis change feed is connected) an answer
//! is served until it is replaced; otherwise no answer older than a bound (5 s by default) is
//! served, so even if an announcement is lost no instance serves a stale answer for longer.

pub mod refusals;
pub mod shared;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::future::Cache;
use moka::Expiry;

/// An answer prepared when the state last changed: the hot path sends these bytes as they are.
#[derive(Debug)]
pub struct Prepared {
    pub body: Bytes,
    /// Strong ETag, quoted, e.g. `"v3-1a2b3c4d"`.
    pub etag: String,
    /// Record version the answer was prepared from.
    pub version: u32,
}

/// What the cache knows about a key.
#[derive(Clone, Debug)]
pub enum Cached {
    Answer(Arc<Prepared>),
    /// The store has no such key (as of a moment ago).
    Absent,
}

impl Cached {
    fn weight(&self) -> usize {
        match self {
            Cached::Answer(prepared) => prepared.body.len() + prepared.etag.len() + 64,
            Cached::Absent => 16,
        }
    }
}

/// A cached value and when it was loaded.
#[derive(Clone)]
struct Entry {
    value: Cached,
    loaded: Instant,
}

/// Longer than any load of an answer takes (a store read, or a Redis read bounded at 150 ms).
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(500);

/// Longest life of an answer while change announcements are flowing.
const TRUSTED_LIFETIME: Duration = Duration::from_secs(3600);

/// How long entries live. Answers live long (an hour, and never past midnight in China, when
/// expiry dates may turn a valid certificate into an expired one); whether a long-lived answer
/// may still be served is decided at each hit (see [`AnswerCache::get_or_load`]). Absences live
/// briefly.
struct Lifetimes {
    absent: Duration,
}

impl Lifetimes {
    fn of(&self, entry: &Entry) -> Duration {
        match entry.value {
            Cached::Answer(_) => until_midnight_in_china().min(TRUSTED_LIFETIME),
            Cached::Absent => self.absent,
        }
    }
}

/// Time left until the next midnight in China Standard Time (UTC+8).
fn until_midnight_in_china() -> Duration {
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    let seconds_today = i64::from(chrono::Timelike::num_seconds_from_midnight(&now));
    Duration::from_secs(u64::try_from(86_400 - seconds_today).unwrap_or(1).max(1))
}

impl Expiry<String, Entry> for Lifetimes {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(self.of(entry))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.of(entry))
    }
}

/// Settings of the answer cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheSettings {
    /// Memory bound, counting the bytes of keys and answers.
    pub max_bytes: u64,
    /// No answer is served longer than this after it was loaded.
    pub stale_bound: Duration,
    /// How long "no such key" is remembered.
    pub absent_for: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { max_bytes: 64 * 1024 * 1024, stale_bound: Duration::from_secs(5), absent_for: Duration::from_secs(2) }
    }
}

/// The in-process answer cache.
#[derive(Clone)]
pub struct AnswerCache {
    entries: Cache<String, Entry>,
    stale_bound: Duration,
    /// Whether change announcements are known to reach this instance (the Redis change feed
    /// is connected): then an answer is served until it is replaced; otherwise at most
    /// `stale_bound` after it was loaded.
    trusted: Arc<AtomicBool>,
}

impl AnswerCache {
    pub fn new(settings: CacheSettings) -> Self {
        let entries = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|key: &String, entry: &Entry| u32::try_from(key.len() + entry.value.weight()).unwrap_or(u32::MAX))
            .expire_after(Lifetimes { absent: settings.absent_for })
            .build();
        Self { entries, stale_bound: settings.stale_bound, trusted: Arc::new(AtomicBool::new(false)) }
    }

    /// Says whether change announcements reach this instance (set by the change feed).
    pub fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::SeqCst);
    }

    /// The longest an entry is served after it was loaded.
    pub fn stale_bound(&self) -> Duration {
        self.stale_bound
    }

    /// The cached entry, or the result of `load`, run once for all concurrent callers of `key`.
    pub async fn get_or_load<F, E>(&self, key: &str, load: F) -> Result<Cached, Arc<E>>
    where
        F: Future<Output = Result<Cached, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.entries.get(key).await {
            if self.trusted.load(Ordering::SeqCst) || hit.loaded.elapsed() < self.stale_bound {
                return Ok(hit.value);
            }
            // Possibly stale and nobody would have told us: load afresh.
            self.entries.invalidate(key).await;
        }
        let load = async { load.await.map(|value| Entry { value, loaded: Instant::now() }) };
        self.entries.try_get_with(key.to_string(), load).await.map(|entry| entry.value)
    }

    /// Replaces the entry of `key` (after a write, or on an invalidation message).
    pub async fn put(&self, key: &str, value: Cached) {
        self.entries.insert(key.to_string(), Entry { value, loaded: Instant::now() }).await;
    }

    /// Forgets `key`; the next request loads it afresh.
    pub async fn forget(&self, key: &str) {
        self.entries.invalidate(key).await;
    }

    /// Forgets `key` now and once more a moment later: a load that started before the change
    /// (and so may have read the old state) cannot then keep its result in the cache.
    pub async fn forget_now_and_soon(&self, key: &str) {
        self.forget(key).await;
        self.forget_soon(key);
    }

    /// Puts the answer made after a change, and forgets it a moment later for the same reason:
    /// a load in flight from before the change may overwrite it.
    pub async fn replace(&self, key: &str, value: Cached) {
        self.put(key, value).await;
        self.forget_soon(key);
    }

    fn forget_soon(&self, key: &str) {
        let (cache, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(IN_FLIGHT_GRACE).await;
            cache.forget(&key).await;
        });
    }

    /// Forgets everything (after invalidation messages may have been lost).
    pub fn forget_all(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn answer(text: &str, version: u32) -> Cached {
        Cached::Answer(Arc::new(Prepared {
            body: Bytes::from(text.to_string()),
            etag: format!("\"v{version}\""),
            version,
        }))
    }

    fn settings(stale_ms: u64, absent_ms: u64) -> CacheSettings {
        CacheSettings {
            max_bytes: 1024 * 1024,
            stale_bound: Duration::from_millis(stale_ms),
            absent_for: Duration::from_millis(absent_ms),
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
                    .map(|c| matches!(c, Cached::Answer(_)))
            }));
        }
        for task in waiting {
            assert!(task.await.unwrap().unwrap());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn absences_expire_sooner_than_answers_and_both_expire() {
        let cache = AnswerCache::new(settings(400, 100));
        let load = |value: Cached| async move { Ok::<_, std::io::Error>(value) };
        cache.get_or_load("gone", load(Cached::Absent)).await.unwrap();
        cache.get_or_load("here", load(answer("a", 1))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = cache.get_or_load("gone", load(answer("now exists", 1))).await.unwrap();
        assert!(matches!(again, Cached::Answer(_)), "the absence was forgotten");
        let still = cache.get_or_load("here", load(answer("b", 2))).await.unwrap();
        assert!(matches!(still, Cached::Answer(p) if p.version == 1), "the answer is still cached");
        tokio::time::sleep(Duration::from_millis(450)).await;
        let fresh = cache.get_or_load("here", load(answer("b", 2))).await.unwrap();
        assert!(matches!(fresh, Cached::Answer(p) if p.version == 2), "nothing outlives the bound");
    }

    #[tokio::test]
    async fn trusted_answers_outlive_the_bound_untrusted_ones_do_not() {
        let cache = AnswerCache::new(settings(100, 100));
        let load = |value: Cached| async move { Ok::<_, std::io::Error>(value) };
        cache.set_trusted(true);
        cache.get_or_load("k", load(answer("a", 1))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let kept = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(kept, Cached::Answer(p) if p.version == 1), "announcements would have replaced it");
        cache.set_trusted(false);
        let fresh = cache.get_or_load("k", load(answer("b", 2))).await.unwrap();
        assert!(matches!(fresh, Cached::Answer(p) if p.version == 2), "without announcements the bound holds");
    }

    #[test]
    fn answers_never_outlive_the_day_in_china() {
        let left = until_midnight_in_china();
        assert!(left > Duration::ZERO && left <= Duration::from_secs(86_400));
    }

    #[tokio::test]
    async fn a_load_in_flight_during_a_change_does_not_stay() {
        let cache = AnswerCache::new(settings(60_000, 1_000));
        cache.set_trusted(true);
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
        assert!(matches!(got, Cached::Answer(p) if p.version == 2), "the old load's result was dropped");
    }

    #[tokio::test]
    async fn put_replaces_and_forget_drops() {
        let cache = AnswerCache::new(settings(5_000, 1_000));
        let load = |value: Cached| async move { Ok::<_, std::io::Error>(value) };
        cache.get_or_load("k", load(answer("a", 1))).await.unwrap();
        cache.put("k", answer("b", 2)).await;
        let got = cache.get_or_load("k", load(answer("c", 3))).await.unwrap();
        assert!(matches!(got, Cached::Answer(p) if p.version == 2));
        cache.forget("k").await;
        let got = cache.get_or_load("k", load(answer("c", 3))).await.unwrap();
        assert!(matches!(got, Cached::Answer(p) if p.version == 3));
    }

    #[tokio::test]
    async fn failed_loads_are_not_cached() {
        let cache = AnswerCache::new(settings(5_000, 1_000));
        let failed = cache.get_or_load("k", async { Err::<Cached, _>(std::io::Error::other("store down")) }).await;
        assert!(failed.is_err());
        let got = cache.get_or_load("k", async { Ok::<_, std::io::Error>(answer("a", 1)) }).await.unwrap();
        assert!(matches!(got, Cached::Answer(_)));
    }
}
