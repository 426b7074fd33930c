//! `GET /certificates/{number}`: one certificate for people, with its state today, its facts,
//! links to the signed record and history, and a button for a signed verification receipt.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::i18n;
use super::widgets::{level_stars, state_badge};
use super::{china_time, escape, html_response, Lang, LangQuery, Page};
use crate::domain::{CertificateNumber, SurveillanceOutcome};
use crate::http::extract::ApiQuery;
use crate::http::views::StatusView;
use crate::http::AppState;
use crate::registry::{clock, RegistryError};
use crate::store::StoredCertificate;

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
            let body = format!(
                "<h1>{}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
                escape(&number),
                lang.t(i18n::STATUS_UNAVAILABLE)
            );
            (StatusCode::SERVICE_UNAVAILABLE, number.clone(), body)
        }
        Err(RegistryError::Unconfirmed { .. }) => {
            let body = format!(
                "<h1><span aria-hidden=\"true\">⚠</span> {}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
                escape(&number),
                lang.t(i18n::STATUS_UNCONFIRMED)
            );
            (StatusCode::SERVICE_UNAVAILABLE, number.clone(), body)
        }
        Err(_) => {
            let body = format!(
                "<h1><span aria-hidden=\"true\">⚠</span> {}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>\
                 <p><a href=\"/search?lang={}\">{}</a></p>",
                escape(&number),
                lang.t(i18n::CERTIFICATE_NOT_FOUND),
                lang.param(),
                lang.t(i18n::SEARCH_TITLE)
            );
            (StatusCode::NOT_FOUND, number.clone(), body)
        }
    };
    let mut body = body;
    let _ = write!(
        body,
        "<p class=\"as-of\">{}{}<time datetime=\"{}\">{}</time></p>",
        lang.t(i18n::DATA_AS_OF),
        lang.t(i18n::COLON),
        now.to_rfc3339(),
        china_time(now, lang)
    );
    let path = format!("/certificates/{}", super::url_encode(&number));
    let page = Page { lang, title: &title, path: &path, query: "", styles: &[], scripts: &[], body: &body };
    html_response(status, page.render(), "no-store")
}

fn facts(certificate: &StoredCertificate, lang: Lang, now: chrono::DateTime<chrono::Utc>) -> String {
    let today = clock::date_in_china(now);
    let record = &certificate.record;
    let status = StatusView::of(certificate, today);
    let number = escape(record.number.as_str());
    let mut out = String::with_capacity(4096);
    let _ = write!(out, "<h1>{number}</h1><p class=\"verdict-line\">{}</p>", state_badge(status.state, lang));
    let mut state_line = match lang {
        Lang::Zh => format!("{} 自 {} 起", i18n::state_name(status.state).zh, status.since),
        Lang::En => format!("{} since {}", i18n::state_name(status.state).en, status.since),
    };
    if let Some(until) = status.until {
        let _ = write!(state_line, "{}{until}", lang.t(i18n::UNTIL_PREFIX));
    }
    if let Some(reason) = status.reason {
        let _ = write!(state_line, "<br>{}{}{}", lang.t(i18n::REASON), lang.t(i18n::COLON), escape(reason));
    }
    if status.overdue {
        let _ = write!(state_line, "<br><strong>{}</strong>", lang.t(i18n::SUSPENSION_OVERDUE));
    }
    let holder = match &record.holder.name_en {
        Some(en) => format!("{}<br><span lang=\"en\">{}</span>", escape(&record.holder.name), escape(en)),
        None => escape(&record.holder.name),
    };
    let score = record.evaluation.score().map(|s| s.to_string()).unwrap_or_default();
    out.push_str("<dl class=\"facts\">");
    let rows: [(i18n::Text, String); 11] = [
        (i18n::STATE, state_line),
        (i18n::HOLDER, holder),
        (i18n::USCC, record.holder.uscc.as_str().to_string()),
        (i18n::LEVEL, level_stars(record.level, lang)),
        (i18n::SCORE, score),
        (i18n::SCOPE, escape(&record.scope)),
        (i18n::STANDARD, escape(&record.standard)),
        (i18n::VALIDITY, format!("{} – {}", record.issued, record.valid_until)),
        (i18n::FIRST_ISSUED, record.first_issued.to_string()),
        (
            i18n::ISSUER,
            format!(
                "{}<br><small>{}{}{}</small>",
                escape(&record.issuer.name),
                lang.t(i18n::APPROVAL),
                lang.t(i18n::COLON),
                escape(record.issuer.approval_number.as_str())
            ),
        ),
        (i18n::VERSION, record.version.to_string()),
    ];
    for (label, value) in rows {
        let _ = write!(out, "<dt>{}</dt><dd>{value}</dd>", lang.t(label));
    }
    out.push_str("</dl>");
    if !record.surveillance.is_empty() {
        let _ = write!(out, "<h2>{}</h2><ul>", lang.t(i18n::SURVEILLANCE));
        for audit in &record.surveillance {
            let outcome = match audit.outcome {
                SurveillanceOutcome::Passed => i18n::SURVEILLANCE_PASSED,
                SurveillanceOutcome::Nonconformities => i18n::SURVEILLANCE_NONCONFORMITIES,
            };
            let note = audit.note.as_deref().map(|n| format!(" — {}", escape(n))).unwrap_or_default();
            let _ = write!(out, "<li>{}{}{}{note}</li>", audit.date, lang.t(i18n::COLON), lang.t(outcome));
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/receipts\" class=\"no-print\"><input type=\"hidden\" name=\"number\" value=\"{number}\">\
         <input type=\"hidden\" name=\"lang\" value=\"{}\"><button type=\"submit\" class=\"secondary\">{}</button></form>",
        lang.param(),
        lang.t(i18n::RECEIPT_SINGLE)
    );
    let _ = write!(
        out,
        "<p class=\"no-print\"><a href=\"/api/v1/certificates/{number}\">{}</a> · <a href=\"/api/v1/certificates/{number}/history\">{}</a></p>",
        lang.t(i18n::MACHINE_READABLE),
        lang.t(i18n::HISTORY)
    );
    out
}
