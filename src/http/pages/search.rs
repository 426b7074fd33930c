//! `GET /` and `/search`: the search page for procurement officers and anyone checking a
//! company. A plain GET form, so results are bookmarkable and work without JavaScript; the same
//! query rules as `GET /api/v1/certificates`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{display, html, Markup};
use serde::Deserialize;

use super::i18n::{self, Text};
use super::widgets::{level_stars, state_badge};
use super::{china_time, error_box, html_response, url_encode, Lang, Page};
use crate::crypto::SignedCertificate;
use crate::domain::{Level, State as CertState, Uscc, UsccError};
use crate::http::certificates::search::{encode_cursor, parse, SearchParams};
use crate::http::extract::ApiQuery;
use crate::http::AppState;
use crate::registry::{clock, RegistryError};

/// The form's fields; everything optional, nothing unknown refused (a page should not break on
/// a tracking parameter).
#[derive(Deserialize, Default)]
pub struct SearchForm {
    q: Option<String>,
    level: Option<String>,
    state: Option<String>,
    cursor: Option<String>,
    lang: Option<String>,
}

impl SearchForm {
    /// The form was sent (as opposed to the page opened for the first time).
    fn submitted(&self) -> bool {
        self.q.is_some() || self.level.is_some() || self.state.is_some() || self.cursor.is_some()
    }

    /// The query string that repeats this search, for the language toggle and paging.
    fn query_string(&self, cursor: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (key, value) in [("q", &self.q), ("level", &self.level), ("state", &self.state)] {
            if let Some(value) = value {
                parts.push(format!("{key}={}", url_encode(value)));
            }
        }
        if let Some(cursor) = cursor {
            parts.push(format!("cursor={}", url_encode(cursor)));
        }
        parts.join("&")
    }
}

/// `GET /`: the search page, routed apart from `/search` so that the contract lists both.
#[utoipa::path(
    get, path = "/", tag = "pages", summary = "The home page (search)",
    params(
        ("q" = Option<String>, Query, description = "Free text"),
        ("level" = Option<String>, Query, description = "A level"),
        ("state" = Option<String>, Query, description = "A state"),
        ("cursor" = Option<String>, Query, description = "The next page's cursor"),
        ("lang" = Option<String>, Query, description = "`zh` or `en`"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 400, description = "The page, saying what is wrong with the query", content_type = "text/html", body = String),
        (status = 503, description = "The page, saying the status could not be read", content_type = "text/html", body = String),
    )
)]
pub async fn home_page(state: State<AppState>, headers: HeaderMap, form: ApiQuery<SearchForm>) -> Response {
    search_page(state, headers, form).await
}

#[utoipa::path(
    get, path = "/search", tag = "pages", summary = "The search page",
    params(
        ("q" = Option<String>, Query, description = "Free text"),
        ("level" = Option<String>, Query, description = "A level"),
        ("state" = Option<String>, Query, description = "A state"),
        ("cursor" = Option<String>, Query, description = "The next page's cursor"),
        ("lang" = Option<String>, Query, description = "`zh` or `en`"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 400, description = "The page, saying what is wrong with the query", content_type = "text/html", body = String),
        (status = 503, description = "The page, saying the status could not be read", content_type = "text/html", body = String),
    )
)]
pub async fn search_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(form): ApiQuery<SearchForm>,
) -> Response {
    let lang = Lang::negotiate(form.lang.as_deref(), &headers);
    let mut status = StatusCode::OK;
    let mut answer = Markup::default();
    if form.submitted() {
        let params = SearchParams {
            q: form.q.clone(),
            uscc: None,
            level: form.level.clone(),
            state: form.state.clone(),
            limit: None,
            cursor: form.cursor.clone(),
        };
        answer = match parse(&params) {
            Err(problem) => {
                status = problem.status();
                html! {
                    div class="error-box" role="alert" { h2 { (lang.t(i18n::BAD_QUERY)) } p { (problem.detail()) } }
                }
            }
            Ok(query) => match state.registry.search(&query).await {
                Ok((items, more)) => {
                    let next = if more { items.last().map(|c| encode_cursor(c.record.number.as_str())) } else { None };
                    html! {
                        (uscc_hint(form.q.as_deref(), lang))
                        (results(&items, query.today, lang))
                        (pager(&form, next.as_deref(), lang))
                    }
                }
                Err(RegistryError::Store(e)) => {
                    tracing::error!(error = %e, "search page: store unavailable");
                    status = StatusCode::SERVICE_UNAVAILABLE;
                    error_box(lang.t(i18n::STATUS_UNAVAILABLE))
                }
                Err(RegistryError::Unconfirmed { .. }) => {
                    status = StatusCode::SERVICE_UNAVAILABLE;
                    error_box(lang.t(i18n::STATUS_UNCONFIRMED))
                }
                Err(e) => {
                    status = StatusCode::BAD_REQUEST;
                    error_box(e.to_string())
                }
            },
        };
    }
    let now = clock::now();
    let body = html! {
        h1 { (lang.t(i18n::SEARCH_TITLE)) }
        p { (lang.t(i18n::SEARCH_INTRO)) }
        (search_form(&form, lang))
        (answer)
        p class="as-of" {
            (lang.t(i18n::DATA_AS_OF)) (lang.t(i18n::COLON))
            time datetime=(now.to_rfc3339()) { (china_time(now, lang)) }
        }
    };
    let query = form.query_string(form.cursor.as_deref());
    let page = Page {
        lang,
        title: i18n::SEARCH_TITLE.get(lang),
        path: "/search",
        query: &query,
        styles: &[],
        scripts: &[],
        body,
    };
    html_response(status, page.render(), "no-store")
}

