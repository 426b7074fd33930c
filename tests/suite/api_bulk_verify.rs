//! Bulk verification over real HTTP: JSON and CSV lists in, JSON and CSV out, every row
//! accounted for, the 1,000-row limit, spreadsheet-safe downloads, and fail-closed reads.

use crate::common;

use chrono::{Duration, Utc};
use common::{assert_problem, issue_body, spawn_app, uscc, TestApp};
use serde_json::{json, Value};

/// Certificates in every state: holder 1 has two (valid and suspended), 3 revoked, 4 expired,
/// 5 withdrawn.
async fn seed(app: &TestApp) {
    app.issue(&issue_body("SM2026BULK0001", "批量一号有限公司", 1)).await;
    let mut second = issue_body("SM2026BULK0002", "批量一号有限公司", 1);
    second["evaluation"] = json!({"system": 32, "commodity": 28, "customer": 20});
    app.issue(&second).await;
    let until = (Utc::now() + Duration::days(30)).date_naive().to_string();
    let (status, body) =
        app.status("SM2026BULK0002", json!({"action": "suspend", "reason": "整改中", "until": until})).await;
    assert_eq!(status, 200, "{body}");
    app.issue(&issue_body("SM2026BULK0003", "撤销有限公司", 3)).await;
    let (status, _) = app.status("SM2026BULK0003", json!({"action": "revoke", "reason": "虚假宣传"})).await;
    assert_eq!(status, 200);
    let mut old = issue_body("SM2026BULK0004", "过期有限公司", 4);
    old["issued"] = json!("2022-03-01");
    app.issue(&old).await;
    app.issue(&issue_body("SM2026BULK0005", "注销有限公司", 5)).await;
    let (status, _) = app.status("SM2026BULK0005", json!({"action": "withdraw", "reason": "申请注销"})).await;
    assert_eq!(status, 200);
}

async fn bulk_json(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client.post(app.url("/api/v1/verify/bulk")).json(body).send().await.expect("request")
}

async fn bulk_text(app: &TestApp, path: &str, content_type: &str, body: String) -> reqwest::Response {
    app.client.post(app.url(path)).header("content-type", content_type).body(body).send().await.expect("request")
}

/// Today's date in China (UTC+8), as the registry dates what it issues.
fn china_today() -> String {
    (Utc::now() + Duration::hours(8)).date_naive().to_string()
}

