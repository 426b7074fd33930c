//! Mark tokens: the signed payload a star mark's QR code carries in `{public URL}/v/{token}`.
//!
//! A token is upper-case text over the QR alphanumeric alphabet, so a QR code stores it at 5.5
//! bits a character:
//!
//! ```text
//! {certificate number} "." {USCC, 18 characters} {BASE32 without padding of 84 bytes}
//! ```
//!
//! The 84 bytes are `version (1) | key id (8) | level (1) | valid-until as days since
//! 1970-01-01 (u16, big-endian) | batch (u32 BE) | serial (u32 BE) | Ed25519 signature (64)`.
//! The signature covers `"starmark-mark-v1\n"`, the text before the base32 part, and the first
//! 20 of those bytes. docs/format.md has the details and test vectors.
//!
//! A mark of a batch bound to a product is a GS1 Digital Link URI instead, and its token is what
//! follows the public URL:
//!
//! ```text
//! "01/" {GTIN-14} "/21/" {serial} "?S=" {certificate number} "." {USCC} {BASE32 of 80 bytes}
//! ```
//!
//! The 80 bytes are `version 2 (1) | key id (8) | level (1) | valid-until (2) | batch (4) |
//! Ed25519 signature (64)`: the serial is the URI's own AI 21, not repeated. The signature covers
//! `"starmark-gs1-mark-v1\n"`, `{GTIN-14} "/" {serial} "/"`, the text between `S=` and the base32
//! part, and the first 16 bytes, so a changed GTIN, serial, certificate or batch fails it.

use chrono::{Days, NaiveDate};
use data_encoding::BASE32_NOPAD;

use super::keys::KeyId;
use super::signing::{Signer, Verifier, VerifyError};
use crate::domain::{CertificateNumber, Gtin, Level, Uscc};

/// The layout of `/v/{token}` marks.
pub const TOKEN_VERSION: u8 = 1;
/// The layout of GS1 Digital Link marks.
pub const GS1_TOKEN_VERSION: u8 = 2;
/// Domain separation of GS1 mark signatures from `/v/` mark and record signatures.
const GS1_CONTEXT: &[u8] = b"starmark-gs1-mark-v1\n";
/// Bytes of a GS1 mark's binary part before the signature (no serial: the URI carries it).
const GS1_FIELDS_LEN: usize = 1 + 8 + 1 + 2 + 4;
/// Bytes of a GS1 mark's whole binary part.
const GS1_BINARY_LEN: usize = GS1_FIELDS_LEN + 64;
/// Characters of a GS1 mark's base32 part.
const GS1_BASE32_LEN: usize = (GS1_BINARY_LEN * 8).div_ceil(5);
/// How a GS1 mark's token starts: the primary key GTIN (GS1 application identifier 01).
pub const GS1_PREFIX: &str = "01/";
/// The non-GS1 query parameter of a GS1 mark URI that carries the signature part (as written;
/// readers take `s` as well).
pub const GS1_PARAMETER: &str = "S";
/// Longest serial a GS1 mark carries: a `u32` in decimal.
const MAX_SERIAL_DIGITS: usize = 10;
/// Domain separation: a mark signature can never be mistaken for any other signature.
const CONTEXT: &[u8] = b"starmark-mark-v1\n";
/// Bytes of the binary part before the signature.
const FIELDS_LEN: usize = 1 + 8 + 1 + 2 + 4 + 4;
/// Bytes of the whole binary part.
const BINARY_LEN: usize = FIELDS_LEN + 64;
/// Characters of the base32 part.
const BASE32_LEN: usize = (BINARY_LEN * 8).div_ceil(5);

