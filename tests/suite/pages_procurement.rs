//! Bulk verification and receipt pages over real HTTP, without a browser: the form posts as a
//! browser without JavaScript would (multipart), the answers are checked as HTML and CSV.
//! (tests/browser_procurement.rs drives the same pages in Chromium.)

use crate::common;

use common::{issue_body, spawn_app, uscc, TestApp};
use serde_json::json;

const BOUNDARY: &str = "----starmark-test-boundary";

/// A multipart body as a browser sends it: text fields, then the file input (empty when no
/// file was chosen). The file is bytes, so it need not be UTF-8.
fn multipart(fields: &[(&str, &str)], file: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    let filename = if file.is_some() { "bidders.csv" } else { "" };
    let kind = if file.is_some() { "text/csv" } else { "application/octet-stream" };
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {kind}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file.unwrap_or_default());
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Posts the bulk form to `path` (`/verify`, with a query string if wanted).
async fn post_form_to(app: &TestApp, path: &str, fields: &[(&str, &str)], file: Option<&[u8]>) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart(fields, file))
        .send()
        .await
        .expect("post")
}

async fn post_form(app: &TestApp, fields: &[(&str, &str)], file: Option<&str>) -> reqwest::Response {
    post_form_to(app, "/verify", fields, file.map(str::as_bytes)).await
}

/// Asks for a receipt of one certificate as the certificate page's button does; its page's path.
async fn single_receipt(app: &TestApp, number: &str, lang: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response = client
        .post(app.url("/receipts"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("number={number}&lang={lang}"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().expect("location").to_string()
}

async fn seed(app: &TestApp) {
    for (number, n) in [("SM2026BULK0001", 1), ("SM2026BULK0002", 2), ("SM2026BULK0003", 3)] {
        app.issue(&issue_body(number, "投标单位有限公司", n)).await;
    }
    let (status, answer) =
        app.status("SM2026BULK0002", json!({"action": "revoke", "reason": "不再满足认证要求"})).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn the_form_checks_a_pasted_list_and_marks_every_row() {
    let app = spawn_app().await;
    seed(&app).await;
    let form = app.client.get(app.url("/verify")).header("accept-language", "zh-CN").send().await.expect("get");
    assert_eq!(form.status(), 200);
    let html = form.text().await.expect("html");
    assert!(html.contains("enctype=\"multipart/form-data\"") && html.contains("批量核验"));

    let list = format!("证书编号\nSM2026BULK0001\n\n{}\nSM2026NONE0009\n91350100M000100Y0X\n", uscc(2));
    let response = post_form(&app, &[("lang", "en"), ("queries", &list), ("action", "check")], None).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-security-policy"].to_str().expect("csp").starts_with("default-src 'none'"));
    let html = response.text().await.expect("html");
    assert!(html.contains("<html lang=\"en\">"));
    // Line numbers are those of the input: the header is line 1 and line 3 is blank.
    assert!(html.contains("data-row=\"2\" data-outcome=\"found\" data-state=\"valid\""), "{html}");
    assert!(html.contains("data-row=\"4\" data-outcome=\"found\" data-state=\"revoked\""));
    assert!(html.contains("data-row=\"5\" data-outcome=\"unknown\""));
    assert!(html.contains("data-row=\"6\" data-outcome=\"malformed\""));
    assert!(
        html.contains("<span data-count=\"valid\">1</span>") && html.contains("<span data-count=\"revoked\">1</span>")
    );
    assert!(
        html.contains("<span data-count=\"unknown\">1</span>")
            && html.contains("<span data-count=\"malformed\">1</span>")
    );
    assert!(
        html.contains("SM2026NONE0009</textarea>") || html.contains("SM2026NONE0009\n"),
        "the list stays in the form"
    );
}

#[tokio::test]
async fn an_uploaded_file_wins_and_the_csv_download_has_every_row() {
    let app = spawn_app().await;
    seed(&app).await;
    let file = "uscc,company\r\nSM2026BULK0003,三号\r\n=cmd|' /C calc'!A0,evil\r\n";
    let response = post_form(&app, &[("queries", "SM2026BULK0001"), ("action", "csv")], Some(file)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    assert!(response.headers()["content-disposition"].to_str().expect("disposition").contains("attachment"));
    let csv = response.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].trim_start_matches('\u{feff}').starts_with("row,query,outcome,number"), "{csv}");
    assert_eq!(lines.len(), 3, "header and two rows: the file replaced the textarea\n{csv}");
    assert!(lines[1].starts_with("2,SM2026BULK0003,found,SM2026BULK0003"), "{csv}");
    assert!(lines[2].starts_with("3,'=cmd"), "formula neutralised: {csv}");
}

#[tokio::test]
async fn a_gbk_csv_from_a_chinese_spreadsheet_is_read() {
    let app = spawn_app().await;
    seed(&app).await;
    // "证书编号" in GBK, then the queries in ASCII.
    let mut file = vec![0xd6, 0xa4, 0xca, 0xe9, 0xb1, 0xe0, 0xba, 0xc5];
    file.extend_from_slice(b"\r\nSM2026BULK0001\r\nSM2026BULK0002\r\n");
    let response = post_form_to(&app, "/verify?lang=en", &[("action", "check")], Some(&file)).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("data-row=\"2\" data-outcome=\"found\" data-state=\"valid\""), "{html}");
    assert!(html.contains("data-row=\"3\" data-outcome=\"found\" data-state=\"revoked\""), "{html}");
    assert_eq!(html.matches("<tr data-row=").count(), 2, "the GBK header is skipped");
}

#[tokio::test]
async fn empty_too_long_and_binary_lists_are_explained() {
    let app = spawn_app().await;
    let response = post_form(&app, &[("lang", "en"), ("queries", "  \n\n")], None).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.expect("html").contains("Enter at least one"));

    let long: String = (0..1001).map(|n| format!("SM2026LONG{n:04}\n")).collect();
    let response = post_form(&app, &[("lang", "zh"), ("queries", &long)], None).await;
    assert_eq!(response.status(), 413);
    assert!(response.text().await.expect("html").contains("1001"));

    let workbook = [0x00, b'P', b'K', 0x03, 0x04, 0xff, 0xfe, 0x00];
    let response = post_form_to(&app, "/verify?lang=en", &[], Some(&workbook)).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("html").contains("Save it as “CSV”"));
}

