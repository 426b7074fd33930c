//! The registry's sense of time: instants in UTC, calendar dates in China Standard Time, where
//! certificates' validity dates are read.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Now, in UTC.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Today's date in China Standard Time (UTC+8, no daylight saving).
pub fn today() -> NaiveDate {
    date_in_china(now())
}

/// The calendar date in China at `instant`.
pub fn date_in_china(instant: DateTime<Utc>) -> NaiveDate {
    (instant + Duration::hours(8)).date_naive()
}
