//! `GET /receipts/{id}`: a verification receipt as a printable page. Its QR code leads back to
//! this very page, which re-checks the signature and says what has changed since, so a printed
//! receipt in a tender file can be checked by anyone with a phone. `POST /receipts` issues one
//! for a single certificate from the certificate page.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value;

use super::i18n;
use super::results;
use super::{china_time, error_box, html_response, url_encode, Lang, Page};
use crate::domain::receipt::{rows_from_list, Outcome, Receipt, ReceiptRow, MAX_RECEIPT_BYTES};
use crate::http::extract::{ApiQuery, PageForm};
use crate::http::AppState;
use crate::mark::plain::qr_svg;
use crate::mark::QrMatrix;
use crate::registry::receipt::{ReceiptCheck, ReceiptError};
use crate::registry::RegistryError;

/// Table lines (a certificate, a row that found nothing, a count of more) shown on one page at
/// most, so that a view costs the same whatever the receipt holds. Rows are never split.
pub const LINES_PER_PAGE: usize = 200;

/// The page's query string: the language toggle and which page of rows.
#[derive(Deserialize, Default)]
pub struct ReceiptPageQuery {
    lang: Option<String>,
    page: Option<String>,
}

#[utoipa::path(
    get, path = "/receipts/{id}", tag = "pages", summary = "A receipt's page",
    params(("id" = String, Path, description = "The receipt id"), ("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses(
        (status = 200, description = "The receipt, checked again today", content_type = "text/html", body = String),
        (status = 404, description = "The page, saying there is no such receipt", content_type = "text/html", body = String),
        (status = 503, description = "The page, saying the status could not be read", content_type = "text/html", body = String),
    )
)]
pub async fn receipt_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ReceiptPageQuery>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let path = format!("/receipts/{}", url_encode(&id));
    let render = |status: StatusCode, body: Markup| {
        let page = Page {
            lang,
            title: i18n::RECEIPT_TITLE.get(lang),
            path: &path,
            query: "",
            styles: &[],
            scripts: &[],
            body,
        };
        html_response(status, page.render(), "no-store")
    };
    let failed = |lang: Lang| {
        html! { h1 { (lang.t(i18n::RECEIPT_TITLE)) } (error_box(lang.t(i18n::STATUS_UNAVAILABLE))) }
    };
    let issued = match state.registry.receipt(&id).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            let body = html! {
                h1 { span aria-hidden="true" { "⚠" } " " (lang.t(i18n::RECEIPT_TITLE)) }
                (error_box(lang.t(i18n::RECEIPT_NOT_FOUND)))
            };
            return render(StatusCode::NOT_FOUND, body);
        }
        Err(e) => {
            tracing::error!(error = %e, "receipt page: store unavailable");
            return render(StatusCode::SERVICE_UNAVAILABLE, failed(lang));
        }
    };
    if issued.document.len() > MAX_RECEIPT_BYTES {
        // Only a receipt issued before receipts were bounded can be this large: say so rather
        // than read it on every view.
        let body = html! {
            h1 { (lang.t(i18n::RECEIPT_TITLE)) }
            div class="error-box" id="receipt-verdict" data-genuine="unchecked" role="alert" {
                p { (lang.t(i18n::RECEIPT_TOO_LARGE)) }
            }
            p { (json_link(&issued.id, lang)) }
        };
        return render(StatusCode::OK, body);
    }
    let page = query.page.as_deref().and_then(|p| p.trim().parse::<usize>().ok()).unwrap_or(1);
    let check = match serde_json::from_str::<Value>(&issued.document) {
        Ok(document) => state.registry.check_receipt(&document).await,
        Err(e) => Err(ReceiptError::Shape(crate::registry::receipt::NotAReceipt(e.to_string()))),
    };
    match check {
        Ok(check) => render(StatusCode::OK, body(&issued.id, &issued.url, &check, page, lang)),
        Err(e) => {
            tracing::error!(error = %e, "receipt page: the check failed");
            render(StatusCode::SERVICE_UNAVAILABLE, failed(lang))
        }
    }
}

