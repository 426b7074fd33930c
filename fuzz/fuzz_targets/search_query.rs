//! Query strings of the search (`GET /api/v1/certificates?...` and the `/search` page), read by
//! the handlers' extractor and the function that turns them into a store query. Bad ones are a
//! 400 problem naming the parameter; good ones are within the limits, and their cursor reads
//! back as the certificate it names.
#![no_main]

use axum::extract::FromRequestParts;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use starmark::domain::CertificateNumber;
use starmark::http::certificates::search::{self, SearchParams, MAX_LIMIT};
use starmark::http::extract::ApiQuery;
use starmark::http::pages::search::SearchForm;
use starmark_fuzz::{assert_user_error, harness::block_on};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(request) = Request::builder().uri(format!("/api/v1/certificates?{query}")).body(()) else { return };
    let (mut parts, ()) = request.into_parts();
    let _ = block_on(ApiQuery::<SearchForm>::from_request_parts(&mut parts, &()));
    let params = match block_on(ApiQuery::<SearchParams>::from_request_parts(&mut parts, &())) {
        Ok(ApiQuery(params)) => params,
        Err(refused) => return assert_user_error(refused),
    };
    let parsed = match search::parse(&params) {
        Ok(parsed) => parsed,
        Err(refused) => return assert_user_error(refused),
    };
    assert!((1..=MAX_LIMIT).contains(&parsed.limit), "limit {}", parsed.limit);
    if let Some(text) = &parsed.text {
        assert!(!text.is_empty() && text.trim() == text && text.chars().count() <= 200, "{text:?}");
    }
    if let Some(after) = &parsed.after {
        let cursor = search::encode_cursor(after.as_str());
        let again = Request::builder().uri(format!("/api/v1/certificates?cursor={cursor}")).body(());
        let (mut parts, ()) = again.expect("a cursor the server writes is a valid query").into_parts();
        let Ok(ApiQuery(again)) = block_on(ApiQuery::<SearchParams>::from_request_parts(&mut parts, &())) else {
            panic!("the cursor {cursor:?} is refused by the extractor")
        };
        let reparsed = search::parse(&again).expect("a cursor the server writes");
        assert_eq!(reparsed.after.as_ref(), Some(after));
        assert_eq!(CertificateNumber::parse(after.as_str()).as_ref(), Ok(after));
    }
});
