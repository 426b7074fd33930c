//! The procurement pages in a real headless Chromium at phone width: search, bulk verification
//! with a CSV upload and the CSV download, and a signed receipt followed from its printed QR code
//! back to its own check.
//!
//! `STARMARK_SCREENSHOTS=1` also writes docs/img/page-{search,bulk,receipt}.png (360 px) for the
//! README; without it the tree is left alone.

use crate::common;

use std::time::{Duration, Instant};

use common::browser::{contrast_ratio, Browser, BrowserOptions};
use common::{issue_body, spawn_app, uscc, TestApp};
use fantoccini::Locator;
use serde_json::json;

async fn seed(app: &TestApp) {
    for (number, n) in [("SM2026PROC0001", 1), ("SM2026PROC0002", 2), ("SM2026PROC0003", 3)] {
        app.issue(&issue_body(number, "招标测试供应商有限公司", n)).await;
    }
    let (status, answer) =
        app.status("SM2026PROC0002", json!({"action": "revoke", "reason": "不再满足认证要求"})).await;
    assert_eq!(status, 200, "{answer}");
}

/// The page fits the phone: nothing scrolls sideways, and body text is at least 16 px.
async fn assert_fits_phone(browser: &Browser) {
    let width = browser.execute("return document.scrollingElement.scrollWidth", vec![]).await;
    assert!(width.as_u64().is_some_and(|w| w <= 360), "the page scrolls sideways: {width}");
    let size = browser.style("body", "font-size").await;
    assert!(size.trim_end_matches("px").parse::<f64>().is_ok_and(|px| px >= 16.0), "font size {size}");
    // A screen reader's heading list: one h1 first, then sections as h2, no level skipped.
    let headings = browser
        .execute("return [...document.querySelectorAll('main h1, main h2, main h3')].map(h => h.tagName)", vec![])
        .await;
    let headings: Vec<String> = serde_json::from_value(headings).expect("headings");
    assert_eq!(headings.first().map(String::as_str), Some("H1"), "{headings:?}");
    assert_eq!(headings.iter().filter(|h| *h == "H1").count(), 1, "{headings:?}");
    for (at, heading) in headings.iter().enumerate() {
        if heading == "H3" {
            assert!(headings[..at].iter().any(|h| h == "H2"), "an h3 before any h2: {headings:?}");
        }
    }
}

/// Saves a screenshot for the README when asked to, scrolled to `selector`.
async fn screenshot_for_readme(browser: &Browser, name: &str, selector: &str) {
    if std::env::var("STARMARK_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let script = "document.querySelector(arguments[0]).scrollIntoView({block: 'start'}); return true";
        browser.execute(script, vec![json!(selector)]).await;
        browser.screenshot(format!("docs/img/page-{name}.png")).await;
    }
}

/// Every state badge and link on the page reads at WCAG AA (4.5:1) against its own background,
/// and every badge carries an icon as well as its colour.
async fn assert_badges_readable(browser: &Browser) {
    let badges = browser
        .execute(
            "return [...document.querySelectorAll('.state, main a')].map(e => [e.className || e.tagName, \
             getComputedStyle(e).color, getComputedStyle(e).backgroundColor, e.textContent.trim()])",
            vec![],
        )
        .await;
    let badges = badges.as_array().expect("list");
    assert!(!badges.is_empty());
    for badge in badges {
        let what = badge[0].as_str().unwrap_or("");
        let colour = badge[1].as_str().unwrap_or("");
        let mut background = badge[2].as_str().unwrap_or("").to_string();
        if background == "rgba(0, 0, 0, 0)" {
            background = "rgb(255, 255, 255)".into();
        }
        let ratio = contrast_ratio(colour, &background);
        assert!(ratio >= 4.5, "{what} {:?}: contrast {ratio:.2} ({colour} on {background})", badge[3]);
        if what.starts_with("state") {
            let text = badge[3].as_str().unwrap_or("");
            assert!(text.chars().count() > 2 && !text.starts_with(char::is_alphanumeric), "icon and words: {text:?}");
        }
    }
}

