//! Scan figures as values: which serial was scanned ([`SerialKey`]), how often and when
//! ([`ScanTally`]), and by how many distinct scanners ([`ScannerSet`]). The counter, the shared
//! cache, the store and the pages all pass these around, so they live below all of them.
//!
//! A scanner set holds the distinct scanners of one mark serial: what the public scan figure and
//! the copy warning count, rather than requests (one client replaying a URL is one scanner).
//!
//! A scanner is a 32-bit keyed hash of the client's network, its user agent and the day (see
//! `registry/scan/scanners.rs`): no address is kept, and the same client counts again only on another
//! day. A set holds at most [`SCANNER_CAPACITY`] of them, one more than the copy-warning
//! threshold: once full, the serial is known to have been checked from more places than a real
//! package's mark would be, and nothing more is needed, so memory, Redis and the store keep a
//! small fixed amount per serial however often it is scanned.
//!
//! Sets only grow, by union, which is idempotent: an instance may send its whole set to Redis or
//! the store as often as it likes without counting anyone twice.
//!
//! Stored form (the store's `mark_scanners.scanners` and Redis's hash values): the earliest
//! counted scan in microseconds since the Unix epoch (`i64`), then each scanner (`u32`), all
//! big-endian.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One mark serial (batch 0, serial 0 is the certificate-level mark).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SerialKey {
    pub number: String,
    pub batch: u32,
    pub serial: u32,
}

/// How often a serial was scanned, and when first and last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ScanTally {
    pub count: u64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// Scanners a set holds at most: the copy-warning threshold plus one.
pub const SCANNER_CAPACITY: usize = 11;

/// Up to [`SCANNER_CAPACITY`] distinct scanners of a serial and the first time one was counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScannerSet {
    first_us: i64,
    len: u8,
    ids: [u32; SCANNER_CAPACITY],
}

impl ScannerSet {
    /// How many distinct scanners the set holds (at most [`SCANNER_CAPACITY`]).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the set is full: there may have been more scanners than it shows.
    pub fn is_full(&self) -> bool {
        self.len() == SCANNER_CAPACITY
    }

    /// The scanners held, in the order they were first counted.
    pub fn ids(&self) -> &[u32] {
        &self.ids[..self.len()]
    }

    /// The first counted scan; `None` for an empty set.
    pub fn first_at(&self) -> Option<DateTime<Utc>> {
        if self.is_empty() {
            return None;
        }
        DateTime::from_timestamp_micros(self.first_us)
    }

    /// Counts scanner `id` seen at `at_us` (microseconds since the epoch); true when it is new
    /// and there was room for it.
    pub fn insert(&mut self, id: u32, at_us: i64) -> bool {
        if self.ids().contains(&id) || self.is_full() {
            return false;
        }
        self.first_us = if self.is_empty() { at_us } else { self.first_us.min(at_us) };
        self.ids[self.len()] = id;
        self.len += 1;
        true
    }

    /// Adds the scanners of `other` there is room for; true when the set changed.
    pub fn merge(&mut self, other: &ScannerSet) -> bool {
        let mut changed = false;
        for &id in other.ids() {
            changed |= self.insert(id, other.first_us);
        }
        if !other.is_empty() && other.first_us < self.first_us {
            self.first_us = other.first_us;
            changed = true;
        }
        changed
    }

    /// The stored form (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.len());
        out.extend_from_slice(&self.first_us.to_be_bytes());
        for id in self.ids() {
            out.extend_from_slice(&id.to_be_bytes());
        }
        out
    }

    /// A set from its stored form; `None` when the bytes are not one (damaged or edited by
    /// hand). Scanners past the capacity, or repeated, are left out.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 8 || (bytes.len() - 8) % 4 != 0 {
            return None;
        }
        let (first, ids) = bytes.split_at(8);
        let first_us = i64::from_be_bytes(first.try_into().ok()?);
        let mut set = ScannerSet::default();
        for id in ids.chunks_exact(4) {
            set.insert(u32::from_be_bytes(id.try_into().ok()?), first_us);
        }
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_counts_each_scanner_once_up_to_its_capacity() {
        let mut set = ScannerSet::default();
        assert!(set.first_at().is_none());
        assert!(set.insert(7, 100));
        assert!(!set.insert(7, 50), "the same scanner again");
        assert_eq!((set.len(), set.first_us), (1, 100));
        for id in 1..=20 {
            set.insert(1000 + id, 200);
        }
        assert_eq!(set.len(), SCANNER_CAPACITY);
        assert!(set.is_full());
        assert!(!set.insert(5, 300), "no room");
        assert_eq!(set.ids()[0], 7);
    }

    #[test]
    fn union_is_idempotent_and_keeps_the_earliest_scan() {
        let mut a = ScannerSet::default();
        a.insert(1, 500);
        a.insert(2, 600);
        let mut b = ScannerSet::default();
        b.insert(2, 100);
        b.insert(3, 100);
        assert!(a.merge(&b));
        assert_eq!((a.ids(), a.first_us), (&[1, 2, 3][..], 100));
        assert!(!a.merge(&b), "merging again changes nothing");
        assert!(!a.merge(&ScannerSet::default()));
    }

    #[test]
    fn the_stored_form_round_trips_and_refuses_damage() {
        let mut set = ScannerSet::default();
        set.insert(0xdead_beef, -5);
        set.insert(1, 9);
        let bytes = set.encode();
        assert_eq!(bytes.len(), 16);
        assert_eq!(ScannerSet::decode(&bytes), Some(set));
        assert_eq!(ScannerSet::decode(&bytes[..15]), None);
        assert_eq!(ScannerSet::decode(&[]), None);
        let empty = ScannerSet::decode(&0i64.to_be_bytes()).unwrap();
        assert!(empty.is_empty());
    }
}
