//! The consumer page of a scan: what a phone shows when its camera opens a mark's QR code.
//!
//! Server-rendered and complete without JavaScript: one verdict in a large banner (icon and
//! words, never colour alone), the data time, what to do when the mark cannot be trusted, then
//! the certificate and the mark. Every string comes in Chinese and English (`text.rs`), so the
//! page is whole in either. `scan.js` only adds the signature check on the device; the page
//! carries the token, the server's verdict and the script's messages in data attributes.

use std::fmt::Write;

use chrono::NaiveDate;

use super::text::{self as tx, fill};
use super::view::{headline, status_of};
use crate::domain::{Issuer, State};
use crate::http::pages::i18n::{self, Text};
use crate::http::pages::{china_time, escape, url_encode, widgets, Lang, Page};
use crate::registry::{ScanOutcome, Verdict};

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

/// Why the verdict is what it is, in the page's language (escaped HTML).
fn detail(outcome: &ScanOutcome, lang: Lang) -> String {
    let text = |s: Text| s.get(lang);
    let status = status_of(outcome);
    let since = status.as_ref().map(|s| date(s.since, lang)).unwrap_or_default();
    let number = outcome.claims.as_ref().map(|c| c.number.to_string()).unwrap_or_default();
    match outcome.verdict {
        Verdict::Valid => text(tx::DETAIL_VALID).to_string(),
        Verdict::Suspended => {
            let mut out = fill(text(tx::DETAIL_SUSPENDED), &[&since]);
            if let Some(status) = &status {
                if let Some(until) = status.until {
                    let template =
                        if status.overdue { tx::DETAIL_SUSPENDED_OVERDUE } else { tx::DETAIL_SUSPENDED_UNTIL };
                    if lang == Lang::En {
                        out.push(' ');
                    }
                    out.push_str(&fill(text(template), &[&date(until, lang)]));
                }
            }
            out + &reason_line(outcome, lang)
        }
        Verdict::Revoked => fill(text(tx::DETAIL_REVOKED), &[&since]) + &reason_line(outcome, lang),
        Verdict::Withdrawn => fill(text(tx::DETAIL_WITHDRAWN), &[&since]) + &reason_line(outcome, lang),
        Verdict::Expired => {
            let until = outcome.certificate.as_ref().map(|c| date(c.record.valid_until, lang)).unwrap_or_default();
            fill(text(tx::DETAIL_EXPIRED), &[&until])
        }
        Verdict::MarkRevoked => {
            let (reason, day) = outcome
                .mark_revocation
                .as_ref()
                .map(|(reason, day)| (escape(reason), date(*day, lang)))
                .unwrap_or_default();
            fill(text(tx::DETAIL_MARK_REVOKED), &[&day, &reason])
        }
        Verdict::NotGenuine => match outcome.reason {
            "unknown_key" => text(tx::DETAIL_UNKNOWN_KEY).to_string(),
            "bad_signature" => text(tx::DETAIL_BAD_SIGNATURE).to_string(),
            _ => text(tx::DETAIL_MALFORMED).to_string(),
        },
        Verdict::Unknown => match outcome.reason {
            "other_holder" => text(tx::DETAIL_OTHER_HOLDER).to_string(),
            "serial_not_issued" => {
                let serial =
                    outcome.claims.as_ref().map(|c| format!("{}-{:06}", c.batch, c.serial)).unwrap_or_default();
                fill(text(tx::DETAIL_SERIAL_NOT_ISSUED), &[&serial])
            }
            _ => fill(text(tx::DETAIL_NO_CERTIFICATE), &[&escape(&number)]),
        },
    }
}

/// The status reason the body gave (suspension, revocation, withdrawal), as its own line.
fn reason_line(outcome: &ScanOutcome, lang: Lang) -> String {
    match status_of(outcome).and_then(|s| s.reason) {
        Some(reason) => format!("<br>{}", fill(tx::DETAIL_REASON.get(lang), &[&escape(reason)])),
        None => String::new(),
    }
}

