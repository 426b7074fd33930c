//! Canonical bytes: the one byte string a record version is signed over.
//!
//! JSON with object keys sorted by their UTF-8 bytes, no white space, strings escaped as
//! serde_json does (only `"`, `\` and control characters), numbers as integers or shortest
//! decimals. For the records we sign (ASCII keys, no floats beyond one decimal) this is the
//! RFC 8785 JSON Canonicalization Scheme. docs/format.md spells it out with test vectors.

use serde::Serialize;
use serde_json::Value;

/// Canonical bytes of any serialisable value.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // serde_json's Value keeps objects in a BTreeMap (the `preserve_order` feature is off), so
    // going through it sorts every object's keys at every depth.
    let tree = serde_json::to_value(value)?;
    canonical_value_bytes(&tree)
}

/// Canonical bytes of a JSON tree that is already parsed, e.g. a record read from a file.
pub fn canonical_value_bytes(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth_and_space_is_dropped() {
        let value = json!({"b": 1, "a": {"d": [1, "x"], "c": "统一"}});
        let bytes = canonical_bytes(&value).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), r#"{"a":{"c":"统一","d":[1,"x"]},"b":1}"#);
    }

    #[test]
    fn reparsing_gives_the_same_bytes() {
        let text = r#"{ "z": "a\"b\\c\n", "a": 36.5, "m": null }"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let once = canonical_value_bytes(&value).unwrap();
        let again: Value = serde_json::from_slice(&once).unwrap();
        assert_eq!(canonical_value_bytes(&again).unwrap(), once);
        assert_eq!(String::from_utf8(once).unwrap(), r#"{"a":36.5,"m":null,"z":"a\"b\\c\n"}"#);
    }
}
