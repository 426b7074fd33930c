//! The consumer page of a scan: what a phone shows when its camera opens a mark's QR code.
//!
//! Server-rendered and complete without JavaScript: one verdict in a large banner (icon and
//! words, never colour alone), the data time, what to do when the mark cannot be trusted, then
//! the certificate and the mark. Every string comes in Chinese and English (`text.rs`), so the
//! page is whole in either. `scan.js` only adds the signature check on the device; the page
//! carries the token, the server's verdict and the script's messages in data attributes.

use chrono::NaiveDate;
use maud::{html, Markup};

use super::text::{self as tx, fill};
use super::view::{headline, status_of};
use crate::domain::{Issuer, State};
use crate::http::pages::i18n::{self, Text};
use crate::http::pages::{china_time, error_box, url_encode, widgets, Lang, Page};
use crate::http::views::StatusView;
use crate::registry::{ScanNote, ScanOutcome, Verdict};

/// The icon shown with each verdict, so colour is never the only signal: a state's own icon
/// (the same as on every other page), a cross for a revoked mark, a warning for the rest.
fn icon(verdict: Verdict) -> &'static str {
    match (verdict.state(), verdict) {
        (Some(state), _) => widgets::state_icon(state),
        (None, Verdict::MarkRevoked) => "✖",
        (None, _) => "⚠",
    }
}

/// A calendar date as each language writes it.
fn date(day: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Zh => day.format("%Y年%-m月%-d日").to_string(),
        Lang::En => day.format("%Y-%m-%d").to_string(),
    }
}

/// Why the verdict is what it is, in the page's language.
fn detail(outcome: &ScanOutcome, lang: Lang) -> Markup {
    let text = |s: Text| lang.t(s);
    let status = status_of(outcome);
    let since = status.as_ref().map(|s| date(s.since, lang)).unwrap_or_default();
    match outcome.verdict {
        Verdict::Valid => html! { (text(tx::DETAIL_VALID)) },
        Verdict::Suspended => {
            let until = status.as_ref().and_then(|s| Some((s.until?, s.overdue)));
            html! {
                (fill(text(tx::DETAIL_SUSPENDED), &[&since]))
                @if let Some((until, overdue)) = until {
                    @if lang == Lang::En { " " }
                    (fill(
                        text(if overdue { tx::DETAIL_SUSPENDED_OVERDUE } else { tx::DETAIL_SUSPENDED_UNTIL }),
                        &[&date(until, lang)],
                    ))
                }
                (reason_line(outcome, lang))
            }
        }
        Verdict::Revoked => html! { (fill(text(tx::DETAIL_REVOKED), &[&since])) (reason_line(outcome, lang)) },
        Verdict::Withdrawn => html! { (fill(text(tx::DETAIL_WITHDRAWN), &[&since])) (reason_line(outcome, lang)) },
        Verdict::Expired => {
            let until = outcome.record.as_ref().map(|r| date(r.valid_until, lang)).unwrap_or_default();
            html! { (fill(text(tx::DETAIL_EXPIRED), &[&until])) }
        }
        Verdict::MarkRevoked => {
            let (reason, day) = outcome
                .mark_revocation
                .as_ref()
                .map(|(reason, day)| (reason.as_str(), date(*day, lang)))
                .unwrap_or_default();
            html! { (fill(text(tx::DETAIL_MARK_REVOKED), &[&day, &reason])) }
        }
        Verdict::NotGenuine => html! {
            (match outcome.reason {
                "unknown_key" => text(tx::DETAIL_UNKNOWN_KEY),
                "bad_signature" => text(tx::DETAIL_BAD_SIGNATURE),
                _ => text(tx::DETAIL_MALFORMED),
            })
        },
        Verdict::Unknown => match outcome.reason {
            "other_holder" => html! { (text(tx::DETAIL_OTHER_HOLDER)) },
            "serial_not_issued" => {
                let serial =
                    outcome.claims.as_ref().map(|c| format!("{}-{:06}", c.batch, c.serial)).unwrap_or_default();
                html! { (fill(text(tx::DETAIL_SERIAL_NOT_ISSUED), &[&serial])) }
            }
            _ => {
                let number = outcome.claims.as_ref().map(|c| c.number.as_str()).unwrap_or_default();
                html! { (fill(text(tx::DETAIL_NO_CERTIFICATE), &[&number])) }
            }
        },
    }
}

