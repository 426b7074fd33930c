//! Answers in gzip for clients that ask (`GET /api/v1/certificates/{number}`): the gzip form
//! kept beside an answer decodes, with decoders that are not ours (`gzip -d`, and curl's
//! `--compressed`, a real HTTP client), to exactly the identity body; clients that do not ask,
//! or refuse gzip, get the identity form; each form has its own ETag and revalidates with it;
//! `HEAD` says what `GET` would send.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{issue_body, spawn_app};

/// `bytes` decoded by the system's `gzip -d`.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-d", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "gzip -d refused the body");
    output.stdout
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|value| value.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_client_that_accepts_gzip_gets_the_answer_gzipped_and_others_get_it_as_it_is() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026GZIP0001", "压缩测试有限公司", 90)).await;
    let url = app.url("/api/v1/certificates/SM2026GZIP0001");

    let plain = app.client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary").as_deref(), Some("accept-encoding"));
    let plain_etag = header(&plain, "etag").unwrap();
    let body = plain.bytes().await.unwrap();
    assert!(body.len() > 1_000, "an answer worth compressing: {} bytes", body.len());

    let gzipped = app.client.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gzipped.status(), 200);
    assert_eq!(header(&gzipped, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(header(&gzipped, "content-type").as_deref(), Some("application/json"));
    assert_eq!(header(&gzipped, "vary").as_deref(), Some("accept-encoding"));
    let gzip_etag = header(&gzipped, "etag").unwrap();
    assert_ne!(gzip_etag, plain_etag, "each representation has its own ETag");
    assert!(gzip_etag.starts_with("W/\"") && gzip_etag.ends_with("-gzip\""), "{gzip_etag}");
    let packed = gzipped.bytes().await.unwrap();
    assert!(packed.len() < body.len() / 2, "{} bytes gzipped against {}", packed.len(), body.len());
    assert_eq!(gunzip(&packed), body, "gzip -d gives back the identity body");

    // curl asks for what it can decode and decodes it itself.
    // On a thread of its own: the server answers on this test's thread.
    let curl_url = url.clone();
    let curl = tokio::task::spawn_blocking(move || {
        Command::new("curl").args(["-sf", "--max-time", "30", "--compressed", "-D", "-", "-o", "-", &curl_url]).output()
    })
    .await
    .unwrap()
    .expect("curl");
    assert!(curl.status.success(), "curl failed");
    let split = curl.stdout.windows(4).position(|w| w == b"\r\n\r\n").expect("headers end") + 4;
    let head = String::from_utf8_lossy(&curl.stdout[..split]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "curl --compressed was sent gzip: {head}");
    assert_eq!(&curl.stdout[split..], &body[..], "curl --compressed decodes to the identity body");

    for refused in ["gzip;q=0", "identity", "br", "*;q=0", "gzip;q=0, *"] {
        let answer = app.client.get(&url).header("accept-encoding", refused).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{refused}");
        assert_eq!(header(&answer, "content-encoding"), None, "{refused}");
        assert_eq!(header(&answer, "etag").as_deref(), Some(plain_etag.as_str()), "{refused}");
        assert_eq!(answer.bytes().await.unwrap(), body, "{refused}");
    }
    let any = app.client.get(&url).header("accept-encoding", "*").send().await.unwrap();
    assert_eq!(header(&any, "content-encoding").as_deref(), Some("gzip"), "* covers gzip");

    // Revalidation: each form with its own ETag.
    let again = app.client.get(&url).header("accept-encoding", "gzip").header("if-none-match", &gzip_etag);
    let again = again.send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag").as_deref(), Some(gzip_etag.as_str()));
    assert_eq!(header(&again, "vary").as_deref(), Some("accept-encoding"));
    let plain_again = app.client.get(&url).header("if-none-match", &plain_etag).send().await.unwrap();
    assert_eq!(plain_again.status(), 304);
    assert_eq!(header(&plain_again, "etag").as_deref(), Some(plain_etag.as_str()));
    let crossed = app.client.get(&url).header("if-none-match", &gzip_etag).send().await.unwrap();
    assert_eq!(crossed.status(), 200, "the gzip form's ETag does not validate the identity form");
    assert_eq!(crossed.bytes().await.unwrap(), body);
    let crossed = app.client.get(&url).header("accept-encoding", "gzip").header("if-none-match", &plain_etag);
    let crossed = crossed.send().await.unwrap();
    assert_eq!(crossed.status(), 200, "nor the other way round");
    assert_eq!(header(&crossed, "content-encoding").as_deref(), Some("gzip"));

    // HEAD: the headers GET would send, no body.
    let head = app.client.head(&url).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(header(&head, "etag").as_deref(), Some(gzip_etag.as_str()));
    assert!(head.bytes().await.unwrap().is_empty());
    let head = app.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-encoding"), None);
    assert_eq!(header(&head, "etag").as_deref(), Some(plain_etag.as_str()));

    // A change makes new forms of both.
    app.set_status("SM2026GZIP0001", serde_json::json!({"action": "revoke", "reason": "r"})).await;
    let changed = app.client.get(&url).header("accept-encoding", "gzip").header("if-none-match", &gzip_etag);
    let changed = changed.send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let new_etag = header(&changed, "etag").unwrap();
    assert_ne!(new_etag, gzip_etag);
    let decoded: serde_json::Value = serde_json::from_slice(&gunzip(&changed.bytes().await.unwrap())).unwrap();
    assert_eq!(decoded["status"]["state"], "revoked");
}
