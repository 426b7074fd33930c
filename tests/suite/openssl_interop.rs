//! An independent tool checks Starmark's signatures, and Starmark checks the tool's.
//!
//! OpenSSL verifies a record signed by the library with a key made by `keys::generate`, and
//! rejects it once a byte is changed; OpenSSL signs our canonical bytes with its own key and our
//! strict verifier accepts the signature; OpenSSL signs the test vectors of docs/format.md to the
//! very same bytes; and `starmark verify` accepts a saved answer. These tests need the `openssl`
//! command line tool and fail (never skip) without it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::NaiveDate;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use starmark::crypto::keys::{self, PublicKeyEntry};
use starmark::crypto::signing::ALGORITHM;
use starmark::crypto::{canonical_bytes, KeyId, Signature, Signer, TrustList, Verifier, VerifyError};
use starmark::domain::{
    ApprovalNumber, CertificateDraft, CertificateNumber, CertificateRecord, Evaluation, Holder, Issuer, Points, Uscc,
};

const VERIFIED: &str = "Signature Verified Successfully";
const FORMAT_MD: &str = include_str!("../../docs/format.md");

/// Runs `openssl` with `args`, failing the test with install advice when it is missing.
fn openssl(args: &[&str], dir: &Path) -> Output {
    match crate::common::process::try_output(Command::new("openssl").args(args).current_dir(dir)) {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the `openssl` command line tool is not installed, and these tests need it to prove that an \
             independent tool checks Starmark's signatures: install it (`apt-get install openssl`) and run again"
        ),
        Err(e) => panic!("cannot run openssl: {e}"),
    }
}

/// Runs `openssl` and fails the test, with its output, unless it succeeds.
fn openssl_ok(args: &[&str], dir: &Path) -> Output {
    let output = openssl(args, dir);
    assert!(output.status.success(), "openssl {} failed:\n{}", args.join(" "), describe(&output));
    output
}

fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `openssl pkeyutl -verify` of `sig` over `message` (file names in `dir`) with a public key PEM.
fn openssl_verify(dir: &Path, public_pem: &str, message: &str, sig: &str) -> Output {
    openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", public_pem, "-rawin", "-in", message, "-sigfile", sig], dir)
}

