//! `GET /receipts/{id}`: a verification receipt as a printable page. Its QR code leads back to
//! this very page, which re-checks the signature and says what has changed since, so a printed
//! receipt in a tender file can be checked by anyone with a phone. `POST /receipts` issues one
//! for a single certificate from the certificate page.

use std::fmt::Write;

use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::i18n;
use super::results;
use super::{china_time, escape, html_response, url_encode, Lang, Page};
use crate::domain::receipt::{rows_from_list, Outcome, Receipt, ReceiptRow, MAX_RECEIPT_BYTES};
use crate::http::extract::ApiQuery;
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

pub async fn receipt_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ReceiptPageQuery>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let path = format!("/receipts/{}", url_encode(&id));
    let render = |status: StatusCode, body: String| {
        let page = Page {
            lang,
            title: lang.t(i18n::RECEIPT_TITLE),
            path: &path,
            query: "",
            styles: &[],
            scripts: &[],
            body: &body,
        };
        html_response(status, page.render(), "no-store")
    };
    let failed = |lang: Lang| {
        format!(
            "<h1>{}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
            lang.t(i18n::RECEIPT_TITLE),
            lang.t(i18n::STATUS_UNAVAILABLE)
        )
    };
    let issued = match state.registry.receipt(&id).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            let body = format!(
                "<h1><span aria-hidden=\"true\">⚠</span> {}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
                lang.t(i18n::RECEIPT_TITLE),
                lang.t(i18n::RECEIPT_NOT_FOUND)
            );
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
        let body = format!(
            "<h1>{}</h1><div class=\"error-box\" id=\"receipt-verdict\" data-genuine=\"unchecked\" role=\"alert\"><p>{}</p></div>\
             <p><a href=\"/api/v1/receipts/{id}\" download=\"starmark-receipt-{id}.json\">{}</a></p>",
            lang.t(i18n::RECEIPT_TITLE),
            lang.t(i18n::RECEIPT_TOO_LARGE),
            lang.t(i18n::RECEIPT_JSON),
            id = escape(&issued.id)
        );
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
pub async fn issue_single(
    State(state): State<AppState>,
    client: crate::http::rate_limits::ClientBudget,
    headers: HeaderMap,
    Form(form): Form<SingleReceipt>,
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
            let (status, message) = match e {
                RegistryError::Busy(_) | RegistryError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, i18n::BUSY),
                e => {
                    tracing::error!(error = %e, "single receipt: failed");
                    (StatusCode::SERVICE_UNAVAILABLE, i18n::STATUS_UNAVAILABLE)
                }
            };
            single_failed(lang, status, message)
        }
    }
}

/// The page saying why no receipt was issued.
fn single_failed(lang: Lang, status: StatusCode, message: i18n::Text) -> Response {
    let body = format!(
        "<h1>{}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
        lang.t(i18n::RECEIPT_TITLE),
        lang.t(message)
    );
    let page = Page {
        lang,
        title: lang.t(i18n::RECEIPT_TITLE),
        path: "/search",
        query: "",
        styles: &[],
        scripts: &[],
        body: &body,
    };
    html_response(status, page.render(), "no-store")
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

fn body(id: &str, url: &str, check: &ReceiptCheck, page: usize, lang: Lang) -> String {
    let (rows, page, pages) = page_of(check.receipt.as_ref(), page);
    let on_page = |row: u32| rows.iter().any(|r| r.row == row);
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(out, "<h1>{}</h1>", lang.t(i18n::RECEIPT_TITLE));
    if check.genuine {
        let _ = write!(
            out,
            "<div class=\"note-box\" id=\"receipt-verdict\" data-genuine=\"true\"><p><strong><span aria-hidden=\"true\">✔</span> {}</strong></p>",
            lang.t(i18n::RECEIPT_GENUINE)
        );
    } else {
        let _ = write!(
            out,
            "<div class=\"error-box\" id=\"receipt-verdict\" data-genuine=\"false\" role=\"alert\"><p><strong><span aria-hidden=\"true\">⚠</span> {}</strong></p><p>{}</p>",
            lang.t(i18n::RECEIPT_NOT_GENUINE),
            escape(check.reason.as_deref().unwrap_or(""))
        );
    }
    if check.genuine {
        if check.changed.is_empty() {
            let _ = write!(out, "<p id=\"receipt-changes\" data-changed=\"0\">{}</p>", lang.t(i18n::RECEIPT_UNCHANGED));
        } else {
            let _ = write!(
                out,
                "<p id=\"receipt-changes\" data-changed=\"{}\"><strong>{}</strong></p><ul>",
                check.changed.len(),
                lang.t(i18n::RECEIPT_CHANGED)
            );
            let mut elsewhere = 0;
            for change in &check.changed {
                if !on_page(change.row) {
                    elsewhere += 1;
                    continue;
                }
                let fields: Vec<String> = change
                    .changes
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {} {} → {} {}",
                            field_name(f.field, lang),
                            lang.t(i18n::RECEIPT_WAS),
                            escape(&field_value(f.field, &f.then, lang)),
                            lang.t(i18n::RECEIPT_NOW),
                            escape(&field_value(f.field, &f.now, lang))
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<li data-changed-number=\"{}\">#{} {} {}{}{}</li>",
                    escape(change.number.as_deref().unwrap_or("")),
                    change.row,
                    results::client_input(&change.query),
                    escape(change.number.as_deref().unwrap_or("")),
                    lang.t(i18n::COLON),
                    fields.join("; ")
                );
            }
            if elsewhere > 0 {
                let _ = write!(
                    out,
                    "<li data-changes-elsewhere=\"{elsewhere}\">{elsewhere} {}</li>",
                    lang.t(i18n::RECEIPT_CHANGES_ELSEWHERE)
                );
            }
            out.push_str("</ul>");
        }
    }
    let _ = write!(
        out,
        "<p class=\"as-of\">{}{}<time datetime=\"{}\">{}</time></p></div>",
        lang.t(i18n::DATA_AS_OF),
        lang.t(i18n::COLON),
        check.checked_at.to_rfc3339(),
        china_time(check.checked_at, lang)
    );

    let qr = QrMatrix::encode(url).map(|qr| qr_svg(&qr, lang.t(i18n::RECEIPT_QR)));
    out.push_str("<div class=\"receipt-head\"><dl class=\"facts\">");
    let _ = write!(out, "<dt>{}</dt><dd><code>{}</code></dd>", lang.t(i18n::RECEIPT_ID), escape(id));
    if let Some(receipt) = &check.receipt {
        write_header(&mut out, receipt, check, lang);
    }
    out.push_str("</dl>");
    if let Ok(svg) = qr {
        let _ = write!(
            out,
            "<figure class=\"receipt-qr\">{svg}<figcaption>{}<br><small>{}</small></figcaption></figure>",
            lang.t(i18n::RECEIPT_QR),
            escape(url)
        );
    }
    out.push_str("</div>");
    if check.receipt.is_some() {
        write_rows(&mut out, rows, lang);
        if pages > 1 {
            write_pager(&mut out, id, page, pages, lang);
        }
    }
    let _ = write!(
        out,
        "<p class=\"no-print\"><a href=\"/api/v1/receipts/{id}\" download=\"starmark-receipt-{id}.json\">{}</a></p><p class=\"hint\">{}</p>",
        lang.t(i18n::RECEIPT_JSON),
        lang.t(i18n::RECEIPT_PRINT_HINT),
        id = escape(id)
    );
    out
}

