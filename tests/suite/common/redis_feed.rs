//! Whether instances are connected to their shared Redis, and waiting until they are.

use std::time::{Duration, Instant};

use starmark::registry::Registry;

/// Whether `registry`'s shared tier (Redis) is connected now.
pub fn redis_up(registry: &Registry) -> bool {
    registry.tiers().and_then(|tiers| tiers.shared).is_some_and(|shared| shared.is_up())
}

/// Waits until every one of `registries` is connected to Redis; fails the test after ten seconds.
pub async fn wait_for_redis(registries: &[&Registry]) {
    let started = Instant::now();
    while !registries.iter().all(|registry| redis_up(registry)) {
        assert!(started.elapsed() < Duration::from_secs(10), "the instances did not connect to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
