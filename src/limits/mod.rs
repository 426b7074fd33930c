//! Per-client rate limits: a GCRA ([`gcra`]) per client network and route class, kept in a
//! bounded table ([`table`]). One client, however busy, gets its own quota of each class and
//! nothing of anyone else's.
//!
//! The classes and their policies are configured in one variable, `STARMARK_RATE_LIMITS`
//! (`scans=6000/60,search=60/60,bulk=off`: units per window in seconds, or `off`); classes not
//! named keep their defaults. The HTTP layer decides which routes belong to which class
//! (`http::rate_limits`).

pub mod gcra;
pub mod integrators;
pub mod known_tokens;
pub mod table;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use gcra::Gcra;

/// Number of classes.
pub const CLASSES: usize = 11;

/// Clients held at once unless configured (`STARMARK_RATE_LIMIT_CLIENTS`): 5 to 10 MB.
pub const DEFAULT_MAX_CLIENTS: usize = 50_000;

/// What a request is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Scans of a mark: `/v/{token}`, `/V/{token}`, `/01/{gtin}/21/{serial}`.
    Scans,
    /// One certificate: the API, its history and its page.
    Lookups,
    /// Searches: the API and the search pages; product lookups (`/api/v1/products/{gtin}`, `/01/{gtin}`).
    Search,
    /// Bulk verification, charged per row of the list.
    Bulk,
    /// Issuing receipts: one per started 4 KiB stored.
    Receipts,
    /// Fetching, viewing or checking a stored receipt: one each. Apart from issuing, so that a
    /// client whose large receipt left it owing can still open the receipt it was just given.
    ReceiptChecks,
    /// Certificate-level mark artwork (SVG, PNG).
    Artwork,
    /// The transparency log: checkpoints, proofs, tiles.
    Log,
    /// Store lookups of API tokens presented on public routes (to exempt them from the
    /// limits). Never refuses a request: a client over it is limited as if it sent no token.
    TokenChecks,
    /// Store lookups of integrator keys presented on public routes (keys not remembered as
    /// valid or bad). A client over it is refused (429) until it has allowance again.
    KeyChecks,
    /// An integrator key's own purse ([`integrators`]): never kept per client, and set per key
    /// (`starmark key create --rate`), not in `STARMARK_RATE_LIMITS`.
    Integrator,
}

impl Class {
    pub const ALL: [Class; CLASSES] = [
        Class::Scans,
        Class::Lookups,
        Class::Search,
        Class::Bulk,
        Class::Receipts,
        Class::ReceiptChecks,
        Class::Artwork,
        Class::Log,
        Class::TokenChecks,
        Class::KeyChecks,
        Class::Integrator,
    ];

    /// The class's name in the variable, the headers and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Scans => "scans",
            Class::Lookups => "lookups",
            Class::Search => "search",
            Class::Bulk => "bulk",
            Class::Receipts => "receipts",
            Class::ReceiptChecks => "receipt_checks",
            Class::Artwork => "artwork",
            Class::Log => "log",
            Class::TokenChecks => "token_checks",
            Class::KeyChecks => "key_checks",
            Class::Integrator => "integrator",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The default policy: generous enough that a crowd of phones behind one carrier's NAT
    /// address is never refused a scan or a lookup, tight where one request costs real work.
    fn default_policy(self) -> Policy {
        let (quota, window_secs) = match self {
            Class::Scans | Class::Lookups => (6_000, 60),
            Class::Search => (60, 60),
            Class::Bulk => (20_000, 60),
            Class::Receipts | Class::ReceiptChecks => (120, 60),
            Class::Artwork => (60, 60),
            Class::Log => (1_200, 60),
            Class::TokenChecks | Class::KeyChecks => (60, 60),
            Class::Integrator => return integrators::DEFAULT_KEY_RATE,
        };
        Policy { quota, window_secs }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `quota` units per `window_secs` seconds, with a burst of the whole quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub quota: u32,
    pub window_secs: u32,
}

/// The longest window a policy may have: a day.
const MAX_WINDOW_SECS: u32 = 86_400;

impl FromStr for Policy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (quota, window) =
            text.split_once('/').ok_or_else(|| format!("'{text}' is not QUOTA/SECONDS (such as 600/60) or off"))?;
        let quota = match quota.trim().parse::<u32>() {
            Ok(quota) if quota > 0 => quota,
            _ => return Err(format!("'{text}': the quota must be a whole number from 1 to {}", u32::MAX)),
        };
        let window_secs = match window.trim().parse::<u32>() {
            Ok(secs) if (1..=MAX_WINDOW_SECS).contains(&secs) => secs,
            _ => return Err(format!("'{text}': the window must be 1 to {MAX_WINDOW_SECS} seconds")),
        };
        Ok(Self { quota, window_secs })
    }
}

