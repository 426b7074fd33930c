//! Logs operators' tools read: `starmark serve` with `STARMARK_LOG_FORMAT=json` writes one JSON
//! object a line, and every request's id (a trusted proxy's sane `X-Request-Id`, else a new
//! one) is in the answer's `X-Request-Id`, in every log line of the request and in its problem
//! document. The server trusts 127.0.0.2 as its proxy; the test's clients connect from
//! 127.0.0.2 (the proxy) and 127.0.0.1 (anyone else).

use std::collections::HashMap;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;

use common::process::{output_async, Guard};
use common::starmark_command;

/// A `starmark serve` logging JSON, and every line it writes, each parsed (a line that is not
/// a JSON object fails the test).
struct JsonServer {
    _child: Guard,
    base: String,
    lines: mpsc::Receiver<String>,
}

impl JsonServer {
    fn start(dir: &std::path::Path) -> Self {
        let mut command = starmark_command(dir);
        command
            .arg("serve")
            .env("STARMARK_LOG_FORMAT", "json")
            // tower_http's two lines a request as well: lines written for every request.
            .env("STARMARK_LOG", "info,tower_http=debug")
            .env("STARMARK_TRUSTED_PROXIES", "127.0.0.2")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = Guard::spawn(&mut command).expect("starmark serve starts");
        let (tx, lines) = mpsc::channel();
        for pipe in [
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().expect("stdout")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let address = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).expect("starmark serve says where it listens within a minute");
            let line = parsed(&line);
            if line["message"] == "starmark listening" {
                break line["fields"]["address"].as_str().expect("the address is a field").to_string();
            }
        };
        Self { _child: child, base: format!("http://{address}"), lines }
    }

    /// Every line logged from now until `enough` says so, each parsed and checked for its shape.
    fn lines_until(&self, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        while !enough(&lines) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!("the log lines expected did not come; it logged:\n{lines:#?}");
            };
            lines.push(parsed(&line));
        }
        lines
    }
}

/// A line as JSON, checked for its members: time, level, target, message, fields.
fn parsed(text: &str) -> Value {
    let line: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not a JSON line ({e}): {text:?}"));
    check_shape(&line);
    line
}

fn check_shape(line: &Value) {
    let time = line["time"].as_str().unwrap_or_else(|| panic!("no time: {line}"));
    chrono::DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("time {time:?} is not RFC 3339: {e}"));
    assert!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&line["level"].as_str().unwrap_or("")), "{line}");
    assert!(line["target"].as_str().is_some_and(|t| !t.is_empty()), "{line}");
    assert!(line["message"].is_string(), "{line}");
    assert!(line["fields"].is_object(), "{line}");
}

/// A request: its path, the client it is sent from, the `X-Request-Id` it carries, whether
/// the server must keep that id, and the status expected.
type Case<'a> = (String, &'a reqwest::Client, Option<Vec<u8>>, bool, u16);

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::from(ip))).build().expect("client")
}

/// The uri a tower_http line was written for, from its span's fields.
fn uri_of(line: &Value) -> Option<String> {
    let fields = line["spans"].as_array()?.iter().find(|span| span["name"] == "request")?["fields"].as_str()?;
    let uri = fields.split_whitespace().find_map(|field| field.strip_prefix("uri="))?;
    Some(uri.to_string())
}

#[tokio::test]
async fn json_lines_and_request_ids_in_answers_logs_and_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut keygen = starmark_command(dir.path());
    keygen.arg("keygen");
    assert!(output_async(keygen).await.status.success());
    let server = JsonServer::start(dir.path());
    let proxy = client_from([127, 0, 0, 2]);
    let anyone = client_from([127, 0, 0, 1]);
    let long = "a".repeat(65);
    let hostile: [&[u8]; 5] = [long.as_bytes(), b"tab\there", b"quote\"and\\slash", b"\xff\xfe", b"semi;colon"];

    // (path, client, X-Request-Id sent, whether it must be kept, status expected)
    let mut cases: Vec<Case> = vec![
        ("/healthz?case=ok".into(), &anyone, None, false, 200),
        ("/no-such-route/missing".into(), &anyone, None, false, 404),
        ("/healthz?case=untrusted".into(), &anyone, Some(b"set-by-anyone-1".to_vec()), false, 200),
        ("/no-such-route/untrusted-4xx".into(), &anyone, Some(b"set-by-anyone-2".to_vec()), false, 404),
        ("/healthz?case=proxy".into(), &proxy, Some(b"proxy-set.id_1:2".to_vec()), true, 200),
        ("/no-such-route/proxy-4xx".into(), &proxy, Some(b"0123456789abcdef0123456789abcdef".to_vec()), true, 404),
    ];
    for (n, bad) in hostile.iter().enumerate() {
        cases.push((format!("/no-such-route/hostile-{n}"), &proxy, Some(bad.to_vec()), false, 404));
    }

    let mut ids: HashMap<String, String> = HashMap::new();
    for (path, client, sent, kept, status) in &cases {
        let mut request = client.get(format!("{}{path}", server.base));
        if let Some(sent) = sent {
            request = request.header("x-request-id", reqwest::header::HeaderValue::from_bytes(sent).unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{path}");
        let id = response.headers().get("x-request-id").expect("every answer has an id").to_str().unwrap().to_string();
        match sent {
            Some(sent) if *kept => assert_eq!(id.as_bytes(), sent.as_slice(), "a trusted proxy's id is kept: {path}"),
            Some(sent) => {
                assert_ne!(id.as_bytes(), sent.as_slice(), "{path}: not echoed");
                assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: a made id, {id:?}");
            }
            None => assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: {id:?}"),
        }
        if *status >= 400 {
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["request_id"], id.as_str(), "{path}: {problem}");
            assert_eq!(problem["type"], "urn:starmark:problem:not-found", "{problem}");
        }
        assert!(ids.insert(path.clone(), id).is_none());
    }

    // tower_http writes "finished processing request" last for each request.
    let lines = server.lines_until(|lines| {
        cases.iter().all(|(path, ..)| {
            lines.iter().any(|line| {
                line["message"] == "finished processing request" && uri_of(line).as_deref() == Some(path.as_str())
            })
        })
    });
    for (path, _, sent, _, _) in &cases {
        let of_request: Vec<&Value> = lines.iter().filter(|line| uri_of(line).as_deref() == Some(path)).collect();
        assert!(of_request.len() >= 2, "{path}: started and finished: {of_request:#?}");
        for line in of_request {
            assert_eq!(line["request_id"], ids[path].as_str(), "{path}: every line of the request: {line}");
        }
        if let Some(sent) = sent.as_ref().filter(|_| !path.contains("proxy")) {
            let sent = String::from_utf8_lossy(sent);
            for line in &lines {
                assert!(!line.to_string().contains(sent.as_ref()), "{sent:?} never reaches the log: {line}");
            }
        }
    }
}
