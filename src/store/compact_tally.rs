//! A scan tally in 24 bytes: the count and the first and last scan in microseconds since the
//! Unix epoch (scan times are kept to the microsecond everywhere). Chunk blobs store exactly
//! these three numbers, and the scan counter holds several per serial in memory, tens of
//! thousands of serials a second under a flood of fresh scans. A count of 0 is "no scans".

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::ScanTally;

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactTally {
    pub count: u64,
    pub first_us: i64,
    pub last_us: i64,
}

impl CompactTally {
    /// One scan at `at_us`.
    pub fn one(at_us: i64) -> Self {
        Self { count: 1, first_us: at_us, last_us: at_us }
    }

    pub fn of(tally: &ScanTally) -> Self {
        Self {
            count: tally.count,
            first_us: tally.first_at.timestamp_micros(),
            last_us: tally.last_at.timestamp_micros(),
        }
    }

    /// Adds the scans of `other`, widening the time span (a tally of no scans adds nothing and
    /// takes the other's span).
    pub fn merge(&mut self, other: CompactTally) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
    }

    /// The scans held, leaving none.
    pub fn take(&mut self) -> Option<CompactTally> {
        (self.count > 0).then(|| std::mem::take(self))
    }

    /// The figures as the [`super::Store`] answers them; a time out of chrono's range is corrupt.
    pub fn to_scan_tally(self) -> Result<ScanTally, StoreError> {
        Ok(ScanTally { count: self.count, first_at: micros(self.first_us)?, last_at: micros(self.last_us)? })
    }

    /// Like [`CompactTally::to_scan_tally`], `None` for no scans.
    pub fn to_option(self) -> Result<Option<ScanTally>, StoreError> {
        if self.count == 0 {
            return Ok(None);
        }
        self.to_scan_tally().map(Some)
    }
}

/// A scan time as kept: microseconds since the Unix epoch, UTC.
fn micros(value: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(value).ok_or_else(|| StoreError::Corrupt(format!("scan time {value} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SubsecRound;

    #[test]
    fn tallies_merge_into_none_keep_their_span_and_the_microsecond() {
        let at = Utc::now().trunc_subsecs(6);
        let stored = ScanTally { count: 4, first_at: at - chrono::Duration::days(3), last_at: at };
        assert_eq!(CompactTally::of(&stored).to_option().unwrap(), Some(stored), "round trip");
        assert_eq!(CompactTally::default().to_option().unwrap(), None);
        let mut none = CompactTally::default();
        none.merge(CompactTally::one(7));
        assert_eq!(none, CompactTally::one(7), "merged into none, it is the other");
        let mut tally = CompactTally { count: 2, first_us: 5, last_us: 9 };
        tally.merge(CompactTally::one(3));
        tally.merge(CompactTally::one(12));
        tally.merge(CompactTally::default());
        assert_eq!(tally, CompactTally { count: 4, first_us: 3, last_us: 12 });
        assert_eq!(tally.take(), Some(CompactTally { count: 4, first_us: 3, last_us: 12 }));
        assert_eq!(tally.take(), None, "taken once");
        assert!(CompactTally { count: 1, first_us: i64::MAX, last_us: 0 }.to_scan_tally().is_err(), "out of range");
    }
}
