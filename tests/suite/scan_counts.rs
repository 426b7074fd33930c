//! Scan counting never delays a scan's answer: fresh serials cost no store read each (one query
//! per batch), a serial counted before a restart goes on from its stored tally, and with a real
//! Redis shared by two instances the counts converge to the total across instances, with the
//! store receiving every scan, Redis up or down; a Redis restarted empty is counted in again.

use crate::common;

use std::time::{Duration, Instant};

use common::redis_feed::wait_for_redis;
use common::scan::scan_json;
use common::{issue_body, spawn_app, spawn_app_with, RedisServer, TestApp};
use serde_json::Value;
use starmark::domain::CertificateNumber;

/// How long counts across instances may take to agree before the test calls it a hang: they
/// agree by the next round trips to Redis (how soon is for benchmarks).
const CONVERGENCE: Duration = common::wait::HANG_GUARD;

/// The issuer's scan figures of a certificate (`GET .../scans`).
async fn scan_figures(app: &TestApp, number: &str) -> Value {
    let url = app.url(&format!("/api/v1/certificates/{number}/scans"));
    app.client.get(url).bearer_auth(&app.reader).send().await.unwrap().json().await.unwrap()
}

async fn stored_total(app: &TestApp, number: &str) -> u64 {
    app.registry.scan_summary(&CertificateNumber::parse(number).unwrap(), 5).await.unwrap().0
}

/// Scans on `base` until the answer shows `made` (every scan made so far on any instance, this
/// one's included); fails if it does not within [`CONVERGENCE`], or ever shows more.
async fn scan_until_total(app: &TestApp, base: &str, path: &str, made: &mut u64) -> Value {
    let started = Instant::now();
    loop {
        let answer = scan_json(&app.client, base, path).await;
        *made += 1;
        let count = answer["scans"]["requests"].as_u64().unwrap();
        assert!(count <= *made, "{count} scans shown, only {made} made");
        if count == *made {
            return answer;
        }
        assert!(started.elapsed() < CONVERGENCE, "{base} still shows {count} of {made} scans after {CONVERGENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_burst_of_fresh_serials_reads_the_store_once_per_batch_not_per_serial() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026BURST001", "突发扫描有限公司", 71)).await;
    app.order("SM2026BURST001", 1000).await;
    let record = app.registry.get(&CertificateNumber::parse("SM2026BURST001").unwrap()).await.unwrap().record;
    let counter = app.registry.scans();
    let (reads, loads) = (counter.seed_reads(), counter.seed_loads());
    let mut scans = Vec::new();
    for serial in 1..=200 {
        let url = app.url(&format!("/v/{}", app.registry.mark_token(&record, 1, serial).unwrap()));
        let client = app.client.clone();
        scans.push(tokio::spawn(async move {
            let answer: Value =
                client.get(url).header("accept", "application/json").send().await.unwrap().json().await.unwrap();
            answer["scans"]["requests"].as_u64()
        }));
    }
    for scan in scans {
        assert_eq!(scan.await.unwrap(), Some(1));
    }
    assert_eq!(counter.seed_reads() - reads, 0, "no store read per fresh serial");
    assert_eq!(counter.seed_loads() - loads, 1, "200 concurrent first scans of a batch share one load");

    // Every scan still reaches the store.
    counter.flush().await.unwrap();
    assert_eq!(stored_total(&app, "SM2026BURST001").await, 200);
    let figures = scan_figures(&app, "SM2026BURST001").await;
    assert_eq!(figures["total_scans"], 200);
    assert_eq!(figures["suspicious_serials"], 0);
}

