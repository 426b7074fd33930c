//! API tokens recently found valid on a public route, so that a staff tool's next requests are
//! exempt from the limits without asking the store again, while a client that presents made-up
//! tokens gets no more store lookups than its `token_checks` allowance.
//!
//! Only the exemption from rate limits is remembered: admin routes check every token against
//! the store on every request, so a revoked token loses its admin rights at once and its
//! exemption within [`REMEMBERED_FOR`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a token found valid stays exempt without another lookup.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(30);

/// Tokens remembered at most; a full table first drops the expired, then everything.
const MAX_REMEMBERED: usize = 4_096;

/// What became of a token presented on a public route and not remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Looked up and valid: the request is exempt.
    Accepted,
    /// Looked up and unknown, revoked or malformed: limited like no token.
    Rejected,
    /// Not looked up, the client being over its `token_checks` allowance: limited like no token.
    Skipped,
}

impl TokenCheck {
    const ALL: [TokenCheck; 3] = [TokenCheck::Accepted, TokenCheck::Rejected, TokenCheck::Skipped];

    /// The outcome's label in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            TokenCheck::Accepted => "accepted",
            TokenCheck::Rejected => "rejected",
            TokenCheck::Skipped => "skipped",
        }
    }
}

/// See the module documentation. Tokens are held by their SHA-256, never as text.
pub struct KnownTokens {
    valid_until: Mutex<HashMap<[u8; 32], Instant>>,
    checks: [AtomicU64; 3],
}

impl Default for KnownTokens {
    fn default() -> Self {
        Self { valid_until: Mutex::new(HashMap::new()), checks: Default::default() }
    }
}

fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl KnownTokens {
    /// Whether `token` was found valid less than [`REMEMBERED_FOR`] before `now`.
    pub fn is_known(&self, token: &str, now: Instant) -> bool {
        let key = fingerprint(token);
        let map = self.valid_until.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&key).is_some_and(|until| *until > now)
    }

    /// Remembers `token` as valid from `now`.
    pub fn remember(&self, token: &str, now: Instant) {
        let key = fingerprint(token);
        let mut map = self.valid_until.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&key) {
            map.retain(|_, until| *until > now);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(key, now + REMEMBERED_FOR);
    }

    /// Counts an outcome.
    pub fn count(&self, outcome: TokenCheck) {
        self.checks[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Outcomes since start, for `/metrics`.
    pub fn counts(&self) -> [(TokenCheck, u64); 3] {
        TokenCheck::ALL.map(|outcome| (outcome, self.checks[outcome as usize].load(Ordering::Relaxed)))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.valid_until.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_known_for_a_while_after_it_was_found_valid() {
        let known = KnownTokens::default();
        let start = Instant::now();
        assert!(!known.is_known("smk_a", start));
        known.remember("smk_a", start);
        assert!(known.is_known("smk_a", start + REMEMBERED_FOR - Duration::from_millis(1)));
        assert!(!known.is_known("smk_a", start + REMEMBERED_FOR), "forgotten after the period");
        assert!(!known.is_known("smk_b", start), "only the token remembered");
    }

    #[test]
    fn the_table_stays_bounded() {
        let known = KnownTokens::default();
        let start = Instant::now();
        for n in 0..MAX_REMEMBERED {
            known.remember(&format!("old{n}"), start);
        }
        let later = start + REMEMBERED_FOR;
        known.remember("new", later);
        assert_eq!(known.len(), 1, "the expired were dropped");
        for n in 0..MAX_REMEMBERED * 2 {
            known.remember(&format!("fresh{n}"), later);
            assert!(known.len() <= MAX_REMEMBERED);
        }
    }

    #[test]
    fn outcomes_are_counted_apart() {
        let known = KnownTokens::default();
        known.count(TokenCheck::Rejected);
        known.count(TokenCheck::Rejected);
        known.count(TokenCheck::Skipped);
        let counts = known.counts();
        assert_eq!(counts.map(|(outcome, n)| (outcome.name(), n)), [("accepted", 0), ("rejected", 2), ("skipped", 1)]);
    }
}
