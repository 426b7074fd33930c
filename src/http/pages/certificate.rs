//! `GET /certificates/{number}`: one certificate for people, with its state today, its facts,
//! links to the signed record and history, and a button for a signed verification receipt.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{display, html, Markup};

use super::i18n;
use super::widgets::{level_stars, state_badge};
use super::{china_time, error_box, html_response, Lang, LangQuery, Page};
use crate::crypto::SignedCertificate;
use crate::domain::{CertificateNumber, SurveillanceOutcome};
use crate::http::extract::ApiQuery;
use crate::http::views::StatusView;
use crate::http::AppState;
use crate::registry::{clock, RegistryError};

#[utoipa::path(
    get, path = "/certificates/{number}", tag = "pages", summary = "A certificate's page",
    params(("number" = String, Path, description = "Certificate number", example = "SM2026ASC000001"), ("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 400, description = "The page, saying the number is malformed", content_type = "text/html", body = String),
        (status = 404, description = "The page, saying there is no such certificate", content_type = "text/html", body = String),
        (status = 503, description = "The page, saying the status could not be read", content_type = "text/html", body = String),
    )
)]
pub async fn certificate_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<String>,
    ApiQuery(query): ApiQuery<LangQuery>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let now = clock::now();
    let found = match CertificateNumber::parse(&number) {
        Ok(parsed) => state.registry.get(&parsed).await,
        Err(_) => Err(RegistryError::NotFound(number.clone())),
    };
    let (status, title, body) = match found {
        Ok(certificate) => {
            (StatusCode::OK, certificate.record.number.as_str().to_string(), facts(&certificate, lang, now))
        }
        Err(RegistryError::Store(e)) => {
            tracing::error!(error = %e, "certificate page: store unavailable");
            let body = html! { h1 { (number) } (error_box(lang.t(i18n::STATUS_UNAVAILABLE))) };
            (StatusCode::SERVICE_UNAVAILABLE, number.clone(), body)
        }
        Err(RegistryError::Unconfirmed { .. }) => {
            let body = html! {
                h1 { span aria-hidden="true" { "⚠" } " " (number) }
                (error_box(lang.t(i18n::STATUS_UNCONFIRMED)))
            };
            (StatusCode::SERVICE_UNAVAILABLE, number.clone(), body)
        }
        Err(_) => {
            let body = html! {
                h1 { span aria-hidden="true" { "⚠" } " " (number) }
                (error_box(lang.t(i18n::CERTIFICATE_NOT_FOUND)))
                p { a href={ "/search?lang=" (lang.param()) } { (lang.t(i18n::SEARCH_TITLE)) } }
            };
            (StatusCode::NOT_FOUND, number.clone(), body)
        }
    };
    let body = html! {
        (body)
        p class="as-of" {
            (lang.t(i18n::DATA_AS_OF)) (lang.t(i18n::COLON))
            time datetime=(now.to_rfc3339()) { (china_time(now, lang)) }
        }
    };
    let path = format!("/certificates/{}", super::url_encode(&number));
    let page = Page { lang, title: &title, path: &path, query: "", styles: &[], scripts: &[], body };
    html_response(status, page.render(), "no-store")
}

fn facts(certificate: &SignedCertificate, lang: Lang, now: chrono::DateTime<chrono::Utc>) -> Markup {
    let today = clock::date_in_china(now);
    let record = &certificate.record;
    let status = StatusView::of(certificate, today);
    let number = record.number.as_str();
    let state_line = html! {
        (lang.t(i18n::state_name(status.state)))
        @match lang { Lang::Zh => " 自 ", Lang::En => " since " }
        (display(status.since))
        @match lang { Lang::Zh => " 起", Lang::En => "" }
        @if let Some(until) = status.until { (lang.t(i18n::UNTIL_PREFIX)) (display(until)) }
        @if let Some(reason) = status.reason { br; (lang.t(i18n::REASON)) (lang.t(i18n::COLON)) (reason) }
        @if status.overdue { br; strong { (lang.t(i18n::SUSPENSION_OVERDUE)) } }
    };
    let holder = html! {
        (record.holder.name)
        @if let Some(en) = &record.holder.name_en { br; span lang="en" { (en) } }
    };
    let issuer = html! {
        (record.issuer.name) br;
        small { (lang.t(i18n::APPROVAL)) (lang.t(i18n::COLON)) (record.issuer.approval_number.as_str()) }
    };
    let score = record.evaluation.score().map(|s| s.to_string()).unwrap_or_default();
    let rows: [(i18n::Text, Markup); 11] = [
        (i18n::STATE, state_line),
        (i18n::HOLDER, holder),
        (i18n::USCC, html! { (record.holder.uscc.as_str()) }),
        (i18n::LEVEL, level_stars(record.level, lang)),
        (i18n::SCORE, html! { (score) }),
        (i18n::SCOPE, html! { (record.scope) }),
        (i18n::STANDARD, html! { (record.standard) }),
        (i18n::VALIDITY, html! { (display(record.issued)) " – " (display(record.valid_until)) }),
        (i18n::FIRST_ISSUED, html! { (display(record.first_issued)) }),
        (i18n::ISSUER, issuer),
        (i18n::VERSION, html! { (record.version) }),
    ];
    html! {
        h1 { (number) }
        p class="verdict-line" { (state_badge(status.state, lang)) }
        dl class="facts" { @for (label, value) in rows { dt { (lang.t(label)) } dd { (value) } } }
        @if !record.surveillance.is_empty() {
            h2 { (lang.t(i18n::SURVEILLANCE)) }
            ul {
                @for audit in &record.surveillance {
                    li {
                        (display(audit.date)) (lang.t(i18n::COLON))
                        (lang.t(match audit.outcome {
                            SurveillanceOutcome::Passed => i18n::SURVEILLANCE_PASSED,
                            SurveillanceOutcome::Nonconformities => i18n::SURVEILLANCE_NONCONFORMITIES,
                        }))
                        @if let Some(note) = &audit.note { " — " (note) }
                    }
                }
            }
        }
        form method="post" action="/receipts" class="no-print" {
            input type="hidden" name="number" value=(number);
            input type="hidden" name="lang" value=(lang.param());
            button type="submit" class="secondary" { (lang.t(i18n::RECEIPT_SINGLE)) }
        }
        p class="no-print" {
            a href={ "/api/v1/certificates/" (number) } { (lang.t(i18n::MACHINE_READABLE)) }
            " · "
            a href={ "/api/v1/certificates/" (number) "/history" } { (lang.t(i18n::HISTORY)) }
        }
    }
}
