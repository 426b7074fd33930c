//! Bounds on single requests (issue 26, section 1): a bulk answer or receipt names at most 10
//! certificates a row and 2,000 in all and counts the rest in `more`; a receipt has a hard
//! size bound and the registry verifies every receipt it issued; the receipt page is paged;
//! text the client typed is shown only as marked input; certificate-level artwork is bounded
//! and cached.

use crate::common;

use common::{assert_problem, issue_body, spawn_app_on, uscc, Backend, TestApp};
use serde_json::{json, Value};

/// The bounds docs/api.md promises ("Bounds"; receipts), written out rather than read from the
/// source's constants, so that a change to them fails here until the documentation follows.
const MAX_CERTIFICATES_PER_ROW: usize = 10;
const MAX_CERTIFICATES: usize = 2_000;
const MAX_RECEIPT_BYTES: usize = 4 * 1024 * 1024;

/// The holder that has many certificates.
const BIG_HOLDER: u32 = 7;

/// Imports `count` certificates of the holder [`BIG_HOLDER`], numbered `SM2026MANY{n:04}`.
async fn import_many(app: &TestApp, from: u32, count: u32) {
    let mut csv = String::from("number,holder_name,holder_name_en,uscc,address,scope,system,commodity,customer\n");
    for n in from..from + count {
        csv.push_str(&format!(
            "SM2026MANY{n:04},多证书集团有限公司,Many Certificates Co.,{},厦门市示例路{n}号,家电售后服务,38,33,24\n",
            uscc(BIG_HOLDER)
        ));
    }
    let (rows, errors) = starmark::registry::parse_csv(csv.as_bytes()).expect("csv");
    assert!(errors.is_empty(), "{errors:?}");
    let report = app.registry.import("test", rows, &|_| {}).await.expect("import");
    assert_eq!(report.issued, u64::from(count));
}

async fn bulk(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client.post(app.url("/api/v1/verify/bulk")).json(body).send().await.expect("request")
}

fn listed(answer: &Value) -> usize {
    answer["results"].as_array().unwrap().iter().map(|r| r["certificates"].as_array().unwrap().len()).sum()
}

fn more(answer: &Value) -> u64 {
    answer["results"].as_array().unwrap().iter().map(|r| r["more"].as_u64().expect("every row says more")).sum()
}