fn numbers(row: &Value) -> Vec<&str> {
    row["certificates"].as_array().unwrap().iter().map(|c| c["number"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_row_is_answered_in_order_with_its_effective_state() {
    let app = spawn_app().await;
    // Midnight in China may pass while the test runs: the issue date is one of the two days.
    let today_before = china_today();
    seed(&app).await;
    let queries = json!([
        uscc(1),
        "sm2026bulk0003",
        " SM2026BULK0004 ",
        "SM2026NOPE0001",
        "91350200776049653B",
        "海尔智家",
        "",
        uscc(9),
        uscc(1),
        "SM2026BULK0005"
    ]);
    let response = bulk_json(&app, &json!({ "queries": queries })).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["count"], 10);
    assert!(chrono::DateTime::parse_from_rfc3339(answer["checked_at"].as_str().unwrap()).is_ok());
    assert_eq!(
        answer["summary"],
        json!({"valid": 2, "suspended": 2, "revoked": 1, "withdrawn": 1, "expired": 1, "unknown": 2, "malformed": 3, "more": 0})
    );
    assert!(answer.get("receipt").is_none(), "no receipt unless asked");
    let rows = answer["results"].as_array().unwrap();
    let rows_seen: Vec<u64> = rows.iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows_seen, (1..=10).collect::<Vec<_>>(), "nothing dropped, input order kept");

    // A USCC gives every certificate of its holder, with its effective state.
    assert_eq!((rows[0]["kind"].as_str(), rows[0]["outcome"].as_str()), (Some("uscc"), Some("found")));
    assert_eq!(numbers(&rows[0]), ["SM2026BULK0001", "SM2026BULK0002"]);
    assert_eq!(rows[0]["error"], Value::Null);
    let first = &rows[0]["certificates"][0];
    assert_eq!(first["holder"]["name"], "批量一号有限公司");
    assert_eq!(first["holder"]["uscc"], uscc(1));
    assert_eq!(first["level"], "five_star");
    assert_eq!(first["status"]["state"], "valid");
    let issued_on = [today_before, china_today()];
    assert!(issued_on.iter().any(|day| first["valid_from"] == day.as_str()), "{first} issued on one of {issued_on:?}");
    assert!(first["valid_until"].is_string() && first["version"] == 1);
    let suspended = &rows[0]["certificates"][1];
    assert_eq!(suspended["status"]["state"], "suspended");
    assert_eq!(suspended["status"]["reason"], "整改中");
    assert_eq!(suspended["level"], "three_star");

    // Numbers in any case and with spaces; effective states.
    assert_eq!((rows[1]["kind"].as_str(), rows[1]["query"].as_str()), (Some("number"), Some("sm2026bulk0003")));
    assert_eq!(rows[1]["certificates"][0]["status"]["state"], "revoked");
    assert_eq!(rows[2]["query"], "SM2026BULK0004");
    assert_eq!(rows[2]["certificates"][0]["status"]["state"], "expired", "past valid_until reads as expired");
    assert_eq!(rows[2]["certificates"][0]["valid_until"], "2025-02-28");
    assert_eq!(rows[9]["certificates"][0]["status"]["state"], "withdrawn");

    // Unknown and malformed rows are marked with the reason.
    assert_eq!((rows[3]["kind"].as_str(), rows[3]["outcome"].as_str()), (Some("number"), Some("unknown")));
    assert!(rows[3]["error"].as_str().unwrap().contains("SM2026NOPE0001"));
    assert_eq!(rows[3]["certificates"], json!([]));
    assert_eq!((rows[4]["kind"].as_str(), rows[4]["outcome"].as_str()), (Some("malformed"), Some("malformed")));
    let check = rows[4]["error"].as_str().unwrap();
    assert!(check.contains("unified social credit code") && check.contains("check character"), "{check}");
    assert!(rows[5]["error"].as_str().unwrap().contains("neither"), "{}", rows[5]["error"]);
    assert_eq!(rows[6]["error"], "empty query");
    assert_eq!((rows[7]["kind"].as_str(), rows[7]["outcome"].as_str()), (Some("uscc"), Some("unknown")));
    // The same query twice gives the same answer.
    assert_eq!(rows[8]["certificates"], rows[0]["certificates"]);
}

#[tokio::test]
async fn csv_lists_skip_their_header_and_blank_lines_and_keep_line_numbers() {
    let app = spawn_app().await;
    seed(&app).await;
    let csv = format!("证书编号,公司\r\nSM2026BULK0001,批量一号\r\n\r\n\"{}\",\"x, y\"\r\n   \r\n12345\r\n", uscc(3));
    let answer: Value =
        bulk_text(&app, "/api/v1/verify/bulk", "text/csv; charset=utf-8", csv).await.json().await.unwrap();
    assert_eq!(answer["count"], 3, "{answer}");
    let rows: Vec<(u64, &str, &str)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["query"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [(2, "SM2026BULK0001", "found"), (4, uscc(3).as_str(), "found"), (6, "12345", "malformed")]);

    // Plain text pasted from a spreadsheet column, first line a query (kept), tabs after it.
    let plain = "SM2026BULK0003\tx\nSM2026BULK0004\n".to_string();
    let answer: Value = bulk_text(&app, "/api/v1/verify/bulk", "text/plain", plain).await.json().await.unwrap();
    assert_eq!(answer["count"], 2);
    assert_eq!(answer["summary"]["revoked"], 1);
    assert_eq!(answer["summary"]["expired"], 1);

    // A list saved with `;` between columns (spreadsheets in locales whose decimal mark is a
    // comma): the first column is the query.
    let semicolons = "SM2026BULK0001;批量一号;x\n\"SM2026BULK0003\";撤销\n".to_string();
    let answer: Value = bulk_text(&app, "/api/v1/verify/bulk", "text/csv", semicolons).await.json().await.unwrap();
    let rows: Vec<(&str, &str)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["query"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("SM2026BULK0001", "found"), ("SM2026BULK0003", "found")], "{answer}");
    // A CSV saved as GBK by a spreadsheet program: the header and the names are not UTF-8.
    let mut gbk = b"\xd6\xa4\xca\xe9\xb1\xe0\xba\xc5,\xb9\xab\xcb\xbe\xc3\xfb\xb3\xc6\r\n".to_vec();
    gbk.extend_from_slice(b"SM2026BULK0001,\xb9\xab\xcb\xbe\r\n");
    let response = app.client.post(app.url("/api/v1/verify/bulk")).header("content-type", "text/csv").body(gbk);
    let answer: Value = response.send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["count"], 1, "{answer}");
    assert_eq!((answer["results"][0]["row"].as_u64(), answer["summary"]["valid"].as_u64()), (Some(2), Some(1)));

    for header in ["uscc", "number", "query", "统一社会信用代码"] {
        let body = format!("{header}\n{}\n", uscc(1));
        let answer: Value = bulk_text(&app, "/api/v1/verify/bulk", "text/csv", body).await.json().await.unwrap();
        assert_eq!(answer["count"], 1, "{header} is a header");
        assert_eq!(answer["results"][0]["row"], 2);
    }
}