fn assert_verified(output: &Output) {
    assert!(output.status.success(), "openssl must accept the signature:\n{}", describe(output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(VERIFIED), "{}", describe(output));
}

fn assert_rejected(output: &Output) {
    assert!(!output.status.success(), "openssl must reject the signature:\n{}", describe(output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains(VERIFIED), "{}", describe(output));
}

/// A record as the registry issues it: Chinese and English text, a score in tenths.
fn record() -> CertificateRecord {
    let draft = CertificateDraft {
        number: None,
        holder: Holder {
            name: "深圳市示例通讯设备有限公司".into(),
            name_en: Some("Shenzhen Example Telecom Equipment Co., Ltd.".into()),
            uscc: Uscc::parse("91440300MA5FXAMPLW").unwrap(),
            address: "广东省深圳市南山区示例大道88号".into(),
        },
        scope: "手机及配件的售后服务（含\"以旧换新\"回收）".into(),
        evaluation: Evaluation {
            system: Points::parse("36.5").unwrap(),
            commodity: Points::whole(32),
            customer: Points::whole(23),
            applicable: Points::whole(100),
            special_deductions: 0,
            special_bonus: false,
        },
        level: None,
        issued: None,
        first_issued: None,
    };
    let issuer =
        Issuer { name: "Interop test body".into(), approval_number: ApprovalNumber::parse("CNCA-R-2026-001").unwrap() };
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    CertificateRecord::issue(draft, CertificateNumber::assigned(2026, 7), issuer, today).unwrap()
}

fn raw_signature(signature: &Signature) -> Vec<u8> {
    let raw = BASE64.decode(&signature.value).unwrap();
    assert_eq!(raw.len(), 64);
    raw
}

#[test]
fn openssl_verifies_what_starmark_signs() {
    let keys_dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let key_id = keys::generate(keys_dir.path()).unwrap();
    let signer = Signer::new(keys::load_signing_key(keys_dir.path()).unwrap());
    assert_eq!(signer.key_id(), &key_id);

    let canonical = canonical_bytes(&record()).unwrap();
    let signature = signer.sign(&canonical);
    assert_eq!(signature.alg, "Ed25519");
    assert_eq!(signature.key_id, key_id);
    fs::write(work.path().join("canonical.bin"), &canonical).unwrap();
    fs::write(work.path().join("sig.bin"), raw_signature(&signature)).unwrap();

    // The public key file of the keys directory, exactly as `keygen` wrote it.
    let public_pem = keys_dir.path().join(format!("{key_id}{}", keys::PUBLIC_SUFFIX));
    let public_pem = public_pem.to_str().unwrap();
    assert_verified(&openssl_verify(work.path(), public_pem, "canonical.bin", "sig.bin"));

    // The PEM the trust list publishes, and the key id recomputed from openssl's DER.
    let public = keys::load_public_keys(keys_dir.path()).unwrap();
    let list = TrustList::build("Interop test body", &public, &key_id);
    fs::write(work.path().join("trusted.pem"), &list.keys[0].pem).unwrap();
    assert_verified(&openssl_verify(work.path(), "trusted.pem", "canonical.bin", "sig.bin"));
    let der = openssl_ok(&["pkey", "-pubin", "-in", "trusted.pem", "-outform", "DER"], work.path()).stdout;
    assert_eq!(der.len(), 44, "an Ed25519 SubjectPublicKeyInfo is 44 bytes of DER");
    let raw: [u8; 32] = der[12..].try_into().unwrap();
    assert_eq!(KeyId::of(&VerifyingKey::from_bytes(&raw).unwrap()), key_id);

    // One flipped bit anywhere in the record, or in the signature, and openssl says no.
    for position in [0, canonical.len() / 2, canonical.len() - 1] {
        let mut altered = canonical.clone();
        altered[position] ^= 0x01;
        fs::write(work.path().join("altered.bin"), &altered).unwrap();
        assert_rejected(&openssl_verify(work.path(), public_pem, "altered.bin", "sig.bin"));
    }
    let mut bad_signature = raw_signature(&signature);
    bad_signature[5] ^= 0x80;
    fs::write(work.path().join("bad-sig.bin"), &bad_signature).unwrap();
    assert_rejected(&openssl_verify(work.path(), public_pem, "canonical.bin", "bad-sig.bin"));

    // The private key file is one openssl reads too (PKCS#8 v1), and signs identically with.
    let private_pem = keys_dir.path().join(format!("{key_id}{}", keys::PRIVATE_SUFFIX));
    let args = ["pkeyutl", "-sign", "-inkey", private_pem.to_str().unwrap(), "-rawin", "-in", "canonical.bin"];
    let openssl_signature = openssl_ok(&args, work.path()).stdout;
    assert_eq!(openssl_signature, raw_signature(&signature), "Ed25519 is deterministic: same key, same bytes");
}

#[test]
fn starmark_verifies_what_openssl_signs() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    openssl_ok(&["genpkey", "-algorithm", "ed25519", "-out", "openssl.key.pem"], dir);
    openssl_ok(&["pkey", "-in", "openssl.key.pem", "-pubout", "-out", "openssl.pub.pem"], dir);
    let canonical = canonical_bytes(&record()).unwrap();
    fs::write(dir.join("canonical.bin"), &canonical).unwrap();
    openssl_ok(
        &["pkeyutl", "-sign", "-inkey", "openssl.key.pem", "-rawin", "-in", "canonical.bin", "-out", "sig.bin"],
        dir,
    );
    let raw = fs::read(dir.join("sig.bin")).unwrap();
    assert_eq!(raw.len(), 64, "an Ed25519 signature is 64 bytes");

    // Our strict verifier accepts OpenSSL's signature under OpenSSL's public key PEM.
    let public_pem = fs::read_to_string(dir.join("openssl.pub.pem")).unwrap();
    let public = VerifyingKey::from_public_key_pem(&public_pem).unwrap();
    let key_id = KeyId::of(&public);
    let verifier = Verifier::default().with_key(public);
    let signature = Signature { alg: ALGORITHM.to_string(), key_id, value: BASE64.encode(&raw) };
    assert_eq!(verifier.verify(&canonical, &signature), Ok(()));
    let mut altered = canonical.clone();
    altered[canonical.len() / 2] ^= 0x01;
    assert_eq!(verifier.verify(&altered, &signature), Err(VerifyError::Mismatch));

    // OpenSSL's key files work as a Starmark key directory, and Ed25519 being deterministic,
    // Starmark's signature with that key is byte for byte OpenSSL's.
    let keys_dir = tempfile::tempdir().unwrap();
    let private_path = keys_dir.path().join(format!("{key_id}{}", keys::PRIVATE_SUFFIX));
    fs::copy(dir.join("openssl.key.pem"), &private_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&private_path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::copy(dir.join("openssl.pub.pem"), keys_dir.path().join(format!("{key_id}{}", keys::PUBLIC_SUFFIX))).unwrap();
    let signer = Signer::new(keys::load_signing_key(keys_dir.path()).unwrap());
    assert_eq!(signer.key_id(), &key_id);
    assert_eq!(signer.sign(&canonical), signature);
    let loaded: Vec<PublicKeyEntry> = keys::load_public_keys(keys_dir.path()).unwrap();
    assert_eq!(Verifier::new(&loaded).verify(&canonical, &signature), Ok(()));
}

/// The content of the fenced block of docs/format.md tagged `tag` (see src/crypto/vectors.rs).
fn doc_block(tag: &str) -> String {
    let mut lines = FORMAT_MD.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```").filter(|info| !info.contains('`')) else { continue };
        let body: Vec<&str> = lines.by_ref().take_while(|inner| !inner.starts_with("```")).collect();
        if info.split_whitespace().any(|word| word == tag) {
            return body.join("\n");
        }
    }
    panic!("docs/format.md has no block tagged {tag}");
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.split_whitespace().collect::<String>()).unwrap()
}

