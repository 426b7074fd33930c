//! Small pieces several pages show the same way: a state badge (icon + words + colour, never
//! colour alone) and a level as stars with its name.

use maud::{html, Markup};

use super::i18n::{self, Text};
use super::Lang;
use crate::domain::{Level, State};

/// The icon that goes with a state, so colour is never the only signal. Glyphs found in common
/// system fonts (Chinese phone fonts included), not emoji that may show as empty boxes.
pub fn state_icon(state: State) -> &'static str {
    match state {
        State::Valid => "✔",
        State::Suspended => "‖",
        State::Expired => "◷",
        State::Revoked | State::Withdrawn => "✖",
    }
}

/// `<span class="state state-valid">✔ 有效</span>`.
pub fn state_badge(state: State, lang: Lang) -> Markup {
    badge(state.as_str(), state_icon(state), i18n::state_name(state), lang)
}

/// A badge for a row that matched no certificate (`unknown`) or could not be read (`malformed`).
pub fn missing_badge(malformed: bool, lang: Lang) -> Markup {
    if malformed {
        badge("malformed", "⚠", i18n::MALFORMED, lang)
    } else {
        badge("unknown", "⚠", i18n::NOT_FOUND, lang)
    }
}

fn badge(class: &str, icon: &str, name: Text, lang: Lang) -> Markup {
    html! {
        span class={ "state state-" (class) } data-state=(class) { span aria-hidden="true" { (icon) } " " (lang.t(name)) }
    }
}

/// Stars (hidden from screen readers, which read the name) and the level's name.
pub fn level_stars(level: Level, lang: Lang) -> Markup {
    let stars = usize::from(level.stars());
    let name = lang.t(i18n::level_name(level));
    html! {
        @if stars > 0 {
            span class="stars" aria-hidden="true" { @for _ in 0..stars { "★" } } " "
        }
        (name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_carry_icon_and_words() {
        let html = state_badge(State::Revoked, Lang::En).into_string();
        assert!(html.contains("state-revoked") && html.contains('✖') && html.contains("Revoked"), "{html}");
        assert!(state_badge(State::Valid, Lang::Zh).0.contains("有效"));
        assert!(missing_badge(true, Lang::Zh).0.contains("格式错误"));
        assert_eq!(level_stars(Level::Compliant, Lang::Zh).0, "达标级");
        assert!(level_stars(Level::FourStar, Lang::En).0.contains("★★★★<"));
    }
}
