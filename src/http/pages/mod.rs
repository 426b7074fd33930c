//! Server-rendered HTML pages for people: the scan landing, search, bulk verification and
//! receipts. Every page is complete without JavaScript (scripts only enhance), loads nothing
//! from third parties, and is sent under one strict Content-Security-Policy.
//!
//! This module holds what all pages share: the language, the frame and the response. Pages are
//! maud templates: every value put into one is escaped unless it is itself markup a template
//! made, so no page escapes anything by hand.

pub mod bulk;
pub mod certificate;
pub mod i18n;
pub mod receipt;
pub mod results;
pub mod search;
pub mod widgets;

use std::fmt::Write;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};
use maud::{html, Markup, Render, DOCTYPE};

use super::assets;

/// Scripts and styles only from our own origin, never inline; nothing else at all.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The two languages every page is complete in. Chinese is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `?lang=` wins (the toggle link), then the browser's Accept-Language, then Chinese.
    pub fn negotiate(requested: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(lang) = requested.and_then(Lang::from_tag) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or(Lang::Zh)
    }

    /// A language tag such as `en`, `en-GB`, `zh`, `zh-Hans-CN`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The supported language the header weighs highest (ties go to the earlier one).
    fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else { continue };
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            if weight > 0.0 && best.map_or(true, |(_, w)| weight > w) {
                best = Some((lang, weight));
            }
        }
        best.map(|(lang, _)| lang)
    }

    /// The `lang` attribute value.
    pub fn html_tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The `?lang=` value.
    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// An instant as people in China read it (the registry's dates are China Standard Time).
pub fn china_time(instant: DateTime<Utc>, lang: Lang) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).map(|offset| instant.with_timezone(&offset));
    match (cst, lang) {
        (Some(t), Lang::Zh) => t.format("%Y年%m月%d日 %H:%M:%S（北京时间）").to_string(),
        (Some(t), Lang::En) => t.format("%Y-%m-%d %H:%M:%S China Standard Time (UTC+8)").to_string(),
        (None, _) => instant.to_rfc3339(),
    }
}

/// The query string of a page that takes nothing but the language toggle's `?lang=`.
#[derive(serde::Deserialize, Default)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// What a page puts in the frame.
pub struct Page<'a> {
    pub lang: Lang,
    /// The `<title>`, before the site name.
    pub title: &'a str,
    /// The path the language toggle links to; `lang=` is added to it.
    pub path: &'a str,
    /// Extra query parameters the toggle link keeps (already URL-encoded `k=v&k=v`), may be empty.
    pub query: &'a str,
    /// Built-in stylesheets after the shared one.
    pub styles: &'a [&'a str],
    /// Built-in scripts, loaded with `defer`.
    pub scripts: &'a [&'a str],
    /// The main content.
    pub body: Markup,
}

impl Page<'_> {
    /// The whole document.
    pub fn render(&self) -> String {
        let lang = self.lang;
        let other = lang.other();
        let lp = lang.param();
        let toggle = if self.query.is_empty() {
            format!("{}?lang={}", self.path, other.param())
        } else {
            format!("{}?{}&lang={}", self.path, self.query, other.param())
        };
        html! {
            (DOCTYPE)
            html lang=(lang.html_tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (self.title) " · " (lang.t(i18n::SITE_NAME)) }
                    link rel="stylesheet" href=(assets::url("starmark.css"));
                    @for style in self.styles {
                        link rel="stylesheet" href=(assets::url(style));
                    }
                    @for script in self.scripts {
                        script src=(assets::url(script)) defer {}
                    }
                }
                body {
                    a class="skip" href="#main" { (lang.t(i18n::SKIP_TO_CONTENT)) }
                    header class="site" {
                        div class="bar" {
                            a class="brand" href={ "/?lang=" (lp) } { "★ " (lang.t(i18n::SITE_NAME)) }
                            nav aria-label=(lang.t(i18n::NAV_LABEL)) {
                                a href={ "/search?lang=" (lp) } { (lang.t(i18n::NAV_SEARCH)) }
                                a href={ "/verify?lang=" (lp) } { (lang.t(i18n::NAV_BULK)) }
                                a href=(toggle) lang=(other.html_tag()) hreflang=(other.html_tag())
                                    aria-label=(lang.t(i18n::SWITCH_LANGUAGE_LABEL)) id="lang-toggle"
                                    { (lang.t(i18n::SWITCH_LANGUAGE)) }
                            }
                        }
                    }
                    main id="main" { (self.body) }
                    footer class="site-footer" {
                        p { (lang.t(i18n::FOOTER)) }
                        nav {
                            a href="/.well-known/starmark/keys.json" { (lang.t(i18n::TRUST_LIST)) }
                            " · "
                            a href="/api/v1/log" { (lang.t(i18n::LOG)) }
                        }
                    }
                }
            }
        }
        .into_string()
    }
}

/// A red box that says what went wrong (`role="alert"`), the same on every page.
pub fn error_box(message: impl Render) -> Markup {
    html! { div class="error-box" role="alert" { p { (message) } } }
}

/// An HTML answer under the pages' policy. Pages vary by language, so caches must key on it.
/// `response` with `Retry-After` when `error` is a refusal that passes: a page refused for a
/// spent quota says when to come back, as the API's problem documents do.
pub fn with_retry_after(mut response: Response, error: &crate::registry::RegistryError) -> Response {
    if let Some(seconds) = error.retry_after_secs() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub fn html_response(status: StatusCode, html: String, cache_control: &'static str) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(header::VARY, HeaderValue::from_static("Accept, Accept-Language"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept_language: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(accept_language).expect("header"));
        headers
    }

    #[test]
    fn chinese_unless_english_is_preferred_or_asked_for() {
        assert_eq!(Lang::negotiate(None, &HeaderMap::new()), Lang::Zh);
        assert_eq!(Lang::negotiate(None, &headers("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(None, &headers("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, &headers("fr-FR,en;q=0.5,zh;q=0.7")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, &headers("de,fr")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, &headers("en;q=0")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("en"), &headers("zh-CN")), Lang::En);
        assert_eq!(Lang::negotiate(Some("zh"), &headers("en")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("xx"), &headers("en")), Lang::En);
    }

    #[test]
    fn url_encoding() {
        assert_eq!(url_encode("深圳 a&b=c"), "%E6%B7%B1%E5%9C%B3%20a%26b%3Dc");
    }

    #[test]
    fn china_time_is_utc_plus_eight() {
        let instant = DateTime::parse_from_rfc3339("2026-11-26T20:30:00Z").expect("time").with_timezone(&Utc);
        assert_eq!(china_time(instant, Lang::Zh), "2026年11月27日 04:30:00（北京时间）");
        assert!(china_time(instant, Lang::En).starts_with("2026-11-27 04:30:00"));
    }
}
