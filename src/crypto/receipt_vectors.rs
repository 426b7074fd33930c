//! The verification receipt vector of `docs/format.md` (section 11), checked against the code:
//! a receipt naming vector 1's certificate (its `record_sha256` is that of vector 1's canonical
//! bytes), the message its signature covers (prefix, then the canonical receipt, keys sorted),
//! the signature by vector 1's key, and the receipt id.
//!
//! After a deliberate change, print the blocks with
//! `cargo test --lib crypto::receipt_vectors::print_blocks -- --ignored --nocapture`.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::canonical_value_bytes;
use super::keys::{KeyId, PublicKeyEntry, SigningKeyEntry};
use super::signing::{Signer, Verifier};
use super::vectors::block;
use crate::domain::receipt::{Outcome, QueryKind, Receipt, ReceiptRow, Snapshot, RECEIPT_FORMAT};
use crate::domain::CertificateRecord;
use crate::registry::receipt::{check_signature, receipt_id, receipt_message};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid time").with_timezone(&Utc)
}

/// A receipt of three queries: vector 1's holder (found), an unknown number, a mistyped code.
fn receipt() -> Receipt {
    let record: CertificateRecord = serde_json::from_str(&block("vector-1-record")).expect("vector 1 record");
    let found = Snapshot {
        number: record.number.to_string(),
        holder_name: record.holder.name.clone(),
        uscc: record.holder.uscc.to_string(),
        level: record.level,
        state: record.status.state,
        valid_from: record.issued,
        valid_until: record.valid_until,
        version: record.version,
        record_sha256: hex::encode(Sha256::digest(block("vector-1-canonical-text").as_bytes())),
    };
    let row = |row: u32, query: &str, kind, outcome, error: Option<&str>, certificates: Vec<Snapshot>| ReceiptRow {
        row,
        query: query.into(),
        kind,
        outcome,
        error: error.map(str::to_string),
        certificates,
        more: 0,
    };
    Receipt {
        format: RECEIPT_FORMAT.into(),
        issuer: record.issuer.clone(),
        registry: "https://verify.starmark-example.org.cn".into(),
        issued_at: at("2026-11-26T09:30:12.345Z"),
        results: vec![
            row(1, "91350200776049653A", QueryKind::Uscc, Outcome::Found, None, vec![found]),
            row(
                2,
                "SM2026ASC999999",
                QueryKind::Number,
                Outcome::Unknown,
                Some("no certificate with number SM2026ASC999999 in this registry"),
                Vec::new(),
            ),
            row(
                3,
                "91350200776049653B",
                QueryKind::Malformed,
                Outcome::Malformed,
                Some("not a valid unified social credit code: check character should be 'A' but is 'B'"),
                Vec::new(),
            ),
        ],
    }
}

/// The signed document as the registry makes it, its signed message and its canonical bytes.
fn signed() -> (Value, Vec<u8>, Vec<u8>) {
    let key = SigningKey::from_bytes(&[0x01; 32]);
    let signer = Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key });
    let receipt = serde_json::to_value(receipt()).expect("receipt serialises");
    let message = receipt_message(&receipt).expect("message");
    let document = json!({ "receipt": receipt, "signature": signer.sign(&message) });
    let canonical = canonical_value_bytes(&document).expect("canonical");
    (document, message, canonical)
}

fn verifier() -> Verifier {
    let pem = block("vector-1-public-key-pem");
    let key = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(&pem)
        .expect("public key");
    Verifier::new(&[PublicKeyEntry { key_id: KeyId::of(&key), key, pem }])
}

#[test]
fn the_documented_receipt_is_what_the_code_signs() {
    let (document, message, canonical) = signed();
    assert_eq!(block("receipt-document"), serde_json::to_string_pretty(&document).expect("JSON"));
    assert_eq!(block("receipt-message-text"), std::str::from_utf8(&message).expect("UTF-8"));
    assert_eq!(block("receipt-signature-base64"), document["signature"]["value"]);
    assert_eq!(block("receipt-id"), receipt_id(&canonical));
}

#[test]
fn the_documented_receipt_verifies_and_a_changed_one_does_not() {
    let document: Value = serde_json::from_str(&block("receipt-document")).expect("JSON");
    let verdict = check_signature(&document, &verifier()).expect("a receipt");
    assert!(verdict.genuine, "{:?}", verdict.reason);
    assert_eq!(verdict.receipt, Some(receipt()));
    let mut changed = document.clone();
    changed["receipt"]["results"][0]["certificates"][0]["state"] = json!("revoked");
    assert!(!check_signature(&changed, &verifier()).expect("a receipt").genuine);
    // Without the prefix, the same bytes are not what was signed.
    let signature: super::Signature = serde_json::from_value(document["signature"].clone()).expect("signature");
    let bare = canonical_value_bytes(&document["receipt"]).expect("canonical");
    assert!(verifier().verify(&bare, &signature).is_err());
}

#[test]
#[ignore = "prints docs/format.md blocks; run by hand after a deliberate format change"]
fn print_blocks() {
    let (document, message, canonical) = signed();
    println!("```json receipt-document\n{}\n```", serde_json::to_string_pretty(&document).expect("JSON"));
    println!("```text receipt-message-text\n{}\n```", String::from_utf8(message).expect("UTF-8"));
    println!("```text receipt-signature-base64\n{}\n```", document["signature"]["value"].as_str().unwrap_or(""));
    println!("```text receipt-id\n{}\n```", receipt_id(&canonical));
}
