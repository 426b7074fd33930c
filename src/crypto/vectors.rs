//! The test vectors of `docs/format.md`, checked against the code.
//!
//! Each vector is built here with the project's own types and a fixed test-only seed; its
//! canonical bytes, keys, key id and signature are computed and compared with the fenced blocks
//! of the document, which are found by the tag in their info string (```` ```text vector-1-key-id ````).
//! The document is read at compile time, so it cannot drift from the code without a test failing.
//!
//! After a deliberate change of the format, print the blocks to paste into the document with
//! `cargo test --lib crypto::vectors::print_vectors -- --ignored --nocapture`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::NaiveDate;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;

use super::keys::{KeyId, PublicKeyEntry, SigningKeyEntry};
use super::signing::{Signature, Signer, Verifier};
use super::trust_list::TrustList;
use super::{canonical_bytes, canonical_value_bytes};
use crate::domain::{
    transition, validity_end, ApprovalNumber, CertificateNumber, CertificateRecord, Evaluation, Holder, Issuer, Level,
    Points, State, Status, StatusAction, SurveillanceAudit, SurveillanceOutcome, Uscc, STANDARD,
};
use crate::domain::{Gtin, Product};

/// The document the vectors are published in.
const FORMAT_MD: &str = include_str!("../../docs/format.md");

/// Hex digits per line in the wrapped hex blocks.
const HEX_LINE: usize = 64;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn issuer() -> Issuer {
    Issuer {
        name: "Starmark 示范认证中心 (demo body)".into(),
        approval_number: ApprovalNumber::parse("CNCA-R-2026-001").expect("valid approval number"),
    }
}

/// One published vector: a fixed seed and the record it signs.
struct Vector {
    id: u8,
    seed: [u8; 32],
    record: CertificateRecord,
}

/// Vector 1: seed of 32 bytes 0x01; a freshly issued five-star certificate, whole points, no
/// English name, no surveillance yet (the optional fields are absent).
fn vector_1() -> Vector {
    let issued = day(2026, 3, 2);
    let record = CertificateRecord {
        number: CertificateNumber::parse("SM2026ASC000001").expect("valid number"),
        version: 1,
        holder: Holder {
            name: "厦门示例电器有限公司".into(),
            name_en: None,
            uscc: Uscc::parse("91350200776049653A").expect("valid code"),
            address: "厦门市思明区示例路1号".into(),
        },
        scope: "家用电器的售后服务".into(),
        standard: STANDARD.into(),
        level: Level::FiveStar,
        evaluation: Evaluation {
            system: Points::whole(38),
            commodity: Points::whole(33),
            customer: Points::whole(24),
            applicable: Points::whole(100),
            special_deductions: 0,
            special_bonus: false,
        },
        first_issued: issued,
        issued,
        valid_until: validity_end(issued),
        issuer: issuer(),
        status: Status::valid(issued),
        surveillance: Vec::new(),
        mark_batches: Vec::new(),
    };
    Vector { id: 1, seed: [0x01; 32], record }
}

/// Vector 2: seed 0x00 0x01 .. 0x1f; version 3 of a renewed four-star certificate, suspended
/// after a surveillance audit, with an English name, a score in tenths (36.5), a special
/// deduction, Chinese text and ASCII quotes that must be escaped.
fn vector_2() -> Vector {
    let issued = day(2025, 6, 15);
    let mut seed = [0u8; 32];
    for (index, byte) in seed.iter_mut().enumerate() {
        *byte = u8::try_from(index).expect("index below 32");
    }
    let record = CertificateRecord {
        number: CertificateNumber::parse("SM2025ASC000042").expect("valid number"),
        version: 3,
        holder: Holder {
            name: "深圳市示例通讯设备有限公司".into(),
            name_en: Some("Shenzhen Example Telecom Equipment Co., Ltd.".into()),
            uscc: Uscc::parse("91440300MA5FXAMPLW").expect("valid code"),
            address: "广东省深圳市南山区示例大道88号".into(),
        },
        scope: "手机及配件的售后服务（含\"以旧换新\"回收）".into(),
        standard: STANDARD.into(),
        level: Level::FourStar,
        evaluation: Evaluation {
            system: Points::from_tenths(365),
            commodity: Points::whole(32),
            customer: Points::whole(23),
            applicable: Points::whole(100),
            special_deductions: 1,
            special_bonus: false,
        },
        first_issued: day(2022, 6, 15),
        issued,
        valid_until: validity_end(issued),
        issuer: issuer(),
        status: Status {
            state: State::Suspended,
            since: day(2026, 5, 20),
            reason: Some("监督审核发现投诉处理不符合要求 (complaint handling nonconformity)".into()),
            until: Some(day(2026, 11, 19)),
        },
        surveillance: vec![SurveillanceAudit {
            date: day(2026, 5, 12),
            outcome: SurveillanceOutcome::Nonconformities,
            note: Some("投诉处理记录不完整".into()),
        }],
        mark_batches: Vec::new(),
    };
    Vector { id: 2, seed, record }
}