/// The status reason the body gave (suspension, revocation, withdrawal), as its own line.
fn reason_line(outcome: &ScanOutcome, lang: Lang) -> Markup {
    html! {
        @if let Some(reason) = status_of(outcome).and_then(|s| s.reason) {
            br;
            (fill(lang.t(tx::DETAIL_REASON), &[&reason]))
        }
    }
}

/// The status line: state badge, since when, until when, why.
fn status_value(status: &StatusView<'_>, lang: Lang) -> Markup {
    html! {
        (fill(lang.t(tx::STATUS_SINCE), &[&widgets::state_badge(status.state, lang), &date(status.since, lang)]))
        @if let (State::Suspended, Some(until)) = (status.state, status.until) {
            (fill(lang.t(tx::STATUS_UNTIL), &[&date(until, lang)]))
        }
        @if let Some(reason) = status.reason {
            (fill(lang.t(tx::STATUS_REASON), &[&reason]))
        }
    }
}

/// What to do with a product whose mark cannot be trusted.
fn what_to_do(issuer: &Issuer, lang: Lang) -> Markup {
    let phone = html! { a href="tel:12315" { "12315" } };
    let platform = html! {
        a href="https://www.12315.cn/" rel="noopener noreferrer" { (lang.t(tx::PLATFORM_12315)) }
    };
    html! {
        section class="warn-box what-to-do" id="what-to-do" aria-labelledby="what-to-do-title" {
            h2 id="what-to-do-title" { (lang.t(tx::WHAT_TO_DO)) }
            p { strong { (lang.t(tx::DO_NOT_TRUST)) } }
            ul {
                li { (lang.t(tx::KEEP_PRODUCT)) }
                li { (fill(lang.t(tx::REPORT_BODY), &[&issuer.name, &issuer.approval_number.as_str()])) }
                li { (fill(lang.t(tx::REPORT_12315), &[&phone, &platform])) }
            }
        }
    }
}

/// The device check: a note that shows without JavaScript, and everything `scan.js` needs.
fn device_check(token: &str, outcome: &ScanOutcome, lang: Lang) -> Markup {
    html! {
        section class="device-check" id="device-check" aria-labelledby="device-check-title"
            data-token=(token) data-verdict=(outcome.verdict.as_str())
            data-trust-list="/.well-known/starmark/keys.json"
            data-msg-checking=(lang.t(tx::DEVICE_CHECKING))
            data-msg-verified=(lang.t(tx::DEVICE_VERIFIED))
            data-msg-invalid=(lang.t(tx::DEVICE_INVALID))
            data-msg-unknown-key=(lang.t(tx::DEVICE_UNKNOWN_KEY))
            data-msg-malformed=(lang.t(tx::DEVICE_MALFORMED))
            data-msg-unsupported=(lang.t(tx::DEVICE_UNSUPPORTED))
            data-msg-error=(lang.t(tx::DEVICE_ERROR))
            data-msg-mismatch-genuine=(lang.t(tx::DEVICE_MISMATCH_GENUINE))
            data-msg-mismatch-fake=(lang.t(tx::DEVICE_MISMATCH_FAKE)) {
            h2 id="device-check-title" { (lang.t(tx::DEVICE_CHECK)) }
            p id="device-check-result" class="device-result" aria-live="polite" { (lang.t(tx::DEVICE_NEEDS_JS)) }
        }
    }
}

/// The certificate section (or, without a certificate, what the mark claims).
fn certificate(outcome: &ScanOutcome, lang: Lang) -> Markup {
    html! {
        h2 id="certificate-title" { (lang.t(tx::CERTIFICATE)) }
        dl class="facts" id="certificate" {
            @if let Some(record) = &outcome.record {
                dt { (lang.t(tx::HOLDER)) } dd id="holder" { (record.holder.name) }
                @if let Some(name_en) = &record.holder.name_en {
                    dt { (lang.t(tx::HOLDER_EN)) } dd id="holder-en" { span lang="en" { (name_en) } }
                }
                dt { (lang.t(i18n::USCC)) } dd id="uscc" { (record.holder.uscc.as_str()) }
                dt { (lang.t(tx::LEVEL)) } dd id="level" { (widgets::level_stars(record.level, lang)) }
                dt { (lang.t(i18n::SCOPE)) } dd id="scope" { (record.scope) }
                dt { (lang.t(i18n::NUMBER)) }
                dd id="number" {
                    (record.number.as_str()) " · "
                    a href={ "/certificates/" (url_encode(record.number.as_str())) "?lang=" (lang.param()) } {
                        (lang.t(tx::DETAILS_LINK))
                    }
                }
                @if let Some(status) = status_of(outcome) {
                    dt { (lang.t(tx::STATUS)) } dd id="status" { (status_value(&status, lang)) }
                }
                dt { (lang.t(i18n::VALIDITY)) }
                dd id="validity" {
                    (fill(lang.t(tx::VALIDITY_RANGE), &[&date(record.issued, lang), &date(record.valid_until, lang)]))
                }
                dt { (lang.t(tx::ISSUER)) }
                dd id="issuer" {
                    (fill(lang.t(tx::ISSUER_VALUE), &[&record.issuer.name, &record.issuer.approval_number.as_str()]))
                }
            } @else if let Some(claims) = &outcome.claims {
                dt { (lang.t(tx::CLAIMED)) }
                dd id="claimed" { (fill(lang.t(tx::CLAIMED_VALUE), &[&claims.number.as_str(), &claims.uscc.as_str()])) }
            } @else {
                dt { (lang.t(tx::CLAIMED)) } dd id="claimed" { "—" }
            }
        }
    }
}

