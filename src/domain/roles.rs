//! What an API token may do. The registry hands tokens out and checks them, the store keeps
//! them and HTTP demands a role per route, so the role is a value below all three.

use serde::{Deserialize, Serialize};

/// Roles an API token can hold, from least to most powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads admin-only information (history details, statistics).
    Reader,
    /// Issues certificates and changes their status.
    Issuer,
    /// Everything, including token management.
    Admin,
}

impl Role {
    /// The role's name in tokens' rows and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Issuer => "issuer",
            Role::Admin => "admin",
        }
    }

    /// The role named `input`, as [`Role::as_str`] writes it; `None` for any other name.
    pub fn parse(input: &str) -> Option<Self> {
        [Role::Reader, Role::Issuer, Role::Admin].into_iter().find(|role| role.as_str() == input)
    }

    /// Whether a holder of `self` may do what needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}
