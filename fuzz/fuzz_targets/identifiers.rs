//! The identifiers people type or paste: USCCs, certificate numbers, bulk queries, receipt ids,
//! key ids, points, levels and states. Each one that parses is in its normal form and parses
//! again to the same value (text and JSON); a query is classified as what it parses as.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starmark::crypto::KeyId;
use starmark::domain::receipt::{is_receipt_id, Query};
use starmark::domain::{CertificateNumber, Level, Points, State, Uscc};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    let uscc = Uscc::parse(text);
    if let Ok(code) = &uscc {
        let normal = code.as_str();
        assert_eq!(normal.len(), 18);
        assert!(normal.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{normal:?}");
        assert_eq!(Uscc::parse(normal).as_ref(), Ok(code));
        assert_eq!(Uscc::with_check_character(&normal[..17]).as_ref(), Ok(code));
        let json = serde_json::to_string(code).expect("serialise");
        assert_eq!(&serde_json::from_str::<Uscc>(&json).expect("deserialise"), code);
    }

    let number = CertificateNumber::parse(text);
    if let Ok(number) = &number {
        let normal = number.as_str();
        assert!((6..=32).contains(&normal.len()), "{normal:?}");
        assert!(normal.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'), "{normal:?}");
        assert_eq!(CertificateNumber::parse(normal).as_ref(), Ok(number));
        let json = serde_json::to_string(number).expect("serialise");
        assert_eq!(&serde_json::from_str::<CertificateNumber>(&json).expect("deserialise"), number);
    }

    let query = Query::classify(text);
    match &query {
        Query::Uscc(code) => assert_eq!(uscc.as_ref(), Ok(code), "classified as a USCC that does not parse"),
        Query::Number(parsed) => {
            assert!(uscc.is_err(), "a valid USCC classified as a number");
            assert_eq!(number.as_ref(), Ok(parsed), "classified as a number that does not parse");
        }
        Query::Malformed(reason) => {
            assert!(uscc.is_err(), "a valid USCC classified as malformed");
            assert!(!reason.is_empty());
        }
    }
    if let Some(key) = query.key() {
        let normal = key.split_once(':').map(|(_, rest)| rest).expect("kind:value");
        assert_eq!(Query::classify(normal), query, "the normal form of a query classifies the same");
    }

    if is_receipt_id(text) {
        assert!(text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    if let Some(key_id) = KeyId::parse(text) {
        assert_eq!(KeyId::parse(key_id.as_str()), Some(key_id));
    }
    if let Ok(points) = Points::parse(text) {
        assert_eq!(Points::parse(&points.to_string()).ok(), Some(points));
        let json = serde_json::to_string(&points).expect("serialise");
        assert_eq!(serde_json::from_str::<Points>(&json).expect("deserialise"), points, "{json}");
    }
    if let Some(level) = Level::parse(text) {
        assert_eq!(Level::parse(level.as_str()), Some(level));
    }
    if let Some(state) = State::parse(text) {
        assert_eq!(State::parse(state.as_str()), Some(state));
    }
});