/// What a mark says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkClaims {
    pub number: CertificateNumber,
    pub uscc: Uscc,
    pub level: Level,
    pub valid_until: NaiveDate,
    /// Batch within the certificate, from 1; 0 for the certificate-level mark.
    pub batch: u32,
    /// Serial within the batch, from 1; 0 for the certificate-level mark.
    pub serial: u32,
    /// The product of the batch, for a GS1 Digital Link mark; `None` for a `/v/{token}` mark.
    pub gtin: Option<Gtin>,
}

/// A token taken apart, not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedToken {
    pub claims: MarkClaims,
    pub key_id: KeyId,
    /// The token as issued: upper case, without surrounding blanks.
    text: String,
    /// The binary part as decoded: the signed fields, then the signature (a GS1 mark's 80
    /// bytes fill the first 80).
    binary: [u8; BINARY_LEN],
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a Starmark mark token: {0}")]
    Malformed(&'static str),
    #[error("token version {0} is not supported")]
    Version(u8),
    #[error("signed by key {0}, which is not in the trust list")]
    UnknownKey(KeyId),
    #[error("the signature does not match: the token was altered or forged")]
    BadSignature,
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(date) => date,
    None => panic!("epoch"),
};

fn level_code(level: Level) -> u8 {
    match level {
        Level::Compliant => 0,
        Level::ThreeStar => 1,
        Level::FourStar => 2,
        Level::FiveStar => 3,
    }
}

fn level_from_code(code: u8) -> Option<Level> {
    Level::ALL.into_iter().find(|level| level_code(*level) == code)
}

fn days_since_epoch(date: NaiveDate) -> u16 {
    u16::try_from((date - EPOCH).num_days().clamp(0, i64::from(u16::MAX))).unwrap_or(u16::MAX)
}

fn message(text: &str, fields: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(CONTEXT.len() + text.len() + fields.len());
    message.extend_from_slice(CONTEXT);
    message.extend_from_slice(text.as_bytes());
    message.extend_from_slice(fields);
    message
}

fn key_id_bytes(key_id: &KeyId) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    if let Ok(decoded) = hex::decode(key_id.as_str()) {
        if decoded.len() == 8 {
            bytes.copy_from_slice(&decoded);
        }
    }
    bytes
}

/// Makes the token for one mark, signed by the active key. Deterministic: the same claims and
/// key always give the same token, so a batch can be re-printed identically.
pub fn issue(signer: &Signer, claims: &MarkClaims) -> String {
    if let Some(gtin) = claims.gtin {
        return issue_gs1(signer, claims, gtin);
    }
    let text = format!("{}.{}", claims.number, claims.uscc);
    let mut binary = Vec::with_capacity(BINARY_LEN);
    binary.push(TOKEN_VERSION);
    binary.extend_from_slice(&key_id_bytes(signer.key_id()));
    binary.push(level_code(claims.level));
    binary.extend_from_slice(&days_since_epoch(claims.valid_until).to_be_bytes());
    binary.extend_from_slice(&claims.batch.to_be_bytes());
    binary.extend_from_slice(&claims.serial.to_be_bytes());
    let signature = signer.sign_raw(&message(&text, &binary));
    binary.extend_from_slice(&signature);
    format!("{text}{}", BASE32_NOPAD.encode(&binary))
}

/// The signed message of a GS1 mark: context, GTIN, serial, number and USCC, fields.
fn gs1_message(gtin: &Gtin, serial: u32, text: &str, fields: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(GS1_CONTEXT.len() + 32 + text.len() + fields.len());
    message.extend_from_slice(GS1_CONTEXT);
    message.extend_from_slice(format!("{gtin}/{serial}/").as_bytes());
    message.extend_from_slice(text.as_bytes());
    message.extend_from_slice(fields);
    message
}

