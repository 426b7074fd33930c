//! The consumer scan page in a real headless Chromium on a 360 px phone screen: every verdict in
//! both languages (banner, key fields, language, no sideways scrolling, 16 px text, WCAG AA
//! contrast), the signature check on the device against the docs/format.md vectors and real
//! tokens, and the warning when that check disagrees with the server.
//!
//! `STARMARK_SCREENSHOTS=1` also writes docs/img/scan-<verdict>.png (Chinese, 360 px) for the
//! README; without it the tree is left alone.

use crate::common;

use chrono::Days;
use common::browser::{contrast_ratio, Browser, BrowserOptions};
use common::marks::tampered;
use common::{issue_body, spawn_app_with, TestApp};
use serde_json::{json, Value};
use starmark::crypto::keys;
use starmark::crypto::token::{self, MarkClaims};
use starmark::crypto::Signer;
use starmark::domain::CertificateNumber;
use starmark::registry::clock;

const ISSUER: &str = "华测商品售后服务认证中心";
const SCOPE: &str = "家用电器（空调、冰箱、洗衣机）的安装、维修与退换货服务";

/// One page to open, and what it must show.
struct Case {
    verdict: &'static str,
    token: String,
    /// Headline words in (zh, en).
    headline: (&'static str, &'static str),
    /// The certificate's holder, when the page shows the certificate.
    holder: Option<&'static str>,
    /// Text the verdict detail must contain in (zh, en).
    detail: (&'static str, &'static str),
}

/// A registry with one mark of every verdict.
struct Scenario {
    app: TestApp,
    cases: Vec<Case>,
    /// A genuine serial already checked often enough to be flagged as copied.
    copied: String,
}

