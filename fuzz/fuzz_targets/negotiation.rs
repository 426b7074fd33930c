//! Content and language negotiation of the pages and the scan landing: `?lang=`,
//! `Accept-Language` and `Accept`. English is chosen only when something asked for it.
#![no_main]

use axum::http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use starmark::http::pages::Lang;
use starmark::http::scan::wants_json;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let split = usize::from(split).min(rest.len());
    let (param, header_bytes) = rest.split_at(split);
    let Ok(param) = std::str::from_utf8(param) else { return };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header_bytes) {
        headers.insert(header::ACCEPT_LANGUAGE, value.clone());
        headers.insert(header::ACCEPT, value);
    }
    let requested = (!param.is_empty()).then_some(param);
    let lang = Lang::negotiate(requested, &headers);
    let asked_english = param.to_ascii_lowercase().contains("en")
        || String::from_utf8_lossy(header_bytes).to_ascii_lowercase().contains("en");
    assert!(lang == Lang::Zh || asked_english, "English without being asked: {param:?} {header_bytes:?}");
    if let Some(tagged) = Lang::from_tag(param) {
        assert_eq!(lang, tagged, "?lang= wins");
    }
    if wants_json(&headers) {
        assert!(String::from_utf8_lossy(header_bytes).contains("application/json"));
    }
});