/// The token of a GS1 Digital Link mark (see the module's documentation).
fn issue_gs1(signer: &Signer, claims: &MarkClaims, gtin: Gtin) -> String {
    let text = format!("{}.{}", claims.number, claims.uscc);
    let mut binary = Vec::with_capacity(GS1_BINARY_LEN);
    binary.push(GS1_TOKEN_VERSION);
    binary.extend_from_slice(&key_id_bytes(signer.key_id()));
    binary.push(level_code(claims.level));
    binary.extend_from_slice(&days_since_epoch(claims.valid_until).to_be_bytes());
    binary.extend_from_slice(&claims.batch.to_be_bytes());
    let signature = signer.sign_raw(&gs1_message(&gtin, claims.serial, &text, &binary));
    binary.extend_from_slice(&signature);
    format!("{GS1_PREFIX}{gtin}/21/{}?{GS1_PARAMETER}={text}{}", claims.serial, BASE32_NOPAD.encode(&binary))
}

/// The certificate number and USCC at the start of `text` (`number "." uscc`), and the rest.
fn number_and_uscc(text: &str) -> Result<(CertificateNumber, Uscc, &str), TokenError> {
    let (number, rest) = text.split_once('.').ok_or(TokenError::Malformed("no '.' after the certificate number"))?;
    let number = CertificateNumber::parse(number)
        .ok()
        // Only the number exactly as issued: one spelling per mark, so a token's text names it.
        .filter(|parsed| parsed.as_str() == number)
        .ok_or(TokenError::Malformed("bad certificate number"))?;
    if rest.len() < 18 || !rest.is_char_boundary(18) {
        return Err(TokenError::Malformed("wrong length (truncated or padded)"));
    }
    let (uscc, encoded) = rest.split_at(18);
    let uscc = Uscc::parse(uscc).map_err(|_| TokenError::Malformed("bad unified social credit code"))?;
    Ok((number, uscc, encoded))
}

/// A GS1 mark's serial: the decimal digits of a serial from 1, without leading zeros.
fn gs1_serial(text: &str) -> Result<u32, TokenError> {
    let plain = !text.is_empty()
        && text.len() <= MAX_SERIAL_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0');
    plain.then(|| text.parse::<u32>().ok()).flatten().ok_or(TokenError::Malformed("not a serial of this registry"))
}

/// Takes a GS1 mark's token (upper case, after [`GS1_PREFIX`]) apart.
fn parse_gs1(token: String) -> Result<ParsedToken, TokenError> {
    let after = &token[GS1_PREFIX.len()..];
    let (gtin, rest) = after.split_once("/21/").ok_or(TokenError::Malformed("no serial (AI 21) after the GTIN"))?;
    let gtin = Gtin::parse(gtin)
        .ok()
        .filter(|parsed| parsed.as_str() == gtin)
        .ok_or(TokenError::Malformed("bad GTIN (14 digits with a correct check digit)"))?;
    let (serial, parameter) =
        rest.split_once('?').ok_or(TokenError::Malformed("no signature parameter: not a mark of this registry"))?;
    let serial = gs1_serial(serial)?;
    let signed = parameter
        .strip_prefix(GS1_PARAMETER)
        .and_then(|p| p.strip_prefix('='))
        .ok_or(TokenError::Malformed("no signature parameter: not a mark of this registry"))?;
    let (number, uscc, encoded) = number_and_uscc(signed)?;
    if encoded.len() != GS1_BASE32_LEN {
        return Err(TokenError::Malformed("wrong length (truncated or padded)"));
    }
    let mut binary = [0u8; BINARY_LEN];
    match BASE32_NOPAD.decode_mut(encoded.as_bytes(), &mut binary[..GS1_BINARY_LEN]) {
        Ok(GS1_BINARY_LEN) => {}
        _ => return Err(TokenError::Malformed("bad base32")),
    }
    if binary[0] != GS1_TOKEN_VERSION {
        return Err(TokenError::Version(binary[0]));
    }
    let (key_id, level, valid_until) = common_fields(&binary)?;
    let batch = u32::from_be_bytes([binary[12], binary[13], binary[14], binary[15]]);
    if batch == 0 {
        return Err(TokenError::Malformed("batch and serial start at 1"));
    }
    Ok(ParsedToken {
        claims: MarkClaims { number, uscc, level, valid_until, batch, serial, gtin: Some(gtin) },
        key_id,
        text: token,
        binary,
    })
}