#[tokio::test]
async fn a_serial_counted_before_a_restart_goes_on_from_its_stored_tally() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026AGAIN001", "重启计数有限公司", 72)).await;
    app.order("SM2026AGAIN001", 50).await;
    let path = app.mark_path("SM2026AGAIN001", 1, 5).await;
    let mut first = None;
    for n in 1..=3u64 {
        let answer = scan_json(&app.client, &app.base, &path).await;
        assert_eq!(answer["scans"]["requests"], n);
        first.get_or_insert(answer["scans"]["first_at"].clone());
    }
    app.registry.scans().flush().await.unwrap();

    // A new instance on the same store (as after a restart) knows nothing in memory.
    let (restarted, registry) = app.spawn_peer_with(|_| {}).await;
    let counter = registry.scans();
    let answer = scan_json(&app.client, &restarted, &path).await;
    assert_eq!(answer["scans"]["requests"], 4, "stored three plus this one");
    assert_eq!(answer["scans"]["first_at"], first.unwrap(), "the first-scan time survives the restart");
    assert_eq!(scan_json(&app.client, &restarted, &path).await["scans"]["requests"], 5);
    assert_eq!(counter.seed_reads(), 1, "the stored tally is read once");
    // A serial never scanned costs no read.
    let fresh = app.mark_path("SM2026AGAIN001", 1, 6).await;
    assert_eq!(scan_json(&app.client, &restarted, &fresh).await["scans"]["requests"], 1);
    assert_eq!(counter.seed_reads(), 1);
    assert_eq!(counter.seed_loads(), 1, "one load for the batch");

    // Requests go on counting across the restart; one client's replays never make the mark
    // suspicious (honest_scans.rs has the distinct networks that do).
    for _ in 0..6 {
        scan_json(&app.client, &restarted, &path).await;
    }
    let answer = scan_json(&app.client, &restarted, &path).await;
    assert_eq!(answer["scans"]["requests"], 12);
    assert_eq!(answer["scans"]["suspicious"], false);
    counter.flush().await.unwrap();
    let figures = scan_figures(&app, "SM2026AGAIN001").await;
    assert_eq!(figures["total_scans"], 13);
    assert_eq!(figures["suspicious_serials"], 0);
    assert_eq!(figures["most_scanned"][0]["serial"], 5);
    assert_eq!(figures["most_scanned"][0]["count"], 12, "every request of serial 5");
}

#[tokio::test]
async fn a_scan_the_store_cannot_count_yet_still_gets_its_verdict_and_is_stored_later() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026STORE001", "存储中断有限公司", 74)).await;
    app.order("SM2026STORE001", 20).await;
    let path = app.mark_path("SM2026STORE001", 1, 5).await;
    scan_json(&app.client, &app.base, &path).await;
    scan_json(&app.client, &app.base, &path).await;
    app.registry.scans().flush().await.unwrap();

    // A new instance (no serial of the batch in memory yet) while the scan tallies cannot be
    // read: the verdict comes from the record, and the count is left out rather than shown short.
    let (restarted, registry) = app.spawn_peer_with(|_| {}).await;
    let mut db = app.raw_db().await;
    db.execute("ALTER TABLE mark_scan_chunks RENAME TO held_aside").await.unwrap();
    for path in [&path, &app.mark_path("SM2026STORE001", 1, 6).await] {
        let answer = scan_json(&app.client, &restarted, path).await;
        assert_eq!(answer["verdict"], "valid", "{answer}");
        assert_eq!(answer["scans"], Value::Null, "{answer}");
    }
    let page = app.client.get(format!("{restarted}{path}?lang=en")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the consumer page too");
    let page = page.text().await.unwrap();
    assert!(page.contains("data-verdict=\"valid\""), "{page}");
    assert!(page.contains("The number of checks cannot be shown right now"), "{page}");
    assert!(registry.scans().flush().await.is_err(), "the store cannot take them yet");

    // Once the store takes them, every scan is stored once, and counts show the whole history.
    db.execute("ALTER TABLE held_aside RENAME TO mark_scan_chunks").await.unwrap();
    assert_eq!(registry.scans().flush().await.unwrap(), 2);
    assert_eq!(stored_total(&app, "SM2026STORE001").await, 5);
    let answer = scan_json(&app.client, &restarted, &path).await;
    assert_eq!(answer["scans"]["requests"], 5, "two before, two without a count, and this one: {answer}");
}