/// A query that is a unified social credit code but for its check character is almost
/// certainly mistyped: say so, so that "no match" is not read as "not certified".
fn uscc_hint(q: Option<&str>, lang: Lang) -> Markup {
    let Some(q) = q.map(str::trim) else { return Markup::default() };
    let Err(UsccError::CheckCharacter { expected, given }) = Uscc::parse(q) else { return Markup::default() };
    let code = q.to_ascii_uppercase();
    html! {
        div class="error-box" role="alert" id="uscc-hint" {
            p {
                @match lang {
                    Lang::Zh => {
                        "“" (code) "”看起来是统一社会信用代码，但其校验位应为“" (expected) "”，而不是“" (given)
                        "”，很可能输错了。查不到证书并不说明该企业未获认证：请核对代码后再查。"
                    }
                    Lang::En => {
                        "“" (code) "” looks like a unified social credit code, but its check character should be '"
                        (expected) "', not '" (given) "': it is probably mistyped. Finding no certificate does not \
                        mean the company is uncertified: check the code and search again."
                    }
                }
            }
        }
    }
}

fn search_form(form: &SearchForm, lang: Lang) -> Markup {
    let states = [CertState::Valid, CertState::Suspended, CertState::Revoked, CertState::Withdrawn, CertState::Expired];
    html! {
        form class="query" method="get" action="/search" role="search" {
            input type="hidden" name="lang" value=(lang.param());
            div {
                label for="q" { (lang.t(i18n::SEARCH_FIELD)) }
                input type="search" id="q" name="q" maxlength="200" value=(form.q.as_deref().unwrap_or("")) autocomplete="off";
            }
            div class="row" {
                div {
                    label for="level" { (lang.t(i18n::LEVEL)) }
                    select id="level" name="level" {
                        option value="" { (lang.t(i18n::ANY)) }
                        @for level in Level::ALL.into_iter().rev() {
                            (option(level.as_str(), i18n::level_name(level), form.level.as_deref(), lang))
                        }
                    }
                }
                div {
                    label for="state" { (lang.t(i18n::STATE)) }
                    select id="state" name="state" {
                        option value="" { (lang.t(i18n::ANY)) }
                        @for state in states {
                            (option(state.as_str(), i18n::state_name(state), form.state.as_deref(), lang))
                        }
                    }
                }
            }
            div class="actions" { button type="submit" { (lang.t(i18n::SEARCH_BUTTON)) } }
        }
    }
}

fn option(value: &str, name: Text, selected: Option<&str>, lang: Lang) -> Markup {
    html! { option value=(value) selected[selected == Some(value)] { (lang.t(name)) } }
}

fn results(items: &[SignedCertificate], today: chrono::NaiveDate, lang: Lang) -> Markup {
    html! {
        section aria-labelledby="results" {
            h2 id="results" { (lang.t(i18n::RESULTS)) }
            @if items.is_empty() {
                p { (lang.t(i18n::NO_RESULTS)) }
            } @else {
                p { (lang.t(i18n::SHOWING)) ": " (items.len()) }
                table class="results" {
                    thead {
                        tr {
                            th scope="col" { (lang.t(i18n::NUMBER)) }
                            th scope="col" { (lang.t(i18n::HOLDER)) }
                            th scope="col" { (lang.t(i18n::LEVEL)) }
                            th scope="col" { (lang.t(i18n::STATE)) }
                            th scope="col" { (lang.t(i18n::VALID_UNTIL)) }
                        }
                    }
                    tbody { @for certificate in items { (result_row(certificate, today, lang)) } }
                }
            }
        }
    }
}

fn result_row(certificate: &SignedCertificate, today: chrono::NaiveDate, lang: Lang) -> Markup {
    let record = &certificate.record;
    let number = record.number.as_str();
    html! {
        tr data-number=(number) {
            td data-label=(lang.t(i18n::NUMBER)) { a href={ "/certificates/" (number) "?lang=" (lang.param()) } { (number) } }
            td data-label=(lang.t(i18n::HOLDER)) {
                (record.holder.name)
                @if let (Some(en), Lang::En) = (&record.holder.name_en, lang) {
                    br; span lang="en" { (en) }
                }
                br; small { (record.holder.uscc.as_str()) }
            }
            td data-label=(lang.t(i18n::LEVEL)) { (level_stars(record.level, lang)) }
            td data-label=(lang.t(i18n::STATE)) { (state_badge(record.state_on(today), lang)) }
            td data-label=(lang.t(i18n::VALID_UNTIL)) { (display(record.valid_until)) }
        }
    }
}

fn pager(form: &SearchForm, next: Option<&str>, lang: Lang) -> Markup {
    html! {
        @if next.is_some() || form.cursor.is_some() {
            nav class="pager" {
                @if form.cursor.is_some() {
                    a href={ "/search?" (form.query_string(None)) "&lang=" (lang.param()) } { (lang.t(i18n::FIRST_PAGE)) }
                }
                @if let Some(next) = next {
                    a rel="next" href={ "/search?" (form.query_string(Some(next))) "&lang=" (lang.param()) } {
                        (lang.t(i18n::NEXT_PAGE))
                    }
                }
            }
        }
    }
}
