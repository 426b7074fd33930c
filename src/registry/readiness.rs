//! Whether this instance can do its work right now, for load balancers and monitoring: the
//! store answers, Redis (when configured) is connected, and the store watch looked lately.
//!
//! Only the store decides readiness. Without Redis an instance is slower to hear of changes
//! elsewhere but still right (the store watch bounds staleness); without the store it can serve
//! what it holds for a few seconds and nothing else.

use std::time::{Duration, Instant};

use super::Registry;

/// How long the store may take to answer the readiness question before it counts as down.
const STORE_PING_LIMIT: Duration = Duration::from_secs(2);
/// How long one answer of the store serves every readiness question: `/readyz` is public, and
/// a flood of it must not become a flood of queries taking the pool's connections.
const STORE_CHECK_REUSED_FOR: Duration = Duration::from_secs(1);

/// The store's last answer to the readiness question; one question at a time.
#[derive(Default)]
pub(super) struct StoreCheck {
    last: tokio::sync::Mutex<Option<(Instant, bool, Duration)>>,
    /// Questions asked of the store since start.
    asked: std::sync::atomic::AtomicU64,
}

/// The shared tier's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisState {
    /// `REDIS_URL` is not set.
    Off,
    Up,
    Down,
}

impl RedisState {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisState::Off => "off",
            RedisState::Up => "up",
            RedisState::Down => "down",
        }
    }
}

/// What `/readyz` reports.
#[derive(Clone, Debug)]
pub struct Readiness {
    /// The store answered within [`STORE_PING_LIMIT`].
    pub store_ok: bool,
    /// How long it took to answer (or to fail).
    pub store_took: Duration,
    pub redis: RedisState,
    /// How long ago the store watch last read the store's events; `None` before its first look.
    pub watch_age: Option<Duration>,
}

impl Readiness {
    /// Ready to take traffic: the store answers.
    pub fn ready(&self) -> bool {
        self.store_ok
    }
}

impl Registry {
    /// How many times readiness asked the store since start.
    pub fn store_checks(&self) -> u64 {
        self.store_check.asked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks the store one trivial question (bounded by [`STORE_PING_LIMIT`], and at most once
    /// per [`STORE_CHECK_REUSED_FOR`] however many ask) and reads the state of Redis and of the
    /// store watch; never fails.
    pub async fn readiness(&self) -> Readiness {
        let (store_ok, store_took) = {
            let mut last = self.store_check.last.lock().await;
            match *last {
                Some((at, ok, took)) if at.elapsed() < STORE_CHECK_REUSED_FOR => (ok, took),
                _ => {
                    self.store_check.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let started = Instant::now();
                    let ok = matches!(tokio::time::timeout(STORE_PING_LIMIT, self.store.ping()).await, Ok(Ok(())));
                    let took = started.elapsed();
                    *last = Some((Instant::now(), ok, took));
                    (ok, took)
                }
            }
        };
        let tiers = self.tiers();
        let redis = match tiers.as_ref().and_then(|tiers| tiers.shared.as_ref()) {
            None => RedisState::Off,
            Some(shared) if shared.is_up() => RedisState::Up,
            Some(_) => RedisState::Down,
        };
        let watch_age = tiers.and_then(|tiers| tiers.local.watch_age());
        Readiness { store_ok, store_took, redis, watch_age }
    }
}