/// One row of a definition list; `value` is already HTML.
fn fact(out: &mut String, id: &str, label: Text, value: &str, lang: Lang) {
    let _ = write!(out, "<dt>{}</dt><dd id=\"{id}\">{value}</dd>", label.get(lang));
}

/// The status line: state badge, since when, until when, why.
fn status_value(outcome: &ScanOutcome, lang: Lang) -> Option<String> {
    let status = status_of(outcome)?;
    let mut out =
        fill(tx::STATUS_SINCE.get(lang), &[&widgets::state_badge(status.state, lang), &date(status.since, lang)]);
    if let (State::Suspended, Some(until)) = (status.state, status.until) {
        out.push_str(&fill(tx::STATUS_UNTIL.get(lang), &[&date(until, lang)]));
    }
    if let Some(reason) = status.reason {
        out.push_str(&fill(tx::STATUS_REASON.get(lang), &[&escape(reason)]));
    }
    Some(out)
}

/// What to do with a product whose mark cannot be trusted.
fn what_to_do(out: &mut String, issuer: &Issuer, lang: Lang) {
    let body = fill(tx::REPORT_BODY.get(lang), &[&escape(&issuer.name), &escape(issuer.approval_number.as_str())]);
    let regulator = fill(
        tx::REPORT_12315.get(lang),
        &[
            "<a href=\"tel:12315\">12315</a>",
            &format!(
                "<a href=\"https://www.12315.cn/\" rel=\"noopener noreferrer\">{}</a>",
                tx::PLATFORM_12315.get(lang)
            ),
        ],
    );
    let _ = write!(
        out,
        "<section class=\"warn-box what-to-do\" id=\"what-to-do\" aria-labelledby=\"what-to-do-title\">\
         <h2 id=\"what-to-do-title\">{}</h2><p><strong>{}</strong></p><ul><li>{}</li><li>{body}</li><li>{regulator}</li></ul></section>",
        tx::WHAT_TO_DO.get(lang),
        tx::DO_NOT_TRUST.get(lang),
        tx::KEEP_PRODUCT.get(lang),
    );
}

/// The device check: a note that shows without JavaScript, and everything `scan.js` needs.
fn device_check(out: &mut String, token: &str, outcome: &ScanOutcome, lang: Lang) {
    let messages = [
        ("checking", tx::DEVICE_CHECKING),
        ("verified", tx::DEVICE_VERIFIED),
        ("invalid", tx::DEVICE_INVALID),
        ("unknown-key", tx::DEVICE_UNKNOWN_KEY),
        ("malformed", tx::DEVICE_MALFORMED),
        ("unsupported", tx::DEVICE_UNSUPPORTED),
        ("error", tx::DEVICE_ERROR),
        ("mismatch-genuine", tx::DEVICE_MISMATCH_GENUINE),
        ("mismatch-fake", tx::DEVICE_MISMATCH_FAKE),
    ];
    let _ = write!(
        out,
        "<section class=\"device-check\" id=\"device-check\" aria-labelledby=\"device-check-title\" \
         data-token=\"{}\" data-verdict=\"{}\" data-trust-list=\"/.well-known/starmark/keys.json\"",
        escape(token),
        outcome.verdict.as_str(),
    );
    for (name, text) in messages {
        let _ = write!(out, " data-msg-{name}=\"{}\"", escape(text.get(lang)));
    }
    let _ = write!(
        out,
        "><h2 id=\"device-check-title\">{}</h2><p id=\"device-check-result\" class=\"device-result\" aria-live=\"polite\">{}</p></section>",
        tx::DEVICE_CHECK.get(lang),
        tx::DEVICE_NEEDS_JS.get(lang),
    );
}

