//! Whether this instance can do its work right now, for load balancers and monitoring: the
//! store answers, Redis (when configured) is connected, and the store watch looked lately.
//!
//! Only the store decides readiness. Without Redis an instance is slower to hear of changes
//! elsewhere but still right (the store watch bounds staleness); without the store it can serve
//! what it holds for a few seconds and nothing else.

use std::time::Duration;

use super::Registry;

/// How long the store may take to answer the readiness question before it counts as down.
const STORE_PING_LIMIT: Duration = Duration::from_secs(2);

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
    /// Asks the store one trivial question (bounded by [`STORE_PING_LIMIT`]) and reads the
    /// state of Redis and of the store watch; never fails.
    pub async fn readiness(&self) -> Readiness {
        let started = std::time::Instant::now();
        let store_ok = matches!(tokio::time::timeout(STORE_PING_LIMIT, self.store.ping()).await, Ok(Ok(())));
        let store_took = started.elapsed();
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
