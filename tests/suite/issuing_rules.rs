//! Issuing and naming under hostile or careless input (issue 26, section 4): assigned numbers
//! that skip numbers in use and are not burnt by refused drafts, imports that keep every good
//! row, invisible characters, impossible evaluations, dates outside the standard's life, marks
//! revoked twice, mistyped credit codes in the search box, and key directories others can write.

use crate::common;

use chrono::Datelike;
use common::{assert_problem, issue_body, spawn_app, spawn_app_on, uscc, Backend, TestApp};
use serde_json::{json, Value};
use starmark::registry::{clock, parse_csv};

fn assigned(sequence: u64) -> String {
    format!("SM{}ASC{sequence:06}", clock::today().year())
}

fn unnumbered(name: &str, n: u32) -> Value {
    let mut body = issue_body("X", name, n);
    body.as_object_mut().expect("object").remove("number");
    body
}

async fn post_issue(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post("/api/v1/certificates", &app.issuer, body).await
}

on_each_backend!(
    assigned_numbers_skip_numbers_in_use_and_refused_drafts_burn_none,
    an_import_keeps_every_good_row_around_collisions,
    an_import_row_the_database_refuses_costs_only_that_row,
    revoking_marks_already_revoked_is_refused,
);

async fn assigned_numbers_skip_numbers_in_use_and_refused_drafts_burn_none(backend: Backend) {
    let app = spawn_app_on(backend).await;
    // Numbers of the assigned form given explicitly, as the demo and imports do.
    for sequence in [1, 2, 4] {
        app.issue(&issue_body(&assigned(sequence), "显式编号有限公司", sequence as u32)).await;
    }
    let first = app.issue(&unnumbered("自动编号甲有限公司", 10)).await;
    assert_eq!(first["number"], assigned(3), "{first}");
    let second = app.issue(&unnumbered("自动编号乙有限公司", 11)).await;
    assert_eq!(second["number"], assigned(5), "4 is in use: {second}");

    // Refused drafts consume no number.
    let mut failing = unnumbered("不及格有限公司", 12);
    failing["evaluation"] = json!({"system": 20, "commodity": 20, "customer": 20});
    for _ in 0..3 {
        assert_problem(post_issue(&app, &failing).await, 422, "evaluation-failed").await;
    }
    let mut bad_name = unnumbered("甲\u{202E}乙有限公司", 13);
    bad_name["holder"]["name"] = json!("甲\u{202E}乙有限公司");
    assert_problem(post_issue(&app, &bad_name).await, 422, "invalid-field").await;
    let third = app.issue(&unnumbered("自动编号丙有限公司", 14)).await;
    assert_eq!(third["number"], assigned(6), "{third}");
}

fn import_rows(csv: &str) -> (Vec<starmark::registry::ImportRow>, Vec<starmark::registry::RowError>) {
    parse_csv(csv.as_bytes()).expect("header")
}

async fn an_import_keeps_every_good_row_around_collisions(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body(&assigned(1), "已有证书有限公司", 1)).await;
    app.issue(&issue_body(&assigned(3), "已有证书二有限公司", 3)).await;
    let header = "number,holder_name,uscc,address,scope,system,commodity,customer,applicable\n";
    let rows = [
        format!(",导入甲有限公司,{},地址,服务,38,33,24,", uscc(20)),
        format!("{},撞号有限公司,{},地址,服务,38,33,24,", assigned(1), uscc(21)),
        format!(",导入乙有限公司,{},地址,服务,38,33,24,", uscc(22)),
        format!(",小分母有限公司,{},地址,服务,1,0,0,1", uscc(23)),
        format!("{},文件编号有限公司,{},地址,服务,38,33,24,", assigned(4), uscc(24)),
        format!(",导入丙有限公司,{},地址,服务,38,33,24,", uscc(25)),
    ];
    let (rows, parse_errors) = import_rows(&format!("{header}{}\n", rows.join("\n")));
    assert!(parse_errors.is_empty(), "{parse_errors:?}");
    let report = app.registry.import("test", rows, &|_| {}).await.expect("import runs");
    assert_eq!(report.issued, 4, "{:?}", report.errors);
    let errors: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, 3);
    assert!(errors[0].1.contains("already exists"), "{errors:?}");
    assert_eq!(errors[1].0, 5);
    assert!(errors[1].1.contains("applicable points"), "{errors:?}");

    // Assigned numbers skip those in the store (1, 3) and the one the file gives (4); the row
    // refused for its evaluation took none.
    let mut names = Vec::new();
    for sequence in [2, 5, 6] {
        let answer: Value =
            app.get(&format!("/api/v1/certificates/{}", assigned(sequence))).await.json().await.unwrap();
        names.push(answer["holder"]["name"].as_str().unwrap_or("missing").to_string());
    }
    assert_eq!(names, ["导入甲有限公司", "导入乙有限公司", "导入丙有限公司"]);
    let given: Value = app.get(&format!("/api/v1/certificates/{}", assigned(4))).await.json().await.unwrap();
    assert_eq!(given["holder"]["name"], "文件编号有限公司");
    assert_eq!(app.get(&format!("/api/v1/certificates/{}", assigned(7))).await.status(), 404);
}