/// A compared field's name in the page's language.
fn field_name(field: &str, lang: Lang) -> String {
    let text = match field {
        "state" => i18n::STATE,
        "level" => i18n::LEVEL,
        "valid_until" => i18n::VALID_UNTIL,
        "version" => i18n::VERSION,
        "holder_name" => i18n::HOLDER,
        "outcome" => i18n::OUTCOME,
        "certificate" => i18n::NUMBER,
        "certificates" => i18n::CERTIFICATE_COUNT,
        other => return escape(other),
    };
    lang.t(text).to_string()
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
    named.map_or(text, |name| lang.t(name).to_string())
}

fn write_header(out: &mut String, receipt: &Receipt, check: &ReceiptCheck, lang: Lang) {
    let _ = write!(
        out,
        "<dt>{}</dt><dd><time datetime=\"{}\">{}</time></dd><dt>{}</dt><dd>{}<br><small>{}</small></dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd><code>{}</code> {}</dd>",
        lang.t(i18n::RECEIPT_ISSUED_AT),
        receipt.issued_at.to_rfc3339(),
        china_time(receipt.issued_at, lang),
        lang.t(i18n::ISSUER),
        escape(&receipt.issuer.name),
        escape(receipt.issuer.approval_number.as_str()),
        lang.t(i18n::RECEIPT_REGISTRY),
        escape(&receipt.registry),
        lang.t(i18n::RECEIPT_SIGNED_BY),
        check.key_id.as_ref().map(|k| escape(k.as_str())).unwrap_or_default(),
        match check.key_status.as_deref() {
            Some("active") => lang.t(i18n::KEY_ACTIVE),
            Some("retired") => lang.t(i18n::KEY_RETIRED),
            _ => "",
        },
    );
}

/// Links to the previous and next pages of rows.
fn write_pager(out: &mut String, id: &str, page: usize, pages: usize, lang: Lang) {
    let _ = write!(
        out,
        "<nav class=\"pager\" id=\"receipt-pages\" data-page=\"{page}\" data-pages=\"{pages}\"><p>{}{page}{}{pages}{}</p>",
        lang.t(i18n::RECEIPT_PAGE),
        lang.t(i18n::RECEIPT_PAGE_OF),
        lang.t(i18n::RECEIPT_PAGE_END)
    );
    let link = |target: usize, text: i18n::Text| {
        format!("<a href=\"/receipts/{}?page={target}&amp;lang={}\">{}</a> ", escape(id), lang.param(), lang.t(text))
    };
    if page > 1 {
        out.push_str(&link(page - 1, i18n::RECEIPT_PREVIOUS));
    }
    if page < pages {
        out.push_str(&link(page + 1, i18n::RECEIPT_NEXT));
    }
    out.push_str("</nav>");
}

fn write_rows(out: &mut String, rows: &[ReceiptRow], lang: Lang) {
    results::open(out, "snapshot", i18n::RECEIPT_SNAPSHOT, "receipt-rows", i18n::VALIDITY, lang);
    for row in rows {
        let number = usize::try_from(row.row).unwrap_or(usize::MAX);
        if row.certificates.is_empty() && row.more == 0 {
            let detail = results::why_missing(row.kind, row.error.as_deref().unwrap_or(""), lang);
            results::missing(out, number, &row.query, row.outcome == Outcome::Malformed, &detail, lang);
            continue;
        }
        for snapshot in &row.certificates {
            let line = results::Found {
                row: number,
                query: &row.query,
                state: snapshot.state,
                number: &snapshot.number,
                holder: &snapshot.holder_name,
                uscc: &snapshot.uscc,
                level: snapshot.level,
                validity: format!("{} – {}", snapshot.valid_from, snapshot.valid_until),
                validity_label: i18n::VALIDITY,
            };
            results::found(out, &line, lang);
        }
        if row.more > 0 {
            results::more(out, number, &row.query, row.more, lang);
        }
    }
    results::close(out);
}