fn parse_csv(body: &str) -> Vec<Vec<String>> {
    let body = body.strip_prefix('\u{feff}').expect("a byte order mark for spreadsheet programs");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn the_csv_download_has_a_line_per_certificate_and_defuses_formulas() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut evil = issue_body("SM2026BULK0006", "=HYPERLINK(\"http://evil.example\",\"点我\")", 6);
    evil["holder"]["name_en"] = json!("Evil");
    app.issue(&evil).await;
    let queries = json!([uscc(1), "SM2026BULK0003", "SM2026NOPE0001", "=1+2", "@SUM(A1)", "SM2026BULK0006"]);
    let response = app
        .client
        .post(app.url("/api/v1/verify/bulk?format=csv"))
        .json(&json!({ "queries": queries }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"starmark-verification-") && disposition.ends_with("Z.csv\""),
        "{disposition}"
    );
    let lines = parse_csv(&response.text().await.unwrap());
    assert_eq!(
        lines[0],
        [
            "row",
            "query",
            "outcome",
            "number",
            "holder",
            "uscc",
            "level",
            "state",
            "valid_from",
            "valid_until",
            "detail"
        ]
    );
    assert_eq!(lines.len(), 1 + 7, "the USCC with two certificates gives two lines: {lines:?}");
    assert_eq!(lines[1][..4], ["1", uscc(1).as_str(), "found", "SM2026BULK0001"]);
    assert_eq!(lines[1][4..8], ["批量一号有限公司", uscc(1).as_str(), "five_star", "valid"]);
    assert_eq!(lines[2][..4], ["1", uscc(1).as_str(), "found", "SM2026BULK0002"]);
    assert_eq!(lines[2][7], "suspended");
    assert!(lines[2][10].contains("整改中") && lines[2][10].contains("until"), "{:?}", lines[2]);
    assert_eq!(lines[3][7], "revoked");
    assert!(lines[3][10].contains("虚假宣传"));
    assert_eq!(lines[4][..3], ["3", "SM2026NOPE0001", "unknown"]);
    assert!(lines[4][10].contains("no certificate"), "{:?}", lines[4]);
    assert_eq!(lines[5][..3], ["4", "'=1+2", "malformed"]);
    assert_eq!(lines[6][1], "'@SUM(A1)");
    assert_eq!(lines[7][4], "'=HYPERLINK(\"http://evil.example\",\"点我\")");
    for line in &lines[1..] {
        for cell in line {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell} would run as a formula");
        }
    }

    // Accept: text/csv asks for the same download; ?format=json wins over it.
    let accepted = app
        .client
        .post(app.url("/api/v1/verify/bulk"))
        .header("accept", "text/csv")
        .json(&json!({"queries": ["SM2026BULK0001"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(parse_csv(&accepted.text().await.unwrap()).len(), 2);
    let json_wins = app
        .client
        .post(app.url("/api/v1/verify/bulk?format=json"))
        .header("accept", "text/csv")
        .json(&json!({"queries": ["SM2026BULK0001"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_wins.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn a_thousand_queries_are_checked_and_one_more_is_refused_whole() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut queries: Vec<String> = (0..998).map(|i| format!("SM2026MISS{i:04}")).collect();
    queries.push("SM2026BULK0001".into());
    queries.push(uscc(1));
    let response = bulk_json(&app, &json!({ "queries": queries })).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["count"], 1000);
    assert_eq!(answer["summary"]["unknown"], 998);
    assert_eq!(answer["results"][999]["row"], 1000);
    assert_eq!(numbers(&answer["results"][999]), ["SM2026BULK0001", "SM2026BULK0002"]);

    queries.push("SM2026BULK0003".into());
    let refused = assert_problem(bulk_json(&app, &json!({ "queries": queries })).await, 422, "invalid-field").await;
    assert_eq!(refused["limit"], 1000);
    assert!(refused["detail"].as_str().unwrap().contains("1000"), "{refused}");

    // The same limit for CSV, counted after the header; a header line does not count.
    let csv: String = (0..1000).map(|i| format!("SM2026MISS{i:04}\n")).collect();
    let with_header = format!("number\n{csv}");
    let response = bulk_text(&app, "/api/v1/verify/bulk", "text/csv", with_header.clone()).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["results"][999]["row"], 1001);
    let too_many = format!("{with_header}SM2026BULK0001\n");
    assert_problem(bulk_text(&app, "/api/v1/verify/bulk", "text/csv", too_many).await, 422, "invalid-field").await;
}

#[tokio::test]
async fn bad_requests_are_problems() {
    let app = spawn_app().await;
    let post = |content_type: &'static str, body: &'static str| {
        app.client.post(app.url("/api/v1/verify/bulk")).header("content-type", content_type).body(body).send()
    };
    assert_problem(post("application/json", "{\"queries\": [").await.unwrap(), 400, "malformed-json").await;
    assert_problem(post("application/json", "{\"queries\": [1]}").await.unwrap(), 422, "invalid-body").await;
    assert_problem(post("application/json", "{\"list\": []}").await.unwrap(), 422, "invalid-body").await;
    assert_problem(post("application/json", "{\"queries\": []}").await.unwrap(), 422, "invalid-field").await;
    assert_problem(post("text/csv", "number\n\n").await.unwrap(), 422, "invalid-field").await;
    assert_problem(post("application/xml", "<q/>").await.unwrap(), 415, "unsupported-media-type").await;
    let bad_format =
        app.client.post(app.url("/api/v1/verify/bulk?format=xlsx")).json(&json!({"queries": ["x"]})).send();
    assert_problem(bad_format.await.unwrap(), 400, "invalid-parameter").await;
    let unknown = app.client.post(app.url("/api/v1/verify/bulk?limit=5")).json(&json!({"queries": ["x"]})).send();
    assert_problem(unknown.await.unwrap(), 400, "bad-request").await;
    // The list route takes more than the global body limit (64 KiB in tests), but not without end.
    let big: String = (0..9000).map(|i| format!("SM2026LONG{i:06}\n")).collect();
    assert!(big.len() > 64 * 1024);
    let refused = bulk_text(&app, "/api/v1/verify/bulk", "text/csv", big).await;
    assert_problem(refused, 422, "invalid-field").await;
    let huge = "x".repeat(300 * 1024);
    assert_problem(bulk_text(&app, "/api/v1/verify/bulk", "text/plain", huge).await, 413, "payload-too-large").await;
}

#[tokio::test]
async fn a_store_that_cannot_answer_fails_the_whole_check() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut db = app.raw_db().await;
    db.execute("ALTER TABLE certificates RENAME TO certificates_elsewhere").await.unwrap();
    let response = bulk_json(&app, &json!({"queries": ["SM2026BULK0001", uscc(3)]})).await;
    // A missing table is a fault, not an outage that passes: no promise of a quick retry.
    assert!(response.headers().get("retry-after").is_none());
    let problem = assert_problem(response, 503, "unavailable").await;
    assert!(problem["detail"].as_str().unwrap().contains("nothing was checked"), "{problem}");
    let receipt = app.client.post(app.url("/api/v1/receipts")).json(&json!({"queries": ["SM2026BULK0001"]})).send();
    assert_problem(receipt.await.unwrap(), 503, "unavailable").await;

    db.execute("ALTER TABLE certificates_elsewhere RENAME TO certificates").await.unwrap();
    let response = bulk_json(&app, &json!({"queries": ["SM2026BULK0001"]})).await;
    assert_eq!(response.status(), 200);
}
