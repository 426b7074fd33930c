//! Expected values that do not come from the code under test: credit codes of real companies
//! from public records, scores and dates worked out by hand, and ids computed by Python.

use crate::common;

use common::{assert_problem, issue_body, spawn_app};
use serde_json::{json, Value};
use starmark::domain::Uscc;

/// Unified social credit codes of well-known companies, as published: Huawei's is in the
/// infobox of zh.wikipedia.org/wiki/华为 (机构代码); the others are printed in the companies'
/// annual reports and on the National Enterprise Credit Information Publicity System
/// (www.gsxt.gov.cn). Each check character was also recomputed with a separate Python
/// implementation of GB 32100-2015 (weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28).
const PUBLISHED: [(&str, &str); 10] = [
    ("华为技术有限公司", "914403001922038216"),
    ("腾讯科技（深圳）有限公司", "9144030071526726XG"),
    ("阿里巴巴（中国）有限公司", "91330100799655058B"),
    ("贵州茅台酒股份有限公司", "91520000214434146R"),
    ("中国石油化工股份有限公司", "91110000710926094P"),
    ("比亚迪股份有限公司", "91440300192317458F"),
    ("海尔智家股份有限公司", "91370200264574251E"),
    ("珠海格力电器股份有限公司", "91440400192548256N"),
    ("美的集团股份有限公司", "91440606722473344C"),
    ("小米科技有限责任公司", "91110108551385082Q"),
];

/// The characters a code is written in (GB 32100-2015: no I, O, S, V or Z).
const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

#[test]
fn published_credit_codes_are_valid_and_their_check_characters_are_the_published_ones() {
    for (company, code) in PUBLISHED {
        assert!(Uscc::parse(code).is_ok(), "{company}'s {code} is refused");
        assert_eq!(Uscc::with_check_character(&code[..17]).expect(company).to_string(), code, "{company}");
        // Every other check character is refused.
        for other in ALPHABET.chars().filter(|&c| !code.ends_with(c)) {
            let wrong = format!("{}{other}", &code[..17]);
            assert!(Uscc::parse(&wrong).is_err(), "{company}: {wrong} accepted");
        }
    }
}

#[tokio::test]
async fn a_published_credit_code_is_issued_on_and_a_miscopied_one_is_told_its_check_character() {
    let app = spawn_app().await;
    let mut body = issue_body("SM2026REAL0001", "格力售后服务示例", 1);
    body["holder"]["uscc"] = json!("91440400192548256N");
    assert_eq!(app.issue(&body).await["holder"]["uscc"], "91440400192548256N");
    let mut miscopied = issue_body("SM2026REAL0002", "格力售后服务示例", 1);
    miscopied["holder"]["uscc"] = json!("91440400192548256M");
    let response = app.post("/api/v1/certificates", &app.issuer, &miscopied).await;
    let problem = assert_problem(response, 422, "invalid-field").await;
    assert!(problem["detail"].as_str().unwrap_or("").contains("'N'"), "names the right one: {problem}");
}

/// Scores worked out by hand: points won / applicable points x 100, to a tenth, half up.
#[tokio::test]
async fn scores_round_to_a_tenth_half_up_and_give_the_gbt_27922_level() {
    let app = spawn_app().await;
    let cases: [(&str, Value, f64, &str); 5] = [
        // 76.2 / 80 = 0.9525 exactly: 95.25 rounds half up to 95.3, five stars.
        (
            "SM2026ROUND001",
            json!({"system": 30, "commodity": 26.2, "customer": 20, "applicable": 80}),
            95.3,
            "five_star",
        ),
        // 94.5 / 99.5 = 0.949748…: 94.97 rounds to 95.0, five stars (cut off, it would be 94.9).
        (
            "SM2026ROUND002",
            json!({"system": 38, "commodity": 32, "customer": 24.5, "applicable": 99.5}),
            95.0,
            "five_star",
        ),
        // 94.4 / 99.5 = 0.948743…: 94.87 rounds to 94.9, four stars.
        (
            "SM2026ROUND003",
            json!({"system": 38, "commodity": 32, "customer": 24.4, "applicable": 99.5}),
            94.9,
            "four_star",
        ),
        // 80 of 100, one special deduction: 79.0, compliant (三星级 needs 80).
        (
            "SM2026ROUND004",
            json!({"system": 32, "commodity": 28, "customer": 20, "special_deductions": 1}),
            79.0,
            "compliant",
        ),
        // 89.5 of 100 and the special bonus: 90.5, four stars.
        (
            "SM2026ROUND005",
            json!({"system": 36, "commodity": 31.5, "customer": 22, "special_bonus": true}),
            90.5,
            "four_star",
        ),
    ];
    for (i, (number, evaluation, score, level)) in cases.into_iter().enumerate() {
        let mut body = issue_body(number, "评分舍入有限公司", 200 + i as u32);
        body["evaluation"] = evaluation;
        let issued = app.issue(&body).await;
        assert_eq!((issued["score"].as_f64(), issued["level"].as_str()), (Some(score), Some(level)), "{number}");
    }
    // 18.9 of 19.9 applicable points would be 95.0, five stars; a sheet with so little in scope
    // did not evaluate the scheme (at least 65 points apply) and is refused.
    let mut tiny = issue_body("SM2026ROUND009", "评分舍入有限公司", 209);
    tiny["evaluation"] = json!({"system": 10, "commodity": 4.9, "customer": 4, "applicable": 19.9});
    let response = app.post("/api/v1/certificates", &app.issuer, &tiny).await;
    assert_problem(response, 422, "invalid-evaluation").await;
}