/// The form on the certificate page.
#[derive(Deserialize)]
pub struct SingleReceipt {
    /// Optional here so that a form without it gets this page's explanation, not a bare 422.
    number: Option<String>,
    lang: Option<String>,
}

/// `POST /receipts`: a receipt for one certificate, then on to its page.
#[utoipa::path(
    post, path = "/receipts", tag = "pages", summary = "Issue a receipt for one certificate (form)",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`number` and `lang`"),
    responses(
        (status = 303, description = "To the receipt's page"),
        (status = 400, description = "`bad-request`: the form cannot be read"),
        (status = 415, description = "`unsupported-media-type`: the body is not `application/x-www-form-urlencoded`"),
        (status = 422, description = "The page, saying what is missing", content_type = "text/html", body = String),
        (status = 429, description = "The page, saying to come back later", content_type = "text/html", body = String),
        (status = 503, description = "The page, saying the status could not be read", content_type = "text/html", body = String),
    )
)]
pub async fn issue_single(
    State(state): State<AppState>,
    client: crate::http::rate_limits::ClientBudget,
    headers: HeaderMap,
    PageForm(form): PageForm<SingleReceipt>,
) -> Response {
    let lang = Lang::negotiate(form.lang.as_deref(), &headers);
    let Some(number) = form.number.filter(|n| !n.trim().is_empty()) else {
        return single_failed(lang, StatusCode::UNPROCESSABLE_ENTITY, i18n::RECEIPT_NO_NUMBER);
    };
    let rows = rows_from_list(std::slice::from_ref(&number));
    let issued = match state.registry.verify_bulk(&rows).await {
        Ok(check) => state.registry.issue_receipt_for(&check, client.budget()).await,
        Err(e) => Err(e),
    };
    match issued {
        Ok(receipt) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("/receipts/{}?lang={}", receipt.id, lang.param())) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Err(e) => {
            let (status, message) = match &e {
                RegistryError::Busy(_) | RegistryError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, i18n::BUSY),
                e => {
                    tracing::error!(error = %e, "single receipt: failed");
                    (StatusCode::SERVICE_UNAVAILABLE, i18n::STATUS_UNAVAILABLE)
                }
            };
            super::with_retry_after(single_failed(lang, status, message), &e)
        }
    }
}

/// The page saying why no receipt was issued.
fn single_failed(lang: Lang, status: StatusCode, message: i18n::Text) -> Response {
    let body = html! { h1 { (lang.t(i18n::RECEIPT_TITLE)) } (error_box(lang.t(message))) };
    let page = Page {
        lang,
        title: i18n::RECEIPT_TITLE.get(lang),
        path: "/search",
        query: "",
        styles: &[],
        scripts: &[],
        body,
    };
    html_response(status, page.render(), "no-store")
}

/// The link to the signed receipt's JSON, named for saving.
fn json_link(id: &str, lang: Lang) -> Markup {
    html! {
        a href={ "/api/v1/receipts/" (id) } download={ "starmark-receipt-" (id) ".json" } { (lang.t(i18n::RECEIPT_JSON)) }
    }
}

/// The table lines row `row` takes.
fn lines(row: &ReceiptRow) -> usize {
    (row.certificates.len() + usize::from(row.more > 0)).max(1)
}

/// The rows of page `page` (from 1; clamped to the pages there are), the page shown and how
/// many pages there are. A page holds whole rows, at most [`LINES_PER_PAGE`] lines of them
/// (a row has at most 11).
fn page_of(receipt: Option<&Receipt>, page: usize) -> (&[ReceiptRow], usize, usize) {
    let rows = receipt.map(|r| r.results.as_slice()).unwrap_or_default();
    let mut starts = vec![0];
    let mut used = 0;
    for (index, row) in rows.iter().enumerate() {
        if used + lines(row) > LINES_PER_PAGE && used > 0 {
            starts.push(index);
            used = 0;
        }
        used += lines(row);
    }
    let pages = starts.len();
    let page = page.clamp(1, pages);
    let end = starts.get(page).copied().unwrap_or(rows.len());
    (&rows[starts[page - 1]..end], page, pages)
}

