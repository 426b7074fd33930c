//! GS1 Digital Link marks end to end: a batch bound to a product, its marks' URIs checked by
//! digital-link.js (an independent GS1 Digital Link implementation), their QR codes read back by
//! zbarimg and rqrr, followed to the verdict; tampered GTINs and serials, URIs that break GS1's
//! rules, and the product lookup.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::postgres::Backend;
use common::{assert_problem, issue_body, spawn_app, spawn_app_on, TestApp};
use serde_json::{json, Value};
use starmark::crypto::token;
use starmark::domain::{CertificateNumber, Level};
use starmark::mark::{MarkArt, MarkFace, DEFAULT_DPI, DEFAULT_SIZE_MM};

use crate::marks::{decode_zbar, scaled};
use image::imageops::FilterType;

const NUMBER: &str = "SM2026GS1A0001";
/// A GTIN-13 of the kind printed in China (prefix 690-699), and the GTIN-14 it is kept as.
const GTIN_13: &str = "6901234567892";
const GTIN_14: &str = "06901234567892";
const PRODUCT: &str = "电饭煲 RC-5";

/// Issues the certificate and orders a plain batch (1) and a batch bound to the product (2).
async fn app_with_product_marks() -> TestApp {
    product_marks_on(spawn_app().await).await
}

/// [`app_with_product_marks`] on `app`.
async fn product_marks_on(app: TestApp) -> TestApp {
    app.issue(&issue_body(NUMBER, "光谱示例电器有限公司", 31)).await;
    app.order(NUMBER, 5).await;
    let order = json!({"count": 50, "gtin": GTIN_13, "product": PRODUCT});
    let response = app.post(&format!("/api/v1/certificates/{NUMBER}/marks"), &app.issuer, &order).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["batch"]["gtin"], GTIN_14);
    assert_eq!(body["batch"]["product"], PRODUCT);
    let url = body["first"]["url"].as_str().unwrap();
    // The configured public URL is http://starmark.test: lower-case scheme, the rest upper case.
    assert!(url.starts_with(&format!("http://STARMARK.TEST/01/{GTIN_14}/21/1?S={NUMBER}.")), "{url}");
    app
}

/// The URI serial `serial` of batch `batch` carries, on this app's own address.
async fn mark_uri(app: &TestApp, batch: u32, serial: u32) -> String {
    token::mark_url(&app.base, &app.mark_token(NUMBER, batch, serial).await)
}

