//! What one leaf of the log says: an event, bound to the exact record version it produced.
//!
//! Leaf data is canonical JSON (keys sorted, no white space, as for records):
//! `{"at","details","kind","number","record_sha256","signature":{"alg","key_id","value"},"version"}`
//! with `at` exactly as stored (RFC 3339, microseconds, `Z`), `record_sha256` the hex SHA-256 of
//! the signed record's canonical bytes, and `signature` the record's signature. The record itself
//! stays out of the leaf so entry bundles stay small; the hash pins it.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crypto::Signature;

/// The parts of an event that go into its leaf.
#[derive(Clone, Copy, Debug)]
pub struct LeafInput<'a> {
    pub number: &'a str,
    pub version: u32,
    pub kind: &'a str,
    /// The event time as stored.
    pub at: &'a str,
    pub details: &'a Value,
    /// The signed record's canonical bytes.
    pub record: &'a [u8],
    pub signature: &'a Signature,
}

// Fields in byte order of their names, so serde writes canonical JSON directly.
#[derive(Serialize)]
struct LeafJson<'a> {
    at: &'a str,
    details: &'a Value,
    kind: &'a str,
    number: &'a str,
    record_sha256: String,
    signature: SignatureJson<'a>,
    version: u32,
}

#[derive(Serialize)]
struct SignatureJson<'a> {
    alg: &'a str,
    key_id: &'a str,
    value: &'a str,
}

/// The leaf data of one event; its leaf hash is `SHA-256(0x00 || data)`.
pub fn leaf_data(input: &LeafInput<'_>) -> Result<Vec<u8>, serde_json::Error> {
    let leaf = LeafJson {
        at: input.at,
        details: input.details,
        kind: input.kind,
        number: input.number,
        record_sha256: hex::encode(Sha256::digest(input.record)),
        signature: SignatureJson {
            alg: &input.signature.alg,
            key_id: input.signature.key_id.as_str(),
            value: &input.signature.value,
        },
        version: input.version,
    };
    serde_json::to_vec(&leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{canonical_value_bytes, KeyId};
    use serde_json::json;

    #[test]
    fn leaf_data_is_canonical_json() {
        let signature = Signature {
            alg: "Ed25519".into(),
            key_id: KeyId::parse("0123456789abcdef").unwrap(),
            value: "c2ln".into(),
        };
        let details = json!({"reason": "x", "action": "suspend"});
        let data = leaf_data(&LeafInput {
            number: "SM2026000001",
            version: 2,
            kind: "suspended",
            at: "2026-11-26T10:00:00.000000Z",
            details: &details,
            record: b"{}",
            signature: &signature,
        })
        .unwrap();
        let text = String::from_utf8(data.clone()).unwrap();
        assert_eq!(
            text,
            r#"{"at":"2026-11-26T10:00:00.000000Z","details":{"action":"suspend","reason":"x"},"kind":"suspended","number":"SM2026000001","record_sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","signature":{"alg":"Ed25519","key_id":"0123456789abcdef","value":"c2ln"},"version":2}"#
        );
        let reparsed: Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(canonical_value_bytes(&reparsed).unwrap(), data);
    }
}
