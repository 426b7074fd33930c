//! Issuing and reading certificates over real HTTP: the public contract, signatures, auth and
//! every kind of bad input.

use crate::common;

use common::{assert_problem, issue_body, spawn_app, uscc};
use serde_json::{json, Value};

#[tokio::test]
async fn healthz_answers_a_constant_body() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn issue_then_read_back_a_signed_certificate() {
    let app = spawn_app().await;
    let issued = app.issue(&issue_body("SM2026ASC900001", "厦门示例电器有限公司", 1)).await;
    assert_eq!(issued["number"], "SM2026ASC900001");
    assert_eq!(issued["level"], "five_star");
    assert_eq!(issued["status"]["state"], "valid");

    let response = app.get("/api/v1/certificates/SM2026ASC900001").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let read: Value = response.json().await.unwrap();
    assert_eq!(common::without_assertion(read.clone()), issued);
    assert_eq!(read["holder"]["name"], "厦门示例电器有限公司");
    assert_eq!(read["holder"]["uscc"], uscc(1));
    assert_eq!(read["standard"], "GB/T 27922-2011");
    assert_eq!(read["score"], 95.5);
    assert_eq!(read["issuer"]["approval_number"], "CNCA-R-2026-042");
    let valid_until = read["valid_until"].as_str().unwrap();
    let issued_on = read["issued"].as_str().unwrap();
    let years = valid_until[..4].parse::<i32>().unwrap() - issued_on[..4].parse::<i32>().unwrap();
    assert_eq!(years, 3, "three years of validity ending the day before the anniversary");
    assert_eq!(read["record"]["version"], 1);
    assert_eq!(read["signature"]["alg"], "Ed25519");
    let key_id = read["signature"]["key_id"].as_str().unwrap();
    let list: Value = app.get("/.well-known/starmark/keys.json").await.json().await.unwrap();
    assert_eq!(list["keys"][0]["key_id"], key_id);
    assert_eq!(list["keys"][0]["status"], "active");
    app.verify_answer(&read).await.expect("signature verifies against the trust list");

    let mut forged = read.clone();
    forged["record"]["level"] = json!("five_star");
    forged["record"]["holder"]["name"] = json!("冒牌电器有限公司");
    assert!(app.verify_answer(&forged).await.is_err(), "an altered record must not verify");
}

#[tokio::test]
async fn numbers_are_assigned_when_none_is_given() {
    let app = spawn_app().await;
    let mut body = issue_body("X", "甲公司", 2);
    body.as_object_mut().unwrap().remove("number");
    let first = app.issue(&body).await;
    let second = app.issue(&body).await;
    let (a, b) = (first["number"].as_str().unwrap(), second["number"].as_str().unwrap());
    assert!(a.starts_with("SM") && a.contains("ASC"), "{a}");
    assert_ne!(a, b);
    assert_eq!(app.get(&format!("/api/v1/certificates/{b}")).await.status(), 200);
}

