//! The status assertion vector of `docs/format.md` (section 12), checked against the code: the
//! assertion as the API serves it, its canonical bytes (sorted keys, unlike the order served)
//! and its signature by the key of vector 1.
//!
//! After a deliberate change, print the blocks with
//! `cargo test --lib crypto::assertion_vectors::print_blocks -- --ignored --nocapture`.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;

use super::canonical_bytes;
use super::keys::{KeyId, PublicKeyEntry, SigningKeyEntry};
use super::signing::{Signer, Verifier};
use super::vectors::block;
use crate::domain::State;
use crate::registry::{SignedAssertion, StatusAssertion};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid time").with_timezone(&Utc)
}

/// The assertion of vector 1's certificate, signed by vector 1's key (seed of 32 bytes 0x01).
fn signed() -> (SignedAssertion, Vec<u8>) {
    let assertion = StatusAssertion {
        number: "SM2026ASC000001".into(),
        version: 1,
        state: State::Valid,
        produced_at: at("2026-03-02T08:00:00.123Z"),
        next_update: at("2026-03-02T08:57:41.5Z"),
    };
    let key = SigningKey::from_bytes(&[0x01; 32]);
    let signer = Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key });
    let canonical = canonical_bytes(&assertion).expect("assertion serialises");
    (SignedAssertion { signature: signer.sign(&canonical), assertion }, canonical)
}

/// The value of an answer's `status_assertion`, pretty-printed, its keys in the order served.
fn served() -> String {
    serde_json::to_string_pretty(&signed().0).expect("serialises")
}

#[test]
fn the_documented_assertion_is_what_the_code_serves_and_signs() {
    let (signed, canonical) = signed();
    assert_eq!(block("assertion-answer"), served());
    assert_eq!(block("assertion-canonical-text"), std::str::from_utf8(&canonical).expect("UTF-8"));
    assert_eq!(block("assertion-signature-base64"), signed.signature.value);
}

#[test]
fn the_documented_assertion_verifies_only_over_sorted_keys() {
    let pem = block("vector-1-public-key-pem");
    let key = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(&pem)
        .expect("public key");
    let entry = PublicKeyEntry { key_id: KeyId::of(&key), key, pem };
    let verifier = Verifier::new(&[entry]);
    let served: serde_json::Value = serde_json::from_str(&block("assertion-answer")).expect("JSON");
    let signature: super::Signature = serde_json::from_value(served["signature"].clone()).expect("signature");
    let assertion = &served["assertion"];
    let sorted = super::canonical_value_bytes(assertion).expect("canonical");
    assert!(verifier.verify(&sorted, &signature).is_ok());
    // The order the answer shows the keys in is not what is signed.
    let text = block("assertion-answer");
    let start = text.find("\"assertion\": ").expect("assertion member") + "\"assertion\": ".len();
    let end = text[start..].find('}').expect("end of the assertion") + start + 1;
    let as_served: Vec<u8> = text[start..end].split_whitespace().collect::<Vec<_>>().join("").into_bytes();
    assert!(as_served.starts_with(b"{\"number\""), "{}", String::from_utf8_lossy(&as_served));
    assert_ne!(as_served, sorted);
    assert!(verifier.verify(&as_served, &signature).is_err());
}

#[test]
#[ignore = "prints docs/format.md blocks; run by hand after a deliberate format change"]
fn print_blocks() {
    let (signed, canonical) = signed();
    println!("```json assertion-answer\n{}\n```", served());
    println!("```text assertion-canonical-text\n{}\n```", String::from_utf8(canonical).expect("UTF-8"));
    println!("```text assertion-signature-base64\n{}\n```", signed.signature.value);
}
