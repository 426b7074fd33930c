//! Free text and field errors as every domain type checks them: the one leaf the record, its
//! states and its mark batches all build on, so none of them imports another for these.

/// A field of user input that is not acceptable, with a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Trims `value` and checks it is present, printable, free of invisible formatting characters and not longer than `max` characters.
pub fn clean_text(field: &'static str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    if let Some((position, c)) = super::invisible::first_invisible(value) {
        return Err(FieldError::new(
            field,
            format!(
                "must not contain invisible formatting characters (bidi controls, zero-width characters, \
                 byte order marks): U+{:04X} at character {position}",
                c as u32
            ),
        ));
    }
    Ok(value.to_string())
}
