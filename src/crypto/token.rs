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

use chrono::{Days, NaiveDate};
use data_encoding::BASE32_NOPAD;

use super::keys::KeyId;
use super::signing::{Signer, Verifier, VerifyError};
use crate::domain::{CertificateNumber, Level, Uscc};

/// The only token layout so far.
pub const TOKEN_VERSION: u8 = 1;
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
}

/// A token taken apart, not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedToken {
    pub claims: MarkClaims,
    pub key_id: KeyId,
    /// The token as issued: upper case, without surrounding blanks.
    text: String,
    /// The binary part as decoded: the signed fields, then the signature.
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

/// Takes a token apart without checking its signature. Lower case is accepted.
pub fn parse(token: &str) -> Result<ParsedToken, TokenError> {
    let token = token.trim().to_ascii_uppercase();
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
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&binary[1..9]);
    let key_id = KeyId::from_bytes(&key_id);
    let level = level_from_code(binary[9]).ok_or(TokenError::Malformed("bad level"))?;
    let days = u16::from_be_bytes([binary[10], binary[11]]);
    let valid_until = EPOCH.checked_add_days(Days::new(u64::from(days))).ok_or(TokenError::Malformed("bad date"))?;
    let batch = u32::from_be_bytes([binary[12], binary[13], binary[14], binary[15]]);
    let serial = u32::from_be_bytes([binary[16], binary[17], binary[18], binary[19]]);
    // 0/0 is the certificate-level mark; otherwise both count from 1.
    if (batch == 0) != (serial == 0) {
        return Err(TokenError::Malformed("batch and serial start at 1"));
    }
    Ok(ParsedToken {
        claims: MarkClaims { number, uscc, level, valid_until, batch, serial },
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
        let (fields, signature) = self.binary.split_at(FIELDS_LEN);
        let mut signature_bytes = [0u8; 64];
        signature_bytes.copy_from_slice(signature);
        match verifier.verify_raw(&self.key_id, &message(&prefix, fields), &signature_bytes) {
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
pub fn mark_url(public_url: &str, token: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    if after_scheme.contains('/') {
        format!("{base}/v/{token}")
    } else {
        format!("{}/V/{token}", base.to_ascii_uppercase())
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

    #[test]
    fn urls_use_one_alphanumeric_segment_when_they_can() {
        assert_eq!(mark_url("https://verify.example.cn", "T"), "HTTPS://VERIFY.EXAMPLE.CN/V/T");
        assert_eq!(mark_url("https://example.cn/registry/", "T"), "https://example.cn/registry/v/T");
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