async fn click(browser: &Browser, selector: &str) {
    let element = browser.client().find(Locator::Css(selector)).await.unwrap_or_else(|e| panic!("{selector}: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

#[tokio::test]
async fn search_at_phone_width_in_both_languages() {
    let app = spawn_app().await;
    seed(&app).await;
    let browser = Browser::start(BrowserOptions::phone("zh-CN")).await;
    browser.goto(&app.url("/")).await;
    assert_eq!(browser.execute("return document.documentElement.lang", vec![]).await, json!("zh-CN"));
    let field = browser.client().find(Locator::Css("#q")).await.expect("search field");
    field.send_keys("招标测试").await.expect("type");
    click(&browser, "form[role=search] button[type=submit]").await;
    browser.wait_until("results", "return document.querySelectorAll('tr[data-number]').length === 3").await;
    assert!(browser.text("tr[data-number=SM2026PROC0002]").await.contains("撤销"));
    assert_fits_phone(&browser).await;
    assert_badges_readable(&browser).await;
    assert_eq!(browser.text("h1").await, "证书查询");
    screenshot_for_readme(&browser, "search", "#results").await;

    click(&browser, "#lang-toggle").await;
    browser.wait_until("English", "return document.documentElement.lang === 'en'").await;
    assert_eq!(browser.text("h1").await, "Search certificates");
    assert!(browser.text("tr[data-number=SM2026PROC0002]").await.contains("Revoked"), "the search is kept");

    // A result opens the certificate, which issues a receipt for itself.
    click(&browser, "tr[data-number=SM2026PROC0002] a").await;
    browser.wait_until("certificate page", "return location.pathname === '/certificates/SM2026PROC0002'").await;
    assert_eq!(browser.text("h1").await, "SM2026PROC0002");
    assert!(browser.text("dl.facts").await.contains("Revoked since"));
    assert_fits_phone(&browser).await;
    click(&browser, "form[action='/receipts'] button").await;
    browser.wait_until("receipt", "return location.pathname.startsWith('/receipts/')").await;
    assert!(browser.text("#receipt-verdict").await.contains("Signature valid"));
    assert!(browser.text("#receipt-rows").await.contains("SM2026PROC0002"));
    browser.close().await;
}

#[tokio::test]
async fn bulk_upload_shows_every_row_and_downloads_the_csv() {
    let app = spawn_app().await;
    seed(&app).await;
    let upload = app.dir.path().join("bidders.csv");
    let list = format!("统一社会信用代码,公司\n{},一号\nSM2026PROC0002,二号\nSM2026NONE0404,无\n9135X,坏\n", uscc(1));
    std::fs::write(&upload, list).expect("csv");

    let browser = Browser::start(BrowserOptions::phone("en-US")).await;
    browser.goto(&app.url("/verify")).await;
    let file = browser.client().find(Locator::Css("#file")).await.expect("file input");
    file.send_keys(&upload.display().to_string()).await.expect("choose file");
    // The script counts the chosen file's lines (header included) before anything is sent.
    browser.text_when("#row-count", |t| t.contains("5 lines")).await;
    click(&browser, "button[value=check]").await;
    browser.wait_until("results", "return document.querySelectorAll('#bulk-results tbody tr').length === 4").await;
    for (row, outcome) in [(2, "found"), (3, "found"), (4, "unknown"), (5, "malformed")] {
        assert!(browser.exists(&format!("tr[data-row='{row}'][data-outcome='{outcome}']")).await, "row {row}");
    }
    assert!(browser.text("tr[data-row='3']").await.contains("Revoked"));
    assert!(browser.text("tr[data-row='4']").await.contains("Not found"));
    assert_fits_phone(&browser).await;
    assert_badges_readable(&browser).await;
    screenshot_for_readme(&browser, "bulk", "#summary").await;

    // The list stays in the form; the CSV button downloads the same check.
    click(&browser, "button[value=csv]").await;
    let downloads = browser.download_dir();
    let deadline = Instant::now() + Duration::from_secs(30);
    let csv = loop {
        let done = std::fs::read_dir(&downloads).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "csv"))
        });
        if let Some(path) = done {
            break std::fs::read_to_string(path).expect("downloaded csv");
        }
        assert!(Instant::now() < deadline, "no CSV was downloaded into {}", downloads.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[2].starts_with("3,SM2026PROC0002,found,SM2026PROC0002") && lines[2].contains("revoked"), "{csv}");
    assert!(lines[3].starts_with("4,SM2026NONE0404,unknown"), "{csv}");
    assert!(lines[4].starts_with("5,9135X,malformed"), "{csv}");
    browser.close().await;
}

