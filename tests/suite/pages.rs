//! The people-facing pages over real HTTP: search, certificate, language negotiation, the
//! strict policy and the built-in assets. (Layout and scripts are checked in a real browser by
//! the browser_* tests.)

use crate::common;

use common::{issue_body, spawn_app, uscc, TestApp};
use serde_json::json;

fn until() -> String {
    (starmark::registry::clock::today() + chrono::Days::new(60)).to_string()
}

async fn seed(app: &TestApp) {
    for (number, name, n) in [
        ("SM2026PAGE0001", "海尔智家股份有限公司", 1),
        ("SM2026PAGE0002", "海信视像科技股份有限公司", 2),
        ("SM2026PAGE0003", "美的集团股份有限公司", 3),
    ] {
        let mut body = issue_body(number, name, n);
        body["holder"]["name_en"] = json!(format!("Company {n} <b>&</b>"));
        app.issue(&body).await;
    }
    let (status, answer) =
        app.status("SM2026PAGE0002", json!({"action": "suspend", "reason": "整改中 <script>", "until": until()})).await;
    assert_eq!(status, 200, "{answer}");
}

async fn page(app: &TestApp, path: &str, accept_language: &str) -> (u16, String) {
    let response =
        app.client.get(app.url(path)).header("accept-language", accept_language).send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8", "{path}");
    let policy = headers["content-security-policy"].to_str().expect("policy");
    assert!(policy.starts_with("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(headers["vary"].to_str().expect("vary").contains("Accept-Language"));
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn search_page_finds_by_name_number_and_uscc_and_filters_by_state() {
    let app = spawn_app().await;
    seed(&app).await;

    let (status, html) = page(&app, "/search?q=%E6%B5%B7", "zh-CN").await;
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"zh-CN\">"), "Chinese by default");
    assert!(html.contains("data-number=\"SM2026PAGE0001\"") && html.contains("data-number=\"SM2026PAGE0002\""));
    assert!(!html.contains("data-number=\"SM2026PAGE0003\""), "美的 does not contain 海");
    assert!(html.contains("state-suspended") && html.contains("暂停"), "state as a badge with words");
    assert!(html.contains("数据时间"), "data as of is always shown");

    let (_, html) = page(&app, "/search?q=SM2026PAGE0003&lang=en", "zh-CN").await;
    assert!(html.contains("<html lang=\"en\">") && html.contains("data-number=\"SM2026PAGE0003\""));
    assert!(html.contains("Company 3 &lt;b&gt;&amp;&lt;/b&gt;"), "names are escaped");
    assert!(html.contains("Valid") && html.contains("Data as of"));

    let (_, html) = page(&app, &format!("/search?q={}", uscc(2)), "en").await;
    assert!(html.contains("data-number=\"SM2026PAGE0002\"") && !html.contains("data-number=\"SM2026PAGE0001\""));

    let (_, html) = page(&app, "/search?q=&state=suspended", "en").await;
    assert!(html.contains("data-number=\"SM2026PAGE0002\"") && !html.contains("data-number=\"SM2026PAGE0001\""));
    assert!(html.contains("<option value=\"suspended\" selected>"), "the form keeps the filter");

    let (_, html) = page(&app, "/search?q=nothing-like-this", "en").await;
    assert!(html.contains("No certificate matches."));
}

#[tokio::test]
async fn search_page_explains_a_bad_filter_instead_of_failing() {
    let app = spawn_app().await;
    let (status, html) = page(&app, "/search?q=&state=sideways", "en").await;
    assert_eq!(status, 400);
    assert!(html.contains("role=\"alert\"") && html.contains("sideways"), "{html}");
}

#[tokio::test]
async fn search_pages_through_many_results() {
    let app = spawn_app().await;
    for n in 0..25u32 {
        app.issue(&issue_body(&format!("SM2026MANY{n:04}"), "分页测试有限公司", 100 + n)).await;
    }
    let (_, first) = page(&app, "/search?q=%E5%88%86%E9%A1%B5", "en").await;
    assert_eq!(first.matches("data-number=").count(), 20);
    let next = first.split("rel=\"next\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("next link");
    let (_, second) = page(&app, &next.replace("&amp;", "&"), "en").await;
    assert_eq!(second.matches("data-number=").count(), 5);
    assert!(!second.contains("rel=\"next\""));
}

#[tokio::test]
async fn certificate_page_shows_state_reason_and_facts_in_both_languages() {
    let app = spawn_app().await;
    seed(&app).await;
    let (status, zh) = page(&app, "/certificates/SM2026PAGE0002", "zh-CN,zh;q=0.9").await;
    assert_eq!(status, 200);
    assert!(zh.contains("<h1>SM2026PAGE0002</h1>") && zh.contains("暂停") && zh.contains(&until()));
    assert!(zh.contains("整改中 &lt;script&gt;"), "the reason is shown, escaped");
    assert!(zh.contains(&uscc(2)) && zh.contains("海信视像科技股份有限公司"));
    let (_, en) = page(&app, "/certificates/SM2026PAGE0002", "en-GB,en;q=0.9").await;
    assert!(
        en.contains("Suspended since") && en.contains(&format!("until {}", until())) && en.contains("Issuing body")
    );
    assert!(en.contains("href=\"/certificates/SM2026PAGE0002?lang=zh\""), "the toggle keeps the page");

    let (status, html) = page(&app, "/certificates/SM2026FAKE0001", "en").await;
    assert_eq!(status, 404);
    assert!(html.contains("No such certificate"));
    let (status, html) = page(&app, "/certificates/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "en").await;
    assert_eq!(status, 404);
    assert!(html.contains("No such certificate"), "{html}");
    assert!(!html.contains("<script>alert(1)"), "the path is reflected unescaped: {html}");
}

#[tokio::test]
async fn home_is_the_search_page_and_assets_are_built_in() {
    let app = spawn_app().await;
    let (status, html) = page(&app, "/", "zh-CN").await;
    assert_eq!(status, 200);
    let css = html.split("rel=\"stylesheet\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("css link");
    assert!(css.starts_with("/static/starmark.css?v="), "{css}");
    let response = app.get(css).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = response.headers()["etag"].clone();
    assert!(response.text().await.expect("css").contains("font: 16px"));
    let again = app.client.get(app.url(css)).header("if-none-match", etag).send().await.expect("request");
    assert_eq!(again.status(), 304);
    let stale = app.get("/static/starmark.css?v=0000").await;
    assert_eq!(stale.headers()["cache-control"], "public, max-age=300", "an old version is not kept for good");
    common::assert_problem(app.get("/static/nothing.js").await, 404, "not-found").await;
}

/// Text that would open an element, close a double- or single-quoted attribute, or be read as
/// an entity if any page put it into HTML unescaped; `tag` says which field it was.
fn hostile(tag: &str) -> String {
    format!("{tag}<script>x()</script>\"'&amp;")
}

/// `html` shows the hostile text of `tag` escaped, and nothing of it raw.
fn assert_escaped(html: &str, tag: &str, what: &str) {
    let escaped = format!("{tag}&lt;script&gt;x()&lt;/script&gt;&quot;");
    let shown = [format!("{escaped}'&amp;amp;"), format!("{escaped}&#39;&amp;amp;")];
    assert!(shown.iter().any(|s| html.contains(s.as_str())), "{what}: {tag} is shown escaped");
    assert!(!html.contains(&hostile(tag)), "{what}: {tag} is never raw");
}

/// No hostile text anywhere on the page opened an element or left an attribute.
fn assert_nothing_raw(html: &str, what: &str) {
    assert!(!html.contains("<script>x()"), "{what}: no hostile element");
    assert!(!html.contains("</script>\"") && !html.contains("&lt;/script&gt;\""), "{what}: no raw quote");
}

#[tokio::test]
async fn every_client_controlled_field_renders_escaped_on_every_page() {
    let app = spawn_app().await;
    // A certificate whose every free-text field is hostile, suspended once its marks are out ...
    let mut body = issue_body("SM2026HOSTILE1", &hostile("holder"), 61);
    body["holder"]["name_en"] = json!(hostile("name-en"));
    body["scope"] = json!(hostile("scope"));
    app.issue(&body).await;
    let audit =
        json!({"date": starmark::registry::clock::today().to_string(), "outcome": "passed", "note": hostile("audit")});
    let response = app.post("/api/v1/certificates/SM2026HOSTILE1/surveillance", &app.issuer, &audit).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    // ... and a valid one whose mark was revoked for a hostile reason.
    app.issue(&issue_body("SM2026HOSTILE2", &hostile("holder-2"), 62)).await;
    for number in ["SM2026HOSTILE1", "SM2026HOSTILE2"] {
        let response =
            app.post(&format!("/api/v1/certificates/{number}/marks"), &app.issuer, &json!({"count": 3})).await;
        assert_eq!(response.status(), 201);
    }
    let (status, answer) =
        app.status("SM2026HOSTILE1", json!({"action": "suspend", "reason": hostile("reason"), "until": until()})).await;
    assert_eq!(status, 200, "{answer}");
    let revoke = json!({"first": 1, "last": 3, "reason": hostile("mark-reason")});
    let response = app.post("/api/v1/certificates/SM2026HOSTILE2/marks/1/revoke", &app.issuer, &revoke).await;
    assert_eq!(response.status(), 200);
    let token = |number: &'static str| {
        let registry = app.registry.clone();
        async move {
            let number = starmark::domain::CertificateNumber::parse(number).expect("number");
            let record = registry.get(&number).await.expect("certificate").record;
            registry.mark_token(&record, 1, 2).expect("token")
        }
    };
    let (suspended, revoked) = (token("SM2026HOSTILE1").await, token("SM2026HOSTILE2").await);

    for lang in ["zh-CN", "en"] {
        let (status, html) = page(&app, &format!("/v/{suspended}"), lang).await;
        assert_eq!(status, 200);
        for tag in ["holder", "name-en", "scope", "reason"] {
            assert_escaped(&html, tag, "scan page");
        }
        assert_nothing_raw(&html, "scan page");
        let (_, html) = page(&app, &format!("/v/{revoked}"), lang).await;
        assert!(html.contains("data-verdict=\"mark_revoked\""));
        assert_escaped(&html, "mark-reason", "scan page of a revoked mark");
        assert_nothing_raw(&html, "scan page of a revoked mark");

        let (_, html) = page(&app, "/certificates/SM2026HOSTILE1", lang).await;
        for tag in ["holder", "name-en", "scope", "reason", "audit"] {
            assert_escaped(&html, tag, "certificate page");
        }
        assert_nothing_raw(&html, "certificate page");

        let (_, html) = page(&app, "/search?q=SM2026HOSTILE", lang).await;
        assert!(html.contains("data-number=\"SM2026HOSTILE2\""));
        assert_escaped(&html, "holder-2", "search results");
        assert_nothing_raw(&html, "search results");
    }

    // What the client sends back to itself: the search field, a number or token in the path.
    let encoded = |tag: &str| hostile(tag).bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let (_, html) = page(&app, &format!("/search?q={}", encoded("query")), "en").await;
    assert!(html.contains("value=\"query&lt;script&gt;"), "the field keeps the query, escaped");
    assert_escaped(&html, "query", "search form");
    assert_nothing_raw(&html, "search form");
    let (status, html) = page(&app, &format!("/certificates/{}", encoded("number")), "en").await;
    assert_eq!(status, 404);
    assert_escaped(&html, "number", "certificate not found");
    assert_nothing_raw(&html, "certificate not found");
    let (status, html) = page(&app, &format!("/v/{}", encoded("token")), "en").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-verdict=\"not_genuine\""));
    assert_escaped(&html, "token", "scan page of a forged token");
    assert_nothing_raw(&html, "scan page of a forged token");

    // A receipt lists the holder's name and the query as the client typed it.
    let issued: serde_json::Value = app
        .client
        .post(app.url("/api/v1/receipts"))
        .json(&json!({ "queries": [hostile("receipt-query"), "SM2026HOSTILE2"] }))
        .send()
        .await
        .expect("receipt")
        .json()
        .await
        .expect("receipt json");
    let id = issued["id"].as_str().expect("id");
    let (_, html) = page(&app, &format!("/receipts/{id}"), "en").await;
    assert_escaped(&html, "receipt-query", "receipt page");
    assert_escaped(&html, "holder-2", "receipt page");
    assert_nothing_raw(&html, "receipt page");
}
