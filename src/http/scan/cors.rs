//! CORS on the GS1 resolver's routes. A GS1-conformant resolver may be asked by any web page (a
//! retailer's product page, a scanning app's web view), so its answers say that any origin may
//! read them and a preflight `OPTIONS` is answered. Nothing on these routes depends on cookies or
//! credentials, so opening them to every origin shows no one anything they could not fetch.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The methods the resolver's routes answer.
const METHODS: &str = "GET, HEAD, OPTIONS";
/// The request headers a page may send: content negotiation only.
const REQUEST_HEADERS: &str = "Accept, Accept-Language";
/// The answer's headers a page may read beyond the safelisted ones: the resolver's links and
/// where a redirect goes.
const EXPOSED: &str = "Link, Location, X-Request-Id";
/// How long a browser may keep a preflight's answer (a day).
const PREFLIGHT_MAX_AGE: &str = "86400";

/// `OPTIONS` on a resolver route: the preflight's answer.
pub async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(METHODS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(REQUEST_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
    response
}

/// Marks an answer of a resolver route readable from any origin, refusals included (a page must
/// be able to read why its request was refused).
pub async fn open_to_any_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    response
}