#[tokio::test]
async fn levels_follow_the_evaluation_and_must_agree_when_given() {
    let app = spawn_app().await;
    for (i, (scores, level)) in [
        ((28, 25, 17), "compliant"),
        ((32, 28, 20), "three_star"),
        ((36, 32, 22), "four_star"),
        ((38, 33, 24), "five_star"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = issue_body(&format!("SM2026LVL00000{i}"), "乙公司", 10 + i as u32);
        body["evaluation"] = json!({"system": scores.0, "commodity": scores.1, "customer": scores.2});
        body["level"] = json!(level);
        assert_eq!(app.issue(&body).await["level"], level);
    }
    // Out-of-scope items: 76 of 80 applicable points is 95.
    let mut body = issue_body("SM2026LVL000009", "丙公司", 20);
    body["evaluation"] = json!({"system": 30, "commodity": 26, "customer": 20, "applicable": 80});
    assert_eq!(app.issue(&body).await["level"], "five_star");

    let mut mismatch = issue_body("SM2026LVL000010", "丁公司", 21);
    mismatch["level"] = json!("compliant");
    let problem =
        assert_problem(app.post("/api/v1/certificates", &app.issuer, &mismatch).await, 422, "level-mismatch").await;
    assert!(problem["detail"].as_str().unwrap().contains("five_star"), "{problem}");
}

#[tokio::test]
async fn failing_evaluations_cannot_be_issued() {
    let app = spawn_app().await;
    let mut low = issue_body("SM2026FAIL0001", "戊公司", 30);
    low["evaluation"] = json!({"system": 28, "commodity": 25, "customer": 16});
    let problem =
        assert_problem(app.post("/api/v1/certificates", &app.issuer, &low).await, 422, "evaluation-failed").await;
    assert!(problem["detail"].as_str().unwrap().contains("below 70"), "{problem}");

    let mut deductions = issue_body("SM2026FAIL0002", "戊公司", 30);
    deductions["evaluation"]["special_deductions"] = json!(5);
    assert_problem(app.post("/api/v1/certificates", &app.issuer, &deductions).await, 422, "evaluation-failed").await;

    let mut over = issue_body("SM2026FAIL0003", "戊公司", 30);
    over["evaluation"]["system"] = json!(41);
    assert_problem(app.post("/api/v1/certificates", &app.issuer, &over).await, 422, "invalid-evaluation").await;
    assert_problem(app.get("/api/v1/certificates/SM2026FAIL0001").await, 404, "not-found").await;
}

#[tokio::test]
async fn bad_codes_are_refused_with_what_is_wrong() {
    let app = spawn_app().await;
    let cases = [
        ("91350200776049653B", "check character should be 'A' but is 'B'"),
        ("9135020077604965", "has 18 characters, this one has 16"),
        ("9135020077604I653A", "'I' at position 14"),
    ];
    for (code, message) in cases {
        let mut body = issue_body("SM2026USCC0001", "己公司", 40);
        body["holder"]["uscc"] = json!(code);
        let problem =
            assert_problem(app.post("/api/v1/certificates", &app.issuer, &body).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], "holder.uscc");
        assert!(problem["detail"].as_str().unwrap().contains(message), "{problem}");
    }
    assert_problem(app.get("/api/v1/certificates/SM2026USCC0001").await, 404, "not-found").await;
}

#[tokio::test]
async fn malformed_bodies_get_problem_documents() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/certificates");
    let raw = |body: &'static str, content_type: &'static str| {
        app.client.post(&url).bearer_auth(&app.issuer).header("content-type", content_type).body(body).send()
    };
    assert_problem(raw("{\"holder\": ", "application/json").await.unwrap(), 400, "malformed-json").await;
    assert_problem(raw("{}", "text/plain").await.unwrap(), 415, "unsupported-media-type").await;
    let missing =
        assert_problem(raw("{\"scope\": \"x\"}", "application/json").await.unwrap(), 422, "invalid-body").await;
    assert!(missing["detail"].as_str().unwrap().contains("missing field"), "{missing}");

    let mut unknown = issue_body("SM2026BODY0001", "庚公司", 50);
    unknown["colour"] = json!("red");
    let problem =
        assert_problem(app.post("/api/v1/certificates", &app.issuer, &unknown).await, 422, "invalid-body").await;
    assert!(problem["detail"].as_str().unwrap().contains("colour"), "{problem}");

    let mut bad_points = issue_body("SM2026BODY0002", "庚公司", 50);
    bad_points["evaluation"]["customer"] = json!(20.25);
    assert_problem(app.post("/api/v1/certificates", &app.issuer, &bad_points).await, 422, "invalid-body").await;

    let mut blank = issue_body("SM2026BODY0003", "庚公司", 50);
    blank["holder"]["name"] = json!("   ");
    let problem =
        assert_problem(app.post("/api/v1/certificates", &app.issuer, &blank).await, 422, "invalid-field").await;
    assert_eq!(problem["field"], "holder.name");

    let mut future = issue_body("SM2026BODY0004", "庚公司", 50);
    future["issued"] = json!("2999-01-01");
    assert_problem(app.post("/api/v1/certificates", &app.issuer, &future).await, 422, "invalid-field").await;

    let mut bad_number = issue_body("SM 2026/1", "庚公司", 50);
    bad_number["number"] = json!("SM 2026/1");
    assert_problem(app.post("/api/v1/certificates", &app.issuer, &bad_number).await, 422, "invalid-field").await;

    let huge = json!({ "scope": "x".repeat(100 * 1024) });
    assert_problem(app.post("/api/v1/certificates", &app.issuer, &huge).await, 413, "payload-too-large").await;
}

