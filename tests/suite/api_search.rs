//! Search by text, USCC, level and state, with paging, over real HTTP.

use crate::common;

use std::collections::BTreeSet;

use common::{assert_problem, issue_body, spawn_app, uscc, TestApp};
use serde_json::{json, Value};

async fn seed(app: &TestApp) {
    let companies = [
        ("SM2026SRCH0001", "海尔智家股份有限公司", 1, (38, 33, 24)),
        ("SM2026SRCH0002", "海信视像科技股份有限公司", 2, (36, 32, 22)),
        ("SM2026SRCH0003", "美的集团股份有限公司", 3, (32, 28, 20)),
        ("SM2026SRCH0004", "格力电器股份有限公司", 4, (28, 25, 17)),
        ("SM2026SRCH0005", "小米通讯技术有限公司", 5, (38, 33, 24)),
        ("SM2026SRCH0006", "海澜之家集团股份有限公司_100%", 6, (36, 32, 22)),
    ];
    for (number, name, n, scores) in companies {
        let mut body = issue_body(number, name, n);
        body["evaluation"] = json!({"system": scores.0, "commodity": scores.1, "customer": scores.2});
        body["holder"]["name_en"] = json!(format!("Company {n}"));
        app.issue(&body).await;
    }
    app.set_status("SM2026SRCH0002", json!({"action": "revoke", "reason": "r"})).await;
}

async fn numbers(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/api/v1/certificates?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn search_by_every_key() {
    let app = spawn_app().await;
    seed(&app).await;
    let all = numbers(&app, "q=").await;
    assert_eq!(all.len(), 6, "an empty q lists everything");
    assert_eq!(numbers(&app, "").await, all);

    // Chinese substring of the company name.
    assert_eq!(numbers(&app, "q=%E6%B5%B7").await, ["SM2026SRCH0001", "SM2026SRCH0002", "SM2026SRCH0006"]); // 海
    assert_eq!(numbers(&app, "q=%E7%94%B5%E5%99%A8").await, ["SM2026SRCH0004"]); // 电器
                                                                                 // LIKE wildcards in the query are literal.
    assert_eq!(numbers(&app, "q=_100%25").await, ["SM2026SRCH0006"]);
    assert_eq!(numbers(&app, "q=%25").await, ["SM2026SRCH0006"]);
    // English name, case-insensitive.
    assert_eq!(numbers(&app, "q=company%203").await, ["SM2026SRCH0003"]);
    // Certificate number, exact and prefix, any case.
    assert_eq!(numbers(&app, "q=sm2026srch0005").await, ["SM2026SRCH0005"]);
    assert_eq!(numbers(&app, "q=SM2026SRCH000").await.len(), 6);
    // USCC as text and as a filter.
    assert_eq!(numbers(&app, &format!("q={}", uscc(3))).await, ["SM2026SRCH0003"]);
    assert_eq!(numbers(&app, &format!("uscc={}", uscc(4))).await, ["SM2026SRCH0004"]);
    // Level and state, combined with text.
    assert_eq!(numbers(&app, "level=five_star").await, ["SM2026SRCH0001", "SM2026SRCH0005"]);
    assert_eq!(numbers(&app, "state=revoked").await, ["SM2026SRCH0002"]);
    assert_eq!(numbers(&app, "q=%E6%B5%B7&state=valid").await, ["SM2026SRCH0001", "SM2026SRCH0006"]);
    assert!(numbers(&app, "q=%E4%B8%8D%E5%AD%98%E5%9C%A8").await.is_empty()); // 不存在

    let page: Value = app.get("/api/v1/certificates?q=SM2026SRCH0002").await.json().await.unwrap();
    let item = &page["items"][0];
    assert_eq!(item["holder"]["name"], "海信视像科技股份有限公司");
    assert_eq!(item["holder"]["uscc"], uscc(2));
    assert_eq!(item["level"], "four_star");
    assert_eq!(item["status"]["state"], "revoked");
    assert!(item["valid_until"].is_string());
    assert_eq!(page["next"], Value::Null);
}

#[tokio::test]
async fn paging_walks_every_item_once() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("/api/v1/certificates?limit=4&cursor={c}"),
            None => "/api/v1/certificates?limit=4".to_string(),
        };
        let page: Value = app.get(&query).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(|i| i["number"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 6);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
}

#[tokio::test]
async fn bad_search_parameters_are_named() {
    let app = spawn_app().await;
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("uscc=91350200776049653B", "uscc"),
        ("level=six_star", "level"),
        ("state=lost", "state"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm90IGEgbnVtYmVy", "cursor"),
    ] {
        let response = app.get(&format!("/api/v1/certificates?{query}")).await;
        let problem = assert_problem(response, 400, "invalid-parameter").await;
        assert_eq!(problem["parameter"], parameter, "{query}: {problem}");
    }
    let problem = assert_problem(app.get("/api/v1/certificates?colour=red").await, 400, "bad-request").await;
    assert!(problem["detail"].as_str().unwrap().contains("colour"), "{problem}");
    let long = "字".repeat(201);
    assert_problem(app.get(&format!("/api/v1/certificates?q={long}")).await, 400, "invalid-parameter").await;
    assert_eq!(app.get("/api/v1/certificates?limit=100").await.status(), 200);
}
