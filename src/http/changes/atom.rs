//! `GET /changes.atom[?uscc=][&lang=]`: the latest changes as an Atom feed (RFC 4287), newest
//! first, optionally of one holder, so a buyer can follow a supplier in any feed reader. Each
//! entry links to the certificate's page, which shows the state as confirmed today.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use crate::domain::Uscc;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::pages::{i18n, Lang};
use crate::http::AppState;
use crate::registry::LoggedChange;

/// Entries in the feed: the latest changes, as feed readers expect.
pub const ATOM_ENTRIES: u32 = 50;

const ATOM: &str = "application/atom+xml; charset=utf-8";

#[derive(Deserialize)]
pub struct AtomQuery {
    uscc: Option<String>,
    lang: Option<String>,
}

#[utoipa::path(
    get, path = "/changes.atom", tag = "log", summary = "The change feed as Atom",
    description = "The latest changes for a feed reader, optionally of one holder.",
    params(
        ("uscc" = Option<String>, Query, description = "Only this holder's certificates"),
        ("lang" = Option<String>, Query, description = "`zh` or `en`"),
    ),
    responses(
        (status = 200, description = "The feed", content_type = "application/atom+xml", body = String),
        (status = 304, description = "The feed held is current"),
        (status = 400, description = "`invalid-parameter` or `bad-request`"),
    )
)]
pub async fn changes_atom(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AtomQuery>,
) -> Result<Response, ApiError> {
    let holder = query
        .uscc
        .as_deref()
        .map(|text| Uscc::parse(text.trim()).map_err(|e| ApiError::invalid_parameter("uscc", e.to_string())))
        .transpose()?;
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let page = state.registry.recent_changes(holder.as_ref(), ATOM_ENTRIES).await?;
    let public = state.registry.public_url();
    let self_url = match &holder {
        Some(uscc) => format!("{public}/changes.atom?uscc={}", uscc.as_str()),
        None => format!("{public}/changes.atom"),
    };
    let updated = page.changes.first().map_or_else(Utc::now, |change| change.event.at);
    let feed = Feed { public, self_url: &self_url, holder: holder.as_ref(), lang, updated };
    let body = feed.render(&page.changes).into_string();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ATOM));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    Ok(response)
}

/// What the feed says about itself.
struct Feed<'a> {
    public: &'a str,
    self_url: &'a str,
    holder: Option<&'a Uscc>,
    lang: Lang,
    updated: DateTime<Utc>,
}

impl Feed<'_> {
    fn render(&self, changes: &[LoggedChange]) -> Markup {
        let lang = self.lang;
        let tag = match lang {
            Lang::Zh => "zh",
            Lang::En => "en",
        };
        html! {
            (PreEscaped("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"))
            feed xmlns="http://www.w3.org/2005/Atom" "xml:lang"=(tag) {
                id { (self.self_url) }
                title {
                    (lang.t(i18n::SITE_NAME)) " · " (lang.t(i18n::CHANGES_TITLE))
                    @if let Some(uscc) = self.holder { " · " (uscc.as_str()) }
                }
                updated { (timestamp(self.updated)) }
                link rel="self" type="application/atom+xml" href=(self.self_url) {}
                link rel="alternate" type="text/html" href={ (self.public) "/" } {}
                author { name { (lang.t(i18n::SITE_NAME)) } }
                @for change in changes { (self.entry(change)) }
            }
        }
    }

    fn entry(&self, change: &LoggedChange) -> Markup {
        let lang = self.lang;
        let event = &change.event;
        let holder = HolderNames::of(&event.record);
        html! {
            entry {
                id { (entry_id(self.public, change.index)) }
                title { (event.number) " · " (lang.t(i18n::event_name(event.kind))) }
                updated { (timestamp(event.at)) }
                link rel="alternate" type="text/html" href={ (self.public) "/certificates/" (event.number) } {}
                summary {
                    @if let Some(name) = holder.name(lang) { (name) " · " }
                    (lang.t(i18n::event_name(event.kind)))
                    @if let Some(reason) = event.details.get("reason").and_then(|r| r.as_str()) { " · " (reason) }
                    " · " (lang.t(i18n::RECORD_VERSION)) " " (event.version)
                    " · " (lang.t(i18n::LOG_INDEX)) " " (change.index)
                }
            }
        }
    }
}

/// An entry's permanent id: the change feed's address of exactly that change.
fn entry_id(public: &str, index: u64) -> String {
    match index.checked_sub(1) {
        Some(before) => format!("{public}/api/v1/changes?after={before}&limit=1"),
        None => format!("{public}/api/v1/changes?limit=1"),
    }
}

/// RFC 3339 as Atom writes dates.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The holder's names from a signed record's text, for an entry's summary.
struct HolderNames {
    zh: Option<String>,
    en: Option<String>,
}

impl HolderNames {
    fn of(record: &str) -> Self {
        let value: serde_json::Value = serde_json::from_str(record).unwrap_or_default();
        let text = |pointer: &str| value.pointer(pointer).and_then(|v| v.as_str()).map(str::to_string);
        Self { zh: text("/holder/name"), en: text("/holder/name_en") }
    }

    /// The name in `lang`, the Chinese one where there is no English one.
    fn name(&self, lang: Lang) -> Option<&str> {
        match lang {
            Lang::En => self.en.as_deref().or(self.zh.as_deref()),
            Lang::Zh => self.zh.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_address_exactly_their_change() {
        assert_eq!(entry_id("https://r.example", 0), "https://r.example/api/v1/changes?limit=1");
        assert_eq!(entry_id("https://r.example", 7), "https://r.example/api/v1/changes?after=6&limit=1");
    }

    #[test]
    fn english_falls_back_to_the_chinese_name() {
        let both = HolderNames::of(r#"{"holder":{"name":"厦门示例","name_en":"Xiamen Example"}}"#);
        assert_eq!(both.name(Lang::En), Some("Xiamen Example"));
        assert_eq!(both.name(Lang::Zh), Some("厦门示例"));
        let chinese = HolderNames::of(r#"{"holder":{"name":"厦门示例"}}"#);
        assert_eq!(chinese.name(Lang::En), Some("厦门示例"));
    }
}
