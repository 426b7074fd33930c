//! RFC 3339 text for the dates and instants of hot JSON answers, written straight into a small
//! buffer. chrono's own serialisation goes through `core::fmt` (a `Display` per field, a call per
//! character) and cost a scan answer about half a microsecond for its handful of dates; these
//! give the same text, byte for byte, for every value (tests check it against chrono) and leave
//! the rare values outside years 0000-9999 or in a leap second to chrono itself. Each comes as a
//! serde `serialize_with` function and as a `push_` function for JSON written by hand.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::{Serialize, Serializer};

/// Longest text written here: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// A fixed buffer the digits go into.
struct Text {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Text {
    fn new() -> Self {
        Self { bytes: [0; MAX_LEN], len: 0 }
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value` in exactly `width` decimal digits (the caller keeps it below 10^width).
    fn digits(&mut self, mut value: u32, width: usize) {
        for at in (self.len..self.len + width).rev() {
            self.bytes[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    fn date(&mut self, year: u32, month: u32, day: u32) {
        self.digits(year, 4);
        self.push(b'-');
        self.digits(month, 2);
        self.push(b'-');
        self.digits(day, 2);
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Years written with four digits; chrono writes a sign and more digits outside them.
fn four_digit_year(year: i32) -> Option<u32> {
    u32::try_from(year).ok().filter(|&year| year <= 9999)
}

/// `YYYY-MM-DD`, as chrono writes it; `None` outside the years written here.
fn date_text(date: &NaiveDate) -> Option<Text> {
    let year = four_digit_year(date.year())?;
    let mut text = Text::new();
    text.date(year, date.month(), date.day());
    Some(text)
}

/// `serialize_with` for a [`NaiveDate`]: `YYYY-MM-DD`, as chrono writes it.
pub fn date<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    serialize_text_or(date_text(date), date, serializer)
}

/// Appends `date` as a JSON string, the same text as [`date`] gives.
pub fn push_date(out: &mut Vec<u8>, date: &NaiveDate) -> Result<(), serde_json::Error> {
    push_text_or(out, date_text(date), date)
}

/// Appends `at` as a JSON string, the same text as [`instant`] gives.
pub fn push_instant(out: &mut Vec<u8>, at: &DateTime<Utc>) -> Result<(), serde_json::Error> {
    push_text_or(out, instant_text(at), at)
}

/// `text` as a string when there is one, else `value` as chrono serialises it.
fn serialize_text_or<S: Serializer>(
    text: Option<Text>,
    value: &impl Serialize,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match text {
        Some(text) => serializer.serialize_str(text.as_str()),
        None => value.serialize(serializer),
    }
}

/// [`serialize_text_or`] appending JSON to `out`; digits and punctuation need no escaping.
fn push_text_or(out: &mut Vec<u8>, text: Option<Text>, value: &impl Serialize) -> Result<(), serde_json::Error> {
    let Some(text) = text else { return serde_json::to_writer(out, value) };
    out.push(b'"');
    out.extend_from_slice(&text.bytes[..text.len]);
    out.push(b'"');
    Ok(())
}

/// `serialize_with` for a UTC instant: RFC 3339 with `Z`, and as many fraction digits as chrono's
/// own serialisation writes (none, 3, 6 or 9: the fewest that keep the value exact).
pub fn instant<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serialize_text_or(instant_text(at), at, serializer)
}

/// RFC 3339 with `Z` as chrono writes it; `None` outside the years written here and in a leap
/// second.
fn instant_text(at: &DateTime<Utc>) -> Option<Text> {
    let nanos = at.nanosecond();
    let year = four_digit_year(at.year()).filter(|_| nanos < 1_000_000_000)?;
    let mut text = Text::new();
    text.date(year, at.month(), at.day());
    text.push(b'T');
    text.digits(at.hour(), 2);
    text.push(b':');
    text.digits(at.minute(), 2);
    text.push(b':');
    text.digits(at.second(), 2);
    if nanos != 0 {
        text.push(b'.');
        if nanos % 1_000_000 == 0 {
            text.digits(nanos / 1_000_000, 3);
        } else if nanos % 1_000 == 0 {
            text.digits(nanos / 1_000, 6);
        } else {
            text.digits(nanos, 9);
        }
    }
    text.push(b'Z');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "instant")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "date")]
        day: NaiveDate,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        day: NaiveDate,
    }

    /// Our text (by serde and by the push functions, which must agree) and chrono's.
    fn both(at: DateTime<Utc>) -> (String, String) {
        let day = at.date_naive();
        let ours = serde_json::to_string(&Ours { at, day }).unwrap();
        let mut pushed = br#"{"at":"#.to_vec();
        push_instant(&mut pushed, &at).unwrap();
        pushed.extend_from_slice(br#","day":"#);
        push_date(&mut pushed, &day).unwrap();
        pushed.push(b'}');
        assert_eq!(String::from_utf8(pushed).unwrap(), ours);
        let theirs = serde_json::to_string(&Chrono { at, day }).unwrap();
        (ours, theirs)
    }

    #[test]
    fn writes_what_chrono_writes_for_each_fraction_length() {
        let second = Utc.with_ymd_and_hms(2026, 11, 27, 17, 48, 46).unwrap();
        for nanos in [0, 5_000_000, 648_000_000, 648_761_000, 761_000, 648_761_524, 1, 999_999_999] {
            let at = second + chrono::Duration::nanoseconds(nanos);
            let (ours, theirs) = both(at);
            assert_eq!(ours, theirs, "at {nanos} ns");
        }
        let (ours, _) = both(second + chrono::Duration::microseconds(648_761));
        assert_eq!(ours, r#"{"at":"2026-11-27T17:48:46.648761Z","day":"2026-11-27"}"#);
    }

    #[test]
    fn leaves_years_past_four_digits_and_before_zero_to_chrono() {
        for at in [
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ] {
            let (ours, theirs) = both(at);
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn leap_seconds_are_written_by_chrono() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        let (ours, theirs) = both(Utc.from_utc_datetime(&leap));
        assert_eq!(ours, theirs);
    }

    proptest! {
        #[test]
        fn any_instant_reads_as_chrono_writes_it(seconds in -100_000_000_000i64..300_000_000_000, nanos in 0u32..1_000_000_000, round in 0u8..4) {
            let nanos = match round { 0 => 0, 1 => nanos / 1_000_000 * 1_000_000, 2 => nanos / 1_000 * 1_000, _ => nanos };
            let at = Utc.timestamp_opt(seconds, nanos).unwrap();
            let (ours, theirs) = both(at);
            prop_assert_eq!(ours, theirs);
        }
    }
}