/// The policy of every class; `None` for a class that is not limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies([Option<Policy>; CLASSES]);

impl Default for Policies {
    fn default() -> Self {
        Self(Class::ALL.map(|class| (class != Class::Integrator).then(|| class.default_policy())))
    }
}

impl Policies {
    pub fn get(&self, class: Class) -> Option<Policy> {
        self.0[class.index()]
    }
}

/// `class=QUOTA/SECONDS` or `class=off`, separated by commas; classes not named keep their
/// defaults; a class named twice, an unknown class or a bad policy is refused with its name.
impl FromStr for Policies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut policies = Self::default();
        let mut named = [false; CLASSES];
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, policy) =
                part.split_once('=').ok_or_else(|| format!("'{part}' is not class=QUOTA/SECONDS or class=off"))?;
            let name = name.trim();
            let class = Class::ALL.into_iter().find(|class| class.name() == name).ok_or_else(|| {
                let known: Vec<_> = Class::ALL.iter().map(|class| class.name()).collect();
                format!("'{name}' is not a class; the classes are {}", known.join(", "))
            })?;
            if class == Class::Integrator {
                return Err("'integrator' is set per key (`starmark key create --rate`), not here".to_string());
            }
            if std::mem::replace(&mut named[class.index()], true) {
                return Err(format!("the class '{name}' is named twice"));
            }
            let policy = policy.trim();
            policies.0[class.index()] = if policy.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(policy.parse().map_err(|e| format!("{name}: {e}"))?)
            };
        }
        Ok(policies)
    }
}

/// A client's standing in one class after a decision, for the answer's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub class: Class,
    pub policy: Policy,
    /// Units the client could spend at once now.
    pub remaining: u64,
    /// Seconds (rounded up) until the client's whole quota is back.
    pub reset_secs: u64,
}

/// A refusal: the standing, and the seconds (rounded up, at least 1) until the refused
/// request's cost would be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub standing: Standing,
    pub retry_after_secs: u64,
}

/// The answer to a request's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The class is not limited.
    Unlimited,
    Granted(Standing),
    Refused(Refusal),
}

/// What a charge did, before any standing is worked out from it.
enum Charged {
    Unlimited,
    Granted { gcra: Gcra, tat: u64, now: u64 },
    Refused { gcra: Gcra, tat: u64, now: u64, wait: gcra::Wait },
}

/// Every client's limits in every class, and the refusals made.
pub struct Limiter {
    table: table::Table,
    policies: Policies,
    gcras: [Option<Gcra>; CLASSES],
    refused: [AtomicU64; CLASSES],
    epoch: Instant,
    /// Tokens found valid lately, exempt without another store lookup.
    pub known_tokens: known_tokens::KnownTokens,
    /// Integrator keys' purses and the keys found valid or bad lately.
    pub integrators: integrators::Integrators,
}

