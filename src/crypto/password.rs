//! Staff passwords: Argon2id with OWASP's recommended parameters (19 MiB of memory, two passes,
//! one lane), stored as PHC strings that carry their own salt and parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// Memory cost in KiB (OWASP: m=19456, t=2, p=1).
pub const MEMORY_KIB: u32 = 19_456;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

/// Characters a password has at least.
pub const MIN_CHARS: usize = 10;
/// Bytes a password has at most: what one hash may be asked to read.
pub const MAX_BYTES: usize = 1024;

/// Why a new password is not taken. The messages never repeat the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_CHARS} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_BYTES} bytes long")]
    TooLong,
    #[error("the password must not contain control characters")]
    Control,
    #[error("the password cannot be hashed: {0}")]
    Hash(String),
}

fn argon2() -> Argon2<'static> {
    // The constants are within Argon2's bounds, so these parameters are always accepted.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password's length and characters.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::Control);
    }
    Ok(())
}

/// The PHC string of a new password's hash, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check_new(password)?;
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one `phc` was made from. Too long a password, or a stored string
/// that is not an Argon2id hash, is simply no match.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    argon2().verify_password(password.as_bytes(), &parsed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert_ne!(phc, hash("correct horse battery").unwrap(), "a fresh salt each time");
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn new_passwords_are_checked() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(check_new(&"x".repeat(MAX_BYTES + 1)), Err(PasswordError::TooLong));
        assert_eq!(check_new("abcdefghij\u{7}"), Err(PasswordError::Control));
        assert_eq!(check_new("密码密码密码密码密码"), Ok(()));
    }
}