#[tokio::test]
async fn a_receipt_from_the_form_is_a_printable_page_that_rechecks_itself() {
    let app = spawn_app().await;
    seed(&app).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response = client
        .post(app.url("/verify"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart(
            &[("lang", "en"), ("queries", "SM2026BULK0001\nSM2026BULK0003\n12!"), ("action", "receipt")],
            None,
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().expect("location").to_string();
    assert!(location.starts_with("/receipts/") && location.ends_with("?lang=en"), "{location}");
    let id = location.trim_start_matches("/receipts/").trim_end_matches("?lang=en").to_string();

    let html = app.get(&location).await.text().await.expect("html");
    assert!(html.contains("data-genuine=\"true\"") && html.contains("data-changed=\"0\""), "{html}");
    assert!(html.contains("<svg") && html.contains(&format!("http://starmark.test/receipts/{id}")), "QR and its URL");
    assert!(html.contains("data-row=\"3\" data-outcome=\"malformed\""));

    // After a withdrawal the same page (the one its QR code opens) shows the change.
    let (status, answer) =
        app.status("SM2026BULK0003", json!({"action": "withdraw", "reason": "持证方申请注销"})).await;
    assert_eq!(status, 200, "{answer}");
    let html = app.get(&location).await.text().await.expect("html");
    assert!(html.contains("data-changed=\"1\"") && html.contains("data-changed-number=\"SM2026BULK0003\""), "{html}");
    assert!(html.contains("State was Valid → now Withdrawn"), "the change in words: {html}");

    let missing = app.get("/receipts/0123456789abcdef0123456789abcdef").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(app.get("/receipts/not-an-id").await.status(), 404);
}

#[tokio::test]
async fn the_certificate_page_issues_a_single_receipt() {
    let app = spawn_app().await;
    seed(&app).await;
    let location = single_receipt(&app, "SM2026BULK0002", "zh").await;
    let html = app.get(&location).await.text().await.expect("html");
    assert!(html.contains("<html lang=\"zh-CN\">") && html.contains("签名有效"));
    assert!(html.contains("data-state=\"revoked\"") && html.contains("撤销"));

    // A number the registry does not know is kept on the receipt, explained in the page's language.
    let location = single_receipt(&app, "SM2026NONE0001", "zh").await;
    let html = app.get(&location).await.text().await.expect("html");
    assert!(html.contains("data-outcome=\"unknown\"") && html.contains("本登记系统中没有该编号的证书"), "{html}");

    // A form without a number is explained on a page, and nothing is issued.
    let issued = app.raw_db().await.integer("SELECT COUNT(*) FROM receipts").await;
    assert_eq!(issued, 2, "the two receipts above");
    for body in ["lang=en", "number=%20&lang=en"] {
        let response = app
            .client
            .post(app.url("/receipts"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 422, "{body}");
        assert!(response.text().await.expect("html").contains("Give the certificate number or USCC"), "{body}");
    }
    let receipts = app.raw_db().await.integer("SELECT COUNT(*) FROM receipts").await;
    assert_eq!(receipts, issued, "a refused form issued a receipt");
}

/// A schemathesis finding: `POST /receipts` with no form (no body, or JSON) got axum's plain-text
/// refusal, which the contract does not describe; it is a problem document like the API's.
#[tokio::test]
async fn a_receipt_request_that_is_not_a_form_is_a_problem() {
    let app = spawn_app().await;
    let bare = app.client.post(app.url("/receipts")).send().await.expect("post");
    crate::common::assert_problem(bare, 415, "unsupported-media-type").await;
    let json = app.client.post(app.url("/receipts")).json(&serde_json::json!({"number": "SM2026ASC000001"})).send();
    crate::common::assert_problem(json.await.expect("post"), 415, "unsupported-media-type").await;
}
