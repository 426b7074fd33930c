//! Star marks end to end: order a batch, render print-ready artwork, read its QR code back with
//! two independent decoders (rqrr, and Debian's zbarimg), follow it to the scan landing, and
//! check every verdict, the scan counts, revocation of marks, and refusals.

use crate::common;

use std::process::Command;

use chrono::Days;
use common::marks::tampered;
use common::observe::{announcements_heard, answers_dropped_by_watch};
use common::scan::scan_json;
use common::{assert_problem, issue_body, spawn_app, TestApp};
use image::imageops::FilterType;
use serde_json::{json, Value};
use starmark::crypto::keys;
use starmark::crypto::token::{self, MarkClaims};
use starmark::crypto::Signer;
use starmark::domain::{CertificateNumber, Level, Uscc};
use starmark::mark::{MarkArt, MarkFace, DEFAULT_DPI, DEFAULT_SIZE_MM};
use starmark::registry::clock;

/// Decodes the QR code of a PNG with the independent zbarimg tool.
pub(crate) async fn decode_zbar(png: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mark.png");
    std::fs::write(&path, png).unwrap();
    let ran = tokio::task::spawn_blocking(move || {
        common::process::try_output(Command::new("zbarimg").args(["--quiet", "--raw"]).arg(&path))
    });
    let output = match ran.await.expect("zbarimg's waiter ran") {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "zbarimg is not installed; these tests read marks with it as an independent QR decoder: \
             install Debian's zbar-tools (`apt-get install zbar-tools`) or run scripts/test, which does"
        ),
        Err(e) => panic!("cannot run zbarimg: {e}"),
    };
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The PNG scaled down `divisor` times, as a phone photo of a small mark would be.
pub(crate) fn scaled(png: &[u8], divisor: u32) -> Vec<u8> {
    let img = image::load_from_memory(png).unwrap();
    let small = img.resize(img.width() / divisor, img.height() / divisor, FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn scan_path(token: &str) -> String {
    format!("/v/{token}")
}

fn signer_of(app: &TestApp) -> Signer {
    Signer::new(keys::load_signing_key(&app.config.keys_dir).unwrap())
}

#[tokio::test]
async fn rendered_marks_decode_with_two_decoders_and_lead_to_a_valid_verdict() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026MARK0001", "标志测试电器有限公司", 21)).await;
    let batch = app.order("SM2026MARK0001", 500).await;
    assert_eq!(batch["handle"], "SM2026MARK0001/1");
    assert_eq!(batch["batch"]["count"], 500);

    let record = app.registry.get(&CertificateNumber::parse("SM2026MARK0001").unwrap()).await.unwrap().record;
    let token = app.registry.mark_token(&record, 1, 123).unwrap();
    // A real server address, so the decoded URL can be followed.
    let url = token::mark_url(&app.base, &token);
    let face = MarkFace { number: record.number.to_string(), level: Level::FiveStar, serialised: true };
    let art = MarkArt::new(&face, DEFAULT_SIZE_MM, Some(DEFAULT_DPI)).unwrap();
    let png = art.png(&url, Some((1, 123))).unwrap();
    assert_eq!(art.png_size().unwrap().0, 709, "30 mm at 600 dpi");

    let by_rqrr = common::qr::decode_png(&png).expect("rqrr reads the mark");
    let by_zbar = decode_zbar(&png).await.expect("zbarimg reads the mark");
    assert_eq!(by_rqrr, url);
    assert_eq!(by_zbar, url);
    let small = scaled(&png, 4);
    assert_eq!(decode_zbar(&small).await.as_deref(), Some(url.as_str()), "zbarimg reads the mark at 25%");
    // rqrr's binariser needs about 3 pixels a module, so it is asked at half size (4.5 px a
    // module); zbarimg, the decoder closer to phone scanners, reads the quarter (2.25).
    assert_eq!(common::qr::decode_png(&scaled(&png, 2)).as_deref(), Some(url.as_str()), "rqrr reads the mark at 50%");

    // The decoded token verifies against the published trust list alone.
    let decoded_token = by_zbar.rsplit('/').next().unwrap();
    let list: Value = app.get("/.well-known/starmark/keys.json").await.json().await.unwrap();
    let raw = base64_decode(list["keys"][0]["public_key"].as_str().unwrap());
    let verifier = starmark::crypto::Verifier::default()
        .with_key(ed25519_dalek::VerifyingKey::from_bytes(&raw.try_into().unwrap()).unwrap());
    let parsed = token::verify(decoded_token, &verifier).expect("genuine");
    assert_eq!(parsed.claims.serial, 123);
    assert_eq!(parsed.claims.uscc.as_str(), common::uscc(21));

    // Following the decoded URL, upper case and all, reaches the scan landing.
    let answer = scan_json(&app.client, "", &by_zbar).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(answer["mark"]["serial"], 123);
    assert_eq!(answer["mark"]["label"], "1-000123");
    assert_eq!(answer["certificate"]["holder"]["name"], "标志测试电器有限公司");
    assert_eq!(answer["scans"]["requests"], 1);
    assert!(answer["checked_at"].is_string());
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_its_own_verdict() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026MARKA001", "甲标志有限公司", 22)).await;
    app.issue(&issue_body("SM2026MARKB001", "乙标志有限公司", 23)).await;
    app.order("SM2026MARKA001", 10).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026MARKA001").unwrap()).await.unwrap().record;
    let genuine = app.registry.mark_token(&record, 1, 5).unwrap();
    let answer = app.scan(&scan_path(&genuine)).await;
    assert_eq!((&answer["verdict"], &answer["reason"]), (&json!("valid"), &json!("checked")));

    // Tampered: one character of the signed part changed.
    let tampered = tampered(&genuine, 10);
    let answer = app.scan(&scan_path(&tampered)).await;
    assert_eq!(answer["verdict"], "not_genuine", "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("signature"), "{answer}");
    assert_eq!(answer["reason"], "bad_signature");
    assert!(answer["scans"].is_null(), "fakes are not counted");

    // Signed by a key the registry does not trust.
    let stranger_dir = tempfile::tempdir().unwrap();
    keys::generate(stranger_dir.path()).unwrap();
    let stranger = Signer::new(keys::load_signing_key(stranger_dir.path()).unwrap());
    let claims = MarkClaims {
        number: record.number.clone(),
        uscc: record.holder.uscc.clone(),
        level: record.level,
        valid_until: record.valid_until,
        batch: 1,
        serial: 5,
        gtin: None,
    };
    let foreign = token::issue(&stranger, &claims);
    let answer = app.scan(&scan_path(&foreign)).await;
    assert_eq!(answer["verdict"], "not_genuine");
    assert!(answer["detail"].as_str().unwrap().contains("not in the trust list"), "{answer}");
    assert_eq!(answer["reason"], "unknown_key");

    // Well signed, but naming another certificate's serial: B has no batch 1.
    let signer = signer_of(&app);
    let other = MarkClaims {
        number: CertificateNumber::parse("SM2026MARKB001").unwrap(),
        uscc: Uscc::parse(&common::uscc(23)).unwrap(),
        ..claims.clone()
    };
    let answer = app.scan(&scan_path(&token::issue(&signer, &other))).await;
    assert_eq!(answer["verdict"], "unknown", "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("never issued"), "{answer}");
    assert_eq!(answer["reason"], "serial_not_issued");

    // A serial beyond the batch, a certificate that does not exist, another holder's code.
    let beyond = MarkClaims { serial: 11, ..claims.clone() };
    assert_eq!(app.scan(&scan_path(&token::issue(&signer, &beyond))).await["verdict"], "unknown");
    let missing = MarkClaims { number: CertificateNumber::parse("SM2026NOPE0001").unwrap(), ..claims.clone() };
    assert_eq!(app.scan(&scan_path(&token::issue(&signer, &missing))).await["verdict"], "unknown");
    let wrong_holder = MarkClaims { uscc: Uscc::parse(&common::uscc(23)).unwrap(), ..claims.clone() };
    let answer = app.scan(&scan_path(&token::issue(&signer, &wrong_holder))).await;
    assert_eq!(answer["verdict"], "unknown");
    assert!(answer["detail"].as_str().unwrap().contains("another holder"));
    assert_eq!(answer["reason"], "other_holder");

    // Truncated and plain garbage.
    let answer = app.scan(&scan_path(&genuine[..genuine.len() - 3])).await;
    assert_eq!(answer["verdict"], "not_genuine");
    assert!(answer["mark"].is_null());
    assert_eq!(app.scan("/v/hello").await["verdict"], "not_genuine");
    let long = "A".repeat(5000);
    assert_eq!(app.scan(&format!("/v/{long}")).await["verdict"], "not_genuine");
}

#[tokio::test]
async fn certificate_states_and_mark_revocations_decide_the_verdict() {
    let app = spawn_app().await;
    for (number, n) in [("SM2026STATE001", 31), ("SM2026STATE002", 32), ("SM2026STATE003", 33)] {
        app.issue(&issue_body(number, "状态标志有限公司", n)).await;
        app.order(number, 100).await;
    }
    let token_of =
        |record: &starmark::domain::CertificateRecord, serial| app.registry.mark_token(record, 1, serial).unwrap();
    let get = |n: &'static str| {
        let registry = app.registry.clone();
        async move { registry.get(&CertificateNumber::parse(n).unwrap()).await.unwrap().record }
    };
    let one = get("SM2026STATE001").await;

    // Revoke serials 10-20 of certificate 1: those answer mark_revoked, the rest stay valid.
    let response = app
        .post(
            "/api/v1/certificates/SM2026STATE001/marks/1/revoke",
            &app.issuer,
            &json!({"first": 10, "last": 20, "reason": "labels stolen from the printer"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer = app.scan(&scan_path(&token_of(&one, 15))).await;
    assert_eq!(answer["verdict"], "mark_revoked", "{answer}");
    assert_eq!(answer["mark_revocation"]["reason"], "labels stolen from the printer");
    assert_eq!(answer["certificate"]["status"]["state"], "valid", "the certificate stays valid");
    assert_eq!(app.scan(&scan_path(&token_of(&one, 21))).await["verdict"], "valid");

    // Certificate states win: suspended, revoked, withdrawn.
    // A scan before the change: the certificate part of scan answers is made once per record
    // version, and the change must show in the next scan all the same.
    let before = app.scan(&scan_path(&app.registry.mark_token(&get("SM2026STATE002").await, 1, 1).unwrap())).await;
    assert_eq!(before["certificate"]["status"]["state"], "valid");
    let until = (clock::today() + Days::new(30)).to_string();
    app.set_status("SM2026STATE002", json!({"action": "suspend", "reason": "audit", "until": until})).await;
    let two = get("SM2026STATE002").await;
    let suspended = app.scan(&scan_path(&token_of(&two, 1))).await;
    assert_eq!(suspended["verdict"], "suspended");
    assert_eq!(suspended["certificate"]["status"]["state"], "suspended", "{suspended}");
    assert_eq!(suspended["certificate"]["status"]["reason"], "audit");
    app.set_status("SM2026STATE002", json!({"action": "revoke", "reason": "no correction"})).await;
    let revoked = app.scan(&scan_path(&token_of(&two, 1))).await;
    assert_eq!(revoked["verdict"], "revoked");
    assert_eq!(revoked["certificate"]["status"]["state"], "revoked", "{revoked}");
    app.set_status("SM2026STATE003", json!({"action": "withdraw", "reason": "holder request"})).await;
    let three = get("SM2026STATE003").await;
    assert_eq!(app.scan(&scan_path(&token_of(&three, 1))).await["verdict"], "withdrawn");

    // Expired: a certificate issued in 2020 can no longer order marks, but a mark minted for
    // it (e.g. before expiry) answers expired.
    let mut old = issue_body("SM2020STATE004", "过期标志有限公司", 34);
    old["issued"] = json!("2020-01-01");
    app.issue(&old).await;
    let response = app.post("/api/v1/certificates/SM2020STATE004/marks", &app.issuer, &json!({"count": 5})).await;
    let problem = assert_problem(response, 409, "illegal-transition").await;
    assert_eq!(problem["current_state"], "expired");
    let four = get("SM2020STATE004").await;
    let answer = app.scan(&scan_path(&app.registry.mark_token(&four, 0, 0).unwrap())).await;
    assert_eq!(answer["verdict"], "expired");

    // Whole-batch revocation.
    app.post("/api/v1/certificates/SM2026STATE001/marks/1/revoke", &app.issuer, &json!({"reason": "misprint"})).await;
    assert_eq!(app.scan(&scan_path(&token_of(&one, 99))).await["verdict"], "mark_revoked");

    let history: Value = app.get("/api/v1/certificates/SM2026STATE001/history").await.json().await.unwrap();
    let kinds: Vec<&str> = history["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["issued", "marks_ordered", "marks_revoked", "marks_revoked"]);
    assert_eq!(history["events"][2]["details"]["first"], 10);
}

#[tokio::test]
async fn scans_are_counted_and_one_clients_replays_not_flagged() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026COUNT001", "计数标志有限公司", 41)).await;
    app.order("SM2026COUNT001", 20).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026COUNT001").unwrap()).await.unwrap().record;
    let path = scan_path(&app.registry.mark_token(&record, 1, 7).unwrap());
    let first = app.scan(&path).await;
    assert_eq!(first["scans"]["requests"], 1);
    assert_eq!(first["scans"]["suspicious"], false);
    let mut last = first.clone();
    for _ in 0..11 {
        last = app.scan(&path).await;
    }
    assert_eq!(last["scans"]["requests"], 12);
    assert_eq!(last["scans"]["first_at"], first["scans"]["first_at"], "first-scan time stays");
    // One client replaying the URL is not a copied mark (see honest_scans.rs for many clients).
    assert_eq!(last["scans"]["suspicious"], false);
    let page = app.get(&path).await.text().await.unwrap();
    assert!(!page.contains("copied-warning"), "no copy warning for replays");

    // Counts reach the store in the background and the issuer API shows them.
    app.registry.scans().flush().await.unwrap();
    let response = app
        .client
        .get(app.url("/api/v1/certificates/SM2026COUNT001/scans"))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let figures: Value = response.json().await.unwrap();
    assert_eq!(figures["total_scans"], 13);
    assert_eq!(figures["suspicious_serials"], 0);
    assert_eq!(figures["most_scanned"][0]["serial"], 7);
    assert_eq!(figures["most_scanned"][0]["count"], 13, "the issuer sees every request");
    let anonymous = app.get("/api/v1/certificates/SM2026COUNT001/scans").await;
    assert_problem(anonymous, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_landing_page_is_plain_html_with_a_strict_policy() {
    let app = spawn_app().await;
    let mut body = issue_body("SM2026PAGE0001", "<b>页面</b>测试有限公司", 51);
    body["scope"] = json!("家电 & <script>alert(1)</script>");
    app.issue(&body).await;
    app.order("SM2026PAGE0001", 3).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026PAGE0001").unwrap()).await.unwrap().record;
    let token = app.registry.mark_token(&record, 1, 2).unwrap();
    for path in [format!("/v/{token}"), format!("/V/{token}")] {
        let response =
            app.client.get(app.url(&path)).header("accept", "text/html,application/xhtml+xml").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(policy.starts_with("default-src 'none'") && !policy.contains("unsafe-inline"), "{policy}");
        let html = response.text().await.unwrap();
        assert!(html.contains("正品标志 · 认证有效"), "Chinese by default");
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "user text is escaped");
        assert!(html.contains("1-000002") && html.contains("数据时间"));
    }
    let english = app.get(&format!("/v/{token}?lang=en")).await.text().await.unwrap();
    assert!(english.contains("Genuine mark · certificate valid") && english.contains("Data as of"));
    let fake = app.get("/v/NOT-A-TOKEN").await.text().await.unwrap();
    assert!(fake.contains("非正品标志") && fake.contains("12315"), "fakes say what to do");
}

#[tokio::test]
async fn ordering_and_revoking_marks_is_checked() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026ORDER001", "订购标志有限公司", 61)).await;
    let path = "/api/v1/certificates/SM2026ORDER001/marks";
    for count in [0, 1_000_001] {
        let problem =
            assert_problem(app.post(path, &app.issuer, &json!({"count": count})).await, 422, "invalid-marks").await;
        assert!(problem["detail"].as_str().unwrap().contains("between 1 and 1000000"), "{problem}");
    }
    assert_problem(app.post(path, &app.issuer, &json!({"count": "many"})).await, 422, "invalid-body").await;
    assert_problem(app.post(path, &app.reader, &json!({"count": 5})).await, 403, "forbidden").await;
    let anonymous = app.client.post(app.url(path)).json(&json!({"count": 5})).send().await.unwrap();
    assert_problem(anonymous, 401, "unauthorized").await;
    assert_eq!(app.order("SM2026ORDER001", 2_000).await["batch"]["id"], 1);
    assert_eq!(app.order("SM2026ORDER001", 5).await["batch"]["id"], 2);

    let revoke = "/api/v1/certificates/SM2026ORDER001/marks/2/revoke";
    let problem = assert_problem(
        app.post(revoke, &app.issuer, &json!({"first": 3, "last": 9, "reason": "x"})).await,
        422,
        "invalid-marks",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("1-5"), "{problem}");
    assert_problem(app.post(revoke, &app.issuer, &json!({"first": 3, "reason": "x"})).await, 422, "invalid-field")
        .await;
    assert_problem(app.post(revoke, &app.issuer, &json!({"reason": ""})).await, 422, "invalid-marks").await;
    let missing =
        app.post("/api/v1/certificates/SM2026ORDER001/marks/7/revoke", &app.issuer, &json!({"reason": "x"})).await;
    assert_problem(missing, 404, "no-such-batch").await;
    let bad =
        app.post("/api/v1/certificates/SM2026ORDER001/marks/two/revoke", &app.issuer, &json!({"reason": "x"})).await;
    assert_problem(bad, 400, "invalid-parameter").await;
    assert_problem(
        app.post("/api/v1/certificates/SM2026NONE0001/marks", &app.issuer, &json!({"count": 1})).await,
        404,
        "not-found",
    )
    .await;

    // A batch is one small record entry, not a row per mark (a small batch: a large one would
    // make its digest index on every core while other tests run).
    let read: Value = app.get("/api/v1/certificates/SM2026ORDER001").await.json().await.unwrap();
    assert_eq!(read["record"]["mark_batches"][0]["count"], 2_000);
    app.verify_answer(&read).await.unwrap();
}

#[tokio::test]
async fn certificate_level_mark_images() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026IMAGE001", "图片标志有限公司", 71)).await;
    let response = app.get("/api/v1/certificates/SM2026IMAGE001/mark.png").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = response.bytes().await.unwrap().to_vec();
    let url = decode_zbar(&png).await.expect("zbarimg reads the certificate mark");
    assert!(url.starts_with("HTTP://STARMARK.TEST/V/SM2026IMAGE001."), "{url}");
    let token = url.rsplit('/').next().unwrap();
    let answer = app.scan(&scan_path(token)).await;
    assert_eq!(answer["verdict"], "valid");
    assert_eq!(answer["mark"]["serial"], 0);

    let response = app.get("/api/v1/certificates/SM2026IMAGE001/mark.png?size_mm=20&dpi=300").await;
    let img = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(img.width(), 236, "20 mm at 300 dpi");

    let svg = app.get("/api/v1/certificates/SM2026IMAGE001/mark.svg?size_mm=40").await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let text = svg.text().await.unwrap();
    assert!(text.starts_with("<svg") && text.contains("width=\"40mm\"") && !text.contains("<text"), "text is outlined");

    for query in ["size_mm=5", "size_mm=abc", "dpi=10", "dpi=9999", "colour=red"] {
        let response = app.get(&format!("/api/v1/certificates/SM2026IMAGE001/mark.png?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
    }
    assert_problem(
        app.get("/api/v1/certificates/SM2026IMAGE001/mark.png?size_mm=10&dpi=72").await,
        400,
        "invalid-parameter",
    )
    .await;
    app.set_status("SM2026IMAGE001", json!({"action": "revoke", "reason": "r"})).await;
    let problem =
        assert_problem(app.get("/api/v1/certificates/SM2026IMAGE001/mark.svg").await, 409, "mark-unavailable").await;
    assert_eq!(problem["current_state"], "revoked");
}

/// Scans `path` on `base` until the verdict is `wanted`.
async fn until_verdict(app: &TestApp, base: &str, path: &str, wanted: &str) {
    common::wait::until(format_args!("the verdict {wanted} on {base}"), || async {
        let verdict = scan_json(&app.client, base, path).await["verdict"].clone();
        if verdict == wanted {
            Ok(())
        } else {
            Err(verdict.to_string())
        }
    })
    .await
}

#[tokio::test]
async fn a_mark_revocation_reaches_another_instance_like_a_certificates() {
    use std::time::Duration;
    // With Redis the change feed carries it at once, as it does a certificate's revocation.
    let redis = common::RedisServer::start().await;
    let app = common::spawn_app_with(|c| c.redis_url = Some(redis.url())).await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    let up = |registry: &starmark::registry::Registry| {
        registry.tiers().and_then(|t| t.shared).is_some_and(|shared| shared.is_up())
    };
    let started = std::time::Instant::now();
    while !(up(&app.registry) && up(&peer_registry)) {
        assert!(started.elapsed() < Duration::from_secs(10), "the instances did not connect to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.issue(&issue_body("SM2026PEER0001", "多实例标志有限公司", 81)).await;
    app.order("SM2026PEER0001", 50).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026PEER0001").unwrap()).await.unwrap().record;
    let path = scan_path(&app.registry.mark_token(&record, 1, 30).unwrap());
    // The issue's and the order's announcements reach the peer before it is warmed.
    common::wait::until_true("the peer heard the issue and the order", || {
        std::future::ready(announcements_heard(&peer_registry) >= 2)
    })
    .await;
    assert_eq!(scan_json(&app.client, &peer, &path).await["verdict"], "valid");
    let heard = announcements_heard(&peer_registry);
    let revoke = json!({"first": 25, "last": 35, "reason": "stolen roll"});
    let response = app.post("/api/v1/certificates/SM2026PEER0001/marks/1/revoke", &app.issuer, &revoke).await;
    assert_eq!(response.status(), 200);
    until_verdict(&app, &peer, &path, "mark_revoked").await;
    common::wait::until_true("the peer heard the mark revocation on the feed", || {
        std::future::ready(announcements_heard(&peer_registry) > heard)
    })
    .await;

    // Without Redis, through the peer's store watch.
    let app = common::spawn_app().await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    app.issue(&issue_body("SM2026PEER0002", "无缓存共享有限公司", 82)).await;
    app.order("SM2026PEER0002", 50).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026PEER0002").unwrap()).await.unwrap().record;
    let path = scan_path(&app.registry.mark_token(&record, 1, 30).unwrap());
    assert_eq!(scan_json(&app.client, &peer, &path).await["verdict"], "valid");
    let dropped = answers_dropped_by_watch(&peer_registry);
    let response = app.post("/api/v1/certificates/SM2026PEER0002/marks/1/revoke", &app.issuer, &revoke).await;
    assert_eq!(response.status(), 200);
    until_verdict(&app, &peer, &path, "mark_revoked").await;
    assert_eq!(answers_dropped_by_watch(&peer_registry), dropped + 1, "the peer's watch dropped its copy");
}

#[tokio::test]
async fn a_flood_of_one_fake_token_is_checked_once() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026FLOOD001", "防伪测试有限公司", 31)).await;
    app.order("SM2026FLOOD001", 10).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026FLOOD001").unwrap()).await.unwrap().record;
    let genuine = app.registry.mark_token(&record, 1, 3).unwrap();
    let fake = tampered(&genuine, 10);

    let before = app.registry.signatures_verified();
    for _ in 0..50 {
        let answer = app.scan(&scan_path(&fake)).await;
        assert_eq!(answer["verdict"], "not_genuine", "{answer}");
        assert!(answer["detail"].as_str().unwrap().contains("signature"), "the same reason every time: {answer}");
    }
    assert_eq!(app.registry.signatures_verified() - before, 1, "one signature check for fifty requests");

    // Garbage is refused before any signature check; genuine tokens are always checked against
    // the live record and counted.
    for _ in 0..20 {
        assert_eq!(app.scan("/v/NOT-A-TOKEN").await["verdict"], "not_genuine");
    }
    assert_eq!(app.registry.signatures_verified() - before, 1);
    for n in 1..=3u64 {
        let answer = app.scan(&scan_path(&genuine)).await;
        assert_eq!(answer["verdict"], "valid");
        assert_eq!(answer["scans"]["requests"], json!(n));
    }

    // Remembered briefly (two seconds): scanned on, the fake is checked again once it is
    // forgotten, and then remembered again.
    let checked = app.registry.signatures_verified();
    common::wait::until_true("the fake checked again once its refusal ran out", || async {
        assert_eq!(app.scan(&scan_path(&fake)).await["verdict"], "not_genuine");
        app.registry.signatures_verified() > checked
    })
    .await;
    assert_eq!(app.registry.signatures_verified() - checked, 1, "checked once, then remembered again");
}

#[tokio::test]
async fn scans_are_judged_from_the_read_path_not_the_store_each_time() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026CACHE001", "缓存测试有限公司", 32)).await;
    app.order("SM2026CACHE001", 100).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026CACHE001").unwrap()).await.unwrap().record;
    let prepared = app.registry.answers_prepared();
    for serial in 1..=30 {
        let token = app.registry.mark_token(&record, 1, serial).unwrap();
        let answer = app.scan(&scan_path(&token)).await;
        assert_eq!(answer["verdict"], "valid", "{answer}");
        assert_eq!(answer["certificate"]["holder"]["name"], "缓存测试有限公司");
    }
    assert!(app.registry.answers_prepared() - prepared <= 1, "thirty scans, at most one answer prepared");

    // A change on this instance is seen by the very next scan.
    let token = app.registry.mark_token(&record, 1, 7).unwrap();
    let (status, body) = app.status("SM2026CACHE001", json!({"action": "revoke", "reason": "撤销测试"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.scan(&scan_path(&token)).await["verdict"], "revoked");
}
