//! `GET /` and `/search`: the search page for procurement officers and anyone checking a
//! company. A plain GET form, so results are bookmarkable and work without JavaScript; the same
//! query rules as `GET /api/v1/certificates`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::i18n::{self, Text};
use super::widgets::{level_stars, state_badge};
use super::{china_time, escape, html_response, url_encode, Lang, Page};
use crate::domain::{Level, State as CertState, Uscc, UsccError};
use crate::http::certificates::search::{encode_cursor, parse, SearchParams};
use crate::http::extract::ApiQuery;
use crate::http::AppState;
use crate::registry::{clock, RegistryError};
use crate::store::StoredCertificate;

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

pub async fn search_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(form): ApiQuery<SearchForm>,
) -> Response {
    let lang = Lang::negotiate(form.lang.as_deref(), &headers);
    let mut body = String::with_capacity(8192);
    let _ = write!(body, "<h1>{}</h1><p>{}</p>", lang.t(i18n::SEARCH_TITLE), lang.t(i18n::SEARCH_INTRO));
    write_form(&mut body, &form, lang);

    let mut status = StatusCode::OK;
    if form.submitted() {
        let params = SearchParams {
            q: form.q.clone(),
            uscc: None,
            level: form.level.clone(),
            state: form.state.clone(),
            limit: None,
            cursor: form.cursor.clone(),
        };
        match parse(&params) {
            Err(problem) => {
                status = problem.status();
                let _ = write!(
                    body,
                    "<div class=\"error-box\" role=\"alert\"><h2>{}</h2><p>{}</p></div>",
                    lang.t(i18n::BAD_QUERY),
                    escape(problem.detail())
                );
            }
            Ok(query) => match state.registry.search(&query).await {
                Ok((items, more)) => {
                    write_uscc_hint(&mut body, form.q.as_deref(), lang);
                    let next = if more { items.last().map(|c| encode_cursor(c.record.number.as_str())) } else { None };
                    write_results(&mut body, &items, query.today, lang);
                    write_pager(&mut body, &form, next.as_deref(), lang);
                }
                Err(RegistryError::Store(e)) => {
                    tracing::error!(error = %e, "search page: store unavailable");
                    status = StatusCode::SERVICE_UNAVAILABLE;
                    let _ = write!(
                        body,
                        "<div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
                        lang.t(i18n::STATUS_UNAVAILABLE)
                    );
                }
                Err(RegistryError::Unconfirmed { .. }) => {
                    status = StatusCode::SERVICE_UNAVAILABLE;
                    let _ = write!(
                        body,
                        "<div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
                        lang.t(i18n::STATUS_UNCONFIRMED)
                    );
                }
                Err(e) => {
                    status = StatusCode::BAD_REQUEST;
                    let _ =
                        write!(body, "<div class=\"error-box\" role=\"alert\"><p>{}</p></div>", escape(&e.to_string()));
                }
            },
        }
    }
    let _ = write!(
        body,
        "<p class=\"as-of\">{}{}<time datetime=\"{}\">{}</time></p>",
        lang.t(i18n::DATA_AS_OF),
        lang.t(i18n::COLON),
        clock::now().to_rfc3339(),
        china_time(clock::now(), lang)
    );
    let query = form.query_string(form.cursor.as_deref());
    let page = Page {
        lang,
        title: lang.t(i18n::SEARCH_TITLE),
        path: "/search",
        query: &query,
        styles: &[],
        scripts: &[],
        body: &body,
    };
    html_response(status, page.render(), "no-store")
}

/// A query that is a unified social credit code but for its check character is almost
/// certainly mistyped: say so, so that "no match" is not read as "not certified".
fn write_uscc_hint(out: &mut String, q: Option<&str>, lang: Lang) {
    let Some(q) = q.map(str::trim) else { return };
    let Err(UsccError::CheckCharacter { expected, given }) = Uscc::parse(q) else { return };
    let code = escape(&q.to_ascii_uppercase());
    let text = match lang {
        Lang::Zh => format!(
            "“{code}”看起来是统一社会信用代码，但其校验位应为“{expected}”，而不是“{given}”，很可能输错了。\
             查不到证书并不说明该企业未获认证：请核对代码后再查。"
        ),
        Lang::En => format!(
            "“{code}” looks like a unified social credit code, but its check character should be \
             '{expected}', not '{given}': it is probably mistyped. Finding no certificate does not mean the \
             company is uncertified: check the code and search again."
        ),
    };
    let _ = write!(out, "<div class=\"error-box\" role=\"alert\" id=\"uscc-hint\"><p>{text}</p></div>");
}