fn vectors() -> [Vector; 2] {
    [vector_1(), vector_2()]
}

/// Everything the document publishes for a vector, computed from its seed and record.
struct Computed {
    seed_hex: String,
    /// As `starmark keygen` writes it: PKCS#8 v2 (RFC 5958), the public key included.
    private_key_pem: String,
    /// PKCS#8 v1 (RFC 8410 section 7), which every OpenSSL 3 reads.
    private_key_pem_v1: String,
    public_key_pem: String,
    public_key_hex: String,
    key_id: KeyId,
    record_pretty: String,
    canonical: Vec<u8>,
    signature: Signature,
}

impl Computed {
    fn of(vector: &Vector) -> Self {
        let key = SigningKey::from_bytes(&vector.seed);
        let public = key.verifying_key();
        let key_id = KeyId::of(&public);
        let canonical = canonical_bytes(&vector.record).expect("record serialises");
        let signer = Signer::new(SigningKeyEntry { key_id, key: key.clone() });
        Self {
            seed_hex: hex::encode(vector.seed),
            private_key_pem: key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 encodes").to_string(),
            private_key_pem_v1: KeypairBytes { secret_key: vector.seed, public_key: None }
                .to_pkcs8_pem(LineEnding::LF)
                .expect("PKCS#8 v1 encodes")
                .to_string(),
            public_key_pem: public.to_public_key_pem(LineEnding::LF).expect("SPKI encodes"),
            public_key_hex: hex::encode(public.as_bytes()),
            key_id,
            record_pretty: serde_json::to_string_pretty(&vector.record).expect("record serialises"),
            signature: signer.sign(&canonical),
            canonical,
        }
    }

    fn canonical_text(&self) -> &str {
        std::str::from_utf8(&self.canonical).expect("canonical bytes are UTF-8")
    }

    fn canonical_hex_wrapped(&self) -> String {
        wrap(&hex::encode(&self.canonical), HEX_LINE)
    }

    fn signature_hex_wrapped(&self) -> String {
        let raw = BASE64.decode(&self.signature.value).expect("own signature is base64");
        wrap(&hex::encode(raw), HEX_LINE)
    }

    /// The blocks of the document for this vector, by tag suffix, in document order.
    fn blocks(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![
            ("json", "record", self.record_pretty.clone()),
            ("text", "canonical-text", self.canonical_text().to_string()),
            ("text", "canonical-hex", self.canonical_hex_wrapped()),
            ("text", "seed", self.seed_hex.clone()),
            ("text", "private-key-pem", self.private_key_pem.trim_end().to_string()),
            ("text", "private-key-pem-v1", self.private_key_pem_v1.trim_end().to_string()),
            ("text", "public-key-pem", self.public_key_pem.trim_end().to_string()),
            ("text", "public-key-hex", self.public_key_hex.clone()),
            ("text", "key-id", self.key_id.to_string()),
            ("text", "signature-base64", self.signature.value.clone()),
            ("text", "signature-hex", self.signature_hex_wrapped()),
            ("json", "signature-object", serde_json::to_string_pretty(&self.signature).expect("signature serialises")),
        ]
    }
}

/// The trust list of a registry holding both vector keys, vector 2's key signing, as served.
fn trust_list_example() -> String {
    let entries: Vec<PublicKeyEntry> = vectors()
        .iter()
        .map(|vector| {
            let key = SigningKey::from_bytes(&vector.seed).verifying_key();
            let pem = key.to_public_key_pem(LineEnding::LF).expect("SPKI encodes");
            PublicKeyEntry { key_id: KeyId::of(&key), key, pem }
        })
        .collect();
    let list = TrustList::build(&issuer().name, &entries, &entries[1].key_id);
    serde_json::to_string_pretty(&list).expect("trust list serialises")
}

fn wrap(text: &str, width: usize) -> String {
    let lines: Vec<&str> =
        text.as_bytes().chunks(width).map(|chunk| std::str::from_utf8(chunk).expect("hex is ASCII")).collect();
    lines.join("\n")
}