/// Decodes the QR code in a PNG screenshot.
fn decode_qr(png: &[u8]) -> String {
    common::qr::decode_png(png).expect("a QR code in the screenshot")
}

#[tokio::test]
async fn a_receipt_round_trip_from_the_form_through_its_qr_code() {
    let app = spawn_app().await;
    seed(&app).await;
    let browser = Browser::start(BrowserOptions::phone("zh-CN")).await;
    browser.goto(&app.url("/verify")).await;
    let area = browser.client().find(Locator::Css("#queries")).await.expect("textarea");
    area.send_keys("SM2026PROC0001\nSM2026PROC0003").await.expect("type");
    browser.text_when("#row-count", |t| t == "共 2 行").await;
    click(&browser, "button[value=receipt]").await;
    browser.wait_until("receipt", "return location.pathname.startsWith('/receipts/')").await;
    assert!(browser.text("#receipt-verdict").await.contains("签名有效"));
    assert_eq!(
        browser.execute("return document.querySelectorAll('#receipt-rows tbody tr').length", vec![]).await,
        json!(2)
    );
    assert_fits_phone(&browser).await;
    let path: String = serde_json::from_value(browser.execute("return location.pathname", vec![]).await).expect("path");
    screenshot_for_readme(&browser, "receipt", "h1").await;

    // What the printed QR code says is this receipt's own address.
    // Element screenshots are cut to the viewport: bring the code into view first.
    browser
        .execute("document.querySelector('.receipt-qr svg').scrollIntoView({block: 'center'}); return true", vec![])
        .await;
    let qr = browser.client().find(Locator::Css(".receipt-qr svg")).await.expect("qr");
    let png = qr.screenshot().await.expect("qr screenshot");
    let url = decode_qr(&png);
    assert_eq!(url, format!("http://starmark.test{path}"));

    // The body withdraws one certificate; the same QR code now shows the change.
    let (status, answer) =
        app.status("SM2026PROC0003", json!({"action": "withdraw", "reason": "持证方申请注销"})).await;
    assert_eq!(status, 200, "{answer}");
    browser.goto(&app.url(url.trim_start_matches("http://starmark.test"))).await;
    assert!(browser.text("#receipt-verdict").await.contains("签名有效"));
    assert!(browser.text("#receipt-changes").await.contains("自核验以来有变化"));
    assert!(browser.exists("li[data-changed-number=SM2026PROC0003]").await);

    // The JSON link gives the signed document, which the API confirms as genuine.
    let id = path.trim_start_matches("/receipts/");
    let document: serde_json::Value = app.get(&format!("/api/v1/receipts/{id}")).await.json().await.expect("json");
    let verdict: serde_json::Value = app
        .client
        .post(app.url("/api/v1/receipts/verify"))
        .json(&document)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verdict["genuine"], json!(true), "{verdict}");
    assert_eq!(verdict["changed"].as_array().map(Vec::len), Some(1), "{verdict}");
    browser.close().await;
}
