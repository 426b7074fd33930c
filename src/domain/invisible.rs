//! Characters a reader cannot see: bidirectional controls, zero-width characters, the byte
//! order mark and other Unicode format characters (general category Cf). A holder name that
//! carries them can display as another company's name, so displayed text refuses them.

/// Whether `c` is an invisible format character that displayed text must not contain.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                    // soft hyphen
            | '\u{034F}'              // combining grapheme joiner
            | '\u{061C}'              // Arabic letter mark
            | '\u{115F}' | '\u{1160}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian free variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}' // bidi isolates and deprecated format characters
            | '\u{3164}'              // Hangul filler
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}'              // byte order mark, zero-width no-break space
            | '\u{FFA0}'              // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{110BD}' | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}' // tags and variation selectors supplement
    )
}

/// The first invisible character of `value` and its 1-based position, for an error message.
pub fn first_invisible(value: &str) -> Option<(usize, char)> {
    value.chars().enumerate().find(|(_, c)| is_invisible(*c)).map(|(i, c)| (i + 1, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_zero_width_and_bom_are_invisible() {
        for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{2060}', '\u{FEFF}'] {
            assert!(is_invisible(c), "U+{:04X}", c as u32);
        }
        assert_eq!(first_invisible("甲\u{202E}乙"), Some((2, '\u{202E}')));
    }

    #[test]
    fn ordinary_text_is_visible() {
        assert_eq!(first_invisible("厦门示例电器有限公司 Example Co., Ltd. （含\"以旧换新\"）·—"), None);
    }
}
