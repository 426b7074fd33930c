//! `starmark verify FILE [--trust-list keys.json]`: a saved certificate answer and a trust list
//! read from files. The pieces the command reads them with (trust list, signature object,
//! canonical bytes, the record's typed form) never panic, and a record found genuine writes
//! back to exactly the signed bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use starmark::crypto::{canonical_value_bytes, Signature, TrustList};
use starmark::domain::CertificateRecord;
use starmark_fuzz::{signer, verifier};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 3 == 2 {
        if let Ok(list) = serde_json::from_slice::<TrustList>(rest) {
            let text = serde_json::to_string(&list).expect("write");
            let again: TrustList = serde_json::from_str(&text).expect("a written trust list reads back");
            assert_eq!(serde_json::to_string(&again).expect("write"), text);
        }
        return;
    }
    let Ok(document) = serde_json::from_slice::<Value>(rest) else { return };
    let (Some(record), Some(signature)) = (document.get("record"), document.get("signature")) else { return };
    let Ok(canonical) = canonical_value_bytes(record) else { return };
    // The second mode signs the fuzzer's record, so its typed reading is reached.
    let signature = if mode % 3 == 1 { json!(signer().sign(&canonical)) } else { signature.clone() };
    let Ok(signature) = serde_json::from_value::<Signature>(signature) else { return };
    if verifier().verify(&canonical, &signature).is_err() {
        return;
    }
    if let Ok(typed) = serde_json::from_value::<CertificateRecord>(record.clone()) {
        let _ = typed.state_on(chrono::NaiveDate::from_ymd_opt(2026, 6, 1).expect("date"));
        let written: Value = serde_json::to_value(&typed).expect("typed record writes");
        let again: CertificateRecord = serde_json::from_value(written).expect("a written record reads back");
        assert_eq!(format!("{again:?}"), format!("{typed:?}"));
    }
});