/// What digital-link.js makes of each URI (see tests/gs1/check_uris.js).
fn digital_link_js(uris: &[String]) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gs1/check_uris.js");
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gs1/node_modules/digital-link.js");
    assert!(
        std::path::Path::new(modules).exists(),
        "digital-link.js is not installed: run `npm ci` in tests/gs1 (scripts/test does), with Debian's nodejs and npm"
    );
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (install Debian's nodejs, or run scripts/test, which does)");
    child.stdin.take().unwrap().write_all(serde_json::to_string(uris).unwrap().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "check_uris.js failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn every_uri_we_make_is_a_gs1_digital_link_that_digital_link_js_reads_as_we_do() {
    let app = app_with_product_marks().await;
    let mut uris = Vec::new();
    for serial in [1, 2, 9, 10, 49, 50] {
        uris.push(mark_uri(&app, 2, serial).await);
    }
    // The forms of the public URL a registry may be configured with.
    let token = app.mark_token(NUMBER, 2, 7).await;
    for base in ["https://verify.starmark-example.org.cn", "https://example.cn/registry/", "http://127.0.0.1:8080"] {
        uris.push(token::mark_url(base, &token));
    }
    let answers = digital_link_js(&uris);
    assert_eq!(answers.len(), uris.len());
    for answer in &answers {
        assert_eq!(answer["valid"], true, "{answer}");
        assert_eq!(answer["gtin"], GTIN_14, "{answer}");
        let uri = answer["uri"].as_str().unwrap();
        let serial = uri.split("/21/").nth(1).unwrap().split('?').next().unwrap();
        assert_eq!(answer["serial"], serial, "{answer}");
        let signed = uri.split("?S=").nth(1).unwrap();
        assert_eq!(answer["attributes"], json!({"S": signed}), "{answer}");
    }
    // And each leads to a valid verdict.
    for uri in &uris[..6] {
        let path = uri.strip_prefix(&app.base).unwrap();
        let answer = app.scan(path).await;
        assert_eq!(answer["verdict"], "valid", "{uri}: {answer}");
    }
    // What digital-link.js refuses, we refuse as well.
    let refused = [
        format!("{}/01/06901234567893/21/7?S=X", app.base),
        format!("{}/01/{GTIN_14}/21/1~2?S=X", app.base),
        format!("{}/01/{GTIN_14}/21/123456789012345678901?S=X", app.base),
    ];
    for answer in digital_link_js(&refused) {
        assert_eq!(answer["valid"], false, "{answer}");
    }
    for uri in &refused {
        assert_problem(app.client.get(uri).send().await.unwrap(), 400, "invalid-parameter").await;
    }
}

#[tokio::test]
async fn gs1_marks_decode_at_full_and_quarter_size_and_tampering_is_not_genuine() {
    let app = app_with_product_marks().await;
    let record = app.registry.get(&CertificateNumber::parse(NUMBER).unwrap()).await.unwrap().record;
    let uri = mark_uri(&app, 2, 37).await;
    let face = MarkFace { number: record.number.to_string(), level: Level::FiveStar, serialised: true };
    let art = MarkArt::new(&face, DEFAULT_SIZE_MM, Some(DEFAULT_DPI)).unwrap();
    let png = art.png(&uri, Some((2, 37))).unwrap();
    assert_eq!(decode_zbar(&png).await.as_deref(), Some(uri.as_str()), "zbarimg reads the GS1 mark");
    assert_eq!(common::qr::decode_png(&png).as_deref(), Some(uri.as_str()), "rqrr reads the GS1 mark");
    assert_eq!(decode_zbar(&scaled(&png, 4)).await.as_deref(), Some(uri.as_str()), "zbarimg reads it at 25%");
    // Other scales, and why rqrr is asked for full size only: the test below and docs/format.md.

    // The decoded URI, followed as it is, is the very verdict /v/ gives.
    let path = uri.strip_prefix(&app.base).unwrap().to_string();
    let answer = app.scan(&path).await;
    assert_eq!((&answer["verdict"], &answer["reason"]), (&json!("valid"), &json!("checked")), "{answer}");
    assert_eq!(answer["mark"]["batch"], 2);
    assert_eq!(answer["mark"]["serial"], 37);
    assert_eq!(answer["mark"]["gtin"], GTIN_14);
    assert_eq!(answer["mark"]["product"], PRODUCT);
    assert_eq!(answer["certificate"]["number"], NUMBER);
    // The GTIN-13 spelling of the same product is the same mark.
    let short = path.replacen(GTIN_14, GTIN_13, 1);
    assert_eq!(app.scan(&short).await["verdict"], "valid");
    // The consumer page says which product the certificate covers.
    let page = app.client.get(app.url(&path)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("本产品「{PRODUCT}」（GTIN {GTIN_14}）在证书 {NUMBER} 的认证范围内")), "{html}");
    assert!(html.contains("data-verdict=\"valid\""));

    // Another product (with a right check digit), another serial, another batch: not genuine.
    let other_product = path.replacen(GTIN_14, "04006381333931", 1);
    let other_serial = path.replacen("/21/37?", "/21/38?", 1);
    let serial_38 = app.mark_token(NUMBER, 2, 38).await;
    let other_signed = format!("{}?{}", path.split('?').next().unwrap(), serial_38.split('?').nth(1).unwrap());
    for tampered in [&other_product, &other_serial] {
        let answer = app.scan(tampered).await;
        assert_eq!(
            (&answer["verdict"], &answer["reason"]),
            (&json!("not_genuine"), &json!("bad_signature")),
            "{tampered}"
        );
    }
    assert_eq!(app.scan(&other_signed).await["verdict"], "not_genuine", "serial 38's signature on serial 37");
    // Without the signed part a GS1 URI is not one of our marks.
    let bare = path.split('?').next().unwrap().to_string();
    let answer = app.scan(&bare).await;
    assert_eq!((&answer["verdict"], &answer["reason"]), (&json!("not_genuine"), &json!("malformed")), "{answer}");
    // The batch bound to no product keeps its /v/ marks.
    let plain = app.scan(&format!("/v/{}", app.mark_token(NUMBER, 1, 3).await)).await;
    assert_eq!(plain["verdict"], "valid", "the batch without a product keeps /v/ marks");
    assert!(plain["mark"].get("gtin").is_none(), "{plain}");
}

