//! Integrator keys on the public routes: each valid key's own purse (a GCRA at the key's rate,
//! shared by every address the integrator calls from), the keys found valid or bad lately (so
//! that neither costs a store lookup per request), the last use of each key waiting to be
//! written, and the counts `/metrics` shows by key id.
//!
//! Keys are held by their SHA-256 and named by their id, never by their text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::gcra::Gcra;
use super::{seconds_up, Class, Policy, Refusal, Standing};

/// How long a key found valid (or bad) is believed without another lookup: a revoked key is
/// refused on every instance within this time.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(30);

/// The rate of a key created without `--rate`: above the anonymous per-client allowance of the
/// busiest classes (scans and lookups, 100 a second), with a burst of one second's worth.
pub const DEFAULT_KEY_RATE: Policy = Policy { quota: 200, window_secs: 1 };

/// How often a key's last use is written to the store at most (besides its first use on an
/// instance, written at once).
pub const USE_WRITTEN_EVERY: Duration = Duration::from_secs(60);

/// Keys remembered at most; a full table first drops the expired, then everything.
const MAX_REMEMBERED: usize = 4_096;

/// Reads a key's rate as the command line takes it: `N/s`, `N/min` or `N/h` (also `N/m`,
/// `N/sec`, `N/hour`), N from 1 up. The burst is the whole of N.
pub fn parse_rate(text: &str) -> Result<Policy, String> {
    let usage = "use N/s, N/min or N/h, such as 50/s";
    let (count, unit) = text.trim().split_once('/').ok_or_else(|| format!("'{text}' is not a rate; {usage}"))?;
    let quota = match count.trim().parse::<u32>() {
        Ok(quota) if quota > 0 => quota,
        _ => return Err(format!("'{text}': the count must be a whole number from 1 to {}; {usage}", u32::MAX)),
    };
    let window_secs = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3_600,
        _ => return Err(format!("'{text}': the unit must be s, min or h; {usage}")),
    };
    Ok(Policy { quota, window_secs })
}

/// A rate as [`parse_rate`] reads it back: `50/s`, `600/min`, `1000/h`.
pub fn format_rate(policy: Policy) -> String {
    match policy.window_secs {
        1 => format!("{}/s", policy.quota),
        60 => format!("{}/min", policy.quota),
        3_600 => format!("{}/h", policy.quota),
        secs => format!("{}/{secs}s", policy.quota),
    }
}

/// The SHA-256 of a presented key: how the tables here hold it.
pub fn fingerprint(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A key found valid: its id and rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidKey {
    pub id: Arc<str>,
    pub policy: Policy,
}

/// What is remembered of a presented key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remembered {
    Valid(ValidKey),
    /// Looked up and unknown, revoked or wrong: refused again without a lookup.
    Bad,
}

/// What became of a key presented on a public route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// Looked up and valid.
    Accepted,
    /// Looked up and unknown, revoked or wrong: 401.
    Rejected,
    /// Not a key's shape: 401 without a lookup.
    Malformed,
    /// Remembered as bad: 401 without a lookup.
    KnownBad,
    /// Not looked up, the client being over its `key_checks` allowance: 429.
    Skipped,
}

impl KeyCheck {
    const ALL: [KeyCheck; 5] =
        [KeyCheck::Accepted, KeyCheck::Rejected, KeyCheck::Malformed, KeyCheck::KnownBad, KeyCheck::Skipped];

    /// The outcome's label in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            KeyCheck::Accepted => "accepted",
            KeyCheck::Rejected => "rejected",
            KeyCheck::Malformed => "malformed",
            KeyCheck::KnownBad => "known_bad",
            KeyCheck::Skipped => "skipped",
        }
    }
}

/// One key's purse and figures.
struct Purse {
    gcra: Gcra,
    policy: Policy,
    tat: u64,
    requests: u64,
    refused: u64,
    last_used: Option<DateTime<Utc>>,
    /// The last use handed out to be written.
    written: Option<DateTime<Utc>>,
}

/// One key's figures for `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFigures {
    pub id: Arc<str>,
    /// Requests granted under the key.
    pub granted: u64,
    /// Requests refused with a 429 under the key.
    pub refused: u64,
}

/// See the module documentation.
pub struct Integrators {
    remembered: Mutex<HashMap<[u8; 32], (Remembered, Instant)>>,
    purses: Mutex<HashMap<Arc<str>, Purse>>,
    checks: [AtomicU64; 5],
    epoch: Instant,
}