#[tokio::test]
async fn with_redis_counts_of_two_instances_converge_to_their_total() {
    let mut redis = RedisServer::start().await;
    let app = spawn_app_with(|c| c.redis_url = Some(redis.url())).await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    app.issue(&issue_body("SM2026SHARE001", "共享计数有限公司", 73)).await;
    app.order("SM2026SHARE001", 100).await;
    let path = app.mark_path("SM2026SHARE001", 1, 42).await;

    // Both instances scan the same mark at the same time.
    let mut scans = Vec::new();
    for i in 0..40 {
        let base = if i % 2 == 0 { app.base.clone() } else { peer.clone() };
        let (client, url) = (app.client.clone(), format!("{base}{path}"));
        scans.push(tokio::spawn(async move {
            let response = client.get(url).header("accept", "application/json").send().await.unwrap();
            assert_eq!(response.status(), 200);
            let answer: Value = response.json().await.unwrap();
            answer["scans"]["requests"].as_u64().unwrap()
        }));
    }
    for scan in scans {
        let count = scan.await.unwrap();
        assert!((1..=40).contains(&count), "{count}");
    }
    let mut made = 40;
    // Each instance's next answers reach the total of both, and agree on the first-scan time.
    let on_app = scan_until_total(&app, &app.base, &path, &mut made).await;
    let on_peer = scan_until_total(&app, &peer, &path, &mut made).await;
    assert_eq!(on_app["scans"]["first_at"], on_peer["scans"]["first_at"], "one first-scan time for all");
    let on_app = scan_until_total(&app, &app.base, &path, &mut made).await;
    assert_eq!(on_app["scans"]["first_at"], on_peer["scans"]["first_at"]);
    assert_eq!(on_app["scans"]["suspicious"], false, "one client's requests, however many");

    // Redis dies: scans are still answered at once, from what each instance knows, and never
    // go backwards; the store still receives every one of them.
    redis.kill();
    let before = on_app["scans"]["requests"].as_u64().unwrap();
    for _ in 0..5 {
        let answer = tokio::time::timeout(common::wait::HANG_GUARD, scan_json(&app.client, &app.base, &path))
            .await
            .expect("a scan is answered while Redis is dead");
        made += 1;
        assert!(answer["scans"]["requests"].as_u64().unwrap() > before);
        scan_json(&app.client, &peer, &path).await;
        made += 1;
    }
    app.registry.scans().flush().await.unwrap();
    peer_registry.scans().flush().await.unwrap();
    assert_eq!(stored_total(&app, "SM2026SHARE001").await, made, "the store has every scan of both instances");

    // Redis comes back empty, without the counting script either instance loaded: their next
    // round trips load it again, and Redis counts the scans of both once more (and perhaps some
    // of the ten made while it was down, still queued when it came back).
    redis.restart().await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    // A fresh serial of a second batch is counted in the same round trips: each serial keeps
    // its own figures.
    app.order("SM2026SHARE001", 10).await;
    let other = app.mark_path("SM2026SHARE001", 2, 7).await;
    for round in 0..3 {
        let (_, _, fresh) = tokio::join!(
            scan_json(&app.client, &app.base, &path),
            scan_json(&app.client, &peer, &path),
            scan_json(&app.client, &app.base, &other)
        );
        assert_eq!(fresh["scans"]["requests"], round + 1, "{fresh}");
    }
    let mut redis_connection =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let counted = redis_count_reaching(&mut redis_connection, 1, 42, 6).await;
    assert!(counted <= 16, "Redis counted {counted} scans, more than were made since it went down");
    assert_eq!(redis_count_reaching(&mut redis_connection, 2, 7, 3).await, 3);

    // Redis loses the figures; a third instance, new to a serial the store has counted, seeds
    // Redis with the store's tally before counting its scan.
    let seeded = app.mark_path("SM2026SHARE001", 1, 43).await;
    scan_json(&app.client, &app.base, &seeded).await;
    scan_json(&app.client, &app.base, &seeded).await;
    assert_eq!(redis_count_reaching(&mut redis_connection, 1, 43, 2).await, 2);
    app.registry.scans().flush().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut redis_connection).await.unwrap();
    let (third, third_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&third_registry]).await;
    assert_eq!(scan_json(&app.client, &third, &seeded).await["scans"]["requests"], 3);
    assert_eq!(redis_count_reaching(&mut redis_connection, 1, 43, 3).await, 3);
}