#[test]
fn openssl_checks_and_reproduces_the_published_vectors() {
    for vector in [1, 2] {
        let tag = |suffix: &str| format!("vector-{vector}-{suffix}");
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        let canonical = unhex(&doc_block(&tag("canonical-hex")));
        let signature = unhex(&doc_block(&tag("signature-hex")));
        fs::write(dir.join("canonical.bin"), &canonical).unwrap();
        fs::write(dir.join("sig.bin"), &signature).unwrap();
        fs::write(dir.join("pub.pem"), doc_block(&tag("public-key-pem")) + "\n").unwrap();
        fs::write(dir.join("key.pem"), doc_block(&tag("private-key-pem-v1")) + "\n").unwrap();
        assert_verified(&openssl_verify(dir, "pub.pem", "canonical.bin", "sig.bin"));
        let signed = openssl_ok(&["pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "canonical.bin"], dir);
        assert_eq!(signed.stdout, signature, "openssl must sign vector {vector} to the published signature");
        // The seed in the document is the key OpenSSL used.
        let seed: [u8; 32] = unhex(&doc_block(&tag("seed"))).try_into().unwrap();
        let from_pem = SigningKey::from_pkcs8_pem(&doc_block(&tag("private-key-pem-v1"))).unwrap();
        assert_eq!(from_pem.to_bytes(), seed);
    }
}

#[test]
fn starmark_verify_accepts_a_saved_answer_and_refuses_an_altered_one() {
    let keys_dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let key_id = keys::generate(keys_dir.path()).unwrap();
    let signer = Signer::new(keys::load_signing_key(keys_dir.path()).unwrap());
    let canonical = String::from_utf8(canonical_bytes(&record()).unwrap()).unwrap();
    let signature = serde_json::to_string(&signer.sign(canonical.as_bytes())).unwrap();
    // Shaped like the API answer: unsigned fields around the verbatim record and its signature.
    let answer = format!(r#"{{"number":"SM2026ASC000007","record":{canonical},"signature":{signature}}}"#);
    fs::write(work.path().join("answer.json"), &answer).unwrap();
    let altered = answer.replacen("\"four_star\"", "\"five_star\"", 1);
    assert_ne!(altered, answer);
    fs::write(work.path().join("altered.json"), &altered).unwrap();
    let public = keys::load_public_keys(keys_dir.path()).unwrap();
    let list = TrustList::build("Interop test body", &public, &key_id);
    fs::write(work.path().join("keys.json"), serde_json::to_vec_pretty(&list).unwrap()).unwrap();

    let verify = |file: &str, trust_list: bool| {
        let mut command = crate::common::starmark_command(work.path());
        command.arg("verify").arg(work.path().join(file)).env("STARMARK_KEYS_DIR", keys_dir.path());
        if trust_list {
            command.arg("--trust-list").arg(work.path().join("keys.json"));
        }
        crate::common::process::output(&mut command)
    };
    for trust_list in [false, true] {
        let good = verify("answer.json", trust_list);
        assert!(good.status.success(), "{}", describe(&good));
        assert!(String::from_utf8_lossy(&good.stdout).starts_with("GENUINE"), "{}", describe(&good));
        let bad = verify("altered.json", trust_list);
        assert!(!bad.status.success(), "{}", describe(&bad));
        assert!(String::from_utf8_lossy(&bad.stdout).contains("NOT GENUINE"), "{}", describe(&bad));
    }

    // And openssl agrees on the same file, given the record bytes cut out of the answer.
    fs::write(work.path().join("canonical.bin"), &canonical).unwrap();
    fs::write(work.path().join("sig.bin"), raw_signature(&signer.sign(canonical.as_bytes()))).unwrap();
    fs::write(work.path().join("pub.pem"), &list.keys[0].pem).unwrap();
    assert_verified(&openssl_verify(work.path(), "pub.pem", "canonical.bin", "sig.bin"));
}
