//! What an instance's cache has heard of changes made elsewhere, so tests can assert which
//! mechanism carried a change (the Redis change feed or the store watch) instead of timing it.

use starmark::registry::Registry;

/// Change announcements `registry`'s instance heard on the Redis change feed.
pub fn announcements_heard(registry: &Registry) -> u64 {
    registry.tiers().expect("a read path").local.announcements_heard()
}

/// Cached answers `registry`'s store watch dropped for a later version it found in the store.
pub fn answers_dropped_by_watch(registry: &Registry) -> u64 {
    registry.tiers().expect("a read path").local.answers_dropped_by_watch()
}

/// Waits until the drops `registry`'s cache scheduled after changes (a moment after each, so
/// that a load in flight during the change cannot keep the old state) have all run: an answer
/// read after this stays cached.
pub async fn until_scheduled_drops_ran(registry: &Registry) {
    let local = registry.tiers().expect("a read path").local;
    super::wait::until("the cache's scheduled drops to run", || {
        let pending = local.drops_pending();
        std::future::ready(if pending == 0 { Ok(()) } else { Err(format!("{pending} pending")) })
    })
    .await;
}

/// Waits until `registry`'s store watch had its first look at the store: answers loaded from
/// the store after it are trusted past the staleness bound while the watch keeps looking.
pub async fn until_the_watch_looked(registry: &Registry) {
    let local = registry.tiers().expect("a read path").local;
    super::wait::until_true("the store watch's first look", || std::future::ready(local.watch_age().is_some())).await;
}
