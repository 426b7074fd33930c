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

/// The first midnight in China after `instant`: where a day's answers stop being true, since a
/// certificate valid until today is expired tomorrow.
pub fn next_midnight_in_china(instant: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = date_in_china(instant).succ_opt().unwrap_or(NaiveDate::MAX);
    tomorrow.and_time(chrono::NaiveTime::MIN).and_utc() - Duration::hours(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_midnight_in_china_is_16_00_utc_the_same_or_next_day() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("instant");
        assert_eq!(next_midnight_in_china(at("2026-11-27T08:00:00Z")), at("2026-11-27T16:00:00Z"));
        assert_eq!(next_midnight_in_china(at("2026-11-27T15:59:59Z")), at("2026-11-27T16:00:00Z"));
        assert_eq!(next_midnight_in_china(at("2026-11-27T16:00:00Z")), at("2026-11-28T16:00:00Z"));
        assert_eq!(next_midnight_in_china(at("2026-12-31T23:00:00Z")), at("2027-01-01T16:00:00Z"));
    }
}