fn write_form(out: &mut String, form: &SearchForm, lang: Lang) {
    let _ = write!(
        out,
        "<form class=\"query\" method=\"get\" action=\"/search\" role=\"search\">\
         <input type=\"hidden\" name=\"lang\" value=\"{lp}\">\
         <div><label for=\"q\">{field}</label><input type=\"search\" id=\"q\" name=\"q\" maxlength=\"200\" value=\"{q}\" autocomplete=\"off\"></div>\
         <div class=\"row\"><div><label for=\"level\">{level}</label><select id=\"level\" name=\"level\"><option value=\"\">{any}</option>",
        lp = lang.param(),
        field = lang.t(i18n::SEARCH_FIELD),
        q = escape(form.q.as_deref().unwrap_or("")),
        level = lang.t(i18n::LEVEL),
        any = lang.t(i18n::ANY),
    );
    for level in Level::ALL.into_iter().rev() {
        option(out, level.as_str(), i18n::level_name(level), form.level.as_deref(), lang);
    }
    let _ = write!(
        out,
        "</select></div><div><label for=\"state\">{}</label><select id=\"state\" name=\"state\"><option value=\"\">{}</option>",
        lang.t(i18n::STATE),
        lang.t(i18n::ANY)
    );
    for state in [CertState::Valid, CertState::Suspended, CertState::Revoked, CertState::Withdrawn, CertState::Expired]
    {
        option(out, state.as_str(), i18n::state_name(state), form.state.as_deref(), lang);
    }
    let _ = write!(
        out,
        "</select></div></div><div class=\"actions\"><button type=\"submit\">{}</button></div></form>",
        lang.t(i18n::SEARCH_BUTTON)
    );
}

fn option(out: &mut String, value: &str, name: Text, selected: Option<&str>, lang: Lang) {
    let selected = if selected == Some(value) { " selected" } else { "" };
    let _ = write!(out, "<option value=\"{value}\"{selected}>{}</option>", name.get(lang));
}

fn write_results(out: &mut String, items: &[StoredCertificate], today: chrono::NaiveDate, lang: Lang) {
    let _ = write!(out, "<section aria-labelledby=\"results\"><h2 id=\"results\">{}</h2>", lang.t(i18n::RESULTS));
    if items.is_empty() {
        let _ = write!(out, "<p>{}</p></section>", lang.t(i18n::NO_RESULTS));
        return;
    }
    let _ = write!(
        out,
        "<p>{}: {}</p><table class=\"results\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        lang.t(i18n::SHOWING),
        items.len(),
        lang.t(i18n::NUMBER),
        lang.t(i18n::HOLDER),
        lang.t(i18n::LEVEL),
        lang.t(i18n::STATE),
        lang.t(i18n::VALID_UNTIL),
    );
    for certificate in items {
        let record = &certificate.record;
        let number = record.number.as_str();
        let holder = match (&record.holder.name_en, lang) {
            (Some(en), Lang::En) => {
                format!("{}<br><span lang=\"en\">{}</span>", escape(&record.holder.name), escape(en))
            }
            _ => escape(&record.holder.name),
        };
        let _ = write!(
            out,
            "<tr data-number=\"{n}\"><td data-label=\"{ln}\"><a href=\"/certificates/{n}?lang={lp}\">{n}</a></td>\
             <td data-label=\"{lh}\">{holder}<br><small>{uscc}</small></td><td data-label=\"{ll}\">{level}</td>\
             <td data-label=\"{ls}\">{state}</td><td data-label=\"{lv}\">{until}</td></tr>",
            n = escape(number),
            ln = lang.t(i18n::NUMBER),
            lp = lang.param(),
            lh = lang.t(i18n::HOLDER),
            uscc = record.holder.uscc.as_str(),
            ll = lang.t(i18n::LEVEL),
            level = level_stars(record.level, lang),
            ls = lang.t(i18n::STATE),
            state = state_badge(record.state_on(today), lang),
            lv = lang.t(i18n::VALID_UNTIL),
            until = record.valid_until,
        );
    }
    out.push_str("</tbody></table></section>");
}

fn write_pager(out: &mut String, form: &SearchForm, next: Option<&str>, lang: Lang) {
    if next.is_none() && form.cursor.is_none() {
        return;
    }
    out.push_str("<nav class=\"pager\">");
    if form.cursor.is_some() {
        let _ = write!(
            out,
            "<a href=\"/search?{}&lang={}\">{}</a>",
            escape(&form.query_string(None)),
            lang.param(),
            lang.t(i18n::FIRST_PAGE)
        );
    }
    if let Some(next) = next {
        let _ = write!(
            out,
            "<a rel=\"next\" href=\"/search?{}&lang={}\">{}</a>",
            escape(&form.query_string(Some(next))),
            lang.param(),
            lang.t(i18n::NEXT_PAGE)
        );
    }
    out.push_str("</nav>");
}
