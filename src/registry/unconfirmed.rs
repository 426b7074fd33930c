//! Refusals remembered: once a certificate's stored state could not be tied to the log, the
//! verdict is kept while neither its row nor the log moves (for at most [`KEPT_FOR`]), so a
//! crowd asking for a tampered certificate costs one store read each instead of a full check,
//! and the error log says it once a minute instead of once a request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::store::StoredCertificate;
use crate::tlog::Hash;

/// How long a refusal stands without a new check while nothing moved: a store repaired in a
/// way that leaves the row as it was (an event put back) is served again after this.
pub const KEPT_FOR: Duration = Duration::from_secs(10);

/// Repeated refusals of one certificate are logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Certificates remembered at most; beyond, the memory starts over (only a store tampered with
/// wholesale gets there, and then every refusal is still given, only checked afresh).
const KEPT_AT_MOST: usize = 10_000;

/// What a refused row and the log looked like, and what was said of it.
struct Refusal {
    /// [`fingerprint`] of the refused row.
    row: Hash,
    /// The log's latest leaf of the certificate then.
    head: Option<u64>,
    problem: String,
    checked_at: Instant,
    logged_at: Instant,
    /// Refusals since the last log line.
    unlogged: u64,
}

/// What to say of a refusal in the log.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Say {
    /// Log it: the first refusal of this certificate, or the first after [`LOG_EVERY`], with
    /// how many were given unlogged since the last line.
    Log {
        repeats: u64,
    },
    Nothing,
}

/// The refusals of this instance and how many were given.
#[derive(Default)]
pub(super) struct Refusals {
    kept: Mutex<HashMap<Box<str>, Refusal>>,
    given: AtomicU64,
    logged: AtomicU64,
}

impl Refusals {
    /// The problem found at the last check, if `number` was refused while its row (by
    /// fingerprint) and its log head were as they are now, less than [`KEPT_FOR`] ago.
    pub(super) fn standing(&self, number: &str, row: &Hash, head: Option<u64>, now: Instant) -> Option<String> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let refusal = kept.get(number)?;
        let same = refusal.row == *row && refusal.head == head;
        (same && now.duration_since(refusal.checked_at) < KEPT_FOR).then(|| refusal.problem.clone())
    }

    /// Notes a refusal (after a check when `checked`, else a standing one) and says whether to log it.
    pub(super) fn given(
        &self,
        number: &str,
        row: Option<Hash>,
        head: Option<u64>,
        problem: &str,
        checked: bool,
        now: Instant,
    ) -> Say {
        self.given.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let say = match kept.get_mut(number) {
            Some(refusal) => {
                if checked {
                    refusal.checked_at = now;
                    refusal.problem = problem.to_string();
                    refusal.head = head;
                    refusal.row = row.unwrap_or_default();
                }
                if now.duration_since(refusal.logged_at) >= LOG_EVERY {
                    let repeats = refusal.unlogged;
                    refusal.logged_at = now;
                    refusal.unlogged = 0;
                    Say::Log { repeats }
                } else {
                    refusal.unlogged += 1;
                    Say::Nothing
                }
            }
            None => {
                if kept.len() >= KEPT_AT_MOST {
                    kept.clear();
                }
                let refusal = Refusal {
                    row: row.unwrap_or_default(),
                    head,
                    problem: problem.to_string(),
                    checked_at: now,
                    logged_at: now,
                    unlogged: 0,
                };
                kept.insert(number.into(), refusal);
                Say::Log { repeats: 0 }
            }
        };
        if matches!(say, Say::Log { .. }) {
            self.logged.fetch_add(1, Ordering::Relaxed);
        }
        say
    }

    /// Forgets `number`'s refusal: it was confirmed since.
    pub(super) fn lifted(&self, number: &str) {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner).remove(number);
    }

    /// Refusals given since start, standing ones included.
    pub(super) fn given_total(&self) -> u64 {
        self.given.load(Ordering::Relaxed)
    }

    /// Refusals written to the error log since start.
    pub(super) fn logged_total(&self) -> u64 {
        self.logged.load(Ordering::Relaxed)
    }
}

/// A digest of everything of a row a check reads: its record text, signature and search
/// columns. A repaired row has another fingerprint and is checked afresh at once.
pub(super) fn fingerprint(row: &StoredCertificate) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(row.signed.canonical.as_bytes());
    hasher.update([0]);
    hasher.update(row.signed.signature.alg.as_bytes());
    hasher.update([0]);
    hasher.update(row.signed.signature.key_id.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(row.signed.signature.value.as_bytes());
    hasher.update([0]);
    hasher.update(format!("{:?}", row.columns).as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Hash = [7; 32];

    #[test]
    fn a_refusal_stands_until_the_row_or_the_log_moves_or_it_is_old() {
        let refusals = Refusals::default();
        let start = Instant::now();
        assert_eq!(refusals.standing("SM1", &ROW, Some(4), start), None, "nothing refused yet");
        refusals.given("SM1", Some(ROW), Some(4), "edited", true, start);
        let soon = start + Duration::from_secs(1);
        assert_eq!(refusals.standing("SM1", &ROW, Some(4), soon).as_deref(), Some("edited"));
        assert_eq!(refusals.standing("SM1", &[8; 32], Some(4), soon), None, "the row moved");
        assert_eq!(refusals.standing("SM1", &ROW, Some(5), soon), None, "the log moved");
        assert_eq!(refusals.standing("SM2", &ROW, Some(4), soon), None, "another certificate");
        assert_eq!(refusals.standing("SM1", &ROW, Some(4), start + KEPT_FOR), None, "checked afresh when old");
        refusals.lifted("SM1");
        assert_eq!(refusals.standing("SM1", &ROW, Some(4), soon), None, "confirmed since");
    }

    #[test]
    fn every_refusal_is_counted_and_one_a_minute_is_logged() {
        let refusals = Refusals::default();
        let start = Instant::now();
        assert_eq!(refusals.given("SM1", Some(ROW), Some(4), "edited", true, start), Say::Log { repeats: 0 });
        for second in 1..60 {
            let at = start + Duration::from_secs(second);
            assert_eq!(refusals.given("SM1", Some(ROW), Some(4), "edited", false, at), Say::Nothing);
        }
        assert_eq!(refusals.given("SM2", Some(ROW), Some(9), "deleted", true, start), Say::Log { repeats: 0 });
        let later = start + LOG_EVERY;
        assert_eq!(refusals.given("SM1", Some(ROW), Some(4), "edited", true, later), Say::Log { repeats: 59 });
        assert_eq!(refusals.given_total(), 62);
        assert_eq!(refusals.logged_total(), 3);
    }
}
