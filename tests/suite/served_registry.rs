//! The registry as an operator runs it, with the `starmark` binary alone: keys made and rotated
//! with `keygen`, certificates imported, marks ordered, listed (`marks urls`) and rendered for
//! the printer (`marks render`), then `starmark serve` started as a real process, configured by
//! its environment, and asked over real HTTP.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{uscc, ServeProcess};
use serde_json::{json, Value};

const PUBLIC_URL: &str = "https://registry.example.cn";
const ISSUER_NAME: &str = "华东服务认证中心 East China Service Certification";
const ISSUER_APPROVAL: &str = "CNCA-R-2019-123";
const LOG_ORIGIN: &str = "log.registry.example.cn/starmark";
const BODY_LIMIT: usize = 4096;

/// `starmark` on `dir`, configured through the environment as an operator would.
fn starmark(dir: &Path) -> Command {
    let mut command = common::starmark_command(dir);
    command
        .env("STARMARK_PUBLIC_URL", PUBLIC_URL)
        .env("STARMARK_ISSUER_NAME", ISSUER_NAME)
        .env("STARMARK_ISSUER_APPROVAL", ISSUER_APPROVAL)
        .env("STARMARK_LOG_ORIGIN", LOG_ORIGIN)
        .env("STARMARK_BODY_LIMIT", BODY_LIMIT.to_string());
    command
}

