//! README: "Tokens never appear in logs", checked on a real server logging at its most verbose
//! (`STARMARK_LOG=debug`, a span per request) while tokens are used, refused and revoked.

use crate::common;

use std::time::Duration;

use common::ServeProcess;

fn starmark(dir: &std::path::Path, args: &[&str]) -> String {
    let out = common::process::output(common::starmark_command(dir).args(args));
    assert!(out.status.success(), "starmark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn no_token_reaches_the_log_of_a_server_logging_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    // Child processes run off the runtime's thread.
    let (issuer, reader, revoked) = tokio::task::spawn_blocking(move || {
        starmark(&path, &["keygen"]);
        let issuer = starmark(&path, &["token", "create", "--role", "issuer", "--label", "log test"]);
        let reader = starmark(&path, &["token", "create", "--role", "reader"]);
        let revoked = starmark(&path, &["token", "create", "--role", "admin"]);
        starmark(&path, &["token", "revoke", &revoked[4..20]]);
        (issuer, reader, revoked)
    })
    .await
    .expect("join");
    // Looks like a token, but no registry made it.
    let forged = format!("{}{}", &issuer[..issuer.len() - 6], "ZZZZZZ");

    // ServeProcess sets the log level it reads the address from; the shell raises it to debug.
    let mut command = std::process::Command::new("sh");
    command
        .env_clear()
        .args(["-c", "STARMARK_LOG=debug exec \"$0\" serve", env!("CARGO_BIN_EXE_starmark")])
        .envs(common::starmark_command(dir.path()).get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
    let server = tokio::task::spawn_blocking(move || ServeProcess::start(command)).await.expect("join");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    let body = common::issue_body("SM2026LOGS0001", "日志测试有限公司", 94);
    let issued = client.post(url("/api/v1/certificates")).bearer_auth(&issuer).json(&body).send().await.unwrap();
    assert_eq!(issued.status(), 201);
    let metrics = client.get(url("/metrics")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    for refused in [&revoked, &forged] {
        let response = client.post(url("/api/v1/certificates")).bearer_auth(refused).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 401, "{refused}");
    }

    // The last request marks the end of what to read.
    let end = client.get(url("/end-of-the-token-test")).send().await.unwrap();
    assert_eq!(end.status(), 404);
    let lines = server.lines_until("/end-of-the-token-test", Duration::from_secs(60));
    let log = lines.join("\n");
    assert!(log.contains("/api/v1/certificates"), "the requests themselves are logged:\n{log}");
    for (what, token) in [("issuer", &issuer), ("reader", &reader), ("revoked", &revoked), ("forged", &forged)] {
        // The whole token, and its secret part (after `smk_`, the id and the separator).
        for secret in [token.as_str(), &token[21..]] {
            assert!(!log.contains(secret), "the {what} token is in the log:\n{log}");
        }
    }
}