#[tokio::test]
async fn uris_that_break_gs1s_rules_are_refused_with_problems() {
    let app = app_with_product_marks().await;
    let uri = mark_uri(&app, 2, 4).await;
    let path = uri.strip_prefix(&app.base).unwrap();
    let signed = path.split('?').nth(1).unwrap();
    for (bad, parameter) in [
        (format!("/01/06901234567893/21/4?{signed}"), "gtin"),
        (format!("/01/690123456789/21/4?{signed}"), "gtin"),
        (format!("/01/{GTIN_14}/21/4%20?{signed}"), "serial"),
        (format!("/01/{GTIN_14}/21/%E5%BA%8F?{signed}"), "serial"),
        (format!("/01/{GTIN_14}/21/{}?{signed}", "1".repeat(21)), "serial"),
        (format!("/21/4/01/{GTIN_14}?{signed}"), "path"),
        (format!("/01/{GTIN_14}/10/LOT1/21/4?{signed}"), "path"),
        (format!("/01/{GTIN_14}/21/4/10/LOT1?{signed}"), "path"),
    ] {
        let response = app.get(&bad).await;
        let problem = assert_problem(response, 400, "invalid-parameter").await;
        assert_eq!(problem["parameter"], parameter, "{bad}: {problem}");
    }
}

/// The certificate numbers `path`'s product answer lists.
async fn product_numbers(app: &TestApp, base: &str, path: &str) -> Vec<String> {
    let response = app.client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let answer: Value = response.json().await.unwrap();
    answer["certificates"].as_array().unwrap().iter().map(|c| c["number"].as_str().unwrap().to_string()).collect()
}

async fn products_are_looked_up_by_gtin(backend: Backend) {
    let app = product_marks_on(spawn_app_on(backend).await).await;
    app.issue(&issue_body("SM2026GS1B0001", "另一示例电器有限公司", 32)).await;
    app.post(
        "/api/v1/certificates/SM2026GS1B0001/marks",
        &app.issuer,
        &json!({"count": 3, "gtin": GTIN_14, "product": "电饭煲 RC-5 二代"}),
    )
    .await;
    for path in [format!("/api/v1/products/{GTIN_13}"), format!("/api/v1/products/{GTIN_14}"), format!("/01/{GTIN_14}")]
    {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["gtin"], GTIN_14);
        let certificates = answer["certificates"].as_array().unwrap();
        let numbers: Vec<&str> = certificates.iter().map(|c| c["number"].as_str().unwrap()).collect();
        assert_eq!(numbers, [NUMBER, "SM2026GS1B0001"], "{answer}");
        assert_eq!(certificates[0]["status"]["state"], "valid");
        assert_eq!(certificates[0]["url"], format!("/certificates/{NUMBER}"));
        assert_eq!(
            certificates[0]["batches"],
            json!([{"batch": 2, "count": 50, "ordered": certificates[0]["batches"][0]["ordered"], "product": PRODUCT}])
        );
    }
    let none: Value = app.get("/api/v1/products/4006381333931").await.json().await.unwrap();
    assert_eq!(none, json!({"gtin": "04006381333931", "product": null, "certificates": []}));
    assert_problem(app.get("/api/v1/products/4006381333932").await, 400, "invalid-parameter").await;
    assert_problem(app.get("/api/v1/products/abc").await, 400, "invalid-parameter").await;

    // An order names both GTIN and product, or neither, and a GTIN must be one.
    let marks = format!("/api/v1/certificates/{NUMBER}/marks");
    for (order, field) in [
        (json!({"count": 3, "gtin": "4006381333932", "product": "x"}), "gtin"),
        (json!({"count": 3, "gtin": GTIN_13}), "product"),
        (json!({"count": 3, "product": "x"}), "gtin"),
        (json!({"count": 3, "gtin": GTIN_13, "product": " "}), "product"),
    ] {
        let problem = assert_problem(app.post(&marks, &app.issuer, &order).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field, "{order}: {problem}");
    }
}

