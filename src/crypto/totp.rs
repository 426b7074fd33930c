//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps,
//! 6 digits, what every authenticator app speaks. A code is accepted for the step it was made
//! in and one step either side (clocks drift); which step matched is returned so that the
//! caller can refuse the same step twice (a replayed code).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret: 160 bits, the size RFC 4226 recommends for HMAC-SHA1.
pub const SECRET_BYTES: usize = 20;

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The HOTP value (RFC 4226, 5.3) of `secret` at `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else { return 0 };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    binary % 10u32.pow(digits)
}

/// The step that the Unix time `unix_seconds` falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The 6-digit code of `secret` at step `step`, zero-padded.
pub fn code(secret: &[u8], step: i64) -> String {
    format!("{:0width$}", hotp(secret, step.max(0) as u64, DIGITS), width = DIGITS as usize)
}

/// The step `typed` is the code of, among the step of `unix_seconds` and one step either side;
/// `None` when it is none of theirs (or not 6 digits). Every candidate is compared, in constant
/// time, whichever matches.
pub fn matching_step(secret: &[u8], typed: &str, unix_seconds: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if bool::from(code(secret, step).as_bytes().ct_eq(typed.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// The secret as authenticator apps take it: base32 without padding.
pub fn secret_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// The `otpauth://` URI (Google Authenticator's key URI format) that enrols `secret` for
/// `account` at `issuer`; what the console's QR code holds.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        secret_base32(secret)
    )
}

/// `text` with every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded (RFC 3986 unreserved).
fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, Appendix B: the SHA-1 column, seed "12345678901234567890", 8 digits.
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let seed = b"12345678901234567890";
        let vectors: [(i64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, expected) in vectors {
            assert_eq!(hotp(seed, step_at(time) as u64, 8), expected, "T = {time}");
            // Six digits are the last six of eight.
            assert_eq!(code(seed, step_at(time)), format!("{:06}", expected % 1_000_000), "T = {time}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let step = step_at(now);
        assert_eq!(matching_step(secret, &code(secret, step), now), Some(step));
        assert_eq!(matching_step(secret, &code(secret, step - 1), now), Some(step - 1));
        assert_eq!(matching_step(secret, &code(secret, step + 1), now), Some(step + 1));
        assert_eq!(matching_step(secret, &code(secret, step - 2), now), None);
        assert_eq!(matching_step(secret, &code(secret, step + 2), now), None);
        let spaced = format!("{} {}", &code(secret, step)[..3], &code(secret, step)[3..]);
        assert_eq!(matching_step(secret, &spaced, now), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn the_uri_carries_the_secret_in_base32() {
        let uri = otpauth_uri("Starmark 认证", "alice", b"12345678901234567890");
        assert!(uri.starts_with("otpauth://totp/Starmark%20%E8%AE%A4%E8%AF%81:alice?"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"), "{uri}");
        assert!(uri.ends_with("&algorithm=SHA1&digits=6&period=30"), "{uri}");
    }
}
