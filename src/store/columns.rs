//! How values become column text, the same for every backend: the text of an event's time, its
//! signature and details is what the transparency log hashes (docs/tlog.md), so two stores
//! writing it differently would log different leaves for the same event.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{NewEvent, StoreError};
use crate::crypto::Signature;

/// Reads current-state rows with their search columns, which the registry compares with the
/// signed record (see [`super::RowColumns`]).
pub(super) const SELECT_CERTIFICATES: &str =
    "SELECT number, version, holder_name, holder_name_en, uscc, level, state, \
     valid_until, record, signature, updated_at FROM certificates";

/// An instant as stored and logged: RFC 3339 in UTC with microseconds.
pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A signature as stored: its JSON text.
pub(super) fn signature_json(signature: &Signature) -> Result<String, StoreError> {
    serde_json::to_string(signature).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An event's details as stored: their JSON text.
pub(super) fn details_json(event: &NewEvent) -> String {
    event.details.to_string()
}

/// The canonical record bytes as text; a record is canonical JSON, so always UTF-8.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(bytes).map_err(|_| StoreError::Corrupt("canonical record is not UTF-8".into()))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`, so searched text matches
/// only itself.
pub(super) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_only_the_text() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(like_escape("示例"), "示例");
    }

    #[test]
    fn instants_are_written_with_microseconds_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T22:26:21.213912987+08:00").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp(at), "2026-11-27T14:26:21.213912Z", "nanoseconds are dropped, not rounded");
    }
}
