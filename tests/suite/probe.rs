//! `starmark probe`, the image's health check: exit 0 with one line when the instance answers
//! `/readyz` with 200, 1 with one line when it is stopped or not ready; and the Dockerfile's
//! `HEALTHCHECK` line itself, in exec form, run with `dash` against a live server.

use std::process::Output;

use crate::common;

use common::process::output_async;
use common::relay::Relay;
use common::{spawn_app_with, starmark_command, ServeProcess, TestDatabase};

/// `starmark probe ARGS` with `dir`'s configuration and `listen` as `STARMARK_LISTEN`.
async fn probe(dir: &std::path::Path, listen: &str, args: &[&str]) -> Output {
    let mut command = starmark_command(dir);
    command.env("STARMARK_LISTEN", listen).arg("probe").args(args);
    output_async(command).await
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn the_probe_passes_a_live_server_and_fails_a_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut keygen = starmark_command(dir.path());
    keygen.arg("keygen");
    assert!(output_async(keygen).await.status.success());
    let mut server = ServeProcess::start(serve(dir.path()));
    let port = server.addr.port();

    // By default it asks /readyz on STARMARK_LISTEN, a wildcard address on loopback.
    let ok = probe(dir.path(), &format!("0.0.0.0:{port}"), &[]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", said(&ok));
    let line = String::from_utf8_lossy(&ok.stdout);
    assert!(line.starts_with(&format!("ok: http://127.0.0.1:{port}/readyz answered 200")), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    let health = probe(dir.path(), "127.0.0.1:1", &["--url", &format!("{}/healthz", server.base)]).await;
    assert_eq!(health.status.code(), Some(0), "{}", said(&health));

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let stopped = probe(dir.path(), &format!("127.0.0.1:{port}"), &["--timeout-ms", "1000"]).await;
    assert_eq!(stopped.status.code(), Some(1), "{}", said(&stopped));
    let line = said(&stopped);
    assert!(line.starts_with(&format!("unreachable: http://127.0.0.1:{port}/readyz")), "{line}");
    assert_eq!(line.trim_end().lines().count(), 1, "one line: {line}");
}

#[tokio::test]
async fn the_probe_fails_an_instance_that_answers_but_is_not_ready() {
    let database = TestDatabase::create().await;
    let mut relay = Relay::in_front_of(&database.url).await;
    let url = relay.url(&database.url);
    let mut app = spawn_app_with(|config| config.database_url = Some(url)).await;
    app.database = Some(database);
    let listen = app.base.trim_start_matches("http://").to_string();
    let ready = probe(app.dir.path(), &listen, &[]).await;
    assert_eq!(ready.status.code(), Some(0), "{}", said(&ready));

    relay.cut().await;
    common::wait::until_true("not ready while the database is away", || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    let not_ready = probe(app.dir.path(), &listen, &[]).await;
    assert_eq!(not_ready.status.code(), Some(1), "{}", said(&not_ready));
    let line = said(&not_ready);
    assert!(line.starts_with(&format!("not ready: http://{listen}/readyz answered 503")), "{line}");
    assert!(line.contains("\"store\":\"unavailable\""), "says why: {line}");
    assert_eq!(line.trim_end().lines().count(), 1, "one line: {line}");
    // /healthz only says the process answers.
    let alive = probe(app.dir.path(), &listen, &["--url", &format!("{}/healthz", app.base)]).await;
    assert_eq!(alive.status.code(), Some(0), "{}", said(&alive));
    relay.restore().await;
}

/// The Dockerfile's `HEALTHCHECK ... CMD [...]`, parsed as Docker does (a JSON array).
fn healthcheck_argv() -> Vec<String> {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let line = dockerfile.lines().find(|line| line.starts_with("HEALTHCHECK ")).expect("a HEALTHCHECK line");
    let array = line.split_once(" CMD ").expect("HEALTHCHECK ... CMD").1;
    serde_json::from_str(array).unwrap_or_else(|e| panic!("the health check is not in exec form ({e}): {line}"))
}

#[tokio::test]
async fn the_dockerfiles_healthcheck_run_by_dash_passes_a_live_server_and_fails_a_stopped_one() {
    let argv = healthcheck_argv();
    // The image puts the binary there (`COPY --from=build ... /usr/local/bin/starmark`); here it
    // is the binary the suite built.
    assert_eq!(argv[0], "/usr/local/bin/starmark", "{argv:?}");
    let mut words = vec![shell_quoted(env!("CARGO_BIN_EXE_starmark"))];
    words.extend(argv[1..].iter().map(|word| shell_quoted(word)));
    let script = format!("exec {}", words.join(" "));

    let dir = tempfile::tempdir().unwrap();
    let mut keygen = starmark_command(dir.path());
    keygen.arg("keygen");
    assert!(output_async(keygen).await.status.success());
    let mut server = ServeProcess::start(serve(dir.path()));
    // As in the image: the server listens on every address, and the check asks loopback.
    let listen = format!("0.0.0.0:{}", server.addr.port());
    let run = |listen: String| {
        let mut dash = std::process::Command::new("dash");
        dash.env_clear()
            .env("STARMARK_LISTEN", listen)
            .env("STARMARK_DATA_DIR", dir.path().join("data"))
            .env("STARMARK_KEYS_DIR", dir.path().join("keys"))
            .args(["-c", &script]);
        output_async(dash)
    };
    let healthy = run(listen.clone()).await;
    assert_eq!(healthy.status.code(), Some(0), "{script}: {}", said(&healthy));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let unhealthy = run(listen).await;
    assert_eq!(unhealthy.status.code(), Some(1), "{script}: {}", said(&unhealthy));
}

fn shell_quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn serve(dir: &std::path::Path) -> std::process::Command {
    let mut command = starmark_command(dir);
    command.arg("serve");
    command
}