async fn an_import_row_the_database_refuses_costs_only_that_row(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let mut db = app.raw_db().await;
    let secret = "internal detail of the database";
    let sql = match backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON events WHEN NEW.number = 'SM2026REFUSED' \
             BEGIN SELECT RAISE(ABORT, '{secret}'); END"
        )],
        Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN \
                 IF NEW.number = 'SM2026REFUSED' THEN RAISE EXCEPTION '{secret}'; END IF; RETURN NEW; END $$ \
                 LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER refuse_one BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_one()".into(),
        ],
    };
    for statement in sql {
        db.execute(&statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let header = "number,holder_name,uscc,address,scope,system,commodity,customer\n";
    let rows = [
        format!("SM2026GOOD01,好甲有限公司,{},地址,服务,38,33,24", uscc(30)),
        format!("SM2026REFUSED,被拒有限公司,{},地址,服务,38,33,24", uscc(31)),
        format!(",好乙有限公司,{},地址,服务,38,33,24", uscc(32)),
    ];
    let (rows, _) = import_rows(&format!("{header}{}\n", rows.join("\n")));
    let report = app.registry.import("test", rows, &|_| {}).await.expect("import runs");
    assert_eq!(report.issued, 2, "{:?}", report.errors);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 3);
    assert!(!report.errors[0].message.contains(secret), "{}", report.errors[0].message);
    assert!(report.errors[0].message.starts_with("not stored"), "{}", report.errors[0].message);
    assert_eq!(app.get("/api/v1/certificates/SM2026GOOD01").await.status(), 200);
    assert_eq!(app.get(&format!("/api/v1/certificates/{}", assigned(1))).await.status(), 200);
    assert_eq!(app.get("/api/v1/certificates/SM2026REFUSED").await.status(), 404);
}

async fn revoking_marks_already_revoked_is_refused(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body("SM2026TWICE01", "两次撤销有限公司", 40)).await;
    let order = app.post("/api/v1/certificates/SM2026TWICE01/marks", &app.issuer, &json!({"count": 50})).await;
    assert_eq!(order.status(), 201);
    let path = "/api/v1/certificates/SM2026TWICE01/marks/1/revoke";
    let range = json!({"first": 10, "last": 20, "reason": "labels stolen"});
    assert!(app.post(path, &app.issuer, &range).await.status().is_success());
    let again = assert_problem(app.post(path, &app.issuer, &range).await, 409, "already-revoked").await;
    assert!(again["detail"].as_str().unwrap().contains("10-20"), "{again}");
    let inside = json!({"first": 12, "last": 15, "reason": "again"});
    assert_problem(app.post(path, &app.issuer, &inside).await, 409, "already-revoked").await;
    // A range reaching past what is revoked is a real change; then the whole batch.
    assert!(app
        .post(path, &app.issuer, &json!({"first": 15, "last": 25, "reason": "more"}))
        .await
        .status()
        .is_success());
    assert!(app.post(path, &app.issuer, &json!({"reason": "misprint"})).await.status().is_success());
    assert_problem(app.post(path, &app.issuer, &json!({"reason": "misprint"})).await, 409, "already-revoked").await;

    let history: Value = app.get("/api/v1/certificates/SM2026TWICE01/history").await.json().await.unwrap();
    let kinds: Vec<&str> = history["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["issued", "marks_ordered", "marks_revoked", "marks_revoked", "marks_revoked"]);
}