/// The content of the one fenced block of `FORMAT_MD` whose info string carries `tag`.
pub(super) fn block(tag: &str) -> String {
    let mut found = Vec::new();
    let mut lines = FORMAT_MD.lines();
    while let Some(line) = lines.next() {
        // A fence opens with three backticks and an info string holding no backtick (CommonMark).
        let Some(info) = line.strip_prefix("```").filter(|info| !info.contains('`')) else { continue };
        let tagged = info.split_whitespace().any(|word| word == tag);
        let mut body = Vec::new();
        for inner in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            body.push(inner);
        }
        if tagged {
            found.push(body.join("\n"));
        }
    }
    assert_eq!(found.len(), 1, "docs/format.md must have exactly one fenced block tagged `{tag}`");
    found.remove(0)
}

fn without_space(text: &str) -> String {
    text.split_whitespace().collect()
}

#[test]
fn vectors_are_reachable_records() {
    for vector in vectors() {
        let record = &vector.record;
        assert_eq!(record.evaluation.level(), Ok(record.level), "vector {}: level must follow the score", vector.id);
        assert_eq!(record.valid_until, validity_end(record.issued), "vector {}", vector.id);
        assert!(record.first_issued <= record.issued, "vector {}", vector.id);
    }
    // Vector 2's status is what the lifecycle produces when the body suspends it on that day.
    let v2 = vector_2().record;
    let suspend = StatusAction::Suspend {
        reason: v2.status.reason.clone().expect("vector 2 has a reason"),
        until: v2.status.until.expect("vector 2 has an end"),
    };
    let next = transition(&Status::valid(v2.issued), v2.valid_until, &suspend, v2.status.since);
    assert_eq!(next, Ok(v2.status.clone()));
    assert_eq!(v2.evaluation.score(), Ok(Points::from_tenths(905)));
}

#[test]
fn document_matches_the_code() {
    for vector in vectors() {
        let computed = Computed::of(&vector);
        for (_, suffix, expected) in computed.blocks() {
            let tag = format!("vector-{}-{suffix}", vector.id);
            let published = block(&tag);
            if suffix.ends_with("-hex") {
                assert_eq!(without_space(&published), without_space(&expected), "{tag} in docs/format.md");
            } else {
                assert_eq!(published.trim_end(), expected, "{tag} in docs/format.md");
            }
        }
    }
}

#[test]
fn published_values_verify_independently_of_the_signer() {
    for vector in vectors() {
        let tag = |suffix: &str| format!("vector-{}-{suffix}", vector.id);
        // Keys: the seed gives the PEMs, the PEMs give the raw key, the raw key gives the id.
        let seed: [u8; 32] =
            hex::decode(block(&tag("seed"))).expect("seed is hex").try_into().expect("seed is 32 bytes");
        let private = SigningKey::from_pkcs8_pem(&block(&tag("private-key-pem"))).expect("private PEM parses");
        assert_eq!(private.to_bytes(), seed, "{}", tag("private-key-pem"));
        let v1 = SigningKey::from_pkcs8_pem(&block(&tag("private-key-pem-v1"))).expect("v1 PEM parses");
        assert_eq!(v1.to_bytes(), seed, "{}", tag("private-key-pem-v1"));
        let public = VerifyingKey::from_public_key_pem(&block(&tag("public-key-pem"))).expect("public PEM parses");
        assert_eq!(hex::encode(public.as_bytes()), block(&tag("public-key-hex")));
        assert_eq!(KeyId::of(&public).as_str(), block(&tag("key-id")));
        assert!(KeyId::parse(&block(&tag("key-id"))).is_some());

        // Bytes: text, hex and the re-canonicalised pretty record are one and the same.
        let canonical = hex::decode(without_space(&block(&tag("canonical-hex")))).expect("canonical hex");
        assert_eq!(canonical, block(&tag("canonical-text")).as_bytes());
        let pretty: Value = serde_json::from_str(&block(&tag("record"))).expect("record block is JSON");
        assert_eq!(canonical_value_bytes(&pretty).expect("re-canonicalises"), canonical);
        let parsed: CertificateRecord = serde_json::from_value(pretty.clone()).expect("record block is a record");
        assert_eq!(parsed, vector.record);

        // Signature: hex and base64 agree, and it checks strictly under the published key only.
        let signature: Signature =
            serde_json::from_str(&block(&tag("signature-object"))).expect("signature object parses");
        assert_eq!(signature.value, block(&tag("signature-base64")));
        let raw = hex::decode(without_space(&block(&tag("signature-hex")))).expect("signature hex");
        assert_eq!(BASE64.decode(&signature.value).expect("base64"), raw);
        assert_eq!(raw.len(), 64);
        let verifier = Verifier::default().with_key(public);
        assert_eq!(verifier.verify(&canonical, &signature), Ok(()));

        // What `starmark verify FILE` does with {"record": ..., "signature": ...}.
        let file = serde_json::json!({ "record": pretty, "signature": signature });
        let record = file.get("record").expect("record field");
        let signature: Signature =
            serde_json::from_value(file.get("signature").expect("signature field").clone()).expect("signature");
        assert_eq!(verifier.verify(&canonical_value_bytes(record).expect("canonical"), &signature), Ok(()));

        // One changed byte, or another key, fails.
        let mut altered = canonical.clone();
        altered[10] ^= 0x01;
        assert!(verifier.verify(&altered, &signature).is_err());
        let other = Verifier::default().with_key(SigningKey::from_bytes(&[0x42; 32]).verifying_key());
        let mut foreign = signature.clone();
        foreign.key_id = KeyId::of(&SigningKey::from_bytes(&[0x42; 32]).verifying_key());
        assert!(other.verify(&canonical, &foreign).is_err());
    }
}