/// A certificate issued on 29 February: three years later there is no 29 February, the
/// anniversary is 1 March, and the certificate is valid through 28 February.
#[tokio::test]
async fn a_certificate_issued_on_a_leap_day_is_valid_through_28_february_three_years_on() {
    let app = spawn_app().await;
    for (number, issued, until) in [
        ("SM2024LEAP0001", "2024-02-29", "2027-02-28"),
        ("SM2024LEAP0002", "2024-02-28", "2027-02-27"),
        ("SM2024LEAP0003", "2024-03-01", "2027-02-28"),
    ] {
        let mut body = issue_body(number, "闰日签发有限公司", 300);
        body["issued"] = json!(issued);
        let answer = app.issue(&body).await;
        assert_eq!(answer["valid_until"], until, "issued {issued}");
    }
}

/// The receipt id is the first 32 hex digits of the SHA-256 of the document's canonical JSON
/// (docs/format.md): recomputed here by Python's json and hashlib, not by our canonicaliser.
#[tokio::test]
async fn a_receipt_id_is_what_python_computes_from_its_document() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026PYID0001", "回执编号有限公司 \"引号\" ½", 301)).await;
    let body = json!({"queries": ["SM2026PYID0001", common::uscc(301), "SM2026NONE0001", "=1+1"]});
    let response = app.client.post(app.url("/api/v1/receipts")).json(&body).send().await.expect("request");
    assert_eq!(response.status(), 201);
    let issued: Value = response.json().await.expect("receipt");
    let id = issued["id"].as_str().expect("id").to_string();
    let document = issued["document"].to_string();
    let script = "import hashlib, json, sys\n\
                  doc = json.loads(sys.stdin.buffer.read())\n\
                  text = json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False)\n\
                  print(hashlib.sha256(text.encode('utf-8')).hexdigest()[:32])";
    let computed = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (install Debian's python3, or run scripts/test)");
        child.stdin.take().expect("stdin").write_all(document.as_bytes()).expect("write the document");
        let out = child.wait_with_output().expect("python3 finishes");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
    .await
    .expect("join");
    assert_eq!(computed, id);
}

/// A mark token made by another implementation from docs/format.md §10 alone: Python packs the
/// 20 bytes, OpenSSL signs the message with the registry's private key, coreutils' base32
/// encodes it. The registry must take it as its own serial, and a serial it never ordered as
/// unknown.
#[tokio::test]
async fn a_mark_token_made_with_python_and_openssl_scans_as_genuine() {
    let app = spawn_app().await;
    let issued = app.issue(&issue_body("SM2026MINT0001", "独立签发有限公司", 302)).await;
    app.order("SM2026MINT0001", 5).await;
    let key_id = issued["signature"]["key_id"].as_str().expect("key id").to_string();
    let valid_until = issued["valid_until"].as_str().expect("valid_until").to_string();
    let private_key = app.config.keys_dir.join(format!("{key_id}.key.pem"));
    let prefix = format!("SM2026MINT0001.{}", common::uscc(302));
    let dir = app.dir.path().to_path_buf();
    let mint = move |serial: u32| {
        let script = format!(
            r#"set -e
python3 - > fields.bin <<'PY'
import datetime, struct, sys
days = (datetime.date.fromisoformat("{valid_until}") - datetime.date(1970, 1, 1)).days
sys.stdout.buffer.write(bytes([1]) + bytes.fromhex("{key_id}") + bytes([3]) + struct.pack(">HII", days, 1, {serial}))
PY
{{ printf 'starmark-mark-v1\n%s' '{prefix}'; cat fields.bin; }} > mint-message.bin
openssl pkeyutl -sign -inkey '{key}' -rawin -in mint-message.bin -out mint-sig.bin
printf '%s' '{prefix}'
cat fields.bin mint-sig.bin | base32 -w0 | tr -d '='
"#,
            key = private_key.display()
        );
        let out = std::process::Command::new("bash").arg("-c").arg(&script).current_dir(&dir).output().expect("bash");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("ASCII token")
    };
    let (genuine, never_ordered) = tokio::task::spawn_blocking(move || (mint(4), mint(6))).await.expect("join");
    assert_eq!(genuine, app.mark_token("SM2026MINT0001", 1, 4).await, "Ed25519 is deterministic: the same token");
    let answer = app.scan(&format!("/v/{genuine}")).await;
    assert_eq!((&answer["verdict"], &answer["mark"]["serial"]), (&json!("valid"), &json!(4)), "{answer}");
    let answer = app.scan(&format!("/v/{never_ordered}")).await;
    assert_eq!(answer["verdict"], "unknown", "serial 6 of a batch of 5: {answer}");
}