/// How often the mark was checked, in words: distinct networks, not requests (one client
/// replaying the URL is one network a day).
fn checks(outcome: &ScanOutcome, lang: Lang) -> Markup {
    let scanners = &outcome.scanners;
    let suspicious = crate::registry::SUSPICIOUS_SCANS;
    html! {
        @match scanners.first_at() {
            None => (lang.t(tx::CHECKS_NONE)),
            Some(since) if scanners.is_full() => {
                (fill(lang.t(tx::CHECKS_AT_LEAST), &[&suspicious, &china_time(since, lang)]))
            }
            Some(since) if scanners.len() == 1 => (fill(lang.t(tx::CHECKS_ONCE), &[&china_time(since, lang)])),
            Some(since) => (fill(lang.t(tx::CHECKS_VALUE), &[&scanners.len(), &china_time(since, lang)])),
        }
    }
}

/// The mark section: serial, revocation, how often it was checked, the signing key.
fn mark(outcome: &ScanOutcome, lang: Lang) -> Markup {
    let Some(claims) = &outcome.claims else { return Markup::default() };
    html! {
        h2 id="mark-title" { (lang.t(tx::THIS_MARK)) }
        dl class="facts" id="mark" {
            dt { (lang.t(tx::SERIAL)) }
            dd id="serial" {
                @if claims.batch == 0 {
                    (lang.t(tx::CERTIFICATE_MARK))
                } @else {
                    (claims.batch) "-" (format_args!("{:06}", claims.serial))
                }
            }
            @if let Some((reason, day)) = &outcome.mark_revocation {
                dt { (lang.t(tx::MARK_REVOKED_LABEL)) }
                dd id="mark-revoked" { (fill(lang.t(tx::MARK_REVOKED_VALUE), &[&date(*day, lang), reason])) }
            }
            @if outcome.scans.is_some() {
                dt { (lang.t(tx::CHECKS)) } dd id="checks" { (checks(outcome, lang)) }
            } @else if outcome.reason == "checked" {
                // A genuine mark whose checks the registry cannot count right now (the store
                // cannot say how often it was checked before, or the counter is full): saying
                // nothing would look like a mark never checked before.
                dt { (lang.t(tx::CHECKS)) } dd id="checks" { (lang.t(tx::CHECKS_UNKNOWN)) }
            }
            @if let Some(key_id) = &outcome.key_id {
                dt { (lang.t(tx::KEY_ID)) } dd id="key-id" { code { (key_id.as_str()) } }
            }
        }
    }
}

/// For a GS1 Digital Link mark: the product it goes on (GTIN, and the name its batch gives when
/// the record is known), and which certificate covers it.
fn product(outcome: &ScanOutcome, lang: Lang) -> Markup {
    let Some(claims) = &outcome.claims else { return Markup::default() };
    let Some(gtin) = claims.gtin else { return Markup::default() };
    let name = outcome.product_name().unwrap_or("—");
    html! {
        p class="product" id="product" {
            (fill(lang.t(tx::PRODUCT_COVERED), &[&name, &gtin.as_str(), &claims.number.as_str()]))
        }
    }
}

