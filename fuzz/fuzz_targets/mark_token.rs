//! Mark tokens as the scan landing reads them (`/v/{token}`, and GS1 Digital Link marks' URIs
//! after the public URL): any text, and genuine tokens with edits. A token that parses is written back exactly as it was read; a token that
//! verifies is the one the registry issued for its claims, byte for byte.
#![no_main]

use chrono::{Days, NaiveDate};
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use starmark::crypto::token::{self, MarkClaims};
use starmark::domain::{CertificateNumber, Gtin, Level, Uscc};
use starmark_fuzz::{signer, verifier};

const USCC_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => any_text(rest),
        1 => issued_then_read(&mut Unstructured::new(rest)),
        _ => edited_genuine(&mut Unstructured::new(rest)),
    }
});

/// Whatever parses is the canonical text of what it claims, and reads the same again.
fn any_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(parsed) = token::parse(text) else { return };
    let mut prefix = format!("{}.{}", parsed.claims.number, parsed.claims.uscc);
    if let Some(gtin) = parsed.claims.gtin {
        prefix = format!("01/{gtin}/21/{}?S={prefix}", parsed.claims.serial);
    }
    assert!(
        parsed.text().starts_with(&prefix),
        "token read as {:?} but its claims are written {prefix:?}",
        parsed.text()
    );
    assert_eq!(token::parse(parsed.text()).as_ref(), Ok(&parsed), "reading the token's own text again");
    if parsed.verify(&verifier()).is_ok() {
        assert_eq!(token::issue(&signer(), &parsed.claims), parsed.text(), "a verified token is the issued one");
    }
}

fn claims(u: &mut Unstructured) -> Option<MarkClaims> {
    let digits = u32::arbitrary(u).ok()?;
    let prefix = *u.choose(&["SM", "A", "SMX-", "Q9"]).ok()?;
    let number = CertificateNumber::parse(&format!("{prefix}{digits:06}")).ok()?;
    let mut body = String::new();
    for _ in 0..17 {
        body.push(char::from(*u.choose(USCC_ALPHABET).ok()?));
    }
    let uscc = Uscc::with_check_character(&body).ok()?;
    let level = *u.choose(&Level::ALL).ok()?;
    let days = u16::arbitrary(u).ok()?;
    let valid_until = NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_days(Days::new(u64::from(days)))?;
    let batch = u32::arbitrary(u).ok()?;
    let serial = if batch == 0 { 0 } else { u32::arbitrary(u).ok()?.max(1) };
    // A GS1 Digital Link mark now and then (only serialised marks are).
    let gtin = if batch != 0 && bool::arbitrary(u).ok()? {
        Some(Gtin::parse(u.choose(&["6901234567892", "4006381333931", "96385074", "10012345678902"]).ok()?).ok()?)
    } else {
        None
    };
    Some(MarkClaims { number, uscc, level, valid_until, batch, serial, gtin })
}

/// Every mark the registry can issue reads back as its claims and verifies, in any case.
fn issued_then_read(u: &mut Unstructured) {
    let Some(claims) = claims(u) else { return };
    let issued = token::issue(&signer(), &claims);
    let parsed = token::verify(&issued, &verifier()).expect("an issued token verifies");
    assert_eq!(parsed.claims, claims);
    assert_eq!(parsed.text(), issued);
    let lower = token::verify(&format!(" {} ", issued.to_ascii_lowercase()), &verifier()).expect("lower case verifies");
    assert_eq!(lower.text(), issued);
}

/// A genuine token with edits: if it still verifies, it is the genuine token itself.
fn edited_genuine(u: &mut Unstructured) {
    let Some(claims) = claims(u) else { return };
    let issued = token::issue(&signer(), &claims);
    let mut chars: Vec<char> = issued.chars().collect();
    let edits = u.int_in_range(1..=3u8).unwrap_or(1);
    for _ in 0..edits {
        let Ok(at) = u.choose_index(chars.len() + 1) else { break };
        let c = char::arbitrary(u).unwrap_or(' ');
        match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => chars.insert(at, c),
            1 if at < chars.len() => chars[at] = c,
            _ if at < chars.len() => {
                chars.remove(at);
            }
            _ => {}
        }
    }
    let edited: String = chars.into_iter().collect();
    if let Ok(parsed) = token::verify(&edited, &verifier()) {
        assert_eq!(parsed.claims, claims, "an edited token verified with other claims: {edited:?}");
        assert_eq!(parsed.text(), issued, "an edited token verified under another text: {edited:?}");
    }
}
