//! `GET /verify` and `POST /verify`: bulk verification for procurement officers. A plain form
//! (textarea or CSV upload) that works without JavaScript; the answer is a table of every row,
//! unknown and malformed ones marked and never dropped, with the same list offered again as a
//! CSV download or a signed receipt. The rules are those of `POST /api/v1/verify/bulk`.

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::i18n;
use super::results;
use super::widgets::{missing_badge, state_badge};
use super::{china_time, error_box, html_response, Lang, LangQuery, Page};
use crate::domain::receipt::{rows_from_text, Outcome, MAX_QUERIES};
use crate::http::extract::ApiQuery;
use crate::http::verify::download::csv_response;
use crate::http::AppState;
use crate::registry::verify::BulkCheck;
use crate::registry::RegistryError;

/// What the form can ask for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Check,
    Csv,
    Receipt,
}

/// The submitted form: the list (from the file when one was chosen) and the button pressed.
struct BulkForm {
    lang: Option<String>,
    text: String,
    action: Action,
}

#[utoipa::path(
    get, path = "/verify", tag = "pages", summary = "The bulk verification form",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses((status = 200, description = "The form", content_type = "text/html", body = String))
)]
pub async fn bulk_form(headers: HeaderMap, ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    page(lang, StatusCode::OK, "", Markup::default())
}

#[utoipa::path(
    post, path = "/verify", tag = "pages", summary = "Verify a list (form)",
    request_body(content = String, content_type = "multipart/form-data", description = "The list as text or a file; the action: check, CSV or receipt"),
    responses(
        (status = 200, description = "The results", content_type = "text/html", body = String),
        (status = 303, description = "To the receipt's page"),
        (status = 400, description = "The form, saying what is wrong", content_type = "text/html", body = String),
        (status = 413, description = "The form, saying the list is too long", content_type = "text/html", body = String),
        (status = 422, description = "The form, saying the list is empty", content_type = "text/html", body = String),
        (status = 429, description = "The form, saying to come back later", content_type = "text/html", body = String),
        (status = 503, description = "The form, saying the status could not be read", content_type = "text/html", body = String),
    )
)]
pub async fn bulk_submit(
    State(state): State<AppState>,
    client: crate::http::rate_limits::ClientBudget,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LangQuery>,
    multipart: Multipart,
) -> Response {
    let form = match read_form(multipart).await {
        Ok(form) => form,
        Err(message) => {
            let lang = Lang::negotiate(query.lang.as_deref(), &headers);
            return page(lang, StatusCode::BAD_REQUEST, "", error_box(message));
        }
    };
    let lang = Lang::negotiate(form.lang.as_deref().or(query.lang.as_deref()), &headers);
    let rows = rows_from_text(&form.text);
    if rows.is_empty() {
        return page(lang, StatusCode::UNPROCESSABLE_ENTITY, &form.text, error_box(lang.t(i18n::BULK_EMPTY)));
    }
    if rows.len() > MAX_QUERIES {
        let error = error_box(html! { (lang.t(i18n::BULK_TOO_MANY)) " " (rows.len()) "." });
        return page(lang, StatusCode::PAYLOAD_TOO_LARGE, &form.text, error);
    }
    // Each row costs the client one unit of its bulk allowance.
    if let Err(refused) = client.charge(crate::limits::Class::Bulk, rows.len()) {
        let mut response = page(lang, StatusCode::TOO_MANY_REQUESTS, &form.text, error_box(lang.t(i18n::BUSY)));
        if let Some(wait) = refused.into_response().headers().get(axum::http::header::RETRY_AFTER) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, wait.clone());
        }
        return response;
    }
    let check = match state.registry.verify_bulk(&rows).await {
        Ok(check) => check,
        Err(e) => return unavailable(lang, &form.text, e),
    };
    match form.action {
        Action::Csv => csv_response(&check).unwrap_or_else(IntoResponse::into_response),
        Action::Receipt => match state.registry.issue_receipt_for(&check, client.budget()).await {
            Ok(receipt) => {
                let location = format!("/receipts/{}?lang={}", receipt.id, lang.param());
                let mut response = StatusCode::SEE_OTHER.into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                response
            }
            Err(e) => unavailable(lang, &form.text, e),
        },
        Action::Check => page(lang, StatusCode::OK, &form.text, results(&check, lang)),
    }
}

fn unavailable(lang: Lang, text: &str, error: RegistryError) -> Response {
    if let RegistryError::Busy(_) | RegistryError::RateLimited(_) = error {
        let response = page(lang, StatusCode::TOO_MANY_REQUESTS, text, error_box(lang.t(i18n::BUSY)));
        return super::with_retry_after(response, &error);
    }
    tracing::error!(error = %error, "bulk page: verification failed");
    page(lang, StatusCode::SERVICE_UNAVAILABLE, text, error_box(lang.t(i18n::STATUS_UNAVAILABLE)))
}

/// Why a form could not be read: the multipart error, in both languages (the form's language
/// field may be what could not be read).
fn bad_form(error: impl std::fmt::Display) -> Markup {
    html! { (Lang::Zh.t(i18n::BULK_BAD_FORM)) " / " (Lang::En.t(i18n::BULK_BAD_FORM)) ": " (error.to_string()) }
}

/// An uploaded file that is not text, in both languages.
fn not_text() -> Markup {
    html! { (Lang::Zh.t(i18n::BULK_NOT_TEXT)) br; (Lang::En.t(i18n::BULK_NOT_TEXT)) }
}

