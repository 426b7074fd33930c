//! Warnings of events that may come by the thousand, said now and then with how many came.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::WARNING_EVERY;

/// Events worth a warning that may come by the thousand: counted, and reported at most once
/// per [`WARNING_EVERY`] with how many came since the last report.
#[derive(Default)]
pub(super) struct ThrottledWarning {
    since_last: AtomicU64,
    /// Since start, for the metrics.
    pub(super) total: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl ThrottledWarning {
    /// Counts one event; `Some(events since the last report)` when it is time to report.
    pub(super) fn note(&self) -> Option<u64> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.since_last.fetch_add(1, Ordering::Relaxed);
        let Ok(mut last) = self.last.try_lock() else { return None };
        if last.is_some_and(|last| last.elapsed() < WARNING_EVERY) {
            return None;
        }
        *last = Some(Instant::now());
        Some(self.since_last.swap(0, Ordering::Relaxed))
    }
}
