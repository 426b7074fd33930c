//! GS1 identifiers a star mark can carry: the product's GTIN (application identifier 01) and the
//! rules of a serial in application identifier 21.
//!
//! A [`Gtin`] can only be built by [`Gtin::parse`], so it always holds a GTIN-8, -12, -13 or -14
//! whose check digit is right, kept as the 14 digits of GTIN-14 (shorter ones padded with leading
//! zeros), the form GS1 Digital Link URIs carry.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Digits of a GTIN as kept: GTIN-14.
pub const GTIN_LEN: usize = 14;
/// Longest serial application identifier 21 allows.
pub const MAX_AI21_CHARS: usize = 20;

/// A GTIN with a correct check digit, as its 14 digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin([u8; GTIN_LEN]);

/// Why a string is not a GTIN; the message names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("a GTIN has 8, 12, 13 or 14 digits, this one has {0} characters")]
    Length(usize),
    #[error("character '{0}' is not a digit; a GTIN has digits only")]
    Character(char),
    #[error("check digit should be {expected} but is {given}")]
    CheckDigit { expected: char, given: char },
}

/// The GS1 check digit of `body` (every digit but the last): weights 3 and 1 alternating from
/// the right, then the step up to a multiple of ten.
fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 =
        body.iter().rev().enumerate().map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    b'0' + ((10 - sum % 10) % 10) as u8
}

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14 (surrounding white space allowed) and keeps it as GTIN-14.
    pub fn parse(input: &str) -> Result<Self, GtinError> {
        let input = input.trim();
        if let Some(c) = input.chars().find(|c| !c.is_ascii_digit()) {
            return Err(GtinError::Character(c));
        }
        if ![8, 12, 13, 14].contains(&input.len()) {
            return Err(GtinError::Length(input.chars().count()));
        }
        let mut digits = [b'0'; GTIN_LEN];
        digits[GTIN_LEN - input.len()..].copy_from_slice(input.as_bytes());
        let expected = check_digit(&digits[..GTIN_LEN - 1]);
        let given = digits[GTIN_LEN - 1];
        if expected != given {
            return Err(GtinError::CheckDigit { expected: expected as char, given: given as char });
        }
        Ok(Self(digits))
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gtin({})", self.as_str())
    }
}

impl Serialize for Gtin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Gtin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let gtin = Gtin::parse(&text).map_err(serde::de::Error::custom)?;
        // A signed record holds the one spelling it was signed with.
        if gtin.as_str() != text {
            return Err(serde::de::Error::custom("a GTIN in a record has exactly 14 digits"));
        }
        Ok(gtin)
    }
}

/// Whether `c` is in GS1's character set 82, the characters application identifier 21 allows.
fn in_set_82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

/// Why a text cannot be the serial of application identifier 21.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ai21Error {
    #[error("a serial (AI 21) has 1 to {MAX_AI21_CHARS} characters, this one has {0}")]
    Length(usize),
    #[error("character '{0}' is not in GS1's character set 82, which a serial (AI 21) is written in")]
    Character(char),
}

/// Checks that `serial` is a serial application identifier 21 allows: 1 to 20 characters of
/// GS1's character set 82.
pub fn check_ai21_serial(serial: &str) -> Result<(), Ai21Error> {
    let count = serial.chars().count();
    if count == 0 || count > MAX_AI21_CHARS {
        return Err(Ai21Error::Length(count));
    }
    match serial.chars().find(|c| !in_set_82(*c)) {
        Some(c) => Err(Ai21Error::Character(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_gtins_parse_and_are_kept_as_gtin_14() {
        // GS1's own examples and real retail codes of each length.
        for (input, kept) in [
            ("09506000134352", "09506000134352"),
            ("9506000134352", "09506000134352"),
            ("4006381333931", "04006381333931"),
            ("6901234567892", "06901234567892"),
            ("036000291452", "00036000291452"),
            ("96385074", "00000096385074"),
            ("10012345678902", "10012345678902"),
            (" 4006381333931\n", "04006381333931"),
        ] {
            assert_eq!(Gtin::parse(input).unwrap().as_str(), kept, "{input:?}");
        }
    }

    #[test]
    fn wrong_check_digits_lengths_and_characters_are_refused() {
        assert_eq!(Gtin::parse("4006381333932"), Err(GtinError::CheckDigit { expected: '1', given: '2' }));
        assert_eq!(Gtin::parse("09506000134353"), Err(GtinError::CheckDigit { expected: '2', given: '3' }));
        assert_eq!(Gtin::parse("96385075"), Err(GtinError::CheckDigit { expected: '4', given: '5' }));
        for length in [0, 1, 7, 9, 10, 11, 15, 18] {
            assert_eq!(Gtin::parse(&"0".repeat(length)), Err(GtinError::Length(length)), "{length}");
        }
        assert_eq!(Gtin::parse("400638133393A"), Err(GtinError::Character('A')));
        assert_eq!(Gtin::parse("4006381-333931"), Err(GtinError::Character('-')));
        // Full-width digits are digits to Unicode, not to GS1.
        assert_eq!(Gtin::parse("４００６３８１３３３９３１"), Err(GtinError::Character('４')));
    }

    #[test]
    fn every_single_digit_change_is_caught() {
        let good = "09506000134352";
        for position in 0..GTIN_LEN {
            for digit in b'0'..=b'9' {
                let mut bytes = good.as_bytes().to_vec();
                if bytes[position] == digit {
                    continue;
                }
                bytes[position] = digit;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(Gtin::parse(&changed).is_err(), "{changed} accepted");
            }
        }
    }

    #[test]
    fn records_hold_the_fourteen_digits_only() {
        let gtin = Gtin::parse("4006381333931").unwrap();
        assert_eq!(serde_json::to_string(&gtin).unwrap(), "\"04006381333931\"");
        assert_eq!(serde_json::from_str::<Gtin>("\"04006381333931\"").unwrap(), gtin);
        assert!(serde_json::from_str::<Gtin>("\"4006381333931\"").is_err());
        assert!(serde_json::from_str::<Gtin>("\"04006381333932\"").is_err());
    }

    #[test]
    fn ai21_serials_follow_gs1s_character_set() {
        for good in ["1", "123456", "ABC-def_1/2", "!\"%&'()*+,-./:;<=>?_", "12345678901234567890"] {
            assert_eq!(check_ai21_serial(good), Ok(()), "{good}");
        }
        assert_eq!(check_ai21_serial(""), Err(Ai21Error::Length(0)));
        assert_eq!(check_ai21_serial("123456789012345678901"), Err(Ai21Error::Length(21)));
        for (bad, c) in [("12 3", ' '), ("a#b", '#'), ("x~", '~'), ("序号", '序'), ("a@b", '@')] {
            assert_eq!(check_ai21_serial(bad), Err(Ai21Error::Character(c)), "{bad}");
        }
    }
}
