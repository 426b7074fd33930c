//! Unified social credit code (统一社会信用代码, GB 32100-2015).
//!
//! A [`Uscc`] can only be built by [`Uscc::parse`], so every function that takes one may rely on
//! it carrying a well-formed code with a correct check character.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The 31 characters of the code's alphabet, in value order (no I, O, S, V or Z).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1..=17 for the check character.
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
/// Length of every code.
pub const USCC_LEN: usize = 18;

/// A unified social credit code whose length, alphabet and check character are all correct.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);

/// Why a string is not a unified social credit code; the message names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    #[error("a unified social credit code has 18 characters, this one has {0}")]
    Length(usize),
    #[error(
        "character '{character}' at position {position} is not allowed in a unified social credit code \
         (allowed: 0-9 and A-Z without I, O, S, V, Z)"
    )]
    Character { character: char, position: usize },
    #[error("check character should be '{expected}' but is '{given}'")]
    CheckCharacter { expected: char, given: char },
}

fn value_of(byte: u8) -> Option<u32> {
    ALPHABET.iter().position(|&c| c == byte).map(|v| v as u32)
}

/// The check character for the first 17 characters, which must all be in the alphabet.
fn check_character(body: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (byte, weight) in body.iter().zip(WEIGHTS) {
        sum += value_of(*byte)? * weight;
    }
    let check = (31 - sum % 31) % 31;
    Some(ALPHABET[check as usize] as char)
}

impl Uscc {
    /// Parses a code, accepting lower case and surrounding white space as a convenience.
    pub fn parse(input: &str) -> Result<Self, UsccError> {
        let code = input.trim().to_ascii_uppercase();
        let count = code.chars().count();
        if count != USCC_LEN {
            return Err(UsccError::Length(count));
        }
        for (index, character) in code.chars().enumerate() {
            if !character.is_ascii() || value_of(character as u8).is_none() {
                return Err(UsccError::Character { character, position: index + 1 });
            }
        }
        let bytes = code.as_bytes();
        let expected = check_character(&bytes[..17]).ok_or(UsccError::Length(count))?;
        let given = bytes[17] as char;
        if expected != given {
            return Err(UsccError::CheckCharacter { expected, given });
        }
        Ok(Self(code))
    }

    /// Completes 17 characters with their check character; used by demo data and tests.
    pub fn with_check_character(body: &str) -> Result<Self, UsccError> {
        let body = body.trim().to_ascii_uppercase();
        let count = body.chars().count();
        if count != USCC_LEN - 1 {
            return Err(UsccError::Length(count + 1));
        }
        for (index, character) in body.chars().enumerate() {
            if !character.is_ascii() || value_of(character as u8).is_none() {
                return Err(UsccError::Character { character, position: index + 1 });
            }
        }
        let check = check_character(body.as_bytes()).ok_or(UsccError::Length(count))?;
        Ok(Self(format!("{body}{check}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.0)
    }
}

impl Serialize for Uscc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uscc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Uscc::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn design_worked_example_is_valid() {
        let code = Uscc::parse("91350200776049653A").expect("valid");
        assert_eq!(code.as_str(), "91350200776049653A");
    }

    #[test]
    fn lower_case_and_spaces_are_normalised() {
        let code = Uscc::parse(" 91350200776049653a ").expect("valid");
        assert_eq!(code.as_str(), "91350200776049653A");
    }

    #[test]
    fn wrong_check_character_names_expected_and_given() {
        let err = Uscc::parse("91350200776049653B").unwrap_err();
        assert_eq!(err, UsccError::CheckCharacter { expected: 'A', given: 'B' });
        assert_eq!(err.to_string(), "check character should be 'A' but is 'B'");
    }

    #[test]
    fn wrong_length_is_named() {
        assert_eq!(Uscc::parse("9135020077604965").unwrap_err(), UsccError::Length(16));
        assert_eq!(Uscc::parse("").unwrap_err(), UsccError::Length(0));
    }

    #[test]
    fn forbidden_character_is_named_with_position() {
        let err = Uscc::parse("9135020077604I653A").unwrap_err();
        assert_eq!(err, UsccError::Character { character: 'I', position: 14 });
        let err = Uscc::parse("91350200776049653统").unwrap_err();
        assert_eq!(err, UsccError::Character { character: '统', position: 18 });
    }

    #[test]
    fn check_value_31_becomes_zero() {
        // Find a body whose weighted sum is a multiple of 31 and check it ends in '0'.
        let code = Uscc::with_check_character("00000000000000000").expect("valid body");
        assert_eq!(code.as_str(), "000000000000000000");
    }

    fn body_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(0usize..31, 17)
            .prop_map(|values| values.into_iter().map(|v| ALPHABET[v] as char).collect())
    }

    proptest! {
        #[test]
        fn completed_codes_always_parse(body in body_strategy()) {
            let code = Uscc::with_check_character(&body).unwrap();
            prop_assert_eq!(Uscc::parse(code.as_str()).unwrap(), code);
        }

        #[test]
        fn any_single_substitution_is_detected(body in body_strategy(), position in 0usize..18, replacement in 0usize..31) {
            let code = Uscc::with_check_character(&body).unwrap();
            let mut bytes = code.as_str().as_bytes().to_vec();
            prop_assume!(bytes[position] != ALPHABET[replacement]);
            bytes[position] = ALPHABET[replacement];
            let altered = String::from_utf8(bytes).unwrap();
            prop_assert!(Uscc::parse(&altered).is_err());
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,24}") {
            let _ = Uscc::parse(&input);
        }

        #[test]
        fn serde_round_trip(body in body_strategy()) {
            let code = Uscc::with_check_character(&body).unwrap();
            let json = serde_json::to_string(&code).unwrap();
            let back: Uscc = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, code);
        }
    }
}
