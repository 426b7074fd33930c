//! Every route of the real router and middleware stack, with fuzzed paths, query strings,
//! headers (`Accept`, `Accept-Language`, `Authorization`, `Content-Type`, `If-None-Match`) and
//! bodies: JSON, CSV, url-encoded and multipart forms of the pages, receipts. Whatever is sent,
//! the answer is never a server error, and every problem document has a stable type; a
//! receipt the registry issues verifies as genuine and unchanged, and is served byte for byte.
#![no_main]

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use starmark_fuzz::harness::{app, App};
use starmark_fuzz::problem_type;

/// Routes with `{}` for a segment the fuzzer fills; `true` when an admin token may be sent.
const ROUTES: &[(&str, bool)] = &[
    ("/api/v1/certificates", true),
    ("/api/v1/certificates/{}", false),
    ("/api/v1/certificates/{}/history", false),
    ("/api/v1/certificates/{}/status", true),
    ("/api/v1/certificates/{}/renew", true),
    ("/api/v1/certificates/{}/surveillance", true),
    ("/api/v1/certificates/{}/marks", false),
    ("/api/v1/certificates/{}/marks/{}/revoke", true),
    ("/api/v1/certificates/{}/scans", true),
    ("/api/v1/certificates/{}/mark.svg", false),
    ("/api/v1/verify/bulk", false),
    ("/api/v1/receipts", false),
    ("/api/v1/receipts/verify", false),
    ("/api/v1/receipts/{}", false),
    ("/v/{}", false),
    ("/V/{}", false),
    ("/api/v1/log", false),
    ("/api/v1/log/checkpoint/{}", false),
    ("/api/v1/log/proof/inclusion", false),
    ("/api/v1/log/proof/consistency", false),
    ("/api/v1/log/tile/{}", false),
    ("/static/{}", false),
    ("/metrics", true),
    ("/", false),
    ("/search", false),
    ("/certificates/{}", false),
    ("/receipts", false),
    ("/receipts/{}", false),
    ("/verify", false),
];

const METHODS: &[Method] = &[Method::GET, Method::POST, Method::HEAD, Method::PUT];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "text/csv",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=FuzzBoundary",
];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let app = app();
    let Some(request) = request(&mut u, app) else { return };
    let path = request.uri().to_string();
    let receipt_issue = request.method() == Method::POST && request.uri().path() == "/api/v1/receipts";
    let (parts, body) = app.send(request);
    assert!(!parts.status.is_server_error(), "{path} answered {}: {}", parts.status, String::from_utf8_lossy(&body));
    if let Some(kind) = problem_type(&parts.headers, &body) {
        assert!(kind.starts_with("urn:starmark:problem:"), "{path}: problem type {kind}");
    }
    if receipt_issue && parts.status == StatusCode::CREATED {
        receipt_round_trip(app, &body);
    }
});

/// A receipt just issued verifies as genuine with nothing changed, and is stored as issued.
fn receipt_round_trip(app: &App, answer: &[u8]) {
    let answer: Value = serde_json::from_slice(answer).expect("receipt answer");
    let document = answer["document"].to_string();
    let check = Request::post("/api/v1/receipts/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(document.clone()))
        .expect("request");
    let (parts, body) = app.send(check);
    assert_eq!(parts.status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let verdict: Value = serde_json::from_slice(&body).expect("verdict");
    assert_eq!(verdict["genuine"], true, "a receipt just issued is not genuine: {verdict}");
    assert_eq!(verdict["changed"], serde_json::json!([]), "a receipt just issued has changes: {verdict}");
    let id = answer["id"].as_str().expect("id");
    let (parts, stored) =
        app.send(Request::get(format!("/api/v1/receipts/{id}")).body(Body::empty()).expect("request"));
    assert_eq!(parts.status, StatusCode::OK);
    let stored: Value = serde_json::from_slice(&stored).expect("stored receipt");
    assert_eq!(stored, answer["document"], "the stored receipt differs from the one issued");
}

/// Percent-encodes everything but unreserved characters (and `keep`), so any text makes a URI.
fn encode(text: &[u8], keep: &[u8]) -> String {
    let mut out = String::new();
    for &byte in text {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn segment(u: &mut Unstructured, app: &App) -> Option<String> {
    Some(match u.int_in_range(0..=4u8).ok()? {
        0 => u.choose(&app.numbers).ok()?.clone(),
        1 => u.choose(&app.tokens).ok()?.clone(),
        2 => u.choose(&app.usccs).ok()?.clone(),
        _ => encode(<&[u8]>::arbitrary(u).ok()?, b""),
    })
}

fn header_value(u: &mut Unstructured, choices: &[&'static str]) -> Option<HeaderValue> {
    if u.ratio(1, 3).ok()? {
        HeaderValue::from_bytes(<&[u8]>::arbitrary(u).ok()?).ok()
    } else {
        Some(HeaderValue::from_static(u.choose(choices).ok()?))
    }
}

fn request(u: &mut Unstructured, app: &App) -> Option<Request> {
    let method = u.choose(METHODS).ok()?.clone();
    let &(route, admin) = u.choose(ROUTES).ok()?;
    let mut path = String::new();
    for (i, piece) in route.split("{}").enumerate() {
        if i > 0 {
            path.push_str(&segment(u, app)?);
        }
        path.push_str(piece);
    }
    if u.arbitrary::<bool>().ok()? {
        path.push('?');
        path.push_str(&encode(<&[u8]>::arbitrary(u).ok()?, b"=&"));
    }
    let mut builder = Request::builder().method(method).uri(path);
    let headers = builder.headers_mut()?;
    if u.arbitrary::<bool>().ok()? {
        headers.insert(header::ACCEPT, header_value(u, &["application/json", "text/html", "text/csv", "*/*"])?);
    }
    if u.arbitrary::<bool>().ok()? {
        headers.insert(header::ACCEPT_LANGUAGE, header_value(u, &["en", "zh-CN,zh;q=0.9,en;q=0.8", "en;q=0"])?);
    }
    if u.arbitrary::<bool>().ok()? {
        headers.insert(header::IF_NONE_MATCH, header_value(u, &["*", "W/\"1\""])?);
    }
    match u.int_in_range(0..=3u8).ok()? {
        0 if admin => {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", app.admin)).ok()?);
        }
        1 => {
            headers.insert(header::AUTHORIZATION, header_value(u, &["Bearer ", "Bearer smk_0000000000000000_x"])?);
        }
        _ => {}
    }
    let content_type = *u.choose(CONTENT_TYPES).ok()?;
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let body: Vec<u8> = if content_type.starts_with("multipart/") && u.arbitrary::<bool>().ok()? {
        multipart(u)?
    } else {
        <&[u8]>::arbitrary(u).ok()?.to_vec()
    };
    builder.body(Body::from(body)).ok()
}

/// A multipart form like the bulk page's, with fuzzed field names and contents.
fn multipart(u: &mut Unstructured) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    for _ in 0..u.int_in_range(0..=4u8).ok()? {
        let name = *u.choose(&["queries", "file", "lang", "action", "other"]).ok()?;
        body.extend_from_slice(b"--FuzzBoundary\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(b"\"");
        if name == "file" {
            body.extend_from_slice(b"; filename=\"list.csv\"\r\nContent-Type: text/csv");
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(<&[u8]>::arbitrary(u).ok()?);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--FuzzBoundary--\r\n");
    Some(body)
}