fn body(id: &str, url: &str, check: &ReceiptCheck, page: usize, lang: Lang) -> Markup {
    let (rows, page, pages) = page_of(check.receipt.as_ref(), page);
    let on_page = |row: u32| rows.iter().any(|r| r.row == row);
    let elsewhere = check.changed.iter().filter(|change| !on_page(change.row)).count();
    let qr = QrMatrix::encode(url).map(|qr| qr_svg(&qr, i18n::RECEIPT_QR.get(lang)));
    html! {
        h1 { (lang.t(i18n::RECEIPT_TITLE)) }
        @if check.genuine {
            div class="note-box" id="receipt-verdict" data-genuine="true" {
                p { strong { span aria-hidden="true" { "✔" } " " (lang.t(i18n::RECEIPT_GENUINE)) } }
                @if check.changed.is_empty() {
                    p id="receipt-changes" data-changed="0" { (lang.t(i18n::RECEIPT_UNCHANGED)) }
                } @else {
                    p id="receipt-changes" data-changed=(check.changed.len()) { strong { (lang.t(i18n::RECEIPT_CHANGED)) } }
                    ul {
                        @for change in check.changed.iter().filter(|change| on_page(change.row)) {
                            @let number = change.number.as_deref().unwrap_or("");
                            li data-changed-number=(number) {
                                "#" (change.row) " " (results::client_input(&change.query)) " " (number) (lang.t(i18n::COLON))
                                @for (index, f) in change.changes.iter().enumerate() {
                                    @if index > 0 { "; " }
                                    (field_name(f.field, lang)) " " (lang.t(i18n::RECEIPT_WAS)) " "
                                    (field_value(f.field, &f.then, lang)) " → " (lang.t(i18n::RECEIPT_NOW)) " "
                                    (field_value(f.field, &f.now, lang))
                                }
                            }
                        }
                        @if elsewhere > 0 {
                            li data-changes-elsewhere=(elsewhere) { (elsewhere) " " (lang.t(i18n::RECEIPT_CHANGES_ELSEWHERE)) }
                        }
                    }
                }
                (as_of(check, lang))
            }
        } @else {
            div class="error-box" id="receipt-verdict" data-genuine="false" role="alert" {
                p { strong { span aria-hidden="true" { "⚠" } " " (lang.t(i18n::RECEIPT_NOT_GENUINE)) } }
                p { (check.reason.as_deref().unwrap_or("")) }
                (as_of(check, lang))
            }
        }
        div class="receipt-head" {
            dl class="facts" {
                dt { (lang.t(i18n::RECEIPT_ID)) } dd { code { (id) } }
                @if let Some(receipt) = &check.receipt { (header(receipt, check, lang)) }
            }
            @if let Ok(svg) = qr {
                figure class="receipt-qr" {
                    // The QR code's SVG is drawn by `mark::plain` from numbers alone; its only
                    // text is this page's own constant label.
                    (PreEscaped(svg))
                    figcaption { (lang.t(i18n::RECEIPT_QR)) br; small { (url) } }
                }
            }
        }
        @if check.receipt.is_some() {
            (snapshot(rows, lang))
            @if pages > 1 { (pager(id, page, pages, lang)) }
        }
        p class="no-print" { (json_link(id, lang)) }
        p class="hint" { (lang.t(i18n::RECEIPT_PRINT_HINT)) }
    }
}

/// When the receipt was checked against the registry.
fn as_of(check: &ReceiptCheck, lang: Lang) -> Markup {
    html! {
        p class="as-of" {
            (lang.t(i18n::DATA_AS_OF)) (lang.t(i18n::COLON))
            time datetime=(check.checked_at.to_rfc3339()) { (china_time(check.checked_at, lang)) }
        }
    }
}