/// The certificate section (or, without a certificate, what the mark claims).
fn certificate(out: &mut String, outcome: &ScanOutcome, lang: Lang) {
    let _ = write!(
        out,
        "<h2 id=\"certificate-title\">{}</h2><dl class=\"facts\" id=\"certificate\">",
        tx::CERTIFICATE.get(lang)
    );
    if let Some(certificate) = &outcome.certificate {
        let record = &certificate.record;
        fact(out, "holder", tx::HOLDER, &escape(&record.holder.name), lang);
        if let Some(name_en) = &record.holder.name_en {
            fact(out, "holder-en", tx::HOLDER_EN, &format!("<span lang=\"en\">{}</span>", escape(name_en)), lang);
        }
        fact(out, "uscc", i18n::USCC, &escape(record.holder.uscc.as_str()), lang);
        fact(out, "level", tx::LEVEL, &widgets::level_stars(record.level, lang), lang);
        fact(out, "scope", i18n::SCOPE, &escape(&record.scope), lang);
        let number = format!(
            "{} · <a href=\"/certificates/{}?lang={}\">{}</a>",
            escape(record.number.as_str()),
            url_encode(record.number.as_str()),
            lang.param(),
            tx::DETAILS_LINK.get(lang)
        );
        fact(out, "number", i18n::NUMBER, &number, lang);
        if let Some(status) = status_value(outcome, lang) {
            fact(out, "status", tx::STATUS, &status, lang);
        }
        let validity =
            fill(tx::VALIDITY_RANGE.get(lang), &[&date(record.issued, lang), &date(record.valid_until, lang)]);
        fact(out, "validity", i18n::VALIDITY, &validity, lang);
        let issuer = fill(
            tx::ISSUER_VALUE.get(lang),
            &[&escape(&record.issuer.name), &escape(record.issuer.approval_number.as_str())],
        );
        fact(out, "issuer", tx::ISSUER, &issuer, lang);
    } else if let Some(claims) = &outcome.claims {
        let claimed =
            fill(tx::CLAIMED_VALUE.get(lang), &[&escape(claims.number.as_str()), &escape(claims.uscc.as_str())]);
        fact(out, "claimed", tx::CLAIMED, &claimed, lang);
    } else {
        fact(out, "claimed", tx::CLAIMED, "—", lang);
    }
    out.push_str("</dl>");
}

/// The mark section: serial, revocation, how often it was checked, the signing key.
fn mark(out: &mut String, outcome: &ScanOutcome, lang: Lang) {
    let Some(claims) = &outcome.claims else { return };
    let _ = write!(out, "<h2 id=\"mark-title\">{}</h2><dl class=\"facts\" id=\"mark\">", tx::THIS_MARK.get(lang));
    let serial = if claims.batch == 0 {
        tx::CERTIFICATE_MARK.get(lang).to_string()
    } else {
        format!("{}-{:06}", claims.batch, claims.serial)
    };
    fact(out, "serial", tx::SERIAL, &serial, lang);
    if let Some((reason, day)) = &outcome.mark_revocation {
        let value = fill(tx::MARK_REVOKED_VALUE.get(lang), &[&date(*day, lang), &escape(reason)]);
        fact(out, "mark-revoked", tx::MARK_REVOKED_LABEL, &value, lang);
    }
    if outcome.scans.is_some() {
        // Distinct networks, not requests: one client replaying the URL is one network a day.
        let scanners = &outcome.scanners;
        let value = match scanners.first_at() {
            None => tx::CHECKS_NONE.get(lang).to_string(),
            Some(since) if scanners.is_full() => fill(
                tx::CHECKS_AT_LEAST.get(lang),
                &[&crate::registry::SUSPICIOUS_SCANS.to_string(), &china_time(since, lang)],
            ),
            Some(since) if scanners.len() == 1 => fill(tx::CHECKS_ONCE.get(lang), &[&china_time(since, lang)]),
            Some(since) => fill(tx::CHECKS_VALUE.get(lang), &[&scanners.len().to_string(), &china_time(since, lang)]),
        };
        fact(out, "checks", tx::CHECKS, &value, lang);
    } else if outcome.reason == "checked" {
        // A genuine mark whose checks the registry cannot count right now (the store cannot
        // say how often it was checked before, or the counter is full): saying nothing would
        // look like a mark never checked before.
        fact(out, "checks", tx::CHECKS, tx::CHECKS_UNKNOWN.get(lang), lang);
    }
    if let Some(key_id) = &outcome.key_id {
        fact(out, "key-id", tx::KEY_ID, &format!("<code>{}</code>", escape(key_id.as_str())), lang);
    }
    out.push_str("</dl>");
}

