//! Tokens whose signature was found bad, remembered briefly: a flood of the same fake code (a
//! counterfeiter's QR printed on a thousand boxes, or a script) then costs one signature check,
//! not one per request (each request still parses the token and looks it up here, both far
//! cheaper). Bounded by the bytes of the tokens it holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::MOKA_ENTRY_COST;

/// How long a refusal is remembered unless configured: long enough to absorb a flood, short
/// enough that a newly trusted key takes effect at once in practice.
pub const DEFAULT_REFUSAL_LIFETIME: Duration = Duration::from_secs(2);

/// Memory for remembered tokens (the text of each, the answer and the entry's bookkeeping).
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Refused tokens and what was answered for them, with when they were refused.
#[derive(Clone)]
pub struct RefusalCache<V: Clone + Send + Sync + 'static> {
    entries: Cache<String, (Instant, Arc<V>)>,
    lifetime: Duration,
}

impl<V: Clone + Send + Sync + 'static> RefusalCache<V> {
    pub fn new(lifetime: Duration) -> Self {
        let entries = Cache::builder()
            .max_capacity(MAX_BYTES)
            .weigher(|token: &String, _: &(Instant, Arc<V>)| {
                let held = MOKA_ENTRY_COST + token.len() + std::mem::size_of::<(Instant, V)>();
                u32::try_from(held).unwrap_or(u32::MAX)
            })
            // Frees the memory of expired refusals; whether one is still served is `get_at`'s call.
            .time_to_live(lifetime)
            .build();
        Self { entries, lifetime }
    }

    /// The answer given to `token` a moment ago, if it was refused.
    pub fn get(&self, token: &str) -> Option<Arc<V>> {
        self.get_at(token, Instant::now())
    }

    /// [`RefusalCache::get`] as of `now`.
    pub fn get_at(&self, token: &str, now: Instant) -> Option<Arc<V>> {
        let (refused, answer) = self.entries.get(token)?;
        (now.saturating_duration_since(refused) < self.lifetime).then_some(answer)
    }

    /// Remembers that `token` was refused with `answer`.
    pub fn remember(&self, token: &str, answer: V) {
        self.remember_at(token, answer, Instant::now());
    }

    /// [`RefusalCache::remember`] as of `now`.
    pub fn remember_at(&self, token: &str, answer: V, now: Instant) {
        self.entries.insert(token.to_string(), (now, Arc::new(answer)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_briefly() {
        let cache = RefusalCache::new(Duration::from_secs(2));
        let start = Instant::now();
        assert!(cache.get_at("FAKE", start).is_none());
        cache.remember_at("FAKE", "not genuine".to_string(), start);
        let answered = |at: Duration| cache.get_at("FAKE", start + at).as_deref().cloned();
        assert_eq!(answered(Duration::ZERO).as_deref(), Some("not genuine"));
        assert_eq!(answered(Duration::from_millis(1_999)).as_deref(), Some("not genuine"));
        assert_eq!(answered(Duration::from_secs(2)), None, "forgotten after its lifetime");
    }
}