/// Key id, level and validity, bytes 1 to 11 of both layouts.
fn common_fields(binary: &[u8; BINARY_LEN]) -> Result<(KeyId, Level, NaiveDate), TokenError> {
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&binary[1..9]);
    let level = level_from_code(binary[9]).ok_or(TokenError::Malformed("bad level"))?;
    let days = u16::from_be_bytes([binary[10], binary[11]]);
    let valid_until = EPOCH.checked_add_days(Days::new(u64::from(days))).ok_or(TokenError::Malformed("bad date"))?;
    Ok((KeyId::from_bytes(&key_id), level, valid_until))
}

/// Takes a token apart without checking its signature. Lower case is accepted.
pub fn parse(token: &str) -> Result<ParsedToken, TokenError> {
    let token = token.trim().to_ascii_uppercase();
    if token.starts_with(GS1_PREFIX) {
        return parse_gs1(token);
    }
    let (number, rest) = token.split_once('.').ok_or(TokenError::Malformed("no '.' after the certificate number"))?;
    let number = CertificateNumber::parse(number)
        .ok()
        // Only the number exactly as issued: one spelling per mark, so a token's text names it.
        .filter(|parsed| parsed.as_str() == number)
        .ok_or(TokenError::Malformed("bad certificate number"))?;
    if rest.len() != 18 + BASE32_LEN || !rest.is_char_boundary(18) {
        return Err(TokenError::Malformed("wrong length (truncated or padded)"));
    }
    let (uscc, encoded) = rest.split_at(18);
    let uscc = Uscc::parse(uscc).map_err(|_| TokenError::Malformed("bad unified social credit code"))?;
    let mut binary = [0u8; BINARY_LEN];
    match BASE32_NOPAD.decode_len(encoded.len()) {
        Ok(BINARY_LEN) => {}
        _ => return Err(TokenError::Malformed("wrong length")),
    }
    match BASE32_NOPAD.decode_mut(encoded.as_bytes(), &mut binary) {
        Ok(BINARY_LEN) => {}
        _ => return Err(TokenError::Malformed("bad base32")),
    }
    if binary[0] != TOKEN_VERSION {
        return Err(TokenError::Version(binary[0]));
    }
    let (key_id, level, valid_until) = common_fields(&binary)?;
    let batch = u32::from_be_bytes([binary[12], binary[13], binary[14], binary[15]]);
    let serial = u32::from_be_bytes([binary[16], binary[17], binary[18], binary[19]]);
    // 0/0 is the certificate-level mark; otherwise both count from 1.
    if (batch == 0) != (serial == 0) {
        return Err(TokenError::Malformed("batch and serial start at 1"));
    }
    Ok(ParsedToken {
        claims: MarkClaims { number, uscc, level, valid_until, batch, serial, gtin: None },
        key_id,
        text: token,
        binary,
    })
}

impl ParsedToken {
    /// The token in the form it was issued in (readers accept lower case and blanks around).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks the signature against the trust list. The signed message is made here, not by
    /// `parse`: a token its batch's digest index vouches for is never verified.
    pub fn verify(&self, verifier: &Verifier) -> Result<(), TokenError> {
        let prefix = format!("{}.{}", self.claims.number, self.claims.uscc);
        let mut signature_bytes = [0u8; 64];
        let message = match &self.claims.gtin {
            None => {
                let (fields, signature) = self.binary.split_at(FIELDS_LEN);
                signature_bytes.copy_from_slice(signature);
                message(&prefix, fields)
            }
            Some(gtin) => {
                let (fields, signature) = self.binary[..GS1_BINARY_LEN].split_at(GS1_FIELDS_LEN);
                signature_bytes.copy_from_slice(signature);
                gs1_message(gtin, self.claims.serial, &prefix, fields)
            }
        };
        match verifier.verify_raw(&self.key_id, &message, &signature_bytes) {
            Ok(()) => Ok(()),
            Err(VerifyError::UnknownKey(key_id)) => Err(TokenError::UnknownKey(key_id)),
            Err(_) => Err(TokenError::BadSignature),
        }
    }
}