/// Runs `starmark ARGS` on `dir` to its end, failing the test unless it succeeds.
fn run(dir: &Path, args: &[&str]) -> Output {
    let out = common::process::output(starmark(dir).args(args));
    assert!(out.status.success(), "starmark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The key id `keygen` says it created.
fn keygen(dir: &Path) -> String {
    let out = run(dir, &["keygen"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.strip_prefix("created key ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("keygen did not name its key: {said}"))
        .to_string()
}

/// Imports one five-star certificate `number` held by holder `n`.
fn import(dir: &Path, number: &str, n: u32) {
    let csv = format!(
        "number,holder_name,uscc,address,scope,system,commodity,customer\n\
         {number},运维测试{n}有限公司,{},上海市浦东新区示例路{n}号,家用电器的售后服务,38,33,24.5\n",
        uscc(n)
    );
    let file = dir.join(format!("{number}.csv"));
    std::fs::write(&file, csv).expect("write the CSV");
    run(dir, &["import", file.to_str().expect("UTF-8 path"), "--quiet"]);
}

async fn json_of(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).header("accept", "application/json").send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

/// What an operator did before starting the server, as it saw it.
struct Prepared {
    first_key: String,
    second_key: String,
    /// The printed marks' URLs, serials 1 to 3.
    urls: Vec<String>,
    /// The URL prefix the marks are printed under.
    prefix: String,
    /// An issuer's API token.
    token: String,
}

/// Two keys, a certificate signed by each, marks for the second listed and rendered, a token.
fn prepare(dir: &Path) -> Prepared {
    let first_key = keygen(dir);
    import(dir, "SM2026OPS00001", 901);
    let second_key = keygen(dir);
    assert_ne!(first_key, second_key, "keygen makes a new key");
    import(dir, "SM2026OPS00002", 902);

    // Marks for the second certificate, listed and rendered before the server starts.
    let ordered = run(dir, &["marks", "order", "SM2026OPS00002", "--count", "3"]);
    assert_eq!(String::from_utf8_lossy(&ordered.stdout).trim(), "SM2026OPS00002/1");
    let urls = run(dir, &["marks", "urls", "--batch", "SM2026OPS00002/1"]);
    let urls: Vec<String> = String::from_utf8_lossy(&urls.stdout).lines().map(str::to_string).collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    // Upper case, for the QR code's compact alphanumeric mode; hosts and tokens read either way.
    let prefix = format!("{PUBLIC_URL}/v/").to_ascii_uppercase();
    for url in &urls {
        assert!(url.starts_with(&prefix), "printed under the public URL: {url}");
    }
    let some = run(dir, &["marks", "urls", "--batch", "SM2026OPS00002/1", "--first", "2", "--last", "3"]);
    assert_eq!(String::from_utf8_lossy(&some.stdout).lines().collect::<Vec<_>>(), urls[1..]);

    let png_dir = dir.join("print-png");
    run(dir, &["marks", "render", "--batch", "SM2026OPS00002/1", "--out", png_dir.to_str().unwrap(), "--quiet"]);
    for (serial, url) in (1..=3).zip(&urls) {
        let png = std::fs::read(png_dir.join(format!("SM2026OPS00002-1-{serial:06}.png"))).expect("one PNG a serial");
        assert_eq!(common::qr::decode_png(&png).as_deref(), Some(url.as_str()), "serial {serial}'s code");
    }
    assert_eq!(std::fs::read_dir(&png_dir).expect("render folder").count(), 3, "nothing else written");
    let svg_dir = dir.join("print-svg");
    let svg_args = ["--out", svg_dir.to_str().unwrap(), "--format", "svg", "--first", "3", "--quiet"];
    run(dir, &[&["marks", "render", "--batch", "SM2026OPS00002/1"][..], &svg_args[..]].concat());
    let svg = std::fs::read_to_string(svg_dir.join("SM2026OPS00002-1-000003.svg")).expect("the SVG of serial 3");
    assert!(svg.starts_with("<svg") && !svg.contains("<text"), "print-ready vector art, text outlined");
    assert_eq!(std::fs::read_dir(&svg_dir).expect("render folder").count(), 1, "serial 3 only");
    let beyond =
        common::process::output(starmark(dir).args(["marks", "urls", "--batch", "SM2026OPS00002/1", "--last", "4"]));
    assert!(!beyond.status.success());
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("not within batch 1 (1-3)"), "{beyond:?}");
    // A batch bound to a product: its marks are GS1 Digital Link URIs on the public host.
    let product = ["--count", "2", "--gtin", "6901234567892", "--product", "电饭煲 RC-5"];
    let ordered = run(dir, &[&["marks", "order", "SM2026OPS00002"][..], &product[..]].concat());
    assert_eq!(String::from_utf8_lossy(&ordered.stdout).trim(), "SM2026OPS00002/2");
    let gs1 = run(dir, &["marks", "urls", "--batch", "SM2026OPS00002/2"]);
    let gs1: Vec<String> = String::from_utf8_lossy(&gs1.stdout).lines().map(str::to_string).collect();
    let (scheme, host) = PUBLIC_URL.split_once("://").unwrap();
    for (serial, url) in (1..=2).zip(&gs1) {
        let start = format!("{scheme}://{}/01/06901234567892/21/{serial}?S=SM2026OPS00002.", host.to_ascii_uppercase());
        assert!(url.starts_with(&start), "{url}");
    }
    let half = common::process::output(starmark(dir).args([
        "marks",
        "order",
        "SM2026OPS00002",
        "--count",
        "2",
        "--gtin",
        "6901234567892",
    ]));
    assert!(!half.status.success(), "a GTIN without its product name is refused");
    let wrong = common::process::output(starmark(dir).args([
        "marks",
        "order",
        "SM2026OPS00002",
        "--count",
        "2",
        "--gtin",
        "6901234567893",
        "--product",
        "x",
    ]));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("check digit"), "{wrong:?}");

    let token = String::from_utf8_lossy(&run(dir, &["token", "create", "--role", "issuer"]).stdout).trim().to_string();
    Prepared { first_key, second_key, urls, prefix, token }
}

#[tokio::test]
async fn a_rotated_key_signs_what_follows_and_the_old_records_still_verify_on_a_real_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    // Child processes run off the runtime's thread.
    let Prepared { first_key, second_key, urls, prefix, token } =
        tokio::task::spawn_blocking(move || prepare(&path)).await.expect("join");

    // The server, started as a user starts it.
    let mut command = starmark(dir.path());
    command.arg("serve");
    let server = tokio::task::spawn_blocking(move || ServeProcess::start(command)).await.expect("join");
    let client = reqwest::Client::new();
    let health = client.get(format!("{}/healthz", server.base)).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok\n");

    let first = json_of(&client, &format!("{}/api/v1/certificates/SM2026OPS00001", server.base)).await;
    let second = json_of(&client, &format!("{}/api/v1/certificates/SM2026OPS00002", server.base)).await;
    assert_eq!(first["signature"]["key_id"], first_key, "signed before the rotation");
    assert_eq!(second["signature"]["key_id"], second_key, "signed with the new key");
    // The environment reached the records and the log.
    assert_eq!(second["issuer"]["name"], ISSUER_NAME);
    assert_eq!(second["issuer"]["approval_number"], ISSUER_APPROVAL);
    let log = json_of(&client, &format!("{}/api/v1/log", server.base)).await;
    assert_eq!(log["origin"], LOG_ORIGIN);

    // The trust list names both keys, the new one active; both records check offline with it.
    let list = json_of(&client, &format!("{}/.well-known/starmark/keys.json", server.base)).await;
    let status_of = |key: &str| {
        list["keys"].as_array().expect("keys").iter().find(|k| k["key_id"] == key).map(|k| k["status"].clone())
    };
    assert_eq!(status_of(&first_key), Some(json!("retired")), "{list}");
    assert_eq!(status_of(&second_key), Some(json!("active")), "{list}");
    let checker = tempfile::tempdir().expect("temp dir");
    std::fs::write(checker.path().join("keys.json"), list.to_string()).expect("write the trust list");
    for (name, answer) in [("first", &first), ("second", &second)] {
        let file = checker.path().join(format!("{name}.json"));
        std::fs::write(&file, answer.to_string()).expect("write the answer");
        // A checker with no keys of its own: the trust list alone.
        let mut verify = common::starmark_command(checker.path());
        verify.arg("verify").arg(&file).arg("--trust-list").arg(checker.path().join("keys.json"));
        let out = tokio::task::spawn_blocking(move || common::process::output(&mut verify)).await.expect("join");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.starts_with("GENUINE"), "{name}: {said}");
    }

    // Each printed mark, followed to this server, is genuine and names its serial.
    for (serial, url) in (1..=3u64).zip(&urls) {
        let path = format!("/v/{}", &url[prefix.len()..]);
        let answer = json_of(&client, &format!("{}{path}", server.base)).await;
        assert_eq!(answer["verdict"], "valid", "serial {serial}: {answer}");
        assert_eq!(answer["mark"]["serial"], serial, "{answer}");
    }

    // STARMARK_BODY_LIMIT: a body over it is refused before it is read.
    let large = json!({"scope": "x".repeat(BODY_LIMIT)});
    let refused = client
        .post(format!("{}/api/v1/certificates", server.base))
        .bearer_auth(&token)
        .json(&large)
        .send()
        .await
        .expect("request");
    common::assert_problem(refused, 413, "payload-too-large").await;
}
