//! The certification body's staff as the console knows them: a username that can only hold a
//! valid name, the role that says what a member may do, and the name shown to colleagues.
//! API tokens keep their own [`super::Role`]; these are people.

use serde::{Deserialize, Serialize};

use super::text::{clean_text, FieldError};

/// Characters a username has at least and at most.
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
/// Characters a display name has at most.
pub const DISPLAY_NAME_MAX: usize = 100;

/// A member of staff's login name: 3 to 32 of `a-z`, `0-9`, `.`, `_` and `-`, starting with a
/// letter, in lower case (what is typed is folded to lower case, so `Alice` and `alice` are
/// one account). Plain ASCII, so no two names look alike on screen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// `input` as a username, trimmed and folded to lower case, or what is wrong with it.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let name = input.trim().to_ascii_lowercase();
        let count = name.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&count) {
            return Err(FieldError::new(
                "username",
                format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters long"),
            ));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(FieldError::new("username", "must start with a letter a-z"));
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c))) {
            return Err(FieldError::new(
                "username",
                format!("may hold only letters a-z, digits and . _ - (not {c:?})"),
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Username::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The name colleagues see in the console: free text, trimmed, printable, at most 100 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Ok(Self(clean_text("display name", input, DISPLAY_NAME_MAX)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DisplayName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a member of staff does in the certification body (ISO/IEC 17065 separates the people
/// who evaluate from those who decide).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Records evaluations and surveillance audits.
    Evaluator,
    /// Makes certification decisions.
    Decider,
    /// Orders and revokes mark batches.
    Marks,
    /// Reads everything, changes nothing.
    Auditor,
    /// Manages staff and API tokens.
    Admin,
}

impl StaffRole {
    /// Every role, in the order lists show them.
    pub const ALL: [StaffRole; 5] =
        [StaffRole::Evaluator, StaffRole::Decider, StaffRole::Marks, StaffRole::Auditor, StaffRole::Admin];

    /// The role's name in the store and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Evaluator => "evaluator",
            StaffRole::Decider => "decider",
            StaffRole::Marks => "marks",
            StaffRole::Auditor => "auditor",
            StaffRole::Admin => "admin",
        }
    }

    /// The role named `input` (exactly as [`StaffRole::as_str`] writes it), or what the names are.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == input.trim())
            .ok_or_else(|| FieldError::new("role", "must be one of evaluator, decider, marks, auditor, admin"))
    }

    /// Whether a member in this role must sign in with a second factor: those whose decisions
    /// or powers an attacker with a guessed password would abuse most.
    pub fn needs_totp(self) -> bool {
        matches!(self, StaffRole::Decider | StaffRole::Admin)
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_folded_and_checked() {
        assert_eq!(Username::parse("  Alice.Wang ").unwrap().as_str(), "alice.wang");
        assert_eq!(Username::parse("li_2-x").unwrap().as_str(), "li_2-x");
        for bad in ["", "ab", "1abc", "_abc", "a b c", "张三丰", "ａbc", "abc@x", &"a".repeat(33), "abc\u{200b}"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(serde_json::from_str::<Username>("\"Bad Name\"").is_err());
        assert_eq!(serde_json::from_str::<Username>("\"Bob\"").unwrap().as_str(), "bob");
    }

    #[test]
    fn roles_round_trip_and_two_need_a_second_factor() {
        for role in StaffRole::ALL {
            assert_eq!(StaffRole::parse(role.as_str()).unwrap(), role);
        }
        assert!(StaffRole::parse("issuer").is_err());
        assert!(StaffRole::parse("Admin").is_err());
        let needing: Vec<_> = StaffRole::ALL.into_iter().filter(|r| r.needs_totp()).collect();
        assert_eq!(needing, vec![StaffRole::Decider, StaffRole::Admin]);
    }

    #[test]
    fn display_names_are_trimmed_printable_text() {
        assert_eq!(DisplayName::parse(" 王小明 ").unwrap().as_str(), "王小明");
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse("a\u{202e}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
    }
}
