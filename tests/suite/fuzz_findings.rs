//! What the fuzz targets of fuzz/ found (docs/fuzzing.md), each as the request or input that
//! showed it, against the real server.

use serde_json::Value;

use crate::common;

use common::{issue_body, spawn_app_on, Backend, TestApp};

on_each_backend!(
    a_genuine_token_with_blanks_inside_is_not_genuine,
    import_names_the_line_of_a_row_whatever_the_line_ends
);

async fn scan_json(app: &TestApp, token: &str) -> Value {
    let url = app.url(&format!("/v/{}", token.replace(' ', "%20").replace('\t', "%09")));
    let response = app.client.get(url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `mark_token` found that blanks between the certificate number and the `.` were trimmed away
/// before the signature check, so one genuine mark had many spellings that all verified, each
/// missing the batch's digest index and the refusal memory keyed by the token's text.
async fn a_genuine_token_with_blanks_inside_is_not_genuine(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let answer = app.issue(&issue_body("SM2026FUZZ0001", "模糊测试有限公司", 31)).await;
    let number = answer["number"].as_str().unwrap().to_string();
    let record = app.registry.get(&starmark::domain::CertificateNumber::parse(&number).unwrap()).await.unwrap().record;
    let token = app.registry.mark_token(&record, 0, 0).unwrap();
    let genuine = scan_json(&app, &token).await;
    assert_eq!(genuine["reason"], "checked", "{genuine}");
    for blank in [" ", "\t", "  "] {
        let spelled = token.replacen('.', &format!("{blank}."), 1);
        let answer = scan_json(&app, &spelled).await;
        assert_eq!(answer["reason"], "malformed", "{spelled:?} was read as {answer}");
        assert_ne!(answer["verdict"], genuine["verdict"], "{spelled:?}");
    }
}