/// Parses and verifies in one step.
pub fn verify(token: &str, verifier: &Verifier) -> Result<ParsedToken, TokenError> {
    let parsed = parse(token)?;
    parsed.verify(verifier)?;
    Ok(parsed)
}

/// The URL a QR code carries for `token`. When the public URL is only scheme, host and port,
/// the whole URL is written in upper case (scheme and host are case-insensitive, and the
/// server answers `/V/` like `/v/`), so the QR code can hold it in one alphanumeric segment.
///
/// A GS1 mark's token follows the public URL directly: the URL is its GS1 Digital Link URI.
/// There the scheme stays in lower case, as GS1 Digital Link parsers want it (digital-link.js
/// refuses `HTTPS://`); the host and everything after it are upper case, so all but the scheme
/// and the `?S=` between path and signed part fit alphanumeric segments.
pub fn mark_url(public_url: &str, token: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let (scheme, after_scheme) = base.split_once("://").unwrap_or(("", base));
    let gs1 = token.starts_with(GS1_PREFIX);
    match (after_scheme.contains('/'), gs1) {
        (true, false) => format!("{base}/v/{token}"),
        (true, true) => format!("{base}/{token}"),
        (false, false) => format!("{}/V/{token}", base.to_ascii_uppercase()),
        (false, true) if scheme.is_empty() => format!("{}/{token}", base.to_ascii_uppercase()),
        (false, true) => {
            format!("{}://{}/{token}", scheme.to_ascii_lowercase(), after_scheme.to_ascii_uppercase())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SigningKeyEntry;
    use ed25519_dalek::SigningKey;

    /// The signer whose private key is `seed` repeated 32 times.
    pub(super) fn signer_from(seed: u8) -> Signer {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
    }

    /// Serial 123456 of batch 3 of the five-star SM2026ASC000001, valid until the given day.
    pub(super) fn claims_until(year: i32, month: u32, day: u32) -> MarkClaims {
        MarkClaims {
            number: CertificateNumber::parse("SM2026ASC000001").unwrap(),
            uscc: Uscc::parse("91350200776049653A").unwrap(),
            level: Level::FiveStar,
            valid_until: NaiveDate::from_ymd_opt(year, month, day).unwrap(),
            batch: 3,
            serial: 123_456,
            gtin: None,
        }
    }

    fn claims() -> MarkClaims {
        claims_until(2029, 11, 25)
    }

    #[test]
    fn round_trip_and_verify() {
        let signer = signer_from(1);
        let verifier = Verifier::default().with_key(signer.verifying_key());
        let token = issue(&signer, &claims());
        assert!(token.starts_with("SM2026ASC000001.91350200776049653A"));
        assert_eq!(token.len(), 15 + 1 + 18 + BASE32_LEN);
        assert!(token.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.'));
        let parsed = verify(&token, &verifier).unwrap();
        assert_eq!(parsed.claims, claims());
        assert_eq!(&parsed.key_id, signer.key_id());
        assert_eq!(verify(&token.to_ascii_lowercase(), &verifier).unwrap().claims, claims());
        assert_eq!(issue(&signer, &claims()), token, "deterministic");
    }

    #[test]
    fn every_change_is_caught() {
        let signer = signer_from(1);
        let verifier = Verifier::default().with_key(signer.verifying_key());
        let token = issue(&signer, &claims());
        // Another certificate's number on the same payload.
        let swapped = token.replacen("SM2026ASC000001", "SM2026ASC000002", 1);
        assert_eq!(verify(&swapped, &verifier).unwrap_err(), TokenError::BadSignature);
        // Any single character of the base32 part changed.
        let start = token.len() - BASE32_LEN;
        for index in [start + 20, start + 30, token.len() - 5] {
            let mut bytes = token.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(verify(&altered, &verifier).is_err(), "change at {index} accepted");
        }
        assert!(matches!(verify(&token[..token.len() - 1], &verifier), Err(TokenError::Malformed(_))));
        assert!(matches!(verify("hello", &verifier), Err(TokenError::Malformed(_))));
        // Blanks between the number and the '.' are not another spelling of the same mark.
        for blank in [" ", "\t", "\u{c}", "\u{3000}"] {
            let spelled = token.replacen('.', &format!("{blank}."), 1);
            assert_eq!(
                verify(&spelled, &verifier),
                Err(TokenError::Malformed("bad certificate number")),
                "{spelled:?}"
            );
        }
        let stranger = signer_from(2);
        let foreign = issue(&stranger, &claims());
        assert!(matches!(verify(&foreign, &verifier), Err(TokenError::UnknownKey(_))));
    }

    /// The claims of [`claims`] as a GS1 mark of the product GTIN 06901234567892.
    pub(super) fn gs1_claims(claims: MarkClaims) -> MarkClaims {
        MarkClaims { gtin: Some(Gtin::parse("06901234567892").unwrap()), ..claims }
    }

    #[test]
    fn gs1_marks_round_trip_and_bind_gtin_serial_certificate_and_batch() {
        let signer = signer_from(1);
        let verifier = Verifier::default().with_key(signer.verifying_key());
        let gs1 = gs1_claims(claims());
        let token = issue(&signer, &gs1);
        let (path, parameter) = token.split_once('?').unwrap();
        assert_eq!(path, "01/06901234567892/21/123456");
        assert!(parameter.starts_with("S=SM2026ASC000001.91350200776049653A"));
        assert_eq!(parameter.len(), 2 + 15 + 1 + 18 + GS1_BASE32_LEN);
        assert_eq!(verify(&token, &verifier).unwrap().claims, gs1);
        assert_eq!(verify(&token.to_ascii_lowercase(), &verifier).unwrap().claims, gs1);
        assert_eq!(issue(&signer, &gs1), token, "deterministic");

        // Another product (a GTIN with a right check digit), serial, certificate or batch.
        let other_gtin = token.replacen("06901234567892", "04006381333931", 1);
        let other_serial = token.replacen("/21/123456", "/21/123457", 1);
        let other_number = token.replacen("SM2026ASC000001", "SM2026ASC000002", 1);
        for altered in [other_gtin, other_serial, other_number] {
            assert_eq!(verify(&altered, &verifier).unwrap_err(), TokenError::BadSignature, "{altered}");
        }
        // Batch 4 in the bytes, the signature made for batch 3.
        let (head, encoded) = token.split_at(token.len() - GS1_BASE32_LEN);
        let mut binary = BASE32_NOPAD.decode(encoded.as_bytes()).unwrap();
        binary[15] = 4;
        let other_batch = format!("{head}{}", BASE32_NOPAD.encode(&binary));
        assert_eq!(verify(&other_batch, &verifier).unwrap_err(), TokenError::BadSignature);
        // A /v/ token's signature never stands for a GS1 mark, nor the other way round.
        let plain = issue(&signer, &claims());
        assert_ne!(plain, token);
        let plain_signature = &plain[plain.len() - 103..];
        let grafted = format!("{}{}", &token[..token.len() - 103], plain_signature);
        assert!(verify(&grafted, &verifier).is_err());

        for bad in [
            "01/06901234567893/21/123456?S=X".to_string(),
            token.replacen("/21/123456", "/21/0123456", 1),
            token.replacen("/21/123456", "/21/ABC", 1),
            token.replacen("/21/", "/10/", 1),
            token.replacen("?S=", "?T=", 1),
            token.split_once('?').unwrap().0.to_string(),
            token[..token.len() - 1].to_string(),
        ] {
            assert!(matches!(verify(&bad, &verifier), Err(TokenError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn urls_use_one_alphanumeric_segment_when_they_can() {
        assert_eq!(mark_url("https://verify.example.cn", "T"), "HTTPS://VERIFY.EXAMPLE.CN/V/T");
        assert_eq!(mark_url("https://example.cn/registry/", "T"), "https://example.cn/registry/v/T");
        let gs1 = "01/06901234567892/21/7?S=T";
        assert_eq!(mark_url("https://verify.example.cn/", gs1), "https://VERIFY.EXAMPLE.CN/01/06901234567892/21/7?S=T");
        assert_eq!(
            mark_url("https://example.cn/registry", gs1),
            "https://example.cn/registry/01/06901234567892/21/7?S=T"
        );
    }
}

#[cfg(test)]
mod vectors {
    //! The mark token vectors of docs/format.md, section 10, recomputed and compared.

    use super::tests::{claims_until, signer_from as signer};
    use super::*;
    use crate::crypto::vectors::block;

    fn claims() -> MarkClaims {
        claims_until(2029, 3, 1)
    }

    /// The trust list of the vectors: only the key of seed 0x01.
    fn trust() -> Verifier {
        Verifier::default().with_key(signer(1).verifying_key())
    }

    fn flipped(token: &str) -> String {
        // Flip the lowest bit of the value of the 30th base32 character from the end.
        let mut chars: Vec<char> = token.chars().collect();
        let index = chars.len() - 30;
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let value = alphabet.find(chars[index]).unwrap() ^ 1;
        chars[index] = alphabet.as_bytes()[value] as char;
        chars.into_iter().collect()
    }

    #[test]
    #[ignore = "prints the blocks for docs/format.md"]
    fn print_mark_vectors() {
        let token = issue(&signer(1), &claims());
        println!("genuine: {token}");
        println!("fields hex: {}", hex::encode(&BASE32_NOPAD.decode(&token.as_bytes()[34..]).unwrap()[..FIELDS_LEN]));
        println!("flipped: {}", flipped(&token));
        println!("unknown key: {}", issue(&signer(2), &claims()));
        println!("truncated: {}", &token[..token.len() - 4]);
        let url = mark_url("https://verify.starmark-example.org.cn", &token);
        let qr = crate::mark::QrMatrix::encode(&url).unwrap();
        println!("url ({} chars): {url} -> QR version {}", url.len(), qr.version());
    }

    /// The GS1 vector's claims: those of the `/v/` vectors on the product 06901234567892.
    fn gs1_claims() -> MarkClaims {
        super::tests::gs1_claims(claims())
    }

    #[test]
    #[ignore = "prints the GS1 blocks for docs/format.md"]
    fn print_gs1_vectors() {
        let token = issue(&signer(1), &gs1_claims());
        println!("gs1 token: {token}");
        let encoded = &token[token.len() - GS1_BASE32_LEN..];
        println!(
            "gs1 fields hex: {}",
            hex::encode(&BASE32_NOPAD.decode(encoded.as_bytes()).unwrap()[..GS1_FIELDS_LEN])
        );
        println!("gs1 other gtin: {}", token.replacen("06901234567892", "04006381333931", 1));
        println!("gs1 other serial: {}", token.replacen("/21/123456", "/21/123457", 1));
        let url = mark_url("https://verify.starmark-example.org.cn", &token);
        let qr = crate::mark::QrMatrix::encode(&url).unwrap();
        println!("gs1 url ({} chars): {url} -> QR version {}", url.len(), qr.version());
        // The README's pair of marks: today's `/v/` mark and the GS1 one, same serial.
        if let Ok(dir) = std::env::var("STARMARK_WRITE_SAMPLES") {
            use crate::mark::{MarkArt, MarkFace, DEFAULT_DPI, DEFAULT_SIZE_MM};
            let face =
                MarkFace { number: "SM2026ASC000001".into(), level: crate::domain::Level::FiveStar, serialised: true };
            let art = MarkArt::new(&face, DEFAULT_SIZE_MM, Some(DEFAULT_DPI)).unwrap();
            let plain = mark_url("https://verify.starmark-example.org.cn", &issue(&signer(1), &claims()));
            std::fs::write(format!("{dir}/mark-serial.png"), art.png(&plain, Some((3, 123_456))).unwrap()).unwrap();
            std::fs::write(format!("{dir}/mark-gs1.png"), art.png(&url, Some((3, 123_456))).unwrap()).unwrap();
        }
    }

    #[test]
    fn the_documented_gs1_vectors_hold() {
        let token = issue(&signer(1), &gs1_claims());
        assert_eq!(token, block("gs1-vector-token"));
        let parsed = verify(&block("gs1-vector-token"), &trust()).expect("the genuine GS1 vector verifies");
        assert_eq!(parsed.claims, gs1_claims());
        let encoded = &token[token.len() - GS1_BASE32_LEN..];
        let binary = BASE32_NOPAD.decode(encoded.as_bytes()).unwrap();
        assert_eq!(hex::encode(&binary[..GS1_FIELDS_LEN]), block("gs1-vector-fields-hex"));

        assert_eq!(token.replacen("06901234567892", "04006381333931", 1), block("gs1-vector-other-gtin"));
        assert_eq!(verify(&block("gs1-vector-other-gtin"), &trust()).unwrap_err(), TokenError::BadSignature);
        assert_eq!(token.replacen("/21/123456", "/21/123457", 1), block("gs1-vector-other-serial"));
        assert_eq!(verify(&block("gs1-vector-other-serial"), &trust()).unwrap_err(), TokenError::BadSignature);

        let url = mark_url("https://verify.starmark-example.org.cn", &token);
        assert_eq!(url, block("gs1-vector-url"));
        let version = crate::mark::QrMatrix::encode(&url).unwrap().version();
        assert_eq!(version.to_string(), block("gs1-vector-qr-version"));
    }

    #[test]
    fn the_documented_mark_vectors_hold() {
        let token = issue(&signer(1), &claims());
        assert_eq!(token, block("mark-vector-token"));
        let parsed = verify(&block("mark-vector-token"), &trust()).expect("the genuine vector verifies");
        assert_eq!(parsed.claims, claims());
        assert_eq!(parsed.key_id.as_str(), block("mark-vector-key-id"));
        let binary = BASE32_NOPAD.decode(&token.as_bytes()[34..]).unwrap();
        assert_eq!(hex::encode(&binary[..FIELDS_LEN]), block("mark-vector-fields-hex"));

        assert_eq!(flipped(&token), block("mark-vector-flipped"));
        assert_eq!(verify(&block("mark-vector-flipped"), &trust()).unwrap_err(), TokenError::BadSignature);

        assert_eq!(issue(&signer(2), &claims()), block("mark-vector-unknown-key"));
        assert!(matches!(verify(&block("mark-vector-unknown-key"), &trust()), Err(TokenError::UnknownKey(_))));

        assert_eq!(&token[..token.len() - 4], block("mark-vector-truncated"));
        assert!(matches!(verify(&block("mark-vector-truncated"), &trust()), Err(TokenError::Malformed(_))));

        let url = mark_url("https://verify.starmark-example.org.cn", &token);
        assert_eq!(url, block("mark-vector-url"));
        let version = crate::mark::QrMatrix::encode(&url).unwrap().version();
        assert!(version <= 10, "QR version {version} at level Q");
        assert_eq!(version.to_string(), block("mark-vector-qr-version"));
    }
}