/// Redis's count of a serial of SM2026SHARE001 once it is at least `at_least` (it is counted
/// there by background round trips).
async fn redis_count_reaching(
    connection: &mut redis::aio::MultiplexedConnection,
    batch: u32,
    serial: u32,
    at_least: u64,
) -> u64 {
    let started = Instant::now();
    loop {
        use starmark::cache::shared::scan_figures::{batch_key, read_figure, serial_field};
        let held: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(batch_key("SM2026SHARE001", batch))
            .arg(&serial_field(serial)[..])
            .query_async(connection)
            .await
            .unwrap();
        let counted = held.map(|value| {
            let (count, _) = read_figure(&value).expect("a figure of 16 bytes");
            u64::try_from(count).unwrap()
        });
        match counted {
            Some(count) if count >= at_least => return count,
            _ => assert!(started.elapsed() < CONVERGENCE, "Redis counted {counted:?} scans of {batch}-{serial}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn redis_keeps_the_earliest_first_scan_whatever_order_the_instances_report_in() {
    use chrono::{DateTime, SubsecRound, Utc};
    use starmark::cache::shared::{ScanDelta, SharedCache};
    use starmark::cache::{AnswerCache, CacheSettings};
    use starmark::domain::{ScanTally, SerialKey};

    let redis = RedisServer::start().await;
    let shared = SharedCache::new(&redis.url(), Duration::from_secs(5)).unwrap();
    tokio::spawn(shared.clone().run_feed(AnswerCache::new(CacheSettings::default())));
    let started = Instant::now();
    while !shared.is_up() {
        assert!(started.elapsed() < Duration::from_secs(10), "did not connect to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at = Utc::now().trunc_subsecs(6);
    let ms = chrono::Duration::milliseconds;
    let delta = |batch: u32, serial: u32, count: u64, first_at: DateTime<Utc>, seed: Option<ScanTally>| ScanDelta {
        key: SerialKey { number: "SM2026ORDER001".into(), batch, serial },
        tally: ScanTally { count, first_at, last_at: first_at },
        seed,
    };
    let figures = |tallies: Vec<ScanTally>| tallies.iter().map(|t| (t.count, t.first_at)).collect::<Vec<_>>();

    // One instance's round trip with a later scan reaches Redis first ...
    let first = shared.count_scans(&[delta(1, 5, 1, at + ms(3), None)]).await.unwrap();
    assert_eq!(figures(first), [(1, at + ms(3))]);
    // ... then another's with the earlier scans of that serial, and a fresh serial of another
    // batch in the same call: each serial gets its own figure, in the order asked.
    let second = shared.count_scans(&[delta(2, 9, 2, at + ms(1), None), delta(1, 5, 2, at, None)]).await.unwrap();
    assert_eq!(figures(second), [(2, at + ms(1)), (3, at)]);
    // A serial Redis has not seen starts from the store's tally, whose first scan is earlier.
    let stored = ScanTally { count: 4, first_at: at - chrono::Duration::days(1), last_at: at };
    let seeded = shared.count_scans(&[delta(1, 6, 1, at + ms(5), Some(stored))]).await.unwrap();
    assert_eq!(figures(seeded), [(5, stored.first_at)]);
    // Seen already, the serial ignores a seed.
    let again = shared.count_scans(&[delta(1, 6, 1, at + ms(6), Some(stored))]).await.unwrap();
    assert_eq!(figures(again), [(6, stored.first_at)]);

    // A serial given twice in one call adds up, each figure counting what came before it.
    let twice =
        shared.count_scans(&[delta(1, 5, 2, at + ms(9), None), delta(1, 5, 1, at - ms(1), None)]).await.unwrap();
    assert_eq!(figures(twice), [(5, at), (6, at - ms(1))]);

    // A value in the batch's hash that is not a figure (edited by hand) counts as none.
    let mut redis_connection =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let key = starmark::cache::shared::scan_figures::batch_key("SM2026ORDER001", 1);
    let field = starmark::cache::shared::scan_figures::serial_field(7);
    let () = redis::cmd("HSET").arg(&key).arg(&field[..]).arg("12").query_async(&mut redis_connection).await.unwrap();
    let edited = shared.count_scans(&[delta(1, 7, 1, at, None)]).await.unwrap();
    assert_eq!(figures(edited), [(1, at)]);

    // Thousands of serials of one batch in one call (Redis takes them in slices): every one
    // gets its figure, in the order asked, and the hash holds them all.
    let many: Vec<ScanDelta> =
        (1_000..3_500).map(|serial| delta(3, serial, u64::from(serial % 3) + 1, at, None)).collect();
    let counted = shared.count_scans(&many).await.unwrap();
    let expected: Vec<_> = (1_000u32..3_500).map(|serial| (u64::from(serial % 3) + 1, at)).collect();
    assert_eq!(figures(counted), expected);
    let held: u64 = redis::cmd("HLEN")
        .arg(starmark::cache::shared::scan_figures::batch_key("SM2026ORDER001", 3))
        .query_async(&mut redis_connection)
        .await
        .unwrap();
    assert_eq!(held, 2_500);
}
