//! The kinds of change a certificate goes through: named in its history, its events and its
//! transparency-log leaves, by the store and every layer above alike.

use serde::{Deserialize, Serialize};

/// What happened to a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Issued,
    Suspended,
    Reinstated,
    Revoked,
    Withdrawn,
    Renewed,
    Surveillance,
    MarksOrdered,
    MarksRevoked,
}

impl EventKind {
    /// The kind's name in events, leaves and the history (snake case).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Issued => "issued",
            EventKind::Suspended => "suspended",
            EventKind::Reinstated => "reinstated",
            EventKind::Revoked => "revoked",
            EventKind::Withdrawn => "withdrawn",
            EventKind::Renewed => "renewed",
            EventKind::Surveillance => "surveillance",
            EventKind::MarksOrdered => "marks_ordered",
            EventKind::MarksRevoked => "marks_revoked",
        }
    }

    /// The kind named `input`, as [`EventKind::as_str`] writes it; `None` for any other name.
    pub fn parse(input: &str) -> Option<Self> {
        [
            EventKind::Issued,
            EventKind::Suspended,
            EventKind::Reinstated,
            EventKind::Revoked,
            EventKind::Withdrawn,
            EventKind::Renewed,
            EventKind::Surveillance,
            EventKind::MarksOrdered,
            EventKind::MarksRevoked,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == input)
    }
}
