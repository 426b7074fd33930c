//! Redis over TLS (`rediss://`) with a private certificate authority (`STARMARK_REDIS_CA`), a
//! server certificate nobody vouches for, and a Redis that never answers: each is connected to,
//! refused, or reported in the server's log, and answers are served throughout.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::redis_feed::{redis_up, wait_for_redis};
use common::{issue_body, spawn_app_with, RedisServer};
use serde_json::json;

#[tokio::test]
async fn over_tls_with_a_private_ca_a_change_reaches_the_other_instance() {
    let redis = RedisServer::start_tls().await;
    let app = spawn_app_with(|config| {
        config.redis_url = Some(redis.url());
        config.redis_ca = Some(redis.ca());
    })
    .await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    app.issue(&issue_body("SM2026TLS00001", "加密缓存有限公司", 93)).await;
    let url = format!("{peer}/api/v1/certificates/SM2026TLS00001");
    let state = |answer: serde_json::Value| answer["status"]["state"].as_str().unwrap_or_default().to_string();
    assert_eq!(state(app.client.get(&url).send().await.unwrap().json().await.unwrap()), "valid");

    let heard = common::observe::announcements_heard(&peer_registry);
    let (status, _) = app.status("SM2026TLS00001", json!({"action": "revoke", "reason": "严重违规"})).await;
    assert_eq!(status, 200);
    common::wait::until_true("the peer answers revoked", || async {
        state(app.client.get(&url).send().await.unwrap().json().await.unwrap()) == "revoked"
    })
    .await;
    // Carried by the feed over TLS (the store watch would get there too, later).
    common::wait::until_true("the peer heard the revocation over TLS", || {
        std::future::ready(common::observe::announcements_heard(&peer_registry) > heard)
    })
    .await;
}

#[tokio::test]
async fn a_server_certificate_nobody_vouches_for_is_refused_and_answers_go_on() {
    let mut redis = RedisServer::start_tls().await;
    // No STARMARK_REDIS_CA: the system's trust store does not know the test's CA.
    let app = spawn_app_with(|config| config.redis_url = Some(redis.url())).await;
    // The app, so far the server's only client, tried and gave up the handshake: the server saw
    // it refused (so "not connected" below is not merely "not tried yet").
    redis.log_line("Error accepting a client connection").await;
    assert!(!redis_up(&app.registry), "connected to a server whose certificate no trusted CA signed");
    app.issue(&issue_body("SM2026TLS00002", "证书不符有限公司", 94)).await;
    assert_eq!(app.get("/api/v1/certificates/SM2026TLS00002").await.status(), 200, "answers go on without Redis");

    // The warning the README promises: the same start as a user runs it says so in its log.
    let dir = tempfile::tempdir().unwrap();
    let mut keygen = starmark(dir.path(), &[]);
    keygen.arg("keygen");
    assert!(common::process::output_async(keygen).await.status.success());
    let mut command = starmark(dir.path(), &[("REDIS_URL", &redis.url())]);
    command.arg("serve");
    let server = tokio::task::spawn_blocking(move || common::ServeProcess::start(command)).await.expect("started");
    let warned = tokio::task::spawn_blocking(move || {
        let line = server.wait_for_line("redis unreachable", Duration::from_secs(30));
        (line, server)
    });
    let (line, server) = warned.await.unwrap();
    let line = line.expect("no warning says Redis cannot be reached over TLS");
    assert!(line.contains("WARN") && line.to_lowercase().contains("certificate"), "{line}");
    let answer = reqwest::get(format!("{}/api/v1/certificates?limit=1", server.base)).await.unwrap();
    assert_eq!(answer.status(), 200, "answers go on without Redis");
    assert!(!redis_up(&app.registry), "the app connected later all the same");
}

/// The `starmark` binary in `dir` with the environment given, its log on stderr.
fn starmark(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = common::starmark_command(dir);
    command.envs(env.iter().copied());
    command
}

/// What `starmark serve` says when `env` stops it from starting; it must stop, and never show
/// the password `s3cret` the tests put in their URLs.
fn refused_start(dir: &Path, env: &[(&str, &str)]) -> String {
    let out = common::process::output(starmark(dir, env).arg("serve"));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started with {env:?}: {said}");
    assert!(!said.contains("s3cret"), "{said}");
    said
}

#[test]
fn a_redis_that_never_answers_is_reported_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    assert!(common::process::output(starmark(dir.path(), &[]).arg("keygen")).status.success());
    let refusing = common::ports::RefusingPort::new();
    let closed = refusing.addr.port();
    let url = format!("redis://:s3cret@127.0.0.1:{closed}");
    let mut server =
        common::process::Guard::spawn(starmark(dir.path(), &[("REDIS_URL", &url)]).arg("serve").stderr(Stdio::piped()))
            .unwrap();
    let (lines, log) = std::sync::mpsc::channel();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + common::wait::HANG_GUARD;
    let reported = loop {
        match log.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("redis unreachable") => break Some(line),
            Ok(line) => assert!(!line.contains("s3cret"), "{line}"),
            Err(_) => break None,
        }
    };
    drop(server);
    let line = reported.expect("no log line says Redis cannot be reached");
    assert!(line.contains("Connection refused") && !line.contains("s3cret"), "{line}");

    // A CA for a Redis without TLS, a CA file that cannot be read and a URL that is no Redis URL
    // each stop the start, named without the password.
    let said =
        refused_start(dir.path(), &[("REDIS_URL", &url), ("STARMARK_REDIS_CA", "/etc/ssl/certs/ca-certificates.crt")]);
    assert!(said.contains("STARMARK_REDIS_CA") && said.contains("rediss://"), "{said}");
    let tls_url = format!("rediss://:s3cret@127.0.0.1:{closed}");
    let said = refused_start(dir.path(), &[("REDIS_URL", &tls_url), ("STARMARK_REDIS_CA", "/nonexistent/ca.pem")]);
    assert!(said.contains("STARMARK_REDIS_CA: cannot read /nonexistent/ca.pem"), "{said}");
    let said = refused_start(dir.path(), &[("REDIS_URL", "http://:s3cret@127.0.0.1:80")]);
    assert!(said.contains("REDIS_URL") && said.contains("cannot be used"), "{said}");
}