async fn scenario() -> Scenario {
    let app = spawn_app_with(|config| {
        config.issuer_name = ISSUER.into();
        // The copied serial below is checked from many networks, named by the "proxy".
        config.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    let holders = [
        ("SM2026000101", "厦门星标电器有限公司", 101),
        ("SM2026000102", "福州暂停电器有限公司", 102),
        ("SM2026000103", "泉州撤销电器有限公司", 103),
        ("SM2026000104", "漳州注销电器有限公司", 104),
        ("SM2026000106", "莆田作废标志电器有限公司", 106),
    ];
    for (number, name, n) in holders {
        let mut body = issue_body(number, name, n);
        body["scope"] = json!(SCOPE);
        app.issue(&body).await;
        app.order(number, 50).await;
    }
    let mut expired = issue_body("SM2020000105", "龙岩过期电器有限公司", 105);
    expired["scope"] = json!(SCOPE);
    expired["issued"] = json!("2020-01-01");
    app.issue(&expired).await;

    let until = (clock::today() + Days::new(30)).to_string();
    let (status, body) = app
        .status("SM2026000102", json!({"action": "suspend", "reason": "监督审核发现不符合项", "until": until}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.status("SM2026000103", json!({"action": "revoke", "reason": "未按期整改"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.status("SM2026000104", json!({"action": "withdraw", "reason": "企业申请"})).await;
    assert_eq!(status, 200, "{body}");
    let response = app
        .post(
            "/api/v1/certificates/SM2026000106/marks/1/revoke",
            &app.issuer,
            &json!({"first": 1, "last": 10, "reason": "标签在印刷厂被盗"}),
        )
        .await;
    assert_eq!(response.status(), 200);

    let valid = app.mark_token("SM2026000101", 1, 1).await;
    // Well signed by the registry's own key, for a certificate it never issued.
    let signer = Signer::new(keys::load_signing_key(&app.config.keys_dir).expect("key"));
    let record = app.registry.get(&CertificateNumber::parse("SM2026000101").expect("n")).await.expect("r").record;
    let claims = MarkClaims {
        number: CertificateNumber::parse("SM2026000999").expect("number"),
        uscc: record.holder.uscc.clone(),
        level: record.level,
        valid_until: record.valid_until,
        batch: 1,
        serial: 1,
        gtin: None,
    };
    let unknown = token::issue(&signer, &claims);

    // A copied serial: checked from 11 different networks before the browser opens it.
    let copied = app.mark_token("SM2026000101", 1, 2).await;
    for n in 1..=11 {
        let response = app
            .client
            .get(app.url(&format!("/v/{copied}")))
            .header("accept", "application/json")
            .header(
                "user-agent",
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
            )
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .send();
        assert_eq!(response.await.expect("scan").status(), 200);
    }

    let cases = vec![
        Case {
            verdict: "valid",
            token: valid.clone(),
            headline: ("正品标志 · 认证有效", "Genuine mark · certificate valid"),
            holder: Some("厦门星标电器有限公司"),
            detail: ("证书当前有效", "the certificate is valid today"),
        },
        Case {
            verdict: "suspended",
            token: app.mark_token("SM2026000102", 1, 1).await,
            headline: ("认证已暂停", "Certificate suspended"),
            holder: Some("福州暂停电器有限公司"),
            detail: ("暂停至", "The suspension runs until"),
        },
        Case {
            verdict: "revoked",
            token: app.mark_token("SM2026000103", 1, 1).await,
            headline: ("认证已撤销", "Certificate revoked"),
            holder: Some("泉州撤销电器有限公司"),
            detail: ("被撤销", "was revoked on"),
        },
        Case {
            verdict: "withdrawn",
            token: app.mark_token("SM2026000104", 1, 1).await,
            headline: ("认证已注销", "Certificate withdrawn"),
            holder: Some("漳州注销电器有限公司"),
            detail: ("申请注销", "withdrawn at the holder's request"),
        },
        Case {
            verdict: "expired",
            token: app.mark_token("SM2020000105", 0, 0).await,
            headline: ("认证已过期", "Certificate expired"),
            holder: Some("龙岩过期电器有限公司"),
            detail: ("已过期失效", "it has expired"),
        },
        Case {
            verdict: "mark_revoked",
            token: app.mark_token("SM2026000106", 1, 5).await,
            headline: ("此标志已作废", "This mark has been revoked"),
            holder: Some("莆田作废标志电器有限公司"),
            detail: ("标签在印刷厂被盗", "标签在印刷厂被盗"),
        },
        Case {
            verdict: "not_genuine",
            token: tampered(&valid, 20),
            headline: ("非正品标志 · 可能为伪造", "NOT GENUINE · possible counterfeit"),
            holder: None,
            detail: ("篡改或伪造", "altered or forged"),
        },
        Case {
            verdict: "unknown",
            token: unknown,
            headline: ("查无此标志 · 请勿信任", "UNKNOWN mark · do not trust it"),
            holder: None,
            detail: ("SM2026000999", "SM2026000999"),
        },
    ];
    Scenario { app, cases, copied }
}

fn screenshots_wanted() -> bool {
    std::env::var("STARMARK_SCREENSHOTS").is_ok_and(|v| v == "1")
}

/// Fails unless nothing on the page is wider than the 360 px screen.
async fn assert_no_sideways_scroll(browser: &Browser, what: &str) {
    let width = browser.execute("return document.scrollingElement.scrollWidth", vec![]).await;
    assert!(width.as_u64().is_some_and(|w| w <= 360), "{what}: the page is {width} px wide on a 360 px screen");
}

/// Fails unless every element that shows text of its own is at 16 px or more.
async fn assert_text_at_least_16px(browser: &Browser, what: &str) {
    let small = browser
        .execute(
            "const small = [];\
             for (const e of document.body.querySelectorAll('*')) {\
               const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== '');\
               if (!own || e.getClientRects().length === 0) continue;\
               const size = parseFloat(getComputedStyle(e).fontSize);\
               if (size < 16) small.push(e.tagName + '.' + e.className + ' ' + size + 'px');\
             }\
             return small;",
            vec![],
        )
        .await;
    assert_eq!(small, json!([]), "{what}: text below 16 px");
}

/// Fails unless every element showing text of its own has a WCAG AA contrast (4.5:1) against
/// the first opaque background behind it (white when none is set).
async fn assert_text_contrast(browser: &Browser, what: &str) {
    let pairs = browser
        .execute(
            "const out = [];\
             for (const e of document.body.querySelectorAll('*')) {\
               const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== '');\
               if (!own || e.getClientRects().length === 0) continue;\
               let b = e, bg = 'rgb(255, 255, 255)';\
               while (b) {\
                 const c = getComputedStyle(b).backgroundColor;\
                 if (c !== 'transparent' && !c.startsWith('rgba(0, 0, 0, 0)')) { bg = c; break; }\
                 b = b.parentElement;\
               }\
               out.push([e.tagName + '#' + e.id + '.' + e.className, getComputedStyle(e).color, bg]);\
             }\
             return out;",
            vec![],
        )
        .await;
    for pair in pairs.as_array().expect("pairs") {
        let (element, colour, background) =
            (pair[0].as_str().expect("e"), pair[1].as_str().expect("c"), pair[2].as_str().expect("b"));
        let ratio = contrast_ratio(colour, background);
        assert!(ratio >= 4.5, "{what}: {element} has contrast {ratio:.2} ({colour} on {background})");
    }
}

/// The visible text of `main` without the data the registry holds (names, scope, codes), so
/// what is left is the page's own words, which must all be in the page's language.
async fn own_words(browser: &Browser, data: &[&str]) -> String {
    let text = browser
        .execute(
            "const main = document.querySelector('main').cloneNode(true);\
             main.querySelectorAll('code, [lang]').forEach(e => e.remove());\
             return main.innerText;",
            vec![],
        )
        .await;
    let mut text = text.as_str().expect("text").to_string();
    for value in data {
        text = text.replace(value, "");
    }
    text
}

async fn check_every_verdict(lang: &str) {
    let zh = lang.starts_with("zh");
    let scenario = scenario().await;
    let app = &scenario.app;
    let browser = Browser::start(BrowserOptions::phone(lang)).await;
    for case in &scenario.cases {
        let what = format!("{} ({lang})", case.verdict);
        browser.goto(&app.url(&format!("/v/{}", case.token))).await;
        let html_lang = browser.execute("return document.documentElement.lang", vec![]).await;
        assert_eq!(html_lang, json!(if zh { "zh-CN" } else { "en" }), "{what}");

        // The banner: icon and words, the verdict, the data time.
        let h1 = browser.text("#verdict h1").await;
        let headline = if zh { case.headline.0 } else { case.headline.1 };
        assert!(h1.contains(headline), "{what}: banner says {h1:?}");
        let icon = browser.text("#verdict .verdict-icon").await;
        assert!(!icon.trim().is_empty(), "{what}: the banner has an icon");
        assert_eq!(
            browser.execute("return document.getElementById('verdict').dataset.verdict", vec![]).await,
            json!(case.verdict)
        );
        let detail = browser.text("#verdict-detail").await;
        let expected = if zh { case.detail.0 } else { case.detail.1 };
        assert!(detail.contains(expected), "{what}: detail {detail:?} lacks {expected:?}");
        let as_of = browser.text("#as-of").await;
        let (label, zone) = if zh { ("数据时间", "北京时间") } else { ("Data as of", "China Standard Time") };
        assert!(as_of.contains(label) && as_of.contains(zone), "{what}: {as_of:?}");
        let headings = browser
            .execute("return [...document.querySelectorAll('main h1, main h2')].map(h => h.tagName)", vec![])
            .await;
        assert_eq!(headings[0], "H1", "{what}: the verdict is the first heading");
        assert_eq!(headings.as_array().map(|h| h.iter().filter(|t| *t == "H1").count()), Some(1), "{what}");

        // Contrast of the banner's words on its colour.
        let colour = browser.style("#verdict h1", "color").await;
        let background = browser.style("#verdict", "background-color").await;
        let ratio = contrast_ratio(&colour, &background);
        assert!(ratio >= 4.5, "{what}: banner contrast {ratio:.2} ({colour} on {background})");

        // The key fields.
        if let Some(holder) = case.holder {
            assert_eq!(browser.text("#holder").await, holder, "{what}");
            assert!(browser.text("#uscc").await.starts_with("91350200"), "{what}");
            let level = browser.text("#level").await;
            assert_eq!(level, if zh { "★★★★★ 五星级" } else { "★★★★★ Five-star" }, "{what}");
            assert_eq!(browser.text("#scope").await, SCOPE, "{what}");
            let validity = browser.text("#validity").await;
            assert!(validity.contains(if zh { " 至 " } else { " to " }), "{what}: {validity}");
            assert!(browser.text("#issuer").await.contains(ISSUER), "{what}");
            assert!(browser.text("#status").await.contains(if zh { "起" } else { "since" }), "{what}");
            let serial = browser.text("#serial").await;
            if case.verdict == "expired" {
                assert!(serial.contains(if zh { "证书级标志" } else { "Certificate-level mark" }), "{what}: {serial}");
            } else {
                assert!(serial.contains("1-0000"), "{what}: {serial}");
            }
            let checks = browser.text("#checks").await;
            let first = if zh { "已有 1 个网络查询过此标志" } else { "Checked from 1 network since" };
            assert!(checks.contains(first), "{what}: {checks}");
            // Advice on what to do is for a revoked mark only; a genuine certificate needs none.
            assert_eq!(browser.exists("#what-to-do").await, case.verdict == "mark_revoked", "{what}");
        } else {
            let todo = browser.text("#what-to-do").await;
            let (dont, keep) = if zh { ("请勿相信", "保留商品") } else { ("Do not trust", "Keep the product") };
            assert!(todo.contains(dont) && todo.contains(keep) && todo.contains("12315"), "{what}: {todo}");
            assert!(todo.contains(ISSUER) && todo.contains("CNCA-R-2026-042"), "{what}: report to the body: {todo}");
            assert!(browser.exists("#what-to-do a[href='tel:12315']").await, "{what}");
            assert!(!browser.exists("#holder").await, "{what}: no holder for a mark the registry cannot vouch for");
        }
        match case.verdict {
            "suspended" => {
                let status = browser.text("#status").await;
                assert!(status.contains("监督审核发现不符合项"), "{what}: the reason shows: {status}");
                assert!(status.contains(if zh { "暂停至" } else { "until" }), "{what}: {status}");
                let why = if zh {
                    "原因：监督审核发现不符合项"
                } else {
                    "Reason: 监督审核发现不符合项"
                };
                assert!(detail.contains(why), "{what}: the banner says why: {detail}");
            }
            "revoked" => {
                assert!(browser.text("#status").await.contains("未按期整改"), "{what}");
                assert!(detail.contains("未按期整改"), "{what}: the banner says why: {detail}");
            }
            "mark_revoked" => {
                assert!(browser.text("#mark-revoked").await.contains("标签在印刷厂被盗"), "{what}");
                assert!(browser.exists("#what-to-do").await, "{what}");
            }
            _ => {}
        }
        assert!(!browser.exists("#copied-warning").await, "{what}: checked once, not flagged");

        // Every word of the page's own is in its language.
        let mut data = vec![ISSUER, SCOPE, "监督审核发现不符合项", "未按期整改", "企业申请", "标签在印刷厂被盗"];
        data.extend(case.holder);
        let words = own_words(&browser, &data).await;
        if zh {
            let allowed = ["JavaScript", "WebCrypto", "CNCA"];
            let english: Vec<&str> = words
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| w.len() >= 3 && !allowed.contains(w))
                .collect();
            assert!(english.is_empty(), "{what}: English words on the Chinese page: {english:?}");
        } else {
            let chinese: String = words.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).collect();
            assert!(chinese.is_empty(), "{what}: Chinese on the English page: {chinese}");
        }

        // The device check's answer is part of the page: measure with it shown.
        device_result(&browser).await;
        assert_no_sideways_scroll(&browser, &what).await;
        assert_text_at_least_16px(&browser, &what).await;
        assert_text_contrast(&browser, &what).await;
        if zh && screenshots_wanted() {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/img/scan-{}.png", case.verdict));
            browser.screenshot(path).await;
        }
    }

    // A serial checked from more networks than one package would be says so, in words.
    browser.goto(&app.url(&format!("/v/{}", scenario.copied))).await;
    let warning = browser.text("#copied-warning").await;
    let expected = if zh {
        "此标志已从超过 10 个不同网络被查询"
    } else {
        "This mark was checked from more than 10 different networks"
    };
    assert!(warning.contains(expected), "copied mark: {warning}");
    assert!(browser.text("#checks").await.contains("10"), "copied mark");
    browser.close().await;
}

#[tokio::test]
async fn every_verdict_in_chinese() {
    check_every_verdict("zh-CN").await;
}

#[tokio::test]
async fn every_verdict_in_english() {
    check_every_verdict("en-US").await;
}

#[tokio::test]
async fn the_language_toggle_switches_and_keeps_the_verdict() {
    let scenario = scenario().await;
    let app = &scenario.app;
    let browser = Browser::start(BrowserOptions::phone("zh-CN")).await;
    let valid = &scenario.cases[0].token;
    browser.goto(&app.url(&format!("/v/{valid}"))).await;
    assert!(browser.text("#verdict h1").await.contains("正品标志"));
    browser
        .client()
        .find(fantoccini::Locator::Css("#lang-toggle"))
        .await
        .expect("toggle")
        .click()
        .await
        .expect("click");
    browser.wait_until("the English page", "return document.documentElement.lang === 'en'").await;
    assert!(browser.text("#verdict h1").await.contains("Genuine mark"));
    let url = browser.execute("return location.pathname + location.search", vec![]).await;
    assert_eq!(url, json!(format!("/v/{valid}?lang=en")));
    browser
        .client()
        .find(fantoccini::Locator::Css("#lang-toggle"))
        .await
        .expect("toggle")
        .click()
        .await
        .expect("click");
    browser.wait_until("the Chinese page", "return document.documentElement.lang === 'zh-CN'").await;
    assert!(browser.text("#verdict h1").await.contains("正品标志"));
    browser.close().await;
}

/// A fenced block of docs/format.md by its tag.
fn vector(tag: &str) -> String {
    let doc = include_str!("../../docs/format.md");
    let start = doc.find(&format!("```text {tag}\n")).unwrap_or_else(|| panic!("no block {tag}")) + tag.len() + 9;
    doc[start..].split("\n```").next().expect("block").trim().to_string()
}

#[tokio::test]
async fn the_device_check_agrees_with_the_format_vectors() {
    let scenario = scenario().await;
    let app = &scenario.app;
    let browser = Browser::start(BrowserOptions::phone("en-US")).await;
    // Any page of ours loads the script; its own check runs against the registry's list.
    browser.goto(&app.url(&format!("/v/{}", scenario.cases[0].token))).await;
    // The vectors' trust list (docs/format.md section 6: vector 1's key).
    let list = json!({"keys": [{"key_id": vector("mark-vector-key-id"), "public_key": "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="}]});
    let genuine = check(&browser, &vector("mark-vector-token"), list.clone()).await;
    assert_eq!(genuine["result"], "verified", "{genuine}");
    assert_eq!(
        genuine["claims"],
        json!({"number": "SM2026ASC000001", "uscc": "91350200776049653A", "level": "five_star",
               "valid_until": "2029-03-01", "batch": 3, "serial": 123456})
    );
    assert_eq!(check(&browser, &vector("mark-vector-token").to_lowercase(), list.clone()).await["result"], "verified");
    assert_eq!(check(&browser, &vector("mark-vector-flipped"), list.clone()).await["result"], "invalid");
    assert_eq!(check(&browser, &vector("mark-vector-unknown-key"), list.clone()).await["result"], "unknown_key");
    assert_eq!(check(&browser, &vector("mark-vector-truncated"), list.clone()).await["result"], "malformed");
    assert_eq!(check(&browser, "hello", list.clone()).await["result"], "malformed");
    // As the registry reads them: a certificate number starts with a letter, a USCC has its
    // check character, the base32 part has no stray bits.
    let token = vector("mark-vector-token");
    assert_eq!(check(&browser, &token.replacen("SM", "1M", 1), list.clone()).await["result"], "malformed");
    assert_eq!(check(&browser, &token.replacen("653A", "653B", 1), list.clone()).await["result"], "malformed");
    let stray_bits = format!("{}J", &token[..token.len() - 1]);
    assert_ne!(stray_bits, token);
    assert_eq!(check(&browser, &stray_bits, list.clone()).await["result"], "malformed");
    // An entry whose key id is not its key's id is dropped, as docs/format.md section 6 says.
    let lying = json!({"keys": [{"key_id": vector("mark-vector-key-id"), "public_key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}]});
    assert_eq!(check(&browser, &vector("mark-vector-token"), lying).await["result"], "unknown_key");

    // The signed message is rebuilt exactly: context, number.uscc, bytes 0-19.
    let message = browser
        .execute(
            "const p = StarmarkMark.parseToken(arguments[0]);\
             return [...p.message].map(b => b.toString(16).padStart(2, '0')).join('');",
            vec![json!(vector("mark-vector-token"))],
        )
        .await;
    let expected = format!(
        "{}{}",
        hex_of(b"starmark-mark-v1\nSM2026ASC000001.91350200776049653A"),
        vector("mark-vector-fields-hex")
    );
    assert_eq!(message, json!(expected));
    browser.close().await;
}

/// Runs the page's `StarmarkMark.verifyToken` on a token and a trust list.
async fn check(browser: &Browser, token: &str, list: Value) -> Value {
    browser
        .execute(
            "return StarmarkMark.verifyToken(arguments[0], arguments[1]).then(r => ({result: r.result, claims: r.claims}));",
            vec![json!(token), list],
        )
        .await
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits for the page's own device check and gives its result.
async fn device_result(browser: &Browser) -> String {
    browser.wait_until("device check", "return document.getElementById('device-check').dataset.state === 'done'").await;
    let result = browser.execute("return document.getElementById('device-check').dataset.result", vec![]).await;
    result.as_str().expect("result").to_string()
}

#[tokio::test]
async fn the_page_checks_the_signature_on_the_device_and_warns_on_disagreement() {
    let scenario = scenario().await;
    let app = &scenario.app;
    let browser = Browser::start(BrowserOptions::phone("zh-CN")).await;
    let genuine = scenario.cases[0].token.clone();
    let fake = tampered(&genuine, 20);

    // Genuine: the device agrees with the registry.
    browser.goto(&app.url(&format!("/v/{genuine}"))).await;
    assert_eq!(device_result(&browser).await, "verified");
    let shown = browser.text("#device-check-result").await;
    assert!(shown.contains("已在本机核验签名 ✔"), "{shown}");
    assert!(!browser.exists("#device-mismatch").await);

    // Tampered: the device finds the signature bad, as the registry did; no disagreement.
    browser.goto(&app.url(&format!("/v/{fake}"))).await;
    assert_eq!(device_result(&browser).await, "invalid");
    assert!(browser.text("#device-check-result").await.contains("签名不匹配"));
    assert!(!browser.exists("#device-mismatch").await);

    // A disagreement: the page of a genuine verdict is made to carry a tampered token (as a
    // compromised or buggy server answer would), and the check runs again. The warning shows.
    browser.goto(&app.url(&format!("/v/{genuine}"))).await;
    device_result(&browser).await;
    browser
        .execute(
            "document.getElementById('device-check').dataset.token = arguments[0]; return StarmarkScan.check().then(() => true);",
            vec![json!(fake)],
        )
        .await;
    assert_eq!(device_result(&browser).await, "invalid");
    let warning = browser.text("#device-mismatch").await;
    assert!(
        warning.contains("本机核验与登记系统的结论不一致") && warning.contains("登记系统认为标志是正品"),
        "{warning}"
    );
    let visible = browser
        .execute(
            "const e = document.getElementById('device-mismatch'); const s = getComputedStyle(e);\
             return e.getClientRects().length > 0 && s.visibility === 'visible' && s.display !== 'none';",
            vec![],
        )
        .await;
    assert_eq!(visible, json!(true), "the disagreement is shown, never hidden");

    // A browser without WebCrypto (or without Ed25519 in it) is told so, neutrally: no ✔, and
    // no disagreement claimed either.
    browser.goto(&app.url(&format!("/v/{genuine}"))).await;
    device_result(&browser).await;
    browser
        .execute(
            "Object.defineProperty(window.crypto, 'subtle', {get: () => undefined});\
             return StarmarkScan.check().then(() => true);",
            vec![],
        )
        .await;
    assert_eq!(device_result(&browser).await, "unsupported");
    let shown = browser.text("#device-check-result").await;
    assert!(shown.contains("此浏览器无法在本机核验签名") && !shown.contains('✔'), "{shown}");
    assert!(!browser.exists("#device-mismatch").await);

    // The other way round: the registry says not genuine, the device verifies the token.
    browser.goto(&app.url(&format!("/v/{fake}"))).await;
    device_result(&browser).await;
    browser
        .execute(
            "document.getElementById('device-check').dataset.token = arguments[0]; return StarmarkScan.check().then(() => true);",
            vec![json!(genuine)],
        )
        .await;
    assert_eq!(device_result(&browser).await, "verified");
    let warning = browser.text("#device-mismatch").await;
    assert!(warning.contains("登记系统认为标志不是正品"), "{warning}");
    browser.close().await;
}

#[tokio::test]
async fn without_javascript_the_page_is_whole_and_says_the_device_check_needs_it() {
    let scenario = scenario().await;
    let app = &scenario.app;
    for (accept_language, note, headline) in [
        ("zh-CN,zh;q=0.9", "本机核验签名需要启用 JavaScript", "正品标志 · 认证有效"),
        ("en-GB,en;q=0.9", "needs JavaScript", "Genuine mark · certificate valid"),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/v/{}", scenario.cases[0].token)))
            .header("accept-language", accept_language)
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 200);
        let policy = response.headers()["content-security-policy"].to_str().expect("csp").to_string();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let html = response.text().await.expect("html");
        assert!(html.contains(note) && html.contains(headline), "{accept_language}");
        assert!(html.contains("厦门星标电器有限公司") && html.contains("SM2026000101"));
        // Nothing inline: every script has a src, no style attributes or elements.
        assert_eq!(html.matches("<script").count(), html.matches("<script src=\"/static/").count());
        assert!(!html.contains("<style") && !html.contains(" style="), "no inline styles");
    }
    // The scripts and styles the page names are served from the binary.
    for name in ["verify-mark.js", "scan.js", "scan.css"] {
        let response = app.get(&format!("/static/{name}")).await;
        assert_eq!(response.status(), 200, "{name}");
    }
}

#[test]
fn contrast_of_known_pairs() {
    assert!((contrast_ratio("rgb(0, 0, 0)", "rgb(255, 255, 255)") - 21.0).abs() < 1e-9);
    assert!((contrast_ratio("rgb(255, 255, 255)", "rgb(255, 255, 255)") - 1.0).abs() < 1e-9);
    // #767676 on white is the classic 4.54:1 threshold grey.
    let grey = contrast_ratio("rgb(118, 118, 118)", "rgba(255, 255, 255, 1)");
    assert!(grey > 4.5 && grey < 4.6, "{grey}");
}