/// Differences between what the mark says and today's record, in the page's language.
fn notes(out: &mut String, outcome: &ScanOutcome, lang: Lang) {
    let (Some(claims), Some(certificate)) = (&outcome.claims, &outcome.certificate) else { return };
    let record = &certificate.record;
    let mut notes = Vec::new();
    if claims.level != record.level {
        let (then, now) = (i18n::level_name(claims.level).get(lang), i18n::level_name(record.level).get(lang));
        notes.push(fill(tx::NOTE_LEVEL.get(lang), &[then, now]));
    }
    if claims.valid_until != record.valid_until {
        notes.push(fill(
            tx::NOTE_VALIDITY.get(lang),
            &[&date(claims.valid_until, lang), &date(record.valid_until, lang)],
        ));
    }
    for note in notes {
        let _ = write!(out, "<p class=\"note-box mark-note\">{note}</p>");
    }
}

/// The whole page for a scan of `token` in `lang`; `issuer` is whom to report a fake to.
pub fn render(token: &str, outcome: &ScanOutcome, issuer: &Issuer, lang: Lang) -> String {
    let verdict = outcome.verdict;
    // The verdict as the JSON answer names it: CSS class and data attribute.
    let slug = verdict.as_str();
    let (zh, en) = headline(verdict);
    let title = match lang {
        Lang::Zh => zh,
        Lang::En => en,
    };
    let mut body = String::with_capacity(8192);
    let _ = write!(
        body,
        "<section class=\"verdict verdict-{slug}\" id=\"verdict\" data-verdict=\"{slug}\" aria-labelledby=\"verdict-title\">\
         <h1 id=\"verdict-title\"><span class=\"verdict-icon\" aria-hidden=\"true\">{}</span> <span class=\"verdict-words\">{}</span></h1>\
         <p class=\"verdict-detail\" id=\"verdict-detail\">{}</p>\
         <p class=\"as-of\" id=\"as-of\">{}：{}</p></section>",
        icon(verdict),
        title,
        detail(outcome, lang),
        i18n::DATA_AS_OF.get(lang),
        china_time(outcome.checked_at, lang),
    );
    if outcome.suspicious() {
        let _ = write!(
            body,
            "<p class=\"warn-box copied\" id=\"copied-warning\" role=\"alert\"><span aria-hidden=\"true\">⚠</span> <strong>{}</strong></p>",
            fill(tx::SUSPICIOUS.get(lang), &[&crate::registry::SUSPICIOUS_SCANS.to_string()])
        );
    }
    if matches!(verdict, Verdict::NotGenuine | Verdict::Unknown | Verdict::MarkRevoked) {
        what_to_do(&mut body, issuer, lang);
    }
    notes(&mut body, outcome, lang);
    device_check(&mut body, token, outcome, lang);
    certificate(&mut body, outcome, lang);
    mark(&mut body, outcome, lang);
    let path = format!("/v/{}", url_encode(token));
    Page {
        lang,
        title,
        path: &path,
        query: "",
        styles: &["scan.css"],
        scripts: &["verify-mark.js", "scan.js"],
        body: &body,
    }
    .render()
}

/// The page of a scan whose certificate does not match the registry's transparency log: no
/// verdict at all, only that the status cannot be confirmed (503, never cached).
pub(super) fn unconfirmed(token: &str, number: &str, lang: Lang) -> axum::response::Response {
    let body = format!(
        "<h1><span aria-hidden=\"true\">⚠</span> {}</h1><div class=\"error-box\" role=\"alert\"><p>{}</p></div>",
        escape(number),
        lang.t(i18n::STATUS_UNCONFIRMED)
    );
    let path = format!("/v/{}", url_encode(token));
    let page = Page { lang, title: number, path: &path, query: "", styles: &[], scripts: &[], body: &body };
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