/// Reads the multipart form; a chosen file replaces the textarea.
async fn read_form(mut multipart: Multipart) -> Result<BulkForm, Markup> {
    let mut form = BulkForm { lang: None, text: String::new(), action: Action::Check };
    let mut file: Option<String> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(bad_form(e)),
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(bad_form)?;
        let text = || String::from_utf8(bytes.to_vec()).map_err(|_| not_text());
        match name.as_str() {
            "queries" => form.text = text()?,
            "file" if !bytes.is_empty() => file = Some(file_text(&bytes)?),
            "lang" => form.lang = Some(text()?),
            "action" => {
                form.action = match text()?.as_str() {
                    "csv" => Action::Csv,
                    "receipt" => Action::Receipt,
                    _ => Action::Check,
                }
            }
            _ => {}
        }
    }
    if let Some(file) = file {
        form.text = file;
    }
    Ok(form)
}

/// An uploaded list as text. Spreadsheet programs in China save CSV as GBK; the queries are
/// ASCII, so a GBK name column read as UTF-8 only turns into U+FFFD, as the API reads it. A
/// spreadsheet or other binary file (NUL bytes, a ZIP header as in .xlsx) is refused with how
/// to save it as CSV, instead of becoming a thousand "malformed" rows.
fn file_text(bytes: &[u8]) -> Result<String, Markup> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.contains(&0) {
        return Err(not_text());
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The page: the form (holding `text`) and then `after` (errors or results).
fn page(lang: Lang, status: StatusCode, text: &str, after: Markup) -> Response {
    let body = html! {
        h1 { (lang.t(i18n::BULK_TITLE)) }
        p { (lang.t(i18n::BULK_INTRO)) }
        form class="query" method="post" action="/verify" enctype="multipart/form-data" id="bulk-form" {
            input type="hidden" name="lang" value=(lang.param());
            div {
                label for="queries" { (lang.t(i18n::BULK_FIELD)) }
                textarea id="queries" name="queries" rows="10" spellcheck="false" aria-describedby="row-count" { (text) }
                p class="hint" id="row-count" aria-live="polite" {}
            }
            div {
                label for="file" { (lang.t(i18n::BULK_FILE)) }
                input type="file" id="file" name="file" accept=".csv,.txt,text/csv,text/plain";
                p class="hint" { (lang.t(i18n::BULK_FILE_HINT)) }
            }
            div class="actions" {
                button type="submit" name="action" value="check" { (lang.t(i18n::BULK_CHECK)) }
                button class="secondary" type="submit" name="action" value="csv" { (lang.t(i18n::BULK_CSV)) }
                button class="secondary" type="submit" name="action" value="receipt" { (lang.t(i18n::BULK_RECEIPT)) }
            }
        }
        (after)
    };
    let page = Page {
        lang,
        title: i18n::BULK_TITLE.get(lang),
        path: "/verify",
        query: "",
        styles: &[],
        scripts: &["bulk.js"],
        body,
    };
    html_response(status, page.render(), "no-store")
}

/// The results table: one line per certificate found, one per unknown or malformed row.
fn results(check: &BulkCheck, lang: Lang) -> Markup {
    use crate::domain::State as S;
    let summary = check.summary();
    let counts = [
        (S::Valid, summary.valid),
        (S::Suspended, summary.suspended),
        (S::Revoked, summary.revoked),
        (S::Withdrawn, summary.withdrawn),
        (S::Expired, summary.expired),
    ];
    let lines = html! {
        @for row in &check.rows {
            @match row.outcome() {
                Outcome::Found => {
                    @for certificate in &row.certificates {
                        @let record = &certificate.record;
                        (results::found(
                            &results::Found {
                                row: row.row,
                                query: &row.query,
                                state: record.state_on(check.today),
                                number: record.number.as_str(),
                                holder: &record.holder.name,
                                uscc: record.holder.uscc.as_str(),
                                level: record.level,
                                validity: record.valid_until.to_string(),
                                validity_label: i18n::VALID_UNTIL,
                            },
                            lang,
                        ))
                    }
                    @if row.more > 0 {
                        (results::more(row.row, &row.query, row.more, lang))
                    }
                }
                outcome => {
                    @let detail = results::why_missing(row.parsed.kind(), &row.error().unwrap_or_default(), lang);
                    (results::missing(row.row, &row.query, outcome == Outcome::Malformed, &detail, lang))
                }
            }
        }
    };
    html! {
        section aria-labelledby="summary" {
            h2 id="summary" { (lang.t(i18n::BULK_SUMMARY)) }
            p class="as-of" {
                (lang.t(i18n::CHECKED_AT)) (lang.t(i18n::COLON))
                time datetime=(check.checked_at.to_rfc3339()) { (china_time(check.checked_at, lang)) }
                " · " (check.rows.len()) " " (lang.t(i18n::BULK_ROWS))
            }
            ul class="summary" {
                @for (state, count) in counts {
                    li { (state_badge(state, lang)) " " span data-count=(state.as_str()) { (count) } }
                }
                li { (missing_badge(false, lang)) " " span data-count="unknown" { (summary.unknown) } }
                li { (missing_badge(true, lang)) " " span data-count="malformed" { (summary.malformed) } }
            }
        }
        @if summary.more > 0 {
            p class="hint" {
                (lang.t(i18n::MORE_FOUND)) span data-count="more" { (summary.more) } ". " (lang.t(i18n::MORE_HINT))
            }
        }
        (results::table("results", i18n::RESULTS, "bulk-results", i18n::VALID_UNTIL, lang, lines))
    }
}