/// The product lookup reads the product index, which the marks order keeps in its own
/// transaction and the migration fills from the records stored before it; a row an insider adds
/// to the index (for a certificate bound to another product, or to none at all) names no
/// certificate, since each is served only when its confirmed, signed record binds the product.
async fn the_product_index_is_kept_with_each_change_and_never_trusted_alone(backend: Backend) {
    let app = product_marks_on(spawn_app_on(backend).await).await;
    let other = "SM2026GS1C0001";
    app.issue(&issue_body(other, "第三示例电器有限公司", 33)).await;
    let order = json!({"count": 3, "gtin": "4006381333931", "product": "Kettle"});
    assert_eq!(app.post(&format!("/api/v1/certificates/{other}/marks"), &app.issuer, &order).await.status(), 201);
    let mut db = app.raw_db().await;
    let rows = "SELECT COUNT(*) FROM product_certificates";
    assert_eq!(db.integer(rows).await, 2, "one row per batch bound to a product");
    let until = (starmark::registry::clock::today() + chrono::Days::new(30)).to_string();
    let (status, body) = app.status(NUMBER, json!({"action": "suspend", "reason": "整改", "until": until})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(db.integer(rows).await, 2, "a change that keeps the batches keeps their rows");
    let (status, body) = app.status(NUMBER, json!({"action": "reinstate", "reason": "整改完成"})).await;
    assert_eq!(status, 200, "{body}");

    // An insider adds rows naming the other certificate and one that does not exist.
    for number in [other, "SM2026GS1Z0001"] {
        let added = db
            .execute(&format!(
                "INSERT INTO product_certificates (gtin, number, batch) VALUES ('{GTIN_14}', '{number}', 1)"
            ))
            .await
            .unwrap();
        assert_eq!(added, 1);
    }
    let peer = app.spawn_peer().await;
    for base in [app.base.as_str(), peer.as_str()] {
        for path in [format!("/api/v1/products/{GTIN_14}"), format!("/01/{GTIN_14}")] {
            assert_eq!(product_numbers(&app, base, &path).await, [NUMBER], "{base}{path}");
        }
    }
    assert_eq!(product_numbers(&app, &app.base, "/api/v1/products/4006381333931").await, [other]);

    // A database of before the index: the migration fills it from the stored records.
    let version = match backend {
        Backend::Sqlite => 13,
        Backend::Postgres => 6,
    };
    db.execute("DROP TABLE product_certificates").await.unwrap();
    assert_eq!(db.execute(&format!("DELETE FROM _sqlx_migrations WHERE version = {version}")).await.unwrap(), 1);
    let migrated = app.spawn_peer().await;
    assert_eq!(db.integer(rows).await, 2, "filled from the records");
    assert_eq!(product_numbers(&app, &migrated, &format!("/api/v1/products/{GTIN_13}")).await, [NUMBER]);
}

on_each_backend!(products_are_looked_up_by_gtin, the_product_index_is_kept_with_each_change_and_never_trusted_alone);

/// Waits for the page's own device check and gives its result.
async fn device_result(browser: &common::browser::Browser) -> String {
    browser.wait_until("device check", "return document.getElementById('device-check').dataset.state === 'done'").await;
    let result = browser.execute("return document.getElementById('device-check').dataset.result", vec![]).await;
    result.as_str().expect("result").to_string()
}

#[tokio::test]
async fn a_phone_opens_a_gs1_mark_and_checks_its_signature_on_the_device() {
    use common::browser::{Browser, BrowserOptions};
    let app = app_with_product_marks().await;
    let uri = mark_uri(&app, 2, 12).await;
    let browser = Browser::start(BrowserOptions::phone("zh-CN")).await;
    browser.goto(&uri).await;
    assert_eq!(device_result(&browser).await, "verified");
    let shown = browser.text("#product").await;
    assert!(shown.contains(PRODUCT) && shown.contains(GTIN_14) && shown.contains(NUMBER), "{shown}");
    if let Ok(dir) = std::env::var("STARMARK_WRITE_SAMPLES") {
        browser.screenshot(format!("{dir}/scan-gs1.png")).await;
    }
    // Another product's GTIN on the same signed part: the registry and the device both refuse it.
    browser.goto(&uri.replacen(GTIN_14, "04006381333931", 1)).await;
    assert_eq!(device_result(&browser).await, "invalid");
    assert!(!browser.exists("#device-mismatch").await);
    browser.close().await;
}

/// Checks `set` against the JSON form of RFC 9264 (section 4.2): `linkset` is an array of link
/// context objects, each with an `anchor` and, per link relation, an array of target objects
/// with an `href` and optional target attributes (`hreflang` an array of strings, `title` and
/// `type` strings).
fn assert_rfc9264(set: &Value) {
    let contexts = set["linkset"].as_array().expect("linkset is an array");
    assert!(!contexts.is_empty());
    for context in contexts {
        let members = context.as_object().expect("a link context is an object");
        assert!(members["anchor"].is_string(), "{context}");
        for (relation, targets) in members.iter().filter(|(k, _)| *k != "anchor") {
            let targets = targets.as_array().unwrap_or_else(|| panic!("{relation}: targets are an array"));
            for target in targets {
                assert!(target["href"].is_string(), "{relation}: {target}");
                for language in target["hreflang"].as_array().expect("hreflang is an array") {
                    assert!(language.is_string(), "{relation}: {target}");
                }
                assert!(target["title"].is_string() && target["type"].is_string(), "{relation}: {target}");
            }
        }
    }
}

#[tokio::test]
async fn the_resolver_answers_link_types_linksets_and_describes_itself() {
    let app = app_with_product_marks().await;
    let uri = mark_uri(&app, 2, 21).await;
    let path = uri.strip_prefix(&app.base).unwrap().to_string();
    let printed = token::mark_url("http://starmark.test", &app.mark_token(NUMBER, 2, 21).await);
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // The verdict points to the mark's linkset.
    let verdict = app.client.get(app.url(&path)).header("accept", "application/json").send().await.unwrap();
    let link = verdict.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(link, format!("<{printed}&linkType=all>; rel=\"linkset\"; type=\"application/linkset+json\""));
    assert_eq!(verdict.json::<Value>().await.unwrap()["verdict"], "valid");
    // gs1:verificationService is the verdict itself.
    let asked = app.scan(&format!("{path}&linkType=gs1:verificationService")).await;
    assert_eq!(asked["verdict"], "valid");

    // gs1:certificationInfo leads to the certificate's page.
    let info = no_redirects.get(app.url(&format!("{path}&linkType=gs1:certificationInfo"))).send().await.unwrap();
    assert_eq!(info.status(), 307);
    assert_eq!(info.headers()["location"], format!("http://starmark.test/certificates/{NUMBER}"));

    // linkType=all, or the linkset's media type in Accept: every link type, in both languages.
    let all = app.get(&format!("{path}&linkType=all")).await;
    assert_eq!(all.headers()["content-type"], "application/linkset+json");
    // The linkset names the context that makes it JSON-LD, as the resolver standard asks.
    let contexts: Vec<&str> = all.headers().get_all("link").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(contexts.contains(&LINKSET_CONTEXT_LINK), "{contexts:?}");
    let set: Value = all.json().await.unwrap();
    assert_rfc9264(&set);
    let context = &set["linkset"][0];
    assert_eq!(context["anchor"], printed);
    for relation in ["verificationService", "certificationInfo", "defaultLink"] {
        let targets = context[format!("{GS1_VOC}{relation}")].as_array().expect(relation);
        let languages: Vec<&str> = targets.iter().map(|t| t["hreflang"][0].as_str().unwrap()).collect();
        assert_eq!(languages, ["zh", "en"], "{relation}");
    }
    let certification = &context[format!("{GS1_VOC}certificationInfo")][1]["href"];
    assert_eq!(certification, &json!(format!("http://starmark.test/certificates/{NUMBER}?lang=en")));
    let negotiated = app.client.get(app.url(&path)).header("accept", "application/linkset+json").send().await.unwrap();
    assert_eq!(negotiated.json::<Value>().await.unwrap(), set);

    // A tampered mark names no certificate; a link type we do not offer is not found.
    let forged = path.replacen("/21/21?", "/21/22?", 1);
    let forged_set: Value = app.get(&format!("{forged}&linkType=all")).await.json().await.unwrap();
    assert_rfc9264(&forged_set);
    assert!(forged_set["linkset"][0].get(format!("{GS1_VOC}certificationInfo")).is_none(), "{forged_set}");
    assert_problem(app.get(&format!("{forged}&linkType=gs1:certificationInfo")).await, 404, "not-found").await;
    assert_problem(app.get(&format!("{path}&linkType=gs1:pip")).await, 404, "not-found").await;

    // The resolver describes itself.
    let description = app.get("/.well-known/gs1resolver").await;
    assert_eq!(description.headers()["content-type"], "application/json");
    let description: Value = description.json().await.unwrap();
    assert_resolver_description(&description);
    assert_eq!(description["resolverRoot"], "http://starmark.test");
    assert_eq!(description["supportedPrimaryKeys"], json!(["01"]));
    assert_eq!(description["supportedLinkType"], json!([{"namespace": GS1_VOC, "prefix": "gs1:"}]));
    assert_eq!(description["jsonLdContextLocation"], "https://ref.gs1.org/standards/resolver/linkset-context");
    assert_eq!(description["linkTypeDefaultCanBeLinkset"], false, "the default link is the verdict, not the linkset");
    let name = description["name"].as_str().unwrap();
    assert!(description["contact"]["fn"].as_str().is_some_and(|f| !f.is_empty() && name.contains(f)), "{description}");
    // A mark's URI made on the resolver root it names is one digital-link.js reads as we do.
    let on_root = format!("{}/01/{GTIN_14}/21/21?S=x", description["resolverRoot"].as_str().unwrap());
    let read = &digital_link_js(std::slice::from_ref(&on_root))[0];
    assert_eq!(
        (&read["valid"], &read["gtin"], &read["serial"]),
        (&json!(true), &json!(GTIN_14), &json!("21")),
        "{read}"
    );
}

/// GS1's current web vocabulary (`gs1:`), which link types are named in.
const GS1_VOC: &str = "https://ref.gs1.org/voc/";

/// The `Link` header that points a linkset's reader to the resolver standard's JSON-LD context.
const LINKSET_CONTEXT_LINK: &str = "<https://ref.gs1.org/standards/resolver/linkset-context>; \
     rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"";

/// The members of a resolver description file and their types, as the GS1-Conformant resolver
/// standard's schema (description-file-schema, 1.2.0) gives them: `resolverRoot` and
/// `supportedPrimaryKeys` required, the keys from its list, link type prefixes ending in a colon.
fn assert_resolver_description(description: &Value) {
    const PRIMARY_KEYS: [&str; 21] = [
        "all", "01", "8006", "8013", "8010", "410", "411", "412", "413", "414", "415", "417", "8017", "8018", "255",
        "00", "253", "401", "402", "8003", "8004",
    ];
    let root = description["resolverRoot"].as_str().expect("resolverRoot is a string");
    let root = reqwest::Url::parse(root).unwrap_or_else(|e| panic!("resolverRoot is no URI ({e}): {description}"));
    assert!(matches!(root.scheme(), "http" | "https"), "{description}");
    let keys = description["supportedPrimaryKeys"].as_array().expect("supportedPrimaryKeys is an array");
    assert!(!keys.is_empty() && keys.iter().all(|k| PRIMARY_KEYS.contains(&k.as_str().unwrap_or(""))), "{keys:?}");
    assert!(description["name"].is_string(), "{description}");
    for link_type in description["supportedLinkType"].as_array().expect("supportedLinkType is an array") {
        let namespace = link_type["namespace"].as_str().expect("a namespace");
        assert!(reqwest::Url::parse(namespace).is_ok(), "{namespace}");
        let prefix = link_type["prefix"].as_str().expect("a prefix");
        let name = prefix.strip_suffix(':').expect("the prefix ends in its colon");
        assert!(name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_'), "{prefix}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{prefix}");
    }
    assert!(description["linkTypeDefaultCanBeLinkset"].is_boolean(), "{description}");
    let context = description["jsonLdContextLocation"].as_str().expect("jsonLdContextLocation is a string");
    assert!(reqwest::Url::parse(context).is_ok(), "{context}");
    assert!(description["contact"].is_object(), "{description}");
}

#[tokio::test]
async fn only_the_verdicts_landing_counts_as_a_scan_of_the_serial() {
    let app = app_with_product_marks().await;
    let uri = mark_uri(&app, 2, 23).await;
    let path = uri.strip_prefix(&app.base).unwrap().to_string();
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..3 {
        let info = no_redirects.get(app.url(&format!("{path}&linkType=gs1:certificationInfo"))).send().await.unwrap();
        assert_eq!(info.status(), 307);
        let all = app.get(&format!("{path}&linkType=all")).await;
        assert_eq!(all.status(), 200);
        let negotiated =
            app.client.get(app.url(&path)).header("accept", "application/linkset+json").send().await.unwrap();
        assert_eq!(negotiated.status(), 200);
    }
    let answer = app.scan(&path).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(answer["scans"]["requests"], 1, "nine resolver requests and one landing: {answer}");
    let again = app.scan(&format!("{path}&linkType=gs1:verificationService")).await;
    assert_eq!(again["scans"]["requests"], 2, "the verdict asked by its link type is a landing: {again}");
}

/// The PNG resized to `percent` of its size, smoothed as a camera's picture is.
fn resized(png: &[u8], percent: u32) -> Vec<u8> {
    let img = image::load_from_memory(png).unwrap();
    let small = img.resize(img.width() * percent / 100, img.height() * percent / 100, FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// zbarimg reads the version 11 GS1 mark at every scale from full size to a quarter (30 mm at
/// 600 dpi: 8.6 down to 2.2 pixels a module). rqrr reads it at full size; below that, whether it
/// reads a scale depends on where module edges fall on the pixel grid, not on the size: it
/// misses scales between ones it reads, for the version 10 `/v/` mark as well (docs/format.md
/// has the measured table). What it reads is printed, for the record.
#[tokio::test]
async fn zbarimg_reads_the_gs1_mark_at_every_scale_down_to_a_quarter() {
    let app = app_with_product_marks().await;
    let record = app.registry.get(&CertificateNumber::parse(NUMBER).unwrap()).await.unwrap().record;
    let face = MarkFace { number: record.number.to_string(), level: Level::FiveStar, serialised: true };
    let gs1 = mark_uri(&app, 2, 37).await;
    let plain = token::mark_url(&app.base, &app.mark_token(NUMBER, 1, 3).await);
    let art = MarkArt::new(&face, DEFAULT_SIZE_MM, Some(DEFAULT_DPI)).unwrap();
    for (name, uri, serial) in [("GS1 (version 11)", &gs1, (2, 37)), ("/v/ (version 10)", &plain, (1, 3))] {
        let png = art.png(uri, Some(serial)).unwrap();
        let mut rqrr_reads = Vec::new();
        for percent in [100u32, 75, 60, 55, 52, 50, 48, 45, 40, 35, 30, 25] {
            let small = resized(&png, percent);
            assert_eq!(decode_zbar(&small).await.as_deref(), Some(uri.as_str()), "zbarimg, {name} at {percent}%");
            if common::qr::decode_png(&small).as_deref() == Some(uri.as_str()) {
                rqrr_reads.push(percent);
            }
        }
        println!("rqrr reads the {name} mark at {rqrr_reads:?} percent");
        assert_eq!(rqrr_reads.first(), Some(&100), "rqrr reads the {name} mark at full size");
    }
}

/// The resolver's routes are open to any origin (GS1's resolver standard asks for CORS): a
/// preflight is answered, answers and refusals carry `Access-Control-Allow-Origin: *`, and a
/// preflight counts as no scan. Other routes stay closed to other origins.
#[tokio::test]
async fn resolver_routes_answer_other_origins_and_their_preflights() {
    let app = app_with_product_marks().await;
    let uri = mark_uri(&app, 2, 31).await;
    let path = uri.strip_prefix(&app.base).unwrap().to_string();
    for route in [path.as_str(), &format!("/01/{GTIN_14}"), "/.well-known/gs1resolver", "/21/1"] {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(route))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "accept-language")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{route}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{route}");
        assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("GET"), "{route}");
        assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("Accept-Language"), "{route}");
        let answer = app.client.get(app.url(route)).header("origin", "https://shop.example").send().await.unwrap();
        assert_eq!(answer.headers()["access-control-allow-origin"], "*", "{route} answered {}", answer.status());
    }
    let refused = app.get("/21/1").await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");
    let lookup = app.get(&format!("/api/v1/certificates/{NUMBER}")).await;
    assert!(lookup.headers().get("access-control-allow-origin").is_none(), "only the resolver's routes are opened");
    let answer = app.scan(&path).await;
    assert_eq!(answer["scans"]["requests"], 2, "one GET above and this landing; the preflight counts none: {answer}");

    // A page of another origin (`localhost` against `127.0.0.1`) reads the resolver's linkset in a real
    // browser, with its Link header; the same page cannot read a certificate answer.
    use common::browser::{Browser, BrowserOptions};
    let browser = Browser::start(BrowserOptions::phone("en")).await;
    let elsewhere = app.base.replacen("127.0.0.1", "localhost", 1) + "/healthz";
    browser.client().goto(&elsewhere).await.expect("a page of another origin");
    let fetch = "window.result = null;\
                 fetch(arguments[0], {headers: {'Accept': 'application/linkset+json'}})\
                   .then(async r => { window.result = {status: r.status, link: r.headers.get('Link'), body: await r.json()}; })\
                   .catch(e => { window.result = {error: String(e)}; });\
                 return true;";
    browser.execute(fetch, vec![json!(format!("{uri}&linkType=all"))]).await;
    browser.wait_until("the resolver's answer", "return window.result !== null").await;
    let read = browser.execute("return window.result", vec![]).await;
    assert_eq!(read["status"], 200, "{read}");
    assert_rfc9264(&read["body"]);
    let landing = fetch.replace("application/linkset+json", "application/json");
    browser.execute(&landing, vec![json!(uri)]).await;
    browser.wait_until("the landing's answer", "return window.result !== null").await;
    let read = browser.execute("return window.result", vec![]).await;
    assert_eq!(read["body"]["verdict"], "valid", "{read}");
    assert!(
        read["link"].as_str().is_some_and(|link| link.contains("rel=\"linkset\"")),
        "the Link header is exposed: {read}"
    );
    browser.execute(fetch, vec![json!(app.url(&format!("/api/v1/certificates/{NUMBER}")))]).await;
    browser.wait_until("the refused read", "return window.result !== null").await;
    let refused = browser.execute("return window.result", vec![]).await;
    assert!(refused["error"].is_string(), "a certificate answer must stay closed to other origins: {refused}");
    browser.close().await;
}
