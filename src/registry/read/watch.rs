//! The store watch: every instance reads the store's new events a few times per staleness bound
//! and forgets the answers they changed, in L1 and, where Redis holds an older copy, in Redis.
//!
//! The Redis change feed tells every instance of a change within milliseconds, but a lost
//! message cannot always be noticed where it matters: an instance cut off from Redis makes a
//! change it can neither share nor announce, while the others still hear the feed and would
//! keep their old answers. The watch needs nothing but the store, so it is what keeps the
//! staleness bound: while it reads the store, L1 serves answers until they are replaced; when it
//! cannot, no answer is served longer than the bound after it was loaded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Registry, RegistryError};
use crate::cache::shared::Tiers;

/// Events read in one query.
const BATCH: u32 = 1_000;

/// How often the watch looks, for a staleness bound: five times within it, but at least once a
/// second and at most every 10 ms.
pub fn watch_interval(stale_bound: Duration) -> Duration {
    (stale_bound / 5).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

impl Registry {
    /// Watches the store for changes, forever (a task of the server).
    pub async fn watch_changes(self: Arc<Self>) {
        let Some(tiers) = self.tiers() else { return };
        let every = watch_interval(tiers.local.stale_bound());
        let mut after = None;
        let mut failing = false;
        loop {
            let started = Instant::now();
            match self.apply_changes(&tiers, &mut after).await {
                Ok(()) => {
                    tiers.local.verified(started);
                    if std::mem::take(&mut failing) {
                        tracing::info!("the store watch reads the store again");
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "the store watch cannot read changes; answers are served at most the staleness bound after they were loaded");
                }
                Err(_) => {}
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Forgets what every event after `after` changed, up to the latest one. On the first call
    /// (`after` is `None`) only notes where the log of events ends.
    async fn apply_changes(&self, tiers: &Tiers, after: &mut Option<i64>) -> Result<(), RegistryError> {
        let Some(mut seen) = *after else {
            *after = Some(self.store.last_event_seq().await?);
            return Ok(());
        };
        loop {
            let changes = self.store.changes_after(seen, BATCH).await?;
            let Some((last, _, _)) = changes.last() else { return Ok(()) };
            seen = *last;
            let changed: Vec<(String, u32)> =
                changes.into_iter().map(|(_, number, version)| (String::from(number), version)).collect();
            let complete = changed.len() < BATCH as usize;
            if let Some(shared) = &tiers.shared {
                // Best effort: copies in Redis expire within the bound anyway.
                shared.forget_older(&changed).await;
            }
            tiers.local.forget_older_now_and_soon(changed).await;
            *after = Some(seen);
            if complete {
                return Ok(());
            }
        }
    }
}