#[tokio::test]
async fn invisible_characters_in_displayed_text_are_refused() {
    let app = spawn_app().await;
    let cases = [
        ("holder.name", "\u{202E}司公限有器电例示"),
        ("holder.name", "厦门示例\u{200B}电器有限公司"),
        ("holder.name", "\u{FEFF}厦门示例电器有限公司"),
        ("holder.name", "厦门\u{2066}示例\u{2069}电器有限公司"),
        ("holder.name_en", "Example\u{200D} Co., Ltd."),
        ("holder.address", "厦门市\u{2060}思明区"),
        ("scope", "家用电器\u{202A}的售后服务"),
    ];
    for (i, (field, value)) in cases.into_iter().enumerate() {
        let mut body = issue_body(&format!("SM2026BIDI{i:04}"), "厦门示例电器有限公司", 50 + i as u32);
        match field.split_once('.') {
            Some((outer, inner)) => body[outer][inner] = json!(value),
            None => body[field] = json!(value),
        }
        let problem = assert_problem(post_issue(&app, &body).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("invisible"), "{problem}");
    }
    // Reasons shown on the scan page are displayed text too.
    app.issue(&issue_body("SM2026BIDI9999", "原因测试有限公司", 70)).await;
    let (status, problem) =
        app.status("SM2026BIDI9999", json!({"action": "revoke", "reason": "撤销\u{202E}原因"})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(app.get("/api/v1/certificates/SM2026BIDI0000").await.status(), 404);
}

#[tokio::test]
async fn applicable_points_are_bounded_as_the_scheme_is() {
    let app = spawn_app().await;
    let mut body = issue_body("SM2026APPL001", "一分满分有限公司", 80);
    body["evaluation"] = json!({"system": 1, "commodity": 0, "customer": 0, "applicable": 1});
    let problem = assert_problem(post_issue(&app, &body).await, 422, "invalid-evaluation").await;
    assert!(problem["detail"].as_str().unwrap().contains("65"), "{problem}");
    body["evaluation"] = json!({"system": 30, "commodity": 20, "customer": 12, "applicable": 64.9});
    assert_problem(post_issue(&app, &body).await, 422, "invalid-evaluation").await;
    // 62 of 65 applicable points is 95.4: the smallest sheet the scheme allows still works.
    body["evaluation"] = json!({"system": 30, "commodity": 20, "customer": 12, "applicable": 65});
    assert_eq!(app.issue(&body).await["level"], "five_star");
}

#[tokio::test]
async fn dates_outside_the_standards_life_are_refused() {
    let app = spawn_app().await;
    for (field, value) in [("issued", "0001-01-01"), ("issued", "2011-12-29"), ("first_issued", "1999-05-01")] {
        let mut body = issue_body("SM2026DATE001", "日期测试有限公司", 90);
        body[field] = json!(value);
        let problem = assert_problem(post_issue(&app, &body).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("2011-12-30"), "{problem}");
    }
    let mut future = issue_body("SM2026DATE001", "日期测试有限公司", 90);
    future["issued"] = json!("2099-01-01");
    assert_problem(post_issue(&app, &future).await, 422, "invalid-field").await;
    let mut earliest = issue_body("SM2026DATE001", "日期测试有限公司", 90);
    earliest["issued"] = json!("2011-12-30");
    assert_eq!(app.issue(&earliest).await["valid_until"], "2014-12-29");
}

#[tokio::test]
async fn the_search_page_says_when_a_credit_code_is_mistyped() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026HINT001", "厦门示例电器有限公司", 1)).await;
    let good = uscc(1);
    let last = good.chars().last().unwrap();
    let wrong = if last == '0' { '1' } else { '0' };
    let typo = format!("{}{wrong}", &good[..17]);
    for (lang, expected) in [("en", "check character should be"), ("zh", "校验位应为")] {
        let response = app.get(&format!("/search?q={typo}&lang={lang}")).await;
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains("id=\"uscc-hint\""), "{html}");
        assert!(html.contains(expected) && html.contains(&format!("{last}")), "{html}");
    }
    // The right code finds the certificate and carries no warning; nor does a name search.
    let html = app.get(&format!("/search?q={good}&lang=en")).await.text().await.unwrap();
    assert!(html.contains("SM2026HINT001") && !html.contains("uscc-hint"), "{html}");
    let html = app.get("/search?q=%E5%8E%A6%E9%97%A8&lang=en").await.text().await.unwrap();
    assert!(!html.contains("uscc-hint"), "{html}");
}

#[test]
fn serve_refuses_a_key_directory_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keygen = common::process::output(common::starmark_command(dir.path()).arg("keygen"));
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let keys = dir.path().join("keys");
    for mode in [0o777, 0o770, 0o702] {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = common::process::output(common::starmark_command(dir.path()).arg("serve"));
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("writable by group or others") && stderr.contains("chmod go-w"), "{stderr}");
    }
}