impl Default for Integrators {
    fn default() -> Self {
        Self {
            remembered: Mutex::new(HashMap::new()),
            purses: Mutex::new(HashMap::new()),
            checks: Default::default(),
            epoch: Instant::now(),
        }
    }
}

impl Integrators {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// What was found of the key with this fingerprint less than [`REMEMBERED_FOR`] before `now`.
    pub fn recall(&self, fingerprint: &[u8; 32], now: Instant) -> Option<Remembered> {
        let map = self.remembered.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(fingerprint).filter(|(_, until)| *until > now).map(|(remembered, _)| remembered.clone())
    }

    /// Remembers what was found of a key at `now`.
    pub fn remember(&self, fingerprint: [u8; 32], remembered: Remembered, now: Instant) {
        let mut map = self.remembered.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&fingerprint) {
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(fingerprint, (remembered, now + REMEMBERED_FOR));
    }

    /// Charges `cost` units to the key's purse at `now`, or refuses the whole cost (charging
    /// nothing). With `only_look`, charges nothing and refuses only when nothing at all is left
    /// (for work whose cost is known later). Counts the request either way.
    pub fn take(&self, key: &ValidKey, cost: u32, only_look: bool, now: Instant) -> Result<Standing, Refusal> {
        let now = self.nanos(now);
        let mut purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        let purse = purses.entry(key.id.clone()).or_insert_with(|| Purse {
            gcra: Gcra::new(key.policy),
            policy: key.policy,
            tat: 0,
            requests: 0,
            refused: 0,
            last_used: None,
            written: None,
        });
        let cost = if only_look { 1 } else { cost };
        let decided = purse.gcra.decide(purse.tat, now, cost);
        match decided {
            Ok(next) if !only_look => {
                purse.tat = next;
                purse.requests += 1;
            }
            Ok(_) => {}
            Err(_) => purse.refused += 1,
        }
        let standing = Standing {
            class: Class::Integrator,
            policy: purse.policy,
            remaining: purse.gcra.remaining(purse.tat, now),
            reset_secs: seconds_up(purse.gcra.reset(purse.tat, now)),
        };
        match decided {
            Ok(_) => Ok(standing),
            Err(wait) => Err(Refusal { standing, retry_after_secs: seconds_up(wait.0).max(1) }),
        }
    }

    /// The key's standing now, for an answer's headers.
    pub fn standing(&self, id: &str, now: Instant) -> Option<Standing> {
        let now = self.nanos(now);
        let purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        let purse = purses.get(id)?;
        Some(Standing {
            class: Class::Integrator,
            policy: purse.policy,
            remaining: purse.gcra.remaining(purse.tat, now),
            reset_secs: seconds_up(purse.gcra.reset(purse.tat, now)),
        })
    }

    /// Records a use of the key at `at`; true when it is the key's first use here, to be
    /// written at once (later ones wait for [`Integrators::uses_to_write`]).
    pub fn used(&self, id: &str, at: DateTime<Utc>) -> bool {
        let mut purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(purse) = purses.get_mut(id) else {
            return false;
        };
        purse.last_used = Some(purse.last_used.map_or(at, |last| last.max(at)));
        if purse.written.is_none() {
            purse.written = Some(at);
            return true;
        }
        false
    }

    /// The last uses not written yet, each counted as written from now on.
    pub fn uses_to_write(&self) -> Vec<(Arc<str>, DateTime<Utc>)> {
        let mut purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        let mut uses = Vec::new();
        for (id, purse) in purses.iter_mut() {
            if let Some(last) = purse.last_used {
                if purse.written.map_or(true, |written| written < last) {
                    purse.written = Some(last);
                    uses.push((id.clone(), last));
                }
            }
        }
        uses
    }

