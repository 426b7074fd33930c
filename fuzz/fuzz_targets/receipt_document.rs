//! Receipt documents as `POST /api/v1/receipts/verify` and `starmark verify-receipt` read them:
//! the JSON, then the signature check. The verdict depends on the JSON value only (the same
//! document re-serialised gets the same verdict), and a receipt found genuine is one whose
//! typed form writes back to exactly the signed bytes (for receipts the registry signed; the
//! second mode signs whatever the fuzzer wrote, which the registry never does, so there only
//! the reading is exercised).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use starmark::crypto::canonical_value_bytes;
use starmark::domain::receipt::Receipt;
use starmark::registry::receipt::{check_signature, receipt_message};
use starmark_fuzz::{signer, verifier};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(document) = serde_json::from_slice::<Value>(rest) else { return };
    // In the second mode the fuzzer's `receipt` is signed by the trusted key first, so the
    // typed reading of genuine receipts is reached too.
    let oracle = mode % 2 == 1;
    let document = if oracle { signed(document) } else { document };
    let Ok(verdict) = check_signature(&document, &verifier()) else { return };
    let reserialised: Value =
        serde_json::from_slice(&serde_json::to_vec_pretty(&document).expect("write")).expect("read back");
    let again = check_signature(&reserialised, &verifier()).expect("same shape");
    assert_eq!(
        (verdict.genuine, &verdict.reason),
        (again.genuine, &again.reason),
        "verdict changed when re-serialised"
    );
    if verdict.genuine && !oracle {
        let typed = verdict.receipt.expect("a genuine receipt is read");
        let signed_bytes = canonical_value_bytes(&document["receipt"]).expect("canonical");
        let written = canonical_value_bytes(&serde_json::to_value(&typed).expect("typed")).expect("canonical");
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&signed_bytes),
            "a genuine receipt reads as something that writes differently"
        );
        let _: Receipt = serde_json::from_slice(&written).expect("written receipt reads back");
    } else if !verdict.genuine {
        assert!(verdict.reason.is_some_and(|reason| !reason.is_empty()), "not genuine without a reason");
    }
});

/// `document` with its `receipt` member signed as the registry signs receipts.
fn signed(document: Value) -> Value {
    let receipt = match document {
        Value::Object(mut members) => members.remove("receipt").unwrap_or(Value::Object(members)),
        other => other,
    };
    let Ok(message) = receipt_message(&receipt) else { return json!({}) };
    json!({ "receipt": receipt, "signature": signer().sign(&message) })
}