#[test]
fn examples_in_the_prose_match_the_code() {
    assert_eq!(block("trust-list-example"), trust_list_example(), "trust-list-example in docs/format.md");
    let one = Computed::of(&vector_1());
    let signature = serde_json::to_string_pretty(&one.signature).expect("signature serialises");
    assert_eq!(block("example-signature-object"), signature, "example-signature-object in docs/format.md");
    for vector in vectors() {
        let length = Computed::of(&vector).canonical.len();
        let said = format!("Canonical bytes as text ({length} bytes of UTF-8");
        assert!(FORMAT_MD.contains(&said), "docs/format.md must say `{said}` for vector {}", vector.id);
    }
}

#[test]
fn the_two_vectors_cover_the_optional_fields_both_ways() {
    let [one, two] = vectors().map(|vector| Computed::of(&vector).canonical_text().to_string());
    for absent in ["\"name_en\"", "\"reason\"", "\"until\"", "\"note\""] {
        assert!(!one.contains(absent), "vector 1 must omit {absent}");
        assert!(two.contains(absent), "vector 2 must carry {absent}");
    }
    assert!(one.contains("\"surveillance\":[]"), "an empty history is written as []");
    assert!(two.contains("\"system\":36.5"), "tenths are written as a decimal");
    assert!(one.contains("\"system\":38}"), "whole points are written as integers");
    assert!(two.contains("\\\"以旧换新\\\""), "quotes are escaped, Chinese is not");
}

/// Prints the document's blocks for every vector (see the module comment).
#[test]
#[ignore = "prints docs/format.md blocks; run by hand after a deliberate format change"]
fn print_vectors() {
    for vector in vectors() {
        let computed = Computed::of(&vector);
        for (lang, suffix, content) in computed.blocks() {
            println!("```{lang} vector-{}-{suffix}\n{content}\n```\n", vector.id);
        }
    }
    println!("```json trust-list-example\n{}\n```", trust_list_example());
}

/// Vector 1's record after two orders: a batch bound to no product and one bound to a product.
fn with_product_batches() -> CertificateRecord {
    let mut record = vector_1().record;
    record.order_marks(1000, day(2026, 3, 10)).expect("vector 1 is valid");
    let gtin = Gtin::parse("6901234567892").expect("a GTIN-13");
    let product = Product::new(gtin, "电饭煲 RC-5").expect("a product name");
    record.order_product_marks(500, Some(product), day(2026, 3, 11)).expect("vector 1 is valid");
    record
}

#[test]
fn product_batches_canonicalise_as_documented_and_plain_ones_as_before() {
    let record = with_product_batches();
    let batches = canonical_bytes(&record.mark_batches).expect("canonical");
    assert_eq!(String::from_utf8(batches).expect("UTF-8"), block("product-batches-canonical-text"));
    // The plain batch has exactly the members it always had.
    let plain = canonical_bytes(&record.mark_batches[0]).expect("canonical");
    assert_eq!(plain, br#"{"count":1000,"id":1,"ordered":"2026-03-10"}"#);
    // The whole record signs and verifies as any other, and parses back to itself.
    let key = SigningKey::from_bytes(&[1; 32]);
    let signer = Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key });
    let bytes = canonical_bytes(&record).expect("canonical");
    let signature = signer.sign(&bytes);
    let verifier = Verifier::default().with_key(signer.verifying_key());
    verifier.verify(&bytes, &signature).expect("verifies");
    let back: CertificateRecord = serde_json::from_slice(&bytes).expect("parses back");
    assert_eq!(back, record);
}

#[test]
#[ignore = "prints the product batch block for docs/format.md"]
fn print_product_batches() {
    let batches = canonical_bytes(&with_product_batches().mark_batches).expect("canonical");
    println!("```text product-batches-canonical-text\n{}\n```", String::from_utf8(batches).expect("UTF-8"));
}