    /// Hands back uses that [`Integrators::uses_to_write`] gave out and the store did not take,
    /// so that the next batch carries them again.
    pub fn write_failed(&self, uses: &[(Arc<str>, DateTime<Utc>)]) {
        let mut purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, at) in uses {
            if let Some(purse) = purses.get_mut(id) {
                if purse.written == Some(*at) {
                    purse.written = Some(DateTime::<Utc>::MIN_UTC);
                }
            }
        }
    }

    /// Counts an outcome.
    pub fn count(&self, outcome: KeyCheck) {
        self.checks[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Outcomes since start, for `/metrics`.
    pub fn counts(&self) -> [(KeyCheck, u64); 5] {
        KeyCheck::ALL.map(|outcome| (outcome, self.checks[outcome as usize].load(Ordering::Relaxed)))
    }

    /// Every key's figures since start, by id, for `/metrics`.
    pub fn figures(&self) -> Vec<KeyFigures> {
        let purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        let mut figures: Vec<_> = purses
            .iter()
            .map(|(id, purse)| KeyFigures { id: id.clone(), granted: purse.requests, refused: purse.refused })
            .collect();
        figures.sort_by(|a, b| a.id.cmp(&b.id));
        figures
    }

    /// Requests refused under any key since start.
    pub fn refusals(&self) -> u64 {
        let purses = self.purses.lock().unwrap_or_else(PoisonError::into_inner);
        purses.values().map(|purse| purse.refused).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, policy: &str) -> ValidKey {
        ValidKey { id: id.into(), policy: parse_rate(policy).unwrap() }
    }

    #[test]
    fn rates_read_and_read_back() {
        assert_eq!(parse_rate("50/s"), Ok(Policy { quota: 50, window_secs: 1 }));
        assert_eq!(parse_rate(" 600 / min "), Ok(Policy { quota: 600, window_secs: 60 }));
        assert_eq!(parse_rate("1000/H"), Ok(Policy { quota: 1000, window_secs: 3600 }));
        for text in ["50/s", "600/min", "1000/h"] {
            assert_eq!(format_rate(parse_rate(text).unwrap()), text);
        }
        for (text, says) in [
            ("50", "is not a rate; use N/s"),
            ("0/s", "the count must be a whole number"),
            ("-5/s", "the count must be"),
            ("fast/s", "the count must be"),
            ("50/day", "the unit must be s, min or h"),
            ("50/", "the unit must be"),
        ] {
            let error = parse_rate(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn a_key_has_its_own_purse_with_a_burst() {
        let integrators = Integrators::default();
        let now = Instant::now();
        let a = key("a", "3/min");
        for left in (0..3).rev() {
            assert_eq!(integrators.take(&a, 1, false, now).map(|s| s.remaining), Ok(left));
        }
        let refusal = integrators.take(&a, 1, false, now).expect_err("over the key's rate");
        assert_eq!(refusal.standing.class, Class::Integrator);
        assert!((19..=20).contains(&refusal.retry_after_secs), "{refusal:?}");
        assert!(integrators.take(&a, 1, true, now).is_err(), "nothing left to look at either");
        assert!(integrators.take(&key("b", "3/min"), 1, false, now).is_ok(), "another key");
        assert!(integrators.take(&a, 1, false, now + Duration::from_secs(20)).is_ok(), "one back after 20 s");
        let figures = integrators.figures();
        assert_eq!(figures[0], KeyFigures { id: "a".into(), granted: 4, refused: 2 });
        assert_eq!(integrators.refusals(), 2);
    }

    #[test]
    fn keys_are_remembered_for_a_while_and_the_table_stays_bounded() {
        let integrators = Integrators::default();
        let start = Instant::now();
        let good = fingerprint("smi_good");
        integrators.remember(good, Remembered::Valid(key("a", "1/s")), start);
        integrators.remember(fingerprint("smi_bad"), Remembered::Bad, start);
        assert_eq!(integrators.recall(&good, start), Some(Remembered::Valid(key("a", "1/s"))));
        assert_eq!(integrators.recall(&fingerprint("smi_bad"), start), Some(Remembered::Bad));
        assert_eq!(integrators.recall(&good, start + REMEMBERED_FOR), None, "forgotten after the period");
        for n in 0..MAX_REMEMBERED * 2 {
            integrators.remember(fingerprint(&n.to_string()), Remembered::Bad, start);
            assert!(integrators.remembered.lock().unwrap().len() <= MAX_REMEMBERED);
        }
    }

    #[test]
    fn the_first_use_is_written_at_once_and_later_ones_in_batches() {
        let integrators = Integrators::default();
        let a = key("a", "10/s");
        integrators.take(&a, 1, false, Instant::now()).unwrap();
        let t0 = Utc::now();
        assert!(integrators.used("a", t0), "the first use");
        assert!(integrators.uses_to_write().is_empty(), "already written");
        let t1 = t0 + chrono::Duration::seconds(5);
        assert!(!integrators.used("a", t1));
        assert!(!integrators.used("a", t0), "an older use does not move it back");
        assert_eq!(integrators.uses_to_write(), vec![("a".into(), t1)]);
        assert!(integrators.uses_to_write().is_empty(), "written once");
        assert!(!integrators.used("unknown", t1), "no purse, nothing to write");
    }
}