fn seconds_up(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

impl Limiter {
    /// A limiter holding at most about `max_clients` clients at once.
    pub fn new(policies: Policies, max_clients: usize) -> Self {
        Self {
            table: table::Table::new(max_clients),
            policies,
            gcras: policies.0.map(|policy| policy.map(Gcra::new)),
            refused: Default::default(),
            epoch: Instant::now(),
            known_tokens: Default::default(),
            integrators: Default::default(),
        }
    }

    pub fn policy(&self, class: Class) -> Option<Policy> {
        self.policies.get(class)
    }

    /// Whether `class` is limited at all (an unlimited class costs a request nothing).
    pub fn limits(&self, class: Class) -> bool {
        self.gcras[class.index()].is_some()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Charges `cost` units of `class` to the client `key` (a network's bits), or refuses the
    /// whole cost and charges nothing.
    pub fn take(&self, key: u128, class: Class, cost: u32) -> Decision {
        match self.charge(key, class, cost) {
            Charged::Unlimited => Decision::Unlimited,
            Charged::Granted { gcra, tat, now } => Decision::Granted(self.standing_at(class, gcra, tat, now)),
            Charged::Refused { gcra, tat, now, wait } => Decision::Refused(Refusal {
                standing: self.standing_at(class, gcra, tat, now),
                retry_after_secs: seconds_up(wait.0).max(1),
            }),
        }
    }

    /// [`Limiter::take`] of one unit for an answer that carries no standing (the hot routes):
    /// the same charge, but the standing is worked out only for a refusal.
    pub fn admit(&self, key: u128, class: Class) -> Result<(), Refusal> {
        match self.charge(key, class, 1) {
            Charged::Unlimited | Charged::Granted { .. } => Ok(()),
            Charged::Refused { gcra, tat, now, wait } => Err(Refusal {
                standing: self.standing_at(class, gcra, tat, now),
                retry_after_secs: seconds_up(wait.0).max(1),
            }),
        }
    }

    /// The charge itself: the client's theoretical arrival time moves on by `cost`, or stays
    /// where it is (counted as a refusal).
    fn charge(&self, key: u128, class: Class, cost: u32) -> Charged {
        let Some(gcra) = self.gcras[class.index()] else {
            return Charged::Unlimited;
        };
        let now = self.now();
        let decided = self.table.with(key, now, |tats| {
            let tat = &mut tats[class.index()];
            match gcra.decide(*tat, now, cost) {
                Ok(next) => {
                    *tat = next;
                    Ok(next)
                }
                Err(wait) => Err((*tat, wait)),
            }
        });
        match decided {
            Ok(tat) => Charged::Granted { gcra, tat, now },
            Err((tat, wait)) => {
                self.refused[class.index()].fetch_add(1, Ordering::Relaxed);
                Charged::Refused { gcra, tat, now, wait }
            }
        }
    }

    fn standing_at(&self, class: Class, gcra: Gcra, tat: u64, now: u64) -> Standing {
        Standing {
            class,
            policy: self.policies.get(class).unwrap_or(class.default_policy()),
            remaining: gcra.remaining(tat, now),
            reset_secs: seconds_up(gcra.reset(tat, now)),
        }
    }

    /// Whether one unit of `class` would be granted to `key` now, charging nothing: lets a
    /// request whose cost is known only later be refused before its work when nothing is left.
    pub fn peek(&self, key: u128, class: Class) -> Decision {
        let decision = self.look(key, class);
        if matches!(decision, Decision::Refused(_)) {
            self.refused[class.index()].fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    /// The client's standing in `class` now, for an answer's headers; `None` when not limited.
    pub fn standing(&self, key: u128, class: Class) -> Option<Standing> {
        match self.look(key, class) {
            Decision::Unlimited => None,
            Decision::Granted(standing) => Some(standing),
            Decision::Refused(refusal) => Some(refusal.standing),
        }
    }

    fn look(&self, key: u128, class: Class) -> Decision {
        let Some(gcra) = self.gcras[class.index()] else {
            return Decision::Unlimited;
        };
        let now = self.now();
        let tat = self.table.get(key)[class.index()];
        let policy = self.policies.get(class).unwrap_or(class.default_policy());
        let standing = Standing {
            class,
            policy,
            remaining: gcra.remaining(tat, now),
            reset_secs: seconds_up(gcra.reset(tat, now)),
        };
        match gcra.decide(tat, now, 1) {
            Ok(_) => Decision::Granted(standing),
            Err(wait) => Decision::Refused(Refusal { standing, retry_after_secs: seconds_up(wait.0).max(1) }),
        }
    }

    /// Refusals since start, by class (for `token_checks`: lookups skipped, not requests
    /// refused).
    pub fn refusals(&self) -> [(Class, u64); CLASSES] {
        Class::ALL.map(|class| (class, self.refused[class.index()].load(Ordering::Relaxed)))
    }

    /// Clients held now.
    pub fn clients(&self) -> usize {
        self.table.len()
    }
}

/// One client's purse in a [`Limiter`], for work whose cost is known only as it is done (the
/// rows of a bulk check, the bytes of a receipt).
#[derive(Clone, Copy)]
pub enum Budget<'a> {
    /// An anonymous client, by its network's bits: charged in each class.
    Client { limiter: &'a Limiter, key: u128 },
    /// An integrator's key: every class is charged to the key's one purse.
    Integrator { limiter: &'a Limiter, key: &'a integrators::ValidKey },
}

impl Budget<'_> {
    /// Charges `cost` units of `class`; the refusal when they are not there.
    pub fn charge(&self, class: Class, cost: u32) -> Result<(), Refusal> {
        match self {
            Budget::Client { limiter, key } => match limiter.take(*key, class, cost) {
                Decision::Refused(refusal) => Err(refusal),
                Decision::Granted(_) | Decision::Unlimited => Ok(()),
            },
            Budget::Integrator { limiter, key } => {
                limiter.integrators.take(key, cost, false, Instant::now()).map(|_| ())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_default_and_override_class_by_class() {
        let policies: Policies = " scans=100000/1 , search = off,bulk=500/3600".parse().unwrap();
        assert_eq!(policies.get(Class::Scans), Some(Policy { quota: 100_000, window_secs: 1 }));
        assert_eq!(policies.get(Class::Search), None);
        assert_eq!(policies.get(Class::Bulk), Some(Policy { quota: 500, window_secs: 3600 }));
        assert_eq!(policies.get(Class::Lookups), Policies::default().get(Class::Lookups));
        assert_eq!("".parse::<Policies>().unwrap(), Policies::default());
    }

    #[test]
    fn bad_policies_are_named() {
        for (text, says) in [
            ("scan=10/60", "'scan' is not a class; the classes are scans, lookups"),
            ("scans", "'scans' is not class=QUOTA/SECONDS"),
            ("scans=10", "'10' is not QUOTA/SECONDS"),
            ("scans=0/60", "scans: '0/60': the quota must be"),
            ("scans=ten/60", "the quota must be"),
            ("scans=10/0", "the window must be 1 to 86400 seconds"),
            ("scans=10/1m", "'10/1m': the window"),
            ("scans=10/60,scans=off", "the class 'scans' is named twice"),
            ("integrator=10/1", "'integrator' is set per key"),
        ] {
            let error = text.parse::<Policies>().expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn one_client_spending_its_quota_leaves_others_theirs() {
        let limiter = Limiter::new("search=3/60".parse().unwrap(), 100);
        for n in 0..3 {
            assert!(matches!(limiter.take(1, Class::Search, 1), Decision::Granted(s) if s.remaining == 2 - n));
        }
        let Decision::Refused(refusal) = limiter.take(1, Class::Search, 1) else { panic!("over the quota") };
        assert_eq!(refusal.standing.remaining, 0);
        assert!((19..=20).contains(&refusal.retry_after_secs), "{refusal:?}");
        assert!((59..=60).contains(&refusal.standing.reset_secs), "{refusal:?}");
        assert!(matches!(limiter.peek(1, Class::Search), Decision::Refused(_)));
        assert!(matches!(limiter.take(2, Class::Search, 1), Decision::Granted(_)), "another client");
        assert_eq!(limiter.admit(2, Class::Search), Ok(()), "admitted like a take");
        assert!(matches!(limiter.take(2, Class::Search, 1), Decision::Granted(s) if s.remaining == 0), "and charged");
        let Err(refused) = limiter.admit(2, Class::Search) else { panic!("over the quota") };
        assert!(refused.standing.remaining == 0 && (19..=20).contains(&refused.retry_after_secs), "{refused:?}");
        assert!(matches!(limiter.take(1, Class::Lookups, 1), Decision::Granted(_)), "another class");
        assert_eq!(limiter.refusals()[Class::Search.index()], (Class::Search, 3));
        let off = Limiter::new("search=off".parse().unwrap(), 100);
        assert_eq!(off.take(1, Class::Search, 1_000), Decision::Unlimited);
    }

    #[test]
    fn a_budget_charges_a_cost_whole() {
        let limiter = Limiter::new("bulk=10/60".parse().unwrap(), 100);
        let budget = Budget::Client { limiter: &limiter, key: 7 };
        assert!(budget.charge(Class::Bulk, 8).is_ok());
        assert!(budget.charge(Class::Bulk, 3).is_err(), "3 rows do not fit in the 2 left");
        assert!(budget.charge(Class::Bulk, 2).is_ok(), "the refused rows were not charged");
    }
}