/// A compared field's name in the page's language.
fn field_name(field: &str, lang: Lang) -> &str {
    let text = match field {
        "state" => i18n::STATE,
        "level" => i18n::LEVEL,
        "valid_until" => i18n::VALID_UNTIL,
        "version" => i18n::VERSION,
        "holder_name" => i18n::HOLDER,
        "outcome" => i18n::OUTCOME,
        "certificate" => i18n::NUMBER,
        "certificates" => i18n::CERTIFICATE_COUNT,
        other => return other,
    };
    text.get(lang)
}

/// A compared value in the page's language: states, levels and outcomes by name, the rest as is.
fn field_value(field: &str, value: &Value, lang: Lang) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    };
    let named = match field {
        "state" => crate::domain::State::parse(&text).map(i18n::state_name),
        "level" => crate::domain::Level::parse(&text).map(i18n::level_name),
        "outcome" if text == "unknown" => Some(i18n::NOT_FOUND),
        "outcome" if text == "found" => Some(i18n::FOUND),
        _ => None,
    };
    named.map_or(text, |name| name.get(lang).to_string())
}

fn header(receipt: &Receipt, check: &ReceiptCheck, lang: Lang) -> Markup {
    html! {
        dt { (lang.t(i18n::RECEIPT_ISSUED_AT)) }
        dd { time datetime=(receipt.issued_at.to_rfc3339()) { (china_time(receipt.issued_at, lang)) } }
        dt { (lang.t(i18n::ISSUER)) }
        dd { (receipt.issuer.name) br; small { (receipt.issuer.approval_number.as_str()) } }
        dt { (lang.t(i18n::RECEIPT_REGISTRY)) }
        dd { (receipt.registry) }
        dt { (lang.t(i18n::RECEIPT_SIGNED_BY)) }
        dd {
            code { @if let Some(key_id) = &check.key_id { (key_id.as_str()) } }
            " "
            @match check.key_status.as_deref() {
                Some("active") => (lang.t(i18n::KEY_ACTIVE)),
                Some("retired") => (lang.t(i18n::KEY_RETIRED)),
                _ => {},
            }
        }
    }
}

/// Links to the previous and next pages of rows.
fn pager(id: &str, page: usize, pages: usize, lang: Lang) -> Markup {
    let link = |target: usize, text: i18n::Text| {
        html! { a href={ "/receipts/" (id) "?page=" (target) "&lang=" (lang.param()) } { (lang.t(text)) } " " }
    };
    html! {
        nav class="pager" id="receipt-pages" data-page=(page) data-pages=(pages) {
            p { (lang.t(i18n::RECEIPT_PAGE)) (page) (lang.t(i18n::RECEIPT_PAGE_OF)) (pages) (lang.t(i18n::RECEIPT_PAGE_END)) }
            @if page > 1 { (link(page - 1, i18n::RECEIPT_PREVIOUS)) }
            @if page < pages { (link(page + 1, i18n::RECEIPT_NEXT)) }
        }
    }
}

/// The rows as they stood when checked.
fn snapshot(rows: &[ReceiptRow], lang: Lang) -> Markup {
    let lines = html! {
        @for row in rows {
            @let number = usize::try_from(row.row).unwrap_or(usize::MAX);
            @if row.certificates.is_empty() && row.more == 0 {
                @let detail = results::why_missing(row.kind, row.error.as_deref().unwrap_or(""), lang);
                (results::missing(number, &row.query, row.outcome == Outcome::Malformed, &detail, lang))
            } @else {
                @for snapshot in &row.certificates {
                    (results::found(
                        &results::Found {
                            row: number,
                            query: &row.query,
                            state: snapshot.state,
                            number: &snapshot.number,
                            holder: &snapshot.holder_name,
                            uscc: &snapshot.uscc,
                            level: snapshot.level,
                            validity: format!("{} – {}", snapshot.valid_from, snapshot.valid_until),
                            validity_label: i18n::VALIDITY,
                        },
                        lang,
                    ))
                }
                @if row.more > 0 { (results::more(number, &row.query, row.more, lang)) }
            }
        }
    };
    results::table("snapshot", i18n::RECEIPT_SNAPSHOT, "receipt-rows", i18n::VALIDITY, lang, lines)
}
