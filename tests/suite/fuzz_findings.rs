//! What the fuzz targets of fuzz/ found (docs/fuzzing.md), each as the request or input that
//! showed it, against the real server.

use serde_json::Value;

use crate::common;

use common::postgres::TestDatabase;
use common::{issue_body, spawn_app_on, starmark_command, uscc, Backend, TestApp};

on_each_backend!(
    a_genuine_token_with_blanks_inside_is_not_genuine,
    import_names_the_line_of_a_row_whatever_the_line_ends
);

/// A JSON scan of `token`, its blanks escaped for the URL.
async fn scan_token(app: &TestApp, token: &str) -> Value {
    app.scan(&format!("/v/{}", token.replace(' ', "%20").replace('\t', "%09"))).await
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
    let genuine = scan_token(&app, &token).await;
    assert_eq!(genuine["reason"], "checked", "{genuine}");
    for blank in [" ", "\t", "  "] {
        let spelled = token.replacen('.', &format!("{blank}."), 1);
        let answer = scan_token(&app, &spelled).await;
        assert_eq!(answer["reason"], "malformed", "{spelled:?} was read as {answer}");
        assert_ne!(answer["verdict"], genuine["verdict"], "{spelled:?}");
    }
}

/// `import_csv` found that with lone carriage returns as line ends (as some spreadsheet
/// programs save CSV) every refused row was reported at line 1; blank lines also shifted every
/// later row's line. `starmark import` names the line of the file the row is on.
async fn import_names_the_line_of_a_row_whatever_the_line_ends(backend: Backend) {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let dir = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut command = starmark_command(dir.path());
        if let Some(database) = &database {
            command.env("DATABASE_URL", &database.url);
        }
        command.args(args);
        common::process::output_async(command)
    };
    assert!(command(&["keygen"]).await.status.success());
    let rows = [
        "number,holder_name,uscc,address,scope,system,commodity,customer".to_string(),
        format!("SM2026LINE0001,行尾一号有限公司,{},地址1,服务范围,38,33,24", uscc(41)),
        String::new(),
        "SM2026LINE0002,坏代码有限公司,91350200776049653B,地址2,服务范围,38,33,24".to_string(),
        format!("SM2026LINE0003,行尾三号有限公司,{},地址3,服务范围,38,33,24", uscc(43)),
        "SM2026LINE0004,缺列有限公司".to_string(),
    ];
    for (name, end, series) in [("lf.csv", "\n", "A"), ("crlf.csv", "\r\n", "B"), ("cr.csv", "\r", "C")] {
        let file = dir.path().join(name);
        std::fs::write(&file, rows.join(end).replace("SM2026LINE", &format!("SM2026LINE{series}"))).unwrap();
        let out = command(&["import", file.to_str().unwrap(), "--quiet"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("line 4: uscc: check character should be"), "{name}: {stderr}");
        assert!(stderr.contains("line 6: unreadable row"), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 2, "{name}: {stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("issued 2 certificates"), "{name}");
    }
}
