//! JSON text written straight into a buffer, for the one answer hot enough to skip serde's
//! machinery (a scan, see `scan::view`): keys and constant strings go in as they are, strings
//! are escaped exactly as serde_json escapes them, numbers go in as `itoa` writes them.

/// An object being written: keys and values in order, commas in between.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Opens an object at the end of `out`.
    pub fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` (after a comma but for the first key) and gives the buffer for its value.
    /// Keys are constants of this crate, plain ASCII, written without escaping.
    pub fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        debug_assert!(is_plain(key), "a key that needs escaping: {key}");
        if !std::mem::take(&mut self.empty) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Closes the object.
    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// Whether serde_json writes `text` as it is: it escapes control characters, `"` and `\` only.
fn is_plain(text: &str) -> bool {
    // No early exit: the loop is branch-free and runs over a word at a time.
    !text.bytes().fold(false, |seen, b| seen | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Appends `text` as a JSON string.
pub fn string(out: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
    if !is_plain(text) {
        return serde_json::to_writer(out, text);
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
}

/// Appends `value` in decimal.
pub fn number(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `true` or `false`.
pub fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Appends `null`.
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"null");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn objects_separate_their_members_with_commas() {
        let mut out = Vec::new();
        let mut object = Object::open(&mut out);
        number(object.key("a"), 1u32);
        string(object.key("b"), "x").unwrap();
        boolean(object.key("c"), false);
        null(object.key("d"));
        object.close();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":1,"b":"x","c":false,"d":null}"#);
        let mut out = Vec::new();
        Object::open(&mut out).close();
        assert_eq!(out, b"{}");
    }

    #[test]
    fn strings_read_as_serde_writes_them() {
        for text in
            ["", "plain", "正品标志 · 认证有效", "quote \" and \\ back", "tab\there", "\u{1}\u{1f}\u{7f}", "\u{2028}"]
        {
            let mut out = Vec::new();
            string(&mut out, text).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn any_string_reads_as_serde_writes_it(text in any::<String>()) {
            let mut out = Vec::new();
            string(&mut out, &text).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn any_number_reads_as_serde_writes_it(value in any::<u64>()) {
            let mut out = Vec::new();
            number(&mut out, value);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&value).unwrap());
        }
    }
}
