//! Connections under hostile use: partial and idle connections are dropped, one client cannot
//! take every connection, descriptors never run out, and requests too malformed for any route
//! still get a problem document.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{self, spawn_app_with, ServeProcess};

/// A request head that never ends, as a slow-loris client sends it.
const PARTIAL_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";
/// Every wait below is only a guard against hanging: the behaviour is asserted, not its speed.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A client on another loopback address than the attacker's 127.0.0.1.
fn other_client() -> reqwest::Client {
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    reqwest::Client::builder().local_address(other).build().unwrap()
}

/// Reads until the server closes the connection (or resets it); what it sent first.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG_GUARD, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!("the server kept the connection open past the guard; it sent {received:?}"),
        }
    }
}

async fn open_partial(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.expect("the listener accepts");
        // A refused connection may already be closed: that is the point, not a failure.
        let _ = stream.write_all(PARTIAL_HEAD).await;
        streams.push(stream);
    }
    streams
}

fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn partial_heads_neither_stay_nor_lock_out_other_clients() {
    let app = spawn_app_with(|config| {
        config.max_connections = Some(64);
        config.max_connections_per_client = Some(16);
        config.header_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut attackers = open_partial(addr_of(&app.base), 300).await;

    let answer = other_client().get(app.url("/healthz")).send().await.expect("another client is answered");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ok\n");
    let metrics = scrape(&app).await;
    // The scrape's own connection is open while it is answered.
    let held = common::metric(&metrics, "starmark_connections_open") - 1.0;
    assert!(held <= 16.0, "one client holds {held} connections, more than its 16:\n{metrics}");
    let refused = common::metric(&metrics, "starmark_connections_refused_total{reason=\"client\"}");
    assert_eq!(refused, 300.0 - held, "every connection beyond the client's share is refused:\n{metrics}");

    // Refusals are answered (as many as run at once) and every connection ends: the refused
    // at once, the held ones at the header timeout.
    let mut answered = 0;
    for stream in &mut attackers {
        let received = String::from_utf8_lossy(&until_closed(stream).await).into_owned();
        if received.is_empty() {
            continue;
        }
        assert!(received.starts_with("HTTP/1.1 503"), "{received}");
        assert!(received.contains("application/problem+json"), "{received}");
        assert!(received.contains("urn:starmark:problem:too-many-connections"), "{received}");
        assert!(received.to_ascii_lowercase().contains("retry-after: 1"), "{received}");
        answered += 1;
    }
    assert!(answered >= 64, "refusals are answered, not silently dropped: {answered}");
    assert_eq!(common::metric(&scrape(&app).await, "starmark_connections_open"), 1.0, "only the scrape is left");
}

async fn scrape(app: &common::TestApp) -> String {
    let response = other_client().get(app.url("/metrics")).bearer_auth(&app.reader).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(|config| config.header_timeout = Duration::from_millis(800)).await;
    let addr = addr_of(&app.base);

    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(until_closed(&mut silent).await.is_empty(), "nothing is answered to a client that said nothing");

    let mut kept_alive = TcpStream::connect(addr).await.unwrap();
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let received = String::from_utf8(until_closed(&mut kept_alive).await).unwrap();
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(received.ends_with("ok\n"), "the answer came whole before the idle connection was closed: {received}");

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(PARTIAL_HEAD).await.unwrap();
    let received = until_closed(&mut slow).await;
    assert!(!String::from_utf8_lossy(&received).contains("200 OK"), "a head never finished is never served");
}

#[tokio::test]
async fn requests_no_route_can_see_are_answered_with_problem_documents() {
    let app = spawn_app_with(|_| {}).await;
    let addr = addr_of(&app.base);
    let long_path = format!("/{}", "a".repeat(100_000));
    let huge_header = format!("x-filler: {}\r\n", "b".repeat(8_000)).repeat(60);
    let cases = [
        (format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(), "414", "uri-too-long"),
        (format!("GET / HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n").into_bytes(), "431", "headers-too-large"),
        (b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "400", "bad-request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n".to_vec(), "400", "bad-request"),
        // A TLS client hello sent to the plain-HTTP port.
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(), "400", "bad-request"),
    ];
    for (request, status, slug) in cases {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(&request).await;
        let received = String::from_utf8_lossy(&until_closed(&mut stream).await).into_owned();
        let (head, body) =
            received.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer for {status}: {received:?}"));
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "expected {status} for {:?}: {head}",
            String::from_utf8_lossy(&request[..request.len().min(60)])
        );
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).expect("a JSON problem document");
        assert_eq!(problem["type"], format!("urn:starmark:problem:{slug}"));
        assert_eq!(problem["status"].to_string(), status);
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let app = spawn_app_with(|config| config.send_timeout = Duration::from_millis(500)).await;
    let before = open_connections(&app).await;
    // Many pipelined requests whose answers the client never reads: the server's writes block
    // once the socket buffers are full, and the send timeout must end the connection.
    let mut stream = TcpStream::connect(addr_of(&app.base)).await.unwrap();
    let request = b"GET /.well-known/starmark/keys.json HTTP/1.1\r\nHost: x\r\n\r\n";
    let pipelined: Vec<u8> = request.iter().copied().cycle().take(request.len() * 40_000).collect();
    let writer = tokio::spawn(async move {
        let _ = stream.write_all(&pipelined).await;
        stream
    });
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the stalled connection was never dropped");
        tokio::time::sleep(Duration::from_millis(200)).await;
        if writer.is_finished() && open_connections(&app).await <= before {
            break;
        }
    }
}

async fn open_connections(app: &common::TestApp) -> f64 {
    // The scrape's own connection is open while it is answered.
    common::metric(&scrape(app).await, "starmark_connections_open") - 1.0
}

/// The report's reproduction: 300 partial connections against a server allowed 256 descriptors
/// used to stop every answer ("Too many open files"); a client elsewhere must still be served.
#[tokio::test]
async fn a_server_with_few_descriptors_keeps_answering_under_a_slow_loris() {
    let dir = tempfile::tempdir().unwrap();
    let mut keygen = common::starmark_command(dir.path());
    keygen.arg("keygen");
    let keygen = common::process::output_async(keygen).await;
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let mut command = std::process::Command::new("sh");
    command
        .env_clear()
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" serve")
        .arg(env!("CARGO_BIN_EXE_starmark"))
        .envs(common::starmark_command(dir.path()).get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))))
        .env("STARMARK_HEADER_TIMEOUT_MS", "60000");
    let server = tokio::task::spawn_blocking(move || ServeProcess::start(command)).await.expect("started");
    let _attackers = open_partial(server.addr, 300).await;
    for _ in 0..3 {
        let answer = tokio::time::timeout(HANG_GUARD, other_client().get(format!("{}/healthz", server.base)).send())
            .await
            .expect("answered in time")
            .expect("another client is answered");
        assert_eq!(answer.status(), 200);
    }
}
