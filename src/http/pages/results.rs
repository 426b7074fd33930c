//! The table of checked rows that the bulk page and the receipt page both show: one line per
//! certificate a row found, one line per row that found nothing (marked, never dropped). On a
//! phone each line becomes a card labelled from `data-label`.

use std::fmt::Write;

use super::i18n::{self, Text};
use super::widgets::{level_stars, missing_badge, state_badge};
use super::{escape, Lang};
use crate::domain::receipt::QueryKind;
use crate::domain::{Level, State};

/// The columns, in order; the last is the validity, which each page words its own way.
const COLUMNS: [Text; 6] = [i18n::ROW, i18n::QUERY, i18n::STATE, i18n::NUMBER, i18n::HOLDER, i18n::LEVEL];

/// Opens `<section><h2>…</h2><table>` with the column headers.
pub fn open(out: &mut String, section_id: &str, heading: Text, table_id: &str, validity: Text, lang: Lang) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"{section_id}\"><h2 id=\"{section_id}\">{}</h2>\
         <table class=\"results\" id=\"{table_id}\"><thead><tr>",
        lang.t(heading)
    );
    for column in COLUMNS.iter().chain([&validity]) {
        let _ = write!(out, "<th scope=\"col\">{}</th>", lang.t(*column));
    }
    out.push_str("</tr></thead><tbody>");
}

/// Closes what [`open`] opened.
pub fn close(out: &mut String) {
    out.push_str("</tbody></table></section>");
}

/// A certificate a row found, as it stood when checked.
pub struct Found<'a> {
    pub row: usize,
    pub query: &'a str,
    pub state: State,
    pub number: &'a str,
    pub holder: &'a str,
    pub uscc: &'a str,
    pub level: Level,
    /// Already formatted (a date, or a range of dates).
    pub validity: String,
    pub validity_label: Text,
}

pub fn found(out: &mut String, line: &Found<'_>, lang: Lang) {
    let number = escape(line.number);
    let _ = write!(
        out,
        "<tr data-row=\"{r}\" data-outcome=\"found\" data-state=\"{s}\"><td data-label=\"{lr}\">{r}</td>\
         <td data-label=\"{lq}\">{query}</td><td data-label=\"{ls}\">{badge}</td>\
         <td data-label=\"{ln}\"><a href=\"/certificates/{number}?lang={lp}\">{number}</a></td>\
         <td data-label=\"{lh}\">{holder}<br><small>{uscc}</small></td><td data-label=\"{ll}\">{level}</td>\
         <td data-label=\"{lv}\">{validity}</td></tr>",
        r = line.row,
        s = line.state.as_str(),
        lr = lang.t(i18n::ROW),
        lq = lang.t(i18n::QUERY),
        query = client_input(line.query),
        ls = lang.t(i18n::STATE),
        badge = state_badge(line.state, lang),
        ln = lang.t(i18n::NUMBER),
        lp = lang.param(),
        lh = lang.t(i18n::HOLDER),
        holder = escape(line.holder),
        uscc = escape(line.uscc),
        ll = lang.t(i18n::LEVEL),
        level = level_stars(line.level, lang),
        lv = lang.t(line.validity_label),
        validity = escape(&line.validity),
    );
}

/// A row that found nothing: `outcome` is `unknown` or `malformed`; `detail` says why.
pub fn missing(out: &mut String, row: usize, query: &str, malformed: bool, detail: &str, lang: Lang) {
    let _ = write!(
        out,
        "<tr data-row=\"{row}\" data-outcome=\"{o}\"><td data-label=\"{lr}\">{row}</td><td data-label=\"{lq}\">{query}</td>\
         <td data-label=\"{ls}\">{badge}</td><td data-label=\"{ld}\" colspan=\"4\">{detail}</td></tr>",
        o = if malformed { "malformed" } else { "unknown" },
        lr = lang.t(i18n::ROW),
        lq = lang.t(i18n::QUERY),
        query = client_input(query),
        ls = lang.t(i18n::STATE),
        badge = missing_badge(malformed, lang),
        ld = lang.t(i18n::DETAIL),
        detail = escape(detail),
    );
}

/// Text the client supplied (a query as typed), shown as theirs: quoted, in an element of its
/// own, never in the registry's voice, whatever it says.
pub fn client_input(text: &str) -> String {
    format!("<q class=\"client-input\">{}</q>", escape(text))
}

/// The line of a row whose query found `more` certificates that are not listed.
pub fn more(out: &mut String, row: usize, query: &str, more: u64, lang: Lang) {
    let _ = write!(
        out,
        "<tr data-row=\"{row}\" data-outcome=\"more\" data-more=\"{more}\"><td data-label=\"{lr}\">{row}</td>\
         <td data-label=\"{lq}\">{query}</td><td data-label=\"{ld}\" colspan=\"5\">{found}<strong>{more}</strong>. {hint}</td></tr>",
        lr = lang.t(i18n::ROW),
        lq = lang.t(i18n::QUERY),
        query = client_input(query),
        ld = lang.t(i18n::DETAIL),
        found = lang.t(i18n::MORE_FOUND),
        hint = lang.t(i18n::MORE_HINT),
    );
}

/// Why a row found nothing, in the page's language. `error` is the registry's English sentence;
/// a malformed row keeps it after a translated lead-in, since it names the offending character.
pub fn why_missing(kind: QueryKind, error: &str, lang: Lang) -> String {
    match (kind, lang) {
        (QueryKind::Uscc, Lang::Zh) => "本登记系统中没有该统一社会信用代码名下的证书".to_string(),
        (QueryKind::Number, Lang::Zh) => "本登记系统中没有该编号的证书；伪造的证书在此查不到".to_string(),
        (QueryKind::Malformed, Lang::Zh) => format!("既不是有效的统一社会信用代码，也不是证书编号：{error}"),
        (_, Lang::En) => error.to_string(),
    }
}
