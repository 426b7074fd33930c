//! Issue 26 §2: the copy warning counts distinct scanners (client network and browser, once a
//! day), not requests. One client replaying a URL, HEAD requests, bots and link previews cannot
//! make a genuine mark look copied; many different networks can; the certificate-level mark
//! never warns; the issuer keeps the raw request counts; the figures survive a restart (store)
//! and are shared across instances (Redis).

use crate::common;

use std::time::{Duration, Instant};

use common::postgres::Backend;
use common::{issue_body, spawn_app_on_with, spawn_app_with, RedisServer, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use starmark::config::Config;

const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/// The test server's peer is 127.0.0.1: trusted as a proxy, its `X-Forwarded-For` names clients.
fn behind_proxy(config: &mut Config) {
    config.trusted_proxies = "127.0.0.1".parse().unwrap();
}

async fn certificate_with_marks(app: &TestApp, number: &str, n: u32) {
    app.issue(&issue_body(number, "诚实计数有限公司", n)).await;
    let response = app.post(&format!("/api/v1/certificates/{number}/marks"), &app.issuer, &json!({"count": 20})).await;
    assert_eq!(response.status(), 201);
}

/// One request for a mark's page: `client` goes in `X-Forwarded-For`, `agent` in `User-Agent`.
async fn request(base: &str, path: &str, method: Method, json: bool, client: &str, agent: Option<&str>) -> String {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}")).header("x-forwarded-for", client);
    if json {
        request = request.header("accept", "application/json");
    }
    if let Some(agent) = agent {
        request = request.header("user-agent", agent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "a scan never fails");
    response.text().await.unwrap()
}

/// A phone's JSON scan from `client`.
async fn scan(base: &str, path: &str, client: &str) -> Value {
    let text = request(base, path, Method::GET, true, client, Some(PHONE)).await;
    serde_json::from_str(&text).unwrap()
}

/// A phone's page from `client`.
async fn page(base: &str, path: &str, client: &str) -> String {
    request(base, path, Method::GET, false, client, Some(PHONE)).await
}

/// The issuer's figures of one serial (`GET .../scans`), after a flush.
async fn issuer_figures(app: &TestApp, number: &str, batch: u32, serial: u32) -> Value {
    app.registry.scans().flush().await.unwrap();
    let url = app.url(&format!("/api/v1/certificates/{number}/scans"));
    let figures: Value = app.client.get(url).bearer_auth(&app.reader).send().await.unwrap().json().await.unwrap();
    figures["most_scanned"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["batch"] == batch && s["serial"] == serial)
        .cloned()
        .unwrap_or_else(|| panic!("serial {batch}-{serial} not in {figures}"))
}

async fn replays_from_one_client_never_raise_the_flag(backend: Backend) {
    let app = spawn_app_on_with(backend, behind_proxy).await;
    certificate_with_marks(&app, "SM2026HONEST01", 301).await;
    let path = app.mark_path("SM2026HONEST01", 1, 3).await;
    let client = "203.0.113.7";
    for _ in 0..20 {
        request(&app.base, &path, Method::GET, true, client, Some(PHONE)).await;
        request(&app.base, &path, Method::HEAD, false, client, Some(PHONE)).await;
        request(&app.base, &path, Method::GET, false, client, Some(PHONE)).await;
    }
    let answer = scan(&app.base, &path, client).await;
    let scans = &answer["scans"];
    assert_eq!((scans["networks"].as_u64(), scans["suspicious"].as_bool()), (Some(1), Some(false)), "{answer}");
    assert_eq!(scans["networks_at_least"], false);
    assert_eq!(scans["requests"], 61, "every request is still a request: {answer}");
    assert!(scans["networks_since"].is_string(), "{answer}");
    assert!(scans["networks_counted"].as_str().unwrap().contains("once a day"), "{answer}");
    let html = page(&app.base, &path, client).await;
    assert!(!html.contains("copied-warning"), "no copy warning for one client");
    assert!(html.contains("已有 1 个网络查询过此标志"), "the page says what it counts");
    let english = page(&app.base, &format!("{path}?lang=en"), client).await;
    assert!(english.contains("Checked from 1 network since"), "and in English");

    // The issuer sees every request, and the one network.
    let figures = issuer_figures(&app, "SM2026HONEST01", 1, 3).await;
    assert_eq!(figures["count"], 63, "{figures}");
    assert_eq!((figures["networks"].as_u64(), figures["suspicious"].as_bool()), (Some(1), Some(false)), "{figures}");

    // A new instance on the same store knows the client already: it still counts once.
    let (restarted, _) = app.spawn_peer_with(|_| {}).await;
    let again = scan(&restarted, &path, client).await;
    assert_eq!(again["scans"]["networks"], 1, "{again}");
    assert_eq!(again["scans"]["requests"], 64, "{again}");
}

async fn checks_from_many_networks_raise_the_flag(backend: Backend) {
    let app = spawn_app_on_with(backend, behind_proxy).await;
    certificate_with_marks(&app, "SM2026HONEST02", 302).await;
    let path = app.mark_path("SM2026HONEST02", 1, 9).await;
    // Two addresses of one IPv6 /64 are one subscriber's network.
    scan(&app.base, &path, "2001:db8:1:2::10").await;
    let same = scan(&app.base, &path, "2001:db8:1:2::99").await;
    assert_eq!(same["scans"]["networks"], 1, "{same}");
    for n in 1..=9 {
        let answer = scan(&app.base, &path, &format!("198.51.100.{n}")).await;
        assert_eq!(answer["scans"]["networks"], 1 + n, "{answer}");
        assert_eq!(answer["scans"]["suspicious"], false, "{answer}");
    }
    let html = page(&app.base, &path, "198.51.100.9").await;
    assert!(!html.contains("copied-warning"), "ten networks are not yet too many");
    let answer = scan(&app.base, &path, "198.51.100.200").await;
    assert_eq!(answer["scans"]["networks"], 11, "{answer}");
    assert_eq!(answer["scans"]["networks_at_least"], true, "{answer}");
    assert_eq!(answer["scans"]["suspicious"], true, "{answer}");
    let html = page(&app.base, &path, "198.51.100.1").await;
    assert!(html.contains("copied-warning"), "eleven networks: the mark may have been copied");
    assert!(html.contains("已从超过 10 个不同网络被查询"), "the warning says what it counts");

    // Stored: a fresh instance on the same store warns too, and so do the issuer's figures.
    let figures = issuer_figures(&app, "SM2026HONEST02", 1, 9).await;
    assert_eq!((figures["networks"].as_u64(), figures["suspicious"].as_bool()), (Some(11), Some(true)), "{figures}");
    let (restarted, _) = app.spawn_peer_with(|_| {}).await;
    let again = scan(&restarted, &path, "198.51.100.1").await;
    assert_eq!((again["scans"]["networks"].as_u64(), again["scans"]["suspicious"].as_bool()), (Some(11), Some(true)));
}

async fn a_forwarded_header_from_an_untrusted_peer_makes_no_new_network(backend: Backend) {
    // No trusted proxy: what the client writes in X-Forwarded-For proves nothing.
    let app = spawn_app_on_with(backend, |_| {}).await;
    certificate_with_marks(&app, "SM2026HONEST03", 303).await;
    let path = app.mark_path("SM2026HONEST03", 1, 1).await;
    for n in 1..=15 {
        scan(&app.base, &path, &format!("192.0.2.{n}")).await;
    }
    let answer = scan(&app.base, &path, "192.0.2.77").await;
    assert_eq!((answer["scans"]["networks"].as_u64(), answer["scans"]["suspicious"].as_bool()), (Some(1), Some(false)));
}

async fn bots_previews_and_tools_do_not_count(backend: Backend) {
    let app = spawn_app_on_with(backend, behind_proxy).await;
    certificate_with_marks(&app, "SM2026HONEST04", 304).await;
    let path = app.mark_path("SM2026HONEST04", 1, 5).await;
    let agents = [
        Some("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
        Some("Twitterbot/1.0"),
        Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
        Some("WhatsApp/2.23.20.0 A"),
        Some("TelegramBot (like TwitterBot)"),
        Some("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"),
        Some("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"),
        Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        Some("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
        Some("curl/8.5.0"),
        Some("python-requests/2.31.0"),
        None,
    ];
    for (n, agent) in agents.iter().enumerate() {
        for json in [true, false] {
            request(&app.base, &path, Method::GET, json, &format!("198.18.0.{n}"), *agent).await;
        }
    }
    let text = request(&app.base, &path, Method::GET, true, "198.18.1.1", Some("Twitterbot/1.0")).await;
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["scans"]["networks"], 0, "{answer}");
    assert_eq!(answer["scans"]["networks_since"], Value::Null, "{answer}");
    assert_eq!(answer["scans"]["requests"], 25, "{answer}");
    let html = request(&app.base, &path, Method::GET, false, "198.18.1.1", Some("Twitterbot/1.0")).await;
    assert!(html.contains("尚未计入任何来自手机或浏览器的查询"), "the page says nothing was counted yet");
    let phone = scan(&app.base, &path, "198.18.2.1").await;
    assert_eq!(phone["scans"]["networks"], 1, "{phone}");
}

async fn the_certificate_level_mark_never_warns(backend: Backend) {
    let app = spawn_app_on_with(backend, behind_proxy).await;
    certificate_with_marks(&app, "SM2026HONEST05", 305).await;
    let path = app.mark_path("SM2026HONEST05", 0, 0).await;
    for n in 1..=15 {
        scan(&app.base, &path, &format!("100.64.0.{n}")).await;
    }
    let answer = scan(&app.base, &path, "100.64.1.1").await;
    assert_eq!(answer["mark"]["batch"], 0);
    assert_eq!(answer["scans"]["networks"], 11, "{answer}");
    assert_eq!(answer["scans"]["suspicious"], false, "shown anywhere, scanned anywhere: {answer}");
    let html = page(&app.base, &path, "100.64.1.2").await;
    assert!(!html.contains("copied-warning"), "no copy warning on the certificate-level mark");
    let figures = issuer_figures(&app, "SM2026HONEST05", 0, 0).await;
    assert_eq!(figures["suspicious"], false, "{figures}");
    assert_eq!(figures["count"], 17, "{figures}");
}

on_each_backend!(
    replays_from_one_client_never_raise_the_flag,
    checks_from_many_networks_raise_the_flag,
    a_forwarded_header_from_an_untrusted_peer_makes_no_new_network,
    bots_previews_and_tools_do_not_count,
    the_certificate_level_mark_never_warns,
);

/// Scans `path` on `base` from `client` until its answer shows `networks` (by the next round
/// trips to Redis; the deadline is a hang guard).
async fn scan_until_networks(base: &str, path: &str, client: &str, networks: u64) -> Value {
    common::wait::until(format_args!("{base} showing {networks} networks"), || async {
        let answer = scan(base, path, client).await;
        let shown = answer["scans"]["networks"].as_u64().unwrap();
        assert!(shown <= networks, "{shown} networks shown, only {networks} scanned: {answer}");
        if shown == networks {
            Ok(answer)
        } else {
            Err(format!("{shown} networks"))
        }
    })
    .await
}

#[tokio::test]
async fn with_redis_two_instances_count_each_network_once_between_them() {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.redis_url = Some(redis.url());
    })
    .await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    let started = Instant::now();
    let up = |registry: &starmark::registry::Registry| {
        registry.tiers().and_then(|t| t.shared).is_some_and(|shared| shared.is_up())
    };
    while !(up(&app.registry) && up(&peer_registry)) {
        assert!(started.elapsed() < Duration::from_secs(10), "the instances did not connect to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    certificate_with_marks(&app, "SM2026HONEST06", 306).await;
    let path = app.mark_path("SM2026HONEST06", 1, 2).await;

    // The same client on both instances is one network.
    scan(&app.base, &path, "203.0.113.50").await;
    scan_until_networks(&peer, &path, "203.0.113.50", 1).await;
    scan_until_networks(&app.base, &path, "203.0.113.50", 1).await;
    // Five more on one instance, five on the other: each sees all eleven.
    for n in 1..=5 {
        scan(&app.base, &path, &format!("203.0.113.{n}")).await;
        scan(&peer, &path, &format!("203.0.113.{}", 100 + n)).await;
    }
    let here = scan_until_networks(&app.base, &path, "203.0.113.50", 11).await;
    assert_eq!(here["scans"]["suspicious"], true, "{here}");
    let there = scan_until_networks(&peer, &path, "203.0.113.50", 11).await;
    assert_eq!(there["scans"]["suspicious"], true, "{there}");
}
