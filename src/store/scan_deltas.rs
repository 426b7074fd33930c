//! One flush's new scans, in the shape the stores merge them into chunks: by certificate and
//! batch, each batch's serials in ascending order with one tally each.
//!
//! Under a flood of fresh scans a flush carries tens of thousands of serials. Held as a key and a
//! dated tally each (a `String` of the certificate number, two `DateTime`s), they took about 100
//! bytes and an allocation a serial, then were sorted by their text; here a serial is 32 bytes
//! (its number and a [`CompactTally`]) and the certificate number is written once per batch.

use super::CompactTally;
use crate::domain::{ScanTally, SerialKey};

/// Serials of one batch and the scans to add to each.
pub type SerialScans = Vec<(u32, CompactTally)>;

/// The scans of one batch of one certificate: serials ascending, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchScans {
    number: String,
    batch: u32,
    serials: SerialScans,
}

impl BatchScans {
    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn batch(&self) -> u32 {
        self.batch
    }

    /// Serials ascending, each once, with the scans to add to it.
    pub fn serials(&self) -> &[(u32, CompactTally)] {
        &self.serials
    }
}

/// Scans to add to the stored tallies: batches in (certificate, batch) order, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanDeltas {
    batches: Vec<BatchScans>,
}

impl ScanDeltas {
    /// Orders what it is given: batches by certificate and batch, serials ascending; scans of a
    /// batch or a serial given more than once are merged.
    pub fn from_batches(batches: impl IntoIterator<Item = (String, u32, SerialScans)>) -> Self {
        let mut batches: Vec<BatchScans> =
            batches.into_iter().map(|(number, batch, serials)| BatchScans { number, batch, serials }).collect();
        batches.sort_unstable_by(|a, b| (a.number.as_str(), a.batch).cmp(&(b.number.as_str(), b.batch)));
        let mut merged: Vec<BatchScans> = Vec::with_capacity(batches.len());
        for batch in batches {
            match merged.last_mut() {
                Some(last) if last.number == batch.number && last.batch == batch.batch => {
                    last.serials.extend(batch.serials);
                }
                _ => merged.push(batch),
            }
        }
        for batch in &mut merged {
            batch.serials.sort_unstable_by_key(|(serial, _)| *serial);
            batch.serials.dedup_by(|later, earlier| {
                if later.0 != earlier.0 {
                    return false;
                }
                earlier.1.merge(later.1);
                true
            });
        }
        merged.retain(|batch| !batch.serials.is_empty());
        Self { batches: merged }
    }

    /// The same from one key and dated tally a serial (what callers outside the hot path have).
    pub fn from_tallies(tallies: &[(SerialKey, ScanTally)]) -> Self {
        let mut batches: Vec<(String, u32, SerialScans)> = Vec::new();
        for (key, tally) in tallies {
            let scans = (key.serial, CompactTally::of(tally));
            match batches.iter_mut().find(|(number, batch, _)| *number == key.number && *batch == key.batch) {
                Some((_, _, serials)) => serials.push(scans),
                None => batches.push((key.number.clone(), key.batch, vec![scans])),
            }
        }
        Self::from_batches(batches)
    }

    pub fn batches(&self) -> &[BatchScans] {
        &self.batches
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Serials with scans to add.
    pub fn serial_count(&self) -> usize {
        self.batches.iter().map(|batch| batch.serials.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(count: u64, first_us: i64, last_us: i64) -> CompactTally {
        CompactTally { count, first_us, last_us }
    }

    #[test]
    fn batches_and_serials_come_ordered_and_once() {
        let deltas = ScanDeltas::from_batches([
            ("B".to_string(), 1, vec![(5, tally(1, 10, 10))]),
            ("A".to_string(), 2, vec![(9, tally(1, 1, 1)), (3, tally(1, 2, 2))]),
            ("A".to_string(), 1, vec![(7, tally(1, 5, 5))]),
            ("A".to_string(), 2, vec![(9, tally(2, 0, 4)), (4, tally(1, 3, 3))]),
            ("C".to_string(), 1, vec![]),
        ]);
        let shape: Vec<(&str, u32, Vec<u32>)> = deltas
            .batches()
            .iter()
            .map(|b| (b.number(), b.batch(), b.serials().iter().map(|(s, _)| *s).collect()))
            .collect();
        assert_eq!(shape, vec![("A", 1, vec![7]), ("A", 2, vec![3, 4, 9]), ("B", 1, vec![5])]);
        assert_eq!(deltas.batches()[1].serials()[2].1, tally(3, 0, 4), "serial 9 given twice, merged");
        assert_eq!(deltas.serial_count(), 5);
        assert!(ScanDeltas::from_batches([("C".to_string(), 1, vec![])]).is_empty());
    }

    #[test]
    fn dated_tallies_give_the_same_deltas() {
        let at = |us| chrono::DateTime::from_timestamp_micros(us).unwrap();
        let key = |number: &str, batch, serial| SerialKey { number: number.into(), batch, serial };
        let dated = |count, first, last| ScanTally { count, first_at: at(first), last_at: at(last) };
        let deltas = ScanDeltas::from_tallies(&[
            (key("B", 1, 5), dated(1, 10, 10)),
            (key("A", 1, 1025), dated(2, 3, 8)),
            (key("A", 1, 1), dated(1, 4, 4)),
        ]);
        assert_eq!(
            deltas,
            ScanDeltas::from_batches([
                ("A".to_string(), 1, vec![(1, tally(1, 4, 4)), (1025, tally(2, 3, 8))]),
                ("B".to_string(), 1, vec![(5, tally(1, 10, 10))]),
            ])
        );
    }
}
