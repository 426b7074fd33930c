//! The certification body's console under `/admin/`: server-rendered pages for named staff,
//! complete without JavaScript, under the public pages' Content-Security-Policy and language
//! rules, never cached. This module holds what every console page shares: the session cookie,
//! the checks on every form post (CSRF token, `Origin` and `Sec-Fetch-Site`), the frame and the
//! answers. The rules themselves (passwords, codes, throttles, timeouts) are the registry's
//! (`registry::staff`).

pub mod code;
pub mod enrol;
pub mod frame;
pub mod home;
pub mod login;
pub mod logout;
pub mod text;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;

use super::pages::{html_response, Lang};
use super::routes::RouteTable;
use super::AppState;
use crate::registry::staff::{ConsoleError, SignedIn};

/// The session cookie's name when the public URL is https: `__Host-` makes browsers keep it to
/// this host, path `/`, secure connections only.
pub const SECURE_COOKIE: &str = "__Host-starmark_session";
/// Its name over plain http (loopback tests, a development machine), where browsers refuse a
/// `__Host-` cookie that cannot be `Secure`.
pub const PLAIN_COOKIE: &str = "starmark_session";

/// The console's routes.
pub fn routes() -> RouteTable<AppState> {
    RouteTable::default()
        .route("/admin", get(home::redirect_home))
        .route("/admin/", get(home::home))
        .route("/admin/login", get(login::form).post(login::submit))
        .route("/admin/login/code", get(code::form).post(code::submit))
        .route("/admin/login/enrol", get(enrol::form).post(enrol::submit))
        .route("/admin/logout", post(logout::submit))
}

/// The cookie's name for this server.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.console_https {
        SECURE_COOKIE
    } else {
        PLAIN_COOKIE
    }
}

/// The `Set-Cookie` value that hands `id` to the browser: a session cookie (no expiry of its
/// own; the server ends sessions), never readable by scripts, never sent cross-site.
pub fn set_cookie(state: &AppState, id: &str) -> HeaderValue {
    let secure = if state.console_https { "; Secure" } else { "" };
    let value = format!("{}={id}; Path=/; HttpOnly; SameSite=Strict{secure}", cookie_name(state));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.console_https { "; Secure" } else { "" };
    let value = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", cookie_name(state));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session id the request's cookie carries, if any.
pub fn cookie_value<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty() && value.len() <= 64)
        .map(|(_, value)| value)
}

/// The live session of the request, if it has one; a store failure is an error to show.
pub async fn session(state: &AppState, headers: &HeaderMap) -> Result<Option<SignedIn>, ConsoleError> {
    match cookie_value(state, headers) {
        Some(id) => state.registry.console().session(id).await,
        None => Ok(None),
    }
}

/// Whether a form post comes from our own pages, as far as the browser says. `Sec-Fetch-Site`,
/// sent by every current browser, decides when present: it must be `same-origin`. Without it,
/// `Origin`, when sent, must be this server's (the public URL's, or the `Host` the request was
/// sent to); `null` (an opaque origin) is refused. A client that sends neither (not a browser)
/// passes here and still needs the session's CSRF token.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if origin.eq_ignore_ascii_case(state.registry.public_url()) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let scheme = if state.console_https { "https" } else { "http" };
    !host.is_empty() && origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

/// The client address the throttle counts failures under.
pub fn client_of(parts: &axum::http::Extensions, headers: &HeaderMap) -> String {
    super::client::ClientAddr::of(parts, headers).map_or_else(|| "unknown".to_string(), |c| c.ip().to_string())
}

/// A console page: HTML under the pages' policy, never cached.
pub fn page(status: StatusCode, html: String) -> Response {
    html_response(status, html, "no-store")
}

/// `303 See Other` to `location`, never cached, optionally setting the cookie.
pub fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A refused form post: 403 with the login frame's explanation, nothing done.
pub fn form_refused(lang: Lang) -> Response {
    let body = frame::message(lang, text::FORM_REFUSED);
    page(StatusCode::FORBIDDEN, frame::bare(lang, text::CONSOLE, "/admin/login", body))
}

/// A failure of the store, said as a page (503 when it passes, else 500), logged.
pub fn failed(lang: Lang, error: &ConsoleError) -> Response {
    tracing::error!(error = %error, "console: the store failed");
    let status = match error {
        ConsoleError::Registry(e) if e.retry_after_secs().is_some() => StatusCode::SERVICE_UNAVAILABLE,
        ConsoleError::Registry(crate::registry::RegistryError::Store(f)) if f.is_unavailable() => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body: Markup = frame::message(lang, text::UNAVAILABLE);
    page(status, frame::bare(lang, text::CONSOLE, "/admin/login", body))
}

/// Where a session at `next` belongs.
pub fn path_of(next: crate::registry::staff::NextStep, lang: Lang) -> String {
    use crate::registry::staff::NextStep;
    let path = match next {
        NextStep::Home => "/admin/",
        NextStep::Code => "/admin/login/code",
        NextStep::Enrol => "/admin/login/enrol",
    };
    format!("{path}?lang={}", lang.param())
}
