//! The table of checked rows that the bulk page and the receipt page both show: one line per
//! certificate a row found, one line per row that found nothing (marked, never dropped). On a
//! phone each line becomes a card labelled from `data-label`.

use maud::{html, Markup};

use super::i18n::{self, Text};
use super::widgets::{level_stars, missing_badge, state_badge};
use super::Lang;
use crate::domain::receipt::QueryKind;
use crate::domain::{Level, State};

/// The columns, in order; the last is the validity, which each page words its own way.
const COLUMNS: [Text; 6] = [i18n::ROW, i18n::QUERY, i18n::STATE, i18n::NUMBER, i18n::HOLDER, i18n::LEVEL];

/// The section with its heading and the table of `lines`.
pub fn table(section_id: &str, heading: Text, table_id: &str, validity: Text, lang: Lang, lines: Markup) -> Markup {
    html! {
        section aria-labelledby=(section_id) {
            h2 id=(section_id) { (lang.t(heading)) }
            table class="results" id=(table_id) {
                thead { tr { @for column in COLUMNS.iter().chain([&validity]) { th scope="col" { (lang.t(*column)) } } } }
                tbody { (lines) }
            }
        }
    }
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

/// The line of a certificate a row found.
pub fn found(line: &Found<'_>, lang: Lang) -> Markup {
    html! {
        tr data-row=(line.row) data-outcome="found" data-state=(line.state.as_str()) {
            td data-label=(lang.t(i18n::ROW)) { (line.row) }
            td data-label=(lang.t(i18n::QUERY)) { (client_input(line.query)) }
            td data-label=(lang.t(i18n::STATE)) { (state_badge(line.state, lang)) }
            td data-label=(lang.t(i18n::NUMBER)) {
                a href={ "/certificates/" (line.number) "?lang=" (lang.param()) } { (line.number) }
            }
            td data-label=(lang.t(i18n::HOLDER)) { (line.holder) br; small { (line.uscc) } }
            td data-label=(lang.t(i18n::LEVEL)) { (level_stars(line.level, lang)) }
            td data-label=(lang.t(line.validity_label)) { (line.validity) }
        }
    }
}

/// A row that found nothing: `outcome` is `unknown` or `malformed`; `detail` says why.
pub fn missing(row: usize, query: &str, malformed: bool, detail: &str, lang: Lang) -> Markup {
    html! {
        tr data-row=(row) data-outcome=(if malformed { "malformed" } else { "unknown" }) {
            td data-label=(lang.t(i18n::ROW)) { (row) }
            td data-label=(lang.t(i18n::QUERY)) { (client_input(query)) }
            td data-label=(lang.t(i18n::STATE)) { (missing_badge(malformed, lang)) }
            td data-label=(lang.t(i18n::DETAIL)) colspan="4" { (detail) }
        }
    }
}

/// Text the client supplied (a query as typed), shown as theirs: quoted, in an element of its
/// own, never in the registry's voice, whatever it says.
pub fn client_input(text: &str) -> Markup {
    html! { q class="client-input" { (text) } }
}

/// The line of a row whose query found `more` certificates that are not listed.
pub fn more(row: usize, query: &str, more: u64, lang: Lang) -> Markup {
    html! {
        tr data-row=(row) data-outcome="more" data-more=(more) {
            td data-label=(lang.t(i18n::ROW)) { (row) }
            td data-label=(lang.t(i18n::QUERY)) { (client_input(query)) }
            td data-label=(lang.t(i18n::DETAIL)) colspan="5" {
                (lang.t(i18n::MORE_FOUND)) strong { (more) } ". " (lang.t(i18n::MORE_HINT))
            }
        }
    }
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