async fn a_holder_row_lists_ten_and_says_how_many_more(backend: Backend) {
    let app = spawn_app_on(backend).await;
    import_many(&app, 1, 105).await;
    app.issue(&issue_body("SM2026ALONE01", "单证书有限公司", 8)).await;

    let response = bulk(&app, &json!({"queries": [uscc(BIG_HOLDER), "SM2026ALONE01"], "receipt": true})).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let row = &answer["results"][0];
    assert_eq!(row["outcome"], "found");
    assert_eq!(row["certificates"].as_array().unwrap().len(), MAX_CERTIFICATES_PER_ROW);
    assert_eq!(row["certificates"][0]["number"], "SM2026MANY0001", "the first ones in number order");
    assert_eq!(row["more"], 95, "105 found, 10 listed: the 95 others are counted, not dropped silently");
    assert_eq!(answer["results"][1]["more"], 0);
    assert_eq!(answer["summary"]["more"], 95);
    assert_eq!(answer["summary"]["valid"], 11, "the summary counts what is listed");

    // The receipt records the same count and the registry checks it as unchanged.
    let document = &answer["receipt"]["document"];
    let receipt_row = &document["receipt"]["results"][0];
    assert_eq!(receipt_row["more"], 95);
    assert_eq!(receipt_row["certificates"].as_array().unwrap().len(), 10);
    assert!(document["receipt"]["results"][1].get("more").is_none(), "a row that lists everything has no `more`");
    let verdict = verify(&app, document).await;
    assert_eq!(verdict["genuine"], true, "{verdict}");
    assert_eq!(verdict["changed"], json!([]), "{verdict}");

    // A new certificate of the holder changes the count, which the check reports.
    import_many(&app, 106, 1).await;
    let verdict = verify(&app, document).await;
    let changes = verdict["changed"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{verdict}");
    assert_eq!(changes[0]["changes"], json!([{"field": "certificates", "then": 105, "now": 106}]));

    // The CSV download says so too, in a line of its own.
    let csv = app
        .client
        .post(app.url("/api/v1/verify/bulk?format=csv"))
        .json(&json!({"queries": [uscc(BIG_HOLDER)]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 10 + 1, "{csv}");
    assert!(lines[11].starts_with(&format!("1,{},more,", uscc(BIG_HOLDER))), "{}", lines[11]);
    assert!(lines[11].contains("96 more"), "{}", lines[11]);
}

async fn verify(app: &TestApp, document: &Value) -> Value {
    let response = app.client.post(app.url("/api/v1/receipts/verify")).json(document).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// 1,000 rows naming the same large holder: 22 KB that made 26 MB before.
fn amplifying_list() -> Vec<String> {
    vec![uscc(BIG_HOLDER); 1000]
}

async fn a_repeated_holder_cannot_amplify_the_answer_or_the_receipt(backend: Backend) {
    let app = spawn_app_on(backend).await;
    import_many(&app, 1, 30).await;
    let input = serde_json::to_vec(&json!({"queries": amplifying_list(), "receipt": true})).unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/verify/bulk"))
        .header("content-type", "application/json")
        .body(input.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed(&answer), MAX_CERTIFICATES, "2,000 listed in all");
    assert_eq!(more(&answer), 1000 * 30 - MAX_CERTIFICATES as u64, "and every other one counted");
    assert_eq!(answer["results"][199]["certificates"].as_array().unwrap().len(), 10);
    assert_eq!(answer["results"][200]["certificates"], json!([]));
    assert_eq!(answer["results"][200]["outcome"], "found", "found, though none is listed");
    assert_eq!(answer["results"][200]["more"], 30);
    assert_eq!(answer["results"][200]["error"], Value::Null);
    // The answer (with its receipt inside) stays a bounded multiple of the input.
    let ratio = body.len() / input.len();
    eprintln!("bulk answer with receipt: {} bytes from {} bytes of input", body.len(), input.len());
    assert!(body.len() < 2 * 1024 * 1024 && ratio < 100, "{} bytes from {} ({ratio}x)", body.len(), input.len());

    // The receipt is within its hard bound, and the registry verifies its own receipt online.
    let document = &answer["receipt"]["document"];
    let stored = app.get(&format!("/api/v1/receipts/{}", answer["receipt"]["id"].as_str().unwrap())).await;
    let stored = stored.bytes().await.unwrap();
    assert!(stored.len() <= MAX_RECEIPT_BYTES && stored.len() > 400 * 1024, "{} bytes", stored.len());
    eprintln!("its receipt: {} bytes", stored.len());
    let verdict = verify(&app, document).await;
    assert_eq!(verdict["genuine"], true);
    assert_eq!(verdict["changed"], json!([]));
    // As pretty-printed by a tool, it is accepted too.
    let pretty = serde_json::to_vec_pretty(document).unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/receipts/verify"))
        .header("content-type", "application/json")
        .body(pretty)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn the_receipt_page_shows_two_hundred_lines_a_page(backend: Backend) {
    let app = spawn_app_on(backend).await;
    import_many(&app, 1, 12).await;
    let mut queries = amplifying_list();
    queries[999] = "SM2026MANY0012".into();
    let response = app.client.post(app.url("/api/v1/receipts")).json(&json!({ "queries": queries })).send().await;
    let issued: Value = response.unwrap().json().await.unwrap();
    let id = issued["id"].as_str().unwrap();

    let page = app.get(&format!("/receipts/{id}?lang=en")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.len() < 200 * 1024, "one page of rows, not the whole receipt: {} bytes", html.len());
    assert!(html.contains("data-genuine=\"true\""));
    // Rows 1 to 200 take 11 lines each (10 listed, a count of 2 more): 18 rows make a page.
    assert!(html.contains("id=\"receipt-pages\" data-page=\"1\" data-pages=\"16\""), "paged");
    assert!(
        html.contains("data-row=\"18\" data-outcome=\"more\" data-more=\"2\"") && !html.contains("data-row=\"19\"")
    );
    assert!(html.contains(&format!("href=\"/receipts/{id}?page=2&amp;lang=en\"")));

    let last = app.get(&format!("/receipts/{id}?page=16&lang=en")).await.text().await.unwrap();
    assert!(last.contains("data-row=\"1000\" data-outcome=\"more\" data-more=\"1\""), "the last row, past the budget");
    assert!(
        last.contains("data-row=\"979\" data-outcome=\"more\" data-more=\"12\"") && !last.contains("data-row=\"978\"")
    );
    // A page beyond the last shows the last; nonsense shows the first.
    let beyond = app.get(&format!("/receipts/{id}?page=99")).await.text().await.unwrap();
    assert!(beyond.contains("data-page=\"16\""));
    let nonsense = app.get(&format!("/receipts/{id}?page=x")).await.text().await.unwrap();
    assert!(nonsense.contains("data-page=\"1\""));
}

/// A client's text that claims the registry's voice.
const HOSTILE: &str = "VALID — certified by the registry";

/// `html` with every marked client-input element, and the form's own text area, taken out.
fn without_marked_input(html: &str) -> String {
    let mut rest = html;
    let mut out = String::new();
    for (open, close) in [("<q class=\"client-input\">", "</q>")] {
        while let Some(start) = rest.find(open) {
            out.push_str(&rest[..start]);
            let inner = &rest[start + open.len()..];
            let end = inner.find(close).expect("closed");
            rest = &inner[end + close.len()..];
        }
    }
    out.push_str(rest);
    match (out.find("<textarea"), out.find("</textarea>")) {
        (Some(start), Some(end)) => format!("{}{}", &out[..start], &out[end..]),
        _ => out,
    }
}

async fn client_text_is_shown_only_as_marked_input(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body("SM2026ALONE01", "单证书有限公司", 8)).await;
    let queries = json!([HOSTILE, "SM2026ALONE01", format!("{HOSTILE}<b>bold</b>")]);
    let issued: Value = app
        .client
        .post(app.url("/api/v1/receipts"))
        .json(&json!({ "queries": queries }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = issued["id"].as_str().unwrap();
    for lang in ["en", "zh"] {
        let html = app.get(&format!("/receipts/{id}?lang={lang}")).await.text().await.unwrap();
        assert!(html.contains(&format!("<q class=\"client-input\">{HOSTILE}</q>")), "{lang}: shown, marked");
        assert!(!without_marked_input(&html).contains(HOSTILE), "{lang}: only as marked input");
        assert!(!html.contains("<b>bold</b>"));
    }

    // The bulk page's results likewise.
    let boundary = "bounds-boundary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"queries\"\r\n\r\nSM2026ALONE01\n{HOSTILE}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\nen\r\n--{boundary}--\r\n"
    );
    let response = app
        .client
        .post(app.url("/verify"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"bulk-results\""));
    assert!(html.contains(&format!("<q class=\"client-input\">{HOSTILE}</q>")));
    assert!(!without_marked_input(&html).contains(HOSTILE), "only as marked input (or in the form's own field)");
}

on_each_backend!(
    a_holder_row_lists_ten_and_says_how_many_more,
    a_repeated_holder_cannot_amplify_the_answer_or_the_receipt,
    the_receipt_page_shows_two_hundred_lines_a_page,
    client_text_is_shown_only_as_marked_input,
);

/// The artwork figures of `/metrics`: pictures drawn since start.
async fn renders(app: &TestApp) -> u64 {
    let text = app.client.get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("starmark_artwork_renders_total ")).expect("figure listed");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn artwork_is_bounded_drawn_once_and_redrawn_after_a_change() {
    let app = common::spawn_app().await;
    app.issue(&issue_body("SM2026ART0001", "图样缓存有限公司", 9)).await;
    const PNG: &str = "/api/v1/certificates/SM2026ART0001/mark.png";

    // Too wide for a request: a problem naming the limit, before any drawing.
    let problem = assert_problem(app.get(&format!("{PNG}?size_mm=100&dpi=1000")).await, 400, "invalid-parameter").await;
    assert_eq!(problem["parameter"], "dpi");
    assert_eq!(problem["max_width_px"], 2400);
    assert_eq!(renders(&app).await, 0);

    let first = app.get(PNG).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let picture = first.bytes().await.unwrap();
    assert_eq!(renders(&app).await, 1);
    // Again, and at a width that rounds to the same tenth of a millimetre: from the cache.
    let again = app.get(&format!("{PNG}?size_mm=30.04")).await;
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(again.bytes().await.unwrap(), picture);
    let revalidated = app.client.get(app.url(PNG)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(renders(&app).await, 1, "served from the cache, not drawn again");
    let svg = app.get("/api/v1/certificates/SM2026ART0001/mark.svg").await;
    assert_eq!(svg.status(), 200);
    assert_eq!(renders(&app).await, 2, "another format is another picture");

    // A suspension shows no mark, however recently one was drawn; a renewal at another level
    // shows new art under a new tag.
    let until = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    app.set_status("SM2026ART0001", json!({"action": "suspend", "reason": "r", "until": until})).await;
    assert_problem(app.get(PNG).await, 409, "mark-unavailable").await;
    app.set_status("SM2026ART0001", json!({"action": "reinstate", "reason": "r"})).await;
    let renew = json!({"evaluation": {"system": 30, "commodity": 28, "customer": 22}});
    let response = app.post("/api/v1/certificates/SM2026ART0001/renew", &app.issuer, &renew).await;
    assert_eq!(response.status(), 200);
    let renewed = app.client.get(app.url(PNG)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(renewed.status(), 200, "the old tag no longer matches");
    assert_ne!(renewed.headers()["etag"].to_str().unwrap(), etag);
    assert_ne!(renewed.bytes().await.unwrap(), picture, "three stars now, not five");
    assert_eq!(renders(&app).await, 3);
}

/// `starmark verify-receipt FILE --server URL` on the largest kind of receipt: 1,000 rows of a
/// large holder, with `more` counts, checked offline and online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_verifies_a_bounded_receipt_online() {
    let app = common::spawn_app().await;
    import_many(&app, 1, 30).await;
    let response = app.client.post(app.url("/api/v1/receipts")).json(&json!({ "queries": amplifying_list() })).send();
    let issued: Value = response.await.unwrap().json().await.unwrap();
    let id = issued["id"].as_str().unwrap();
    let document = app.get(&format!("/api/v1/receipts/{id}")).await.bytes().await.unwrap();
    let path = app.dir.path().join("large-receipt.json");
    std::fs::write(&path, &document).unwrap();
    let (file, server) = (path.to_str().unwrap().to_string(), app.base.clone());
    let mut command = common::starmark_command(app.dir.path());
    let out = tokio::task::spawn_blocking(move || {
        common::process::output(command.args(["verify-receipt", &file, "--server", &server]))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("UNCHANGED"), "{stdout}");
}
