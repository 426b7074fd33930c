//! Answers by status class, for `/metrics`: counted in the outermost layer ([`super::finish`])
//! for every request, so the count must cost next to nothing. Each worker thread counts in a
//! slot of its own (a cache line apart from the others), so the threads never contend for one
//! counter; a scrape adds the slots up.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::http::StatusCode;

/// Slots to spread the threads over: more than the worker threads of a machine this serves on.
const SLOTS: usize = 32;

/// The five status classes, 1xx to 5xx, for one slot; padded to its own cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Slot([AtomicU64; 5]);

/// Answers given by one server, by status class.
pub struct ResponseCounts {
    slots: Box<[Slot]>,
}

impl Default for ResponseCounts {
    fn default() -> Self {
        Self { slots: (0..SLOTS).map(|_| Slot::default()).collect() }
    }
}

/// Hands each thread its slot index, round robin.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn thread_slot() -> usize {
    THREAD_SLOT.with(|slot| {
        slot.get().unwrap_or_else(|| {
            let index = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            slot.set(Some(index));
            index
        })
    })
}

impl ResponseCounts {
    /// Counts one answer with `status`.
    pub fn count(&self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.slots[thread_slot()].0[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Answers since start for each class, 1xx to 5xx.
    pub fn totals(&self) -> [u64; 5] {
        let mut totals = [0; 5];
        for slot in self.slots.iter() {
            for (total, count) in totals.iter_mut().zip(&slot.0) {
                *total += count.load(Ordering::Relaxed);
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_class_across_threads() {
        let counts = std::sync::Arc::new(ResponseCounts::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counts.count(StatusCode::OK);
                    }
                    counts.count(StatusCode::NOT_FOUND);
                    counts.count(StatusCode::SERVICE_UNAVAILABLE);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        counts.count(StatusCode::NOT_MODIFIED);
        assert_eq!(counts.totals(), [0, 4_000, 1, 4, 4]);
    }
}