#[tokio::test]
async fn duplicate_numbers_conflict_and_change_nothing() {
    let app = spawn_app().await;
    let first = app.issue(&issue_body("SM2026DUP00001", "辛公司", 60)).await;
    let second = app.post("/api/v1/certificates", &app.issuer, &issue_body("SM2026DUP00001", "冒名公司", 61)).await;
    assert_problem(second, 409, "duplicate").await;
    let read: Value = app.get("/api/v1/certificates/SM2026DUP00001").await.json().await.unwrap();
    assert_eq!(common::without_assertion(read), first);
}

#[tokio::test]
async fn admin_routes_need_a_token_with_the_right_role() {
    let app = spawn_app().await;
    let body = issue_body("SM2026AUTH0001", "壬公司", 70);
    let url = app.url("/api/v1/certificates");

    let none = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"starmark\"");
    assert_problem(none, 401, "unauthorized").await;

    let basic = app.client.post(&url).header("authorization", "Basic dXNlcjpwYXNz").json(&body).send().await.unwrap();
    assert_problem(basic, 401, "unauthorized").await;

    let garbage = app.post("/api/v1/certificates", "not-a-token", &body).await;
    assert_problem(garbage, 401, "unauthorized").await;

    // Right shape, right id, wrong secret.
    let mut tampered = app.issuer.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let problem = assert_problem(app.post("/api/v1/certificates", &tampered, &body).await, 401, "unauthorized").await;
    assert!(!problem.to_string().contains(&tampered), "a token must never be echoed");

    let reader = app.post("/api/v1/certificates", &app.reader, &body).await;
    let problem = assert_problem(reader, 403, "forbidden").await;
    assert!(problem["detail"].as_str().unwrap().contains("issuer"), "{problem}");

    assert_eq!(app.post("/api/v1/certificates", &app.admin, &body).await.status(), 201);

    // A revoked token stops working at once.
    let id = &app.issuer["smk_".len().."smk_".len() + 16];
    assert!(app.registry.revoke_token(id).await.unwrap());
    let revoked = app.post("/api/v1/certificates", &app.issuer, &issue_body("SM2026AUTH0002", "壬公司", 70)).await;
    assert_problem(revoked, 401, "unauthorized").await;
    assert_problem(app.get("/api/v1/certificates/SM2026AUTH0002").await, 404, "not-found").await;
}

#[tokio::test]
async fn unknown_and_malformed_lookups() {
    let app = spawn_app().await;
    let problem = assert_problem(app.get("/api/v1/certificates/SM2026NONE0001").await, 404, "not-found").await;
    assert_eq!(problem["number"], "SM2026NONE0001");
    let problem = assert_problem(app.get("/api/v1/certificates/%E5%81%87").await, 400, "invalid-parameter").await;
    assert_eq!(problem["parameter"], "number");
    assert_problem(app.get("/api/v1/nothing-here").await, 404, "not-found").await;
    let delete = app.client.delete(app.url("/api/v1/certificates/SM2026NONE0001")).send().await.unwrap();
    assert_problem(delete, 405, "method-not-allowed").await;
    assert_problem(app.get("/api/v1/certificates/SM2026NONE0001/history").await, 404, "not-found").await;
}

#[tokio::test]
async fn home_page_is_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    assert!(html.contains("商品售后服务认证查询") && html.contains("action=\"/search\""));
}

#[tokio::test]
async fn a_stalled_request_is_cut_off_with_a_problem() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = common::spawn_app_with(|config| config.request_timeout = std::time::Duration::from_millis(300)).await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/certificates HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"holder\":",
        app.issuer
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_string(&mut answer)).await;
    assert!(read.is_ok(), "the server must answer by itself");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("urn:starmark:problem:timeout"), "{answer}");
}
