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
