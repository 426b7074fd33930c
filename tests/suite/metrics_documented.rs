//! docs/api.md's Metrics table, read as the contract: every metric it lists is exposed, and the
//! ones no other test reads move when the instance does what they count.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::marks::tampered;
use common::scan::scan_json;
use common::{issue_body, spawn_app_with, RedisServer};

const API_DOC: &str = include_str!("../../docs/api.md");

/// The metric names of docs/api.md's Metrics table.
fn documented() -> Vec<&'static str> {
    let table = API_DOC.split("## Metrics").nth(1).expect("a Metrics section");
    let names: Vec<&str> =
        table.lines().filter_map(|line| line.strip_prefix("| `starmark_")?.split('`').next()).collect();
    assert!(names.len() >= 20, "the Metrics table was not found: {names:?}");
    names
}

/// `name` (with its labels, as written) → value, from the instance at `base`.
async fn scrape(client: &reqwest::Client, base: &str, token: &str) -> HashMap<String, f64> {
    let response = client.get(format!("{base}/metrics")).bearer_auth(token).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("exposition");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, name: &str) -> f64 {
    *samples.get(name).unwrap_or_else(|| panic!("no {name} in {samples:?}"))
}

#[tokio::test]
async fn every_documented_metric_is_exposed_and_moves_with_what_it_counts() {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|config| config.redis_url = Some(redis.url())).await;
    common::redis_feed::wait_for_redis(&[&app.registry]).await;
    // Counts by integrator key have a sample once a key is used.
    let (stored, key) = app
        .registry
        .create_integrator_key("metrics", starmark::limits::integrators::parse_rate("1/min").unwrap())
        .await
        .unwrap();
    for status in [200, 429] {
        let used = app.client.get(format!("{}/api/v1/log", app.base)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(used.status(), status);
    }
    let before = scrape(&app.client, &app.base, &app.reader).await;
    let by_key = |name: &str| value(&before, &format!("starmark_integrator_{name}_total{{key=\"{}\"}}", stored.id));
    assert_eq!((by_key("requests"), by_key("rate_limited")), (1.0, 1.0));
    for name in documented() {
        let prefix = format!("starmark_{name}");
        assert!(
            before.keys().any(|sample| sample == &prefix || sample.starts_with(&format!("{prefix}{{"))),
            "{prefix} is documented but not exposed"
        );
    }
    // Each scrape asks the store its trivial query, and says how long that took.
    assert_eq!(value(&before, "starmark_store_up"), 1.0);
    assert!(value(&before, "starmark_store_checks_total") >= 1.0);
    let ping = value(&before, "starmark_store_ping_seconds");
    assert!(ping > 0.0 && ping < 60.0, "ping {ping}");
    // Nothing was lost or refused on a healthy instance.
    for quiet in [
        "starmark_scan_flush_failures_total",
        "starmark_scans_not_shared_total",
        "starmark_scans_not_counted_total",
        "starmark_scan_serials_without_history_total",
    ] {
        assert_eq!(value(&before, quiet), 0.0, "{quiet}");
    }

    // Nothing is cached before there is a certificate; a read fills the answer cache and a mark
    // picture the artwork cache (weighed lazily: they show within a generous bound).
    for cache in ["starmark_answer_cache_bytes", "starmark_artwork_cache_bytes"] {
        assert_eq!(value(&before, cache), 0.0, "{cache}");
    }
    app.issue(&issue_body("SM2026GAUGE001", "指标文档有限公司", 96)).await;
    let read = app.get("/api/v1/certificates/SM2026GAUGE001").await;
    assert_eq!(read.status(), 200);
    let svg = app.get("/api/v1/certificates/SM2026GAUGE001/mark.svg").await;
    assert_eq!(svg.status(), 200);
    let started = Instant::now();
    loop {
        let cached = scrape(&app.client, &app.base, &app.reader).await;
        let (answers, artwork) =
            (value(&cached, "starmark_answer_cache_bytes"), value(&cached, "starmark_artwork_cache_bytes"));
        if answers > 0.0 && artwork > 0.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "cache bytes still {answers} and {artwork}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A forged mark costs exactly one signature verification.
    app.order("SM2026GAUGE001", 10).await;
    let genuine = app.mark_token("SM2026GAUGE001", 1, 4).await;
    let verified = value(&scrape(&app.client, &app.base, &app.reader).await, "starmark_mark_signatures_verified_total");
    let forged = app.scan(&format!("/v/{}", tampered(&genuine, 10))).await;
    assert_eq!(forged["verdict"], "not_genuine", "{forged}");
    let after = scrape(&app.client, &app.base, &app.reader).await;
    assert_eq!(value(&after, "starmark_mark_signatures_verified_total") - verified, 1.0);

    // A serial scanned and stored, then scanned on a new instance: one load of the batch's
    // scanned serials, one read of that serial's stored figures.
    let path = format!("/v/{genuine}");
    app.scan(&path).await;
    app.registry.scans().flush().await.expect("flush");
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    common::redis_feed::wait_for_redis(&[&peer_registry]).await;
    let fresh = scrape(&app.client, &peer, &app.reader).await;
    assert_eq!(scan_json(&app.client, &peer, &path).await["scans"]["requests"], 2);
    let seeded = scrape(&app.client, &peer, &app.reader).await;
    let moved = |name: &str| value(&seeded, name) - value(&fresh, name);
    assert_eq!(moved("starmark_scan_seed_loads_total"), 1.0);
    assert_eq!(moved("starmark_scan_seed_reads_total"), 1.0);

    // While the scan tallies cannot be read or written: a serial first met then has no history,
    // and the flush the store refuses is counted.
    let mut db = app.raw_db().await;
    db.execute("ALTER TABLE mark_scan_chunks RENAME TO held_aside").await.expect("hide the tallies");
    let (third, third_registry) = app.spawn_peer_with(|_| {}).await;
    let answer = scan_json(&app.client, &third, &app.mark_path("SM2026GAUGE001", 1, 7).await).await;
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert!(third_registry.scans().flush().await.is_err(), "the store cannot take the scan");
    let started = Instant::now();
    let faulted = loop {
        let samples = scrape(&app.client, &third, &app.reader).await;
        if value(&samples, "starmark_scan_flush_failures_total") >= 1.0 {
            break samples;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the refused flush was never counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(value(&faulted, "starmark_scan_serials_without_history_total"), 1.0);
    db.execute("ALTER TABLE held_aside RENAME TO mark_scan_chunks").await.expect("put the tallies back");
}

#[tokio::test]
async fn scans_redis_does_not_take_in_time_are_counted_as_not_shared() {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|config| config.redis_url = Some(redis.url())).await;
    common::redis_feed::wait_for_redis(&[&app.registry]).await;
    app.issue(&issue_body("SM2026QUEUE001", "队列满载有限公司", 95)).await;
    app.order("SM2026QUEUE001", 10).await;
    // Redis stops taking writes (as one stalled by a long command would): each round trip of
    // scans to it waits out its time limit, and the queue to it fills.
    let mut redis_client = redis::Client::open(redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600_000)
        .arg("WRITE")
        .query_async::<()>(&mut redis_client)
        .await
        .expect("pause");
    // Far more scans than HTTP could bring in a test, counted as the scan path counts them.
    let scans = app.registry.scans();
    let at = chrono::Utc::now();
    let number = starmark::domain::CertificateNumber::parse("SM2026QUEUE001").expect("a certificate number");
    let mut made = 0u64;
    while scans.figures().not_shared == 0 {
        for _ in 0..4096 {
            scans.record(&number, 1, 3, at).await.expect("counted");
        }
        made += 4096;
        assert!(made < 4_000_000, "{made} scans made and the queue to Redis never filled");
    }
    let samples = scrape(&app.client, &app.base, &app.reader).await;
    assert!(value(&samples, "starmark_scans_not_shared_total") >= 1.0);
    // Not shared, but counted: every one of them reaches the store.
    scans.flush().await.expect("flush");
    let number = starmark::domain::CertificateNumber::parse("SM2026QUEUE001").expect("number");
    let (stored, _) = app.registry.scan_summary(&number, 1).await.expect("scan summary");
    assert_eq!(stored, made);
}

#[tokio::test]
async fn scans_a_full_counter_cannot_hold_are_counted_as_not_counted() {
    let app = spawn_app_with(|_| {}).await;
    app.issue(&issue_body("SM2026FULL0001", "计数满载有限公司", 97)).await;
    app.order("SM2026FULL0001", 40).await;
    let mut paths = Vec::new();
    for serial in 1..=40 {
        paths.push(app.mark_path("SM2026FULL0001", 1, serial).await);
    }
    // One serial a shard instead of a million in all, so that the counter fills with a few
    // scans; and the store takes none (its tallies are out of reach), so none leaves it.
    app.registry.scans().limit_serials(1);
    let mut db = app.raw_db().await;
    db.execute("ALTER TABLE mark_scan_chunks RENAME TO held_aside").await.expect("hide the tallies");
    for path in &paths {
        let answer = app.scan(path).await;
        assert_eq!(answer["verdict"], "valid", "a scan the counter cannot hold still gets its verdict: {answer}");
    }
    // Forty serials, room for one in each of 32 shards: at least eight were not counted.
    let samples = scrape(&app.client, &app.base, &app.reader).await;
    let not_counted = value(&samples, "starmark_scans_not_counted_total");
    assert!(not_counted >= 8.0, "{not_counted} scans not counted");
    db.execute("ALTER TABLE held_aside RENAME TO mark_scan_chunks").await.expect("put the tallies back");
}