/// The registry's notes (differences between what the mark says and today's record), in the
/// page's language.
fn notes(outcome: &ScanOutcome, lang: Lang) -> Markup {
    html! {
        @for note in &outcome.notes {
            p class="note-box mark-note" {
                @match *note {
                    ScanNote::Level { printed, now } => {
                        (fill(
                            lang.t(tx::NOTE_LEVEL),
                            &[&lang.t(i18n::level_name(printed)), &lang.t(i18n::level_name(now))],
                        ))
                    }
                    ScanNote::ValidUntil { printed, now } => {
                        (fill(lang.t(tx::NOTE_VALIDITY), &[&date(printed, lang), &date(now, lang)]))
                    }
                }
            }
        }
    }
}

/// The whole page for a scan of `token` in `lang`; `issuer` is whom to report a fake to. Kept
/// out of line so that `bench/pages.sh` can count its instructions by name.
#[inline(never)]
pub fn render(token: &str, outcome: &ScanOutcome, issuer: &Issuer, lang: Lang) -> String {
    let verdict = outcome.verdict;
    // The verdict as the JSON answer names it: CSS class and data attribute.
    let slug = verdict.as_str();
    let (zh, en) = headline(verdict);
    let title = match lang {
        Lang::Zh => zh,
        Lang::En => en,
    };
    let body = html! {
        section class={ "verdict verdict-" (slug) } id="verdict" data-verdict=(slug) aria-labelledby="verdict-title" {
            h1 id="verdict-title" {
                span class="verdict-icon" aria-hidden="true" { (icon(verdict)) } " "
                span class="verdict-words" { (title) }
            }
            p class="verdict-detail" id="verdict-detail" { (detail(outcome, lang)) }
            p class="as-of" id="as-of" { (lang.t(i18n::DATA_AS_OF)) "：" (china_time(outcome.checked_at, lang)) }
        }
        @if outcome.suspicious() {
            p class="warn-box copied" id="copied-warning" role="alert" {
                span aria-hidden="true" { "⚠" } " "
                strong { (fill(lang.t(tx::SUSPICIOUS), &[&crate::registry::SUSPICIOUS_SCANS])) }
            }
        }
        @if matches!(verdict, Verdict::NotGenuine | Verdict::Unknown | Verdict::MarkRevoked) {
            (what_to_do(issuer, lang))
        }
        @if outcome.verdict == Verdict::Valid {
            (product(outcome, lang))
        }
        (notes(outcome, lang))
        (device_check(token, outcome, lang))
        (certificate(outcome, lang))
        (mark(outcome, lang))
    };
    let (path, query) = page_path(token);
    Page {
        lang,
        title,
        path: &path,
        query: &query,
        styles: &["scan.css"],
        scripts: &["verify-mark.js", "scan.js"],
        body,
    }
    .render()
}

/// Where the page of `token` is and what query it keeps (for the language toggle): a GS1 mark's
/// token is its own path and query, any other is `/v/{token}`.
fn page_path(token: &str) -> (String, String) {
    match token.strip_prefix(crate::crypto::token::GS1_PREFIX).and_then(|rest| rest.split_once('?')) {
        Some((path, query)) => (format!("/01/{path}"), query.to_string()),
        None => (format!("/v/{}", url_encode(token)), String::new()),
    }
}

/// The page of a scan whose certificate does not match the registry's transparency log: no
/// verdict at all, only that the status cannot be confirmed (503, never cached).
pub(super) fn unconfirmed(token: &str, number: &str, lang: Lang) -> axum::response::Response {
    let body = html! {
        h1 { span aria-hidden="true" { "⚠" } " " (number) }
        (error_box(lang.t(i18n::STATUS_UNCONFIRMED)))
    };
    let (path, query) = page_path(token);
    let page = Page { lang, title: number, path: &path, query: &query, styles: &[], scripts: &[], body };
    crate::http::pages::html_response(axum::http::StatusCode::SERVICE_UNAVAILABLE, page.render(), "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_has_a_slug_and_an_icon() {
        for verdict in [
            Verdict::Valid,
            Verdict::Suspended,
            Verdict::Revoked,
            Verdict::Withdrawn,
            Verdict::Expired,
            Verdict::MarkRevoked,
            Verdict::NotGenuine,
            Verdict::Unknown,
        ] {
            let json = serde_json::to_value(verdict).expect("json");
            assert_eq!(json, verdict.as_str(), "the slug is the JSON name");
            assert!(!icon(verdict).is_empty());
        }
        assert_eq!(date(NaiveDate::from_ymd_opt(2029, 3, 1).expect("date"), Lang::Zh), "2029年3月1日");
    }
}
