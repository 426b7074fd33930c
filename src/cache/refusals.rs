//! Tokens whose signature was found bad, remembered briefly: a flood of the same fake code (a
//! counterfeiter's QR printed on a thousand boxes, or a script) then costs one signature check,
//! not one per request (each request still parses the token and looks it up here, both far
//! cheaper). Bounded by the bytes of the tokens it holds.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::MOKA_ENTRY_COST;

/// How long a refusal is remembered unless configured: long enough to absorb a flood, short
/// enough that a newly trusted key takes effect at once in practice.
pub const DEFAULT_REFUSAL_LIFETIME: Duration = Duration::from_secs(2);

/// Memory for remembered tokens (the text of each, the answer and the entry's bookkeeping).
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Refused tokens and what was answered for them.
#[derive(Clone)]
pub struct RefusalCache<V: Clone + Send + Sync + 'static> {
    entries: Cache<String, Arc<V>>,
}

impl<V: Clone + Send + Sync + 'static> RefusalCache<V> {
    pub fn new(lifetime: Duration) -> Self {
        let entries = Cache::builder()
            .max_capacity(MAX_BYTES)
            .weigher(|token: &String, _: &Arc<V>| {
                u32::try_from(MOKA_ENTRY_COST + token.len() + std::mem::size_of::<V>()).unwrap_or(u32::MAX)
            })
            .time_to_live(lifetime)
            .build();
        Self { entries }
    }

    /// The answer given to `token` a moment ago, if it was refused.
    pub fn get(&self, token: &str) -> Option<Arc<V>> {
        self.entries.get(token)
    }

    /// Remembers that `token` was refused with `answer`.
    pub fn remember(&self, token: &str, answer: V) {
        self.entries.insert(token.to_string(), Arc::new(answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_briefly() {
        let cache = RefusalCache::new(Duration::from_millis(100));
        assert!(cache.get("FAKE").is_none());
        cache.remember("FAKE", "not genuine".to_string());
        assert_eq!(cache.get("FAKE").as_deref().map(String::as_str), Some("not genuine"));
        std::thread::sleep(Duration::from_millis(150));
        assert!(cache.get("FAKE").is_none(), "forgotten after its lifetime");
    }
}
