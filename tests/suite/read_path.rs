//! The fast read path: prepared answers with a signed status assertion and ETags, the in-process
//! cache (coalesced misses, brief negative entries), and a real Redis shared by two instances:
//! a revocation reaches the other instance at once, and when Redis dies the answers stay
//! correct, with no stale state past the bound, and the instances reconnect by themselves.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::observe::{announcements_heard, answers_dropped_by_watch};
use common::redis_feed::wait_for_redis;
use common::states::{state_at, until_state};
use common::{issue_body, spawn_app, spawn_app_with, RedisServer, TestApp};
use serde_json::{json, Value};
use starmark::cache::shared::{SignedParts, FORMAT};
use starmark::crypto::{canonical_value_bytes, Signature};
use starmark::registry::Registry;

/// What the server logs on this test's thread (a `#[tokio::test]` runs the servers it spawns on
/// its own single thread), as text.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// Captures the logs of everything running on the calling thread while the guard lives.
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt().with_writer(self.clone()).with_ansi(false).finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines_with(&self, text: &str) -> usize {
        let logs = self.0.lock().unwrap();
        String::from_utf8_lossy(&logs).lines().filter(|line| line.contains(text)).count()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Waits until `registry`'s instance has heard `count` change announcements in all.
async fn until_heard(registry: &Registry, count: u64) {
    common::wait::until(format_args!("{count} change announcements heard"), || async {
        let heard = announcements_heard(registry);
        if heard >= count {
            Ok(())
        } else {
            Err(format!("{heard} heard"))
        }
    })
    .await
}

#[tokio::test]
async fn answers_carry_a_signed_status_assertion_and_revalidate() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026READ0001", "读取测试有限公司", 91)).await;
    let url = app.url("/api/v1/certificates/SM2026READ0001");
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\"1-valid-"), "{etag}");
    let answer: Value = response.json().await.unwrap();

    // The assertion is signed by the registry key over its canonical bytes.
    let assertion = &answer["status_assertion"];
    assert_eq!(assertion["assertion"]["state"], "valid");
    assert_eq!(assertion["assertion"]["version"], 1);
    let produced =
        chrono::DateTime::parse_from_rfc3339(assertion["assertion"]["produced_at"].as_str().unwrap()).unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(assertion["assertion"]["next_update"].as_str().unwrap()).unwrap();
    // An hour on less up to a tenth (spreading re-preparation), or the next midnight in China
    // if that comes first (16:00 UTC).
    let midnight = (produced.with_timezone(&chrono::Utc) + chrono::Duration::hours(8)).date_naive().succ_opt().unwrap();
    let midnight: chrono::DateTime<chrono::FixedOffset> =
        (midnight.and_hms_opt(0, 0, 0).unwrap().and_utc() - chrono::Duration::hours(8)).into();
    let (shortest, longest) = (produced + chrono::Duration::minutes(54), produced + chrono::Duration::hours(1));
    assert!(
        (shortest.min(midnight)..=longest.min(midnight)).contains(&next),
        "next_update {next} is the lifetime from {produced}, or midnight in China"
    );
    let wrapped = json!({"record": assertion["assertion"], "signature": assertion["signature"]});
    app.verify_answer(&wrapped).await.expect("the assertion verifies against the trust list");
    let signature: Signature = serde_json::from_value(assertion["signature"].clone()).unwrap();
    assert_eq!(signature.key_id.as_str(), answer["signature"]["key_id"]);
    assert!(!canonical_value_bytes(&assertion["assertion"]).unwrap().is_empty());

    // Revalidation: the same ETag gives 304, a change gives a new answer and a new ETag.
    let not_modified = app.client.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    let prepared = app.registry.answers_prepared();
    for _ in 0..20 {
        assert_eq!(app.client.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(app.registry.answers_prepared(), prepared, "hits are served from memory");
    app.set_status("SM2026READ0001", json!({"action": "revoke", "reason": "r"})).await;
    let changed = app.client.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"], etag.as_str());
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["status"]["state"], "revoked");
    assert_eq!(body["status_assertion"]["assertion"]["state"], "revoked");
}

#[tokio::test]
async fn misses_are_coalesced_and_unknown_numbers_cached_briefly() {
    let app = spawn_app().await;
    app.issue(&issue_body("SM2026COLD0001", "合并测试有限公司", 92)).await;
    // A second instance on the same store starts cold.
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    let before = peer_registry.answers_prepared();
    let mut requests = Vec::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let url = format!("{peer}/api/v1/certificates/SM2026COLD0001");
        requests.push(tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() }));
    }
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(peer_registry.answers_prepared() - before, 1, "50 concurrent misses, one store read");

    // A flood of a fake number reaches the store once.
    let before = app.registry.answers_prepared();
    for _ in 0..30 {
        let response = app.get("/api/v1/certificates/SM2026FAKE0001").await;
        common::assert_problem(response, 404, "not-found").await;
    }
    assert_eq!(app.registry.answers_prepared() - before, 1);
    // Issuing it replaces the negative entry at once on this instance.
    app.issue(&issue_body("SM2026FAKE0001", "后发有限公司", 93)).await;
    assert_eq!(app.get("/api/v1/certificates/SM2026FAKE0001").await.status(), 200);
}

#[tokio::test]
async fn without_redis_another_instance_catches_up_within_the_bound() {
    // The default bound: the watch looks every second, well before an answer would expire.
    let app = spawn_app_with(|c| c.cache_stale_bound = Duration::from_secs(5)).await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    app.issue(&issue_body("SM2026BOUND001", "时限测试有限公司", 94)).await;
    assert_eq!(state_at(&app, &peer, "SM2026BOUND001").await.1.as_deref(), Some("valid"));
    let dropped = answers_dropped_by_watch(&peer_registry);
    app.set_status("SM2026BOUND001", json!({"action": "revoke", "reason": "r"})).await;
    until_state(&app, &peer, "SM2026BOUND001", "revoked").await;
    // Carried by the store watch (a few looks per bound), the only way without Redis: the
    // peer's copy of version 1 was dropped for the store's version 2.
    assert_eq!(answers_dropped_by_watch(&peer_registry), dropped + 1, "the peer's watch dropped its copy");
}

#[tokio::test]
async fn without_redis_answers_outlive_the_bound_while_the_store_is_watched() {
    let bound = Duration::from_millis(1000);
    let app = spawn_app_with(|c| c.cache_stale_bound = bound).await;
    app.issue(&issue_body("SM2026WATCH001", "守望测试有限公司", 91)).await;
    // Warmed once the issue's answer was dropped again after its in-flight grace, and after the
    // watch's first look, so that the warm copy is trusted past the bound.
    common::observe::until_scheduled_drops_ran(&app.registry).await;
    common::observe::until_the_watch_looked(&app.registry).await;
    assert_eq!(state_at(&app, &app.base, "SM2026WATCH001").await.1.as_deref(), Some("valid"));
    let prepared = app.registry.answers_prepared();
    // Time must pass beyond the bound: what is asserted is that the answer outlives it.
    tokio::time::sleep(bound * 2).await;
    assert_eq!(state_at(&app, &app.base, "SM2026WATCH001").await.1.as_deref(), Some("valid"));
    assert_eq!(app.registry.answers_prepared(), prepared, "served from memory, not prepared again");
}

#[tokio::test]
async fn a_change_made_by_an_instance_cut_off_from_redis_still_reaches_the_others_within_the_bound() {
    let redis = RedisServer::start().await;
    let bound = Duration::from_millis(1000);
    // The instance that makes the change cannot reach Redis (no socket at its address, in a
    // directory of the test's own), so it can neither share the new answer nor announce it; the
    // peer hears the feed all along.
    let nowhere = tempfile::tempdir().unwrap();
    let unreachable = format!("redis+unix://{}", nowhere.path().join("nothing.sock").display());
    let app = spawn_app_with(|c| {
        c.redis_url = Some(unreachable);
        c.cache_stale_bound = bound;
    })
    .await;
    let (peer, peer_registry) = app.spawn_peer_with(|c| c.redis_url = Some(redis.url())).await;
    wait_for_redis(&[&peer_registry]).await;
    app.issue(&issue_body("SM2026CUTS0001", "断网测试有限公司", 90)).await;
    // The peer loads its copy after its watch's first look (so it is trusted past the bound)
    // and once the drops scheduled by what it has heard so far have run.
    common::observe::until_the_watch_looked(&peer_registry).await;
    common::observe::until_scheduled_drops_ran(&peer_registry).await;
    assert_eq!(state_at(&app, &peer, "SM2026CUTS0001").await.1.as_deref(), Some("valid"));
    // Time must pass: the peer's copy is now older than the bound, and trusted.
    tokio::time::sleep(bound).await;
    assert_eq!(state_at(&app, &peer, "SM2026CUTS0001").await.1.as_deref(), Some("valid"));
    let (heard, dropped) = (announcements_heard(&peer_registry), answers_dropped_by_watch(&peer_registry));
    app.set_status("SM2026CUTS0001", json!({"action": "revoke", "reason": "r"})).await;
    until_state(&app, &peer, "SM2026CUTS0001", "revoked").await;
    // Not announced (the writer cannot reach Redis): the peer's store watch found it.
    assert_eq!(announcements_heard(&peer_registry), heard, "nothing could announce the change");
    assert_eq!(answers_dropped_by_watch(&peer_registry), dropped + 1, "the peer's watch dropped its copy");
}

#[tokio::test]
async fn with_redis_a_revocation_reaches_the_other_instance_at_once() {
    let (_redis, app, peer, peer_registry) = two_instances_on_redis(|_| {}).await;
    let heard = announcements_heard(&peer_registry);
    app.issue(&issue_body("SM2026FAST0001", "传播测试有限公司", 95)).await;
    until_heard(&peer_registry, heard + 1).await; // the issue's announcement
    assert_eq!(state_at(&app, &peer, "SM2026FAST0001").await.1.as_deref(), Some("valid"));
    // The peer now holds the answer in memory; the revocation's announcement on the feed must
    // replace it (the store watch would too, but only as the slower fallback).
    app.set_status("SM2026FAST0001", json!({"action": "revoke", "reason": "r"})).await;
    until_state(&app, &peer, "SM2026FAST0001", "revoked").await;
    until_heard(&peer_registry, heard + 2).await;
}

/// Two instances of one store sharing a private Redis, both connected to it. `adjust` sets up
/// the first; the second (the peer, at the returned URL) runs with the same configuration.
async fn two_instances_on_redis(
    adjust: impl FnOnce(&mut starmark::config::Config),
) -> (RedisServer, TestApp, String, Arc<Registry>) {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|c| {
        c.redis_url = Some(redis.url());
        adjust(c);
    })
    .await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    (redis, app, peer, peer_registry)
}

#[tokio::test]
async fn when_redis_dies_answers_stay_correct_and_the_instances_reconnect() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let bound = Duration::from_millis(1000);
    let (mut redis, app, peer, peer_registry) = two_instances_on_redis(|c| c.cache_stale_bound = bound).await;
    for (number, n) in [("SM2026DOWN0001", 96), ("SM2026DOWN0002", 97)] {
        app.issue(&issue_body(number, "故障测试有限公司", n)).await;
        assert_eq!(state_at(&app, &peer, number).await.1.as_deref(), Some("valid"));
    }

    redis.kill();
    // Changes go on; the peer misses the announcement, its store watch finds the change, and it
    // never fails.
    let dropped = answers_dropped_by_watch(&peer_registry);
    app.set_status("SM2026DOWN0001", json!({"action": "revoke", "reason": "during the outage"})).await;
    until_state(&app, &peer, "SM2026DOWN0001", "revoked").await;
    assert_eq!(answers_dropped_by_watch(&peer_registry), dropped + 1, "the peer's watch dropped its copy");
    for _ in 0..20 {
        let (status, _) = state_at(&app, &peer, "SM2026DOWN0002").await;
        assert_eq!(status, 200);
    }
    // Both instances said they had lost Redis.
    assert!(logs.lines_with("redis unavailable") >= 2, "the outage was not reported in the logs");
    let connected = logs.lines_with("redis connected");
    assert!(connected >= 2, "the first connections were not reported");

    redis.restart().await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    assert!(logs.lines_with("redis connected") >= connected + 2, "the reconnections were not reported");
    // Warm the peer again, then a change must propagate at once through the restored feed.
    assert_eq!(state_at(&app, &peer, "SM2026DOWN0002").await.1.as_deref(), Some("valid"));
    let heard = announcements_heard(&peer_registry);
    app.set_status("SM2026DOWN0002", json!({"action": "withdraw", "reason": "after the outage"})).await;
    until_state(&app, &peer, "SM2026DOWN0002", "withdrawn").await;
    until_heard(&peer_registry, heard + 1).await; // through the restored feed
}

#[tokio::test]
async fn with_redis_every_instance_reports_the_same_scan_count() {
    let (_redis, app, peer, peer_registry) = two_instances_on_redis(|_| {}).await;
    app.issue(&issue_body("SM2026SCAN0001", "计数共享有限公司", 98)).await;
    let response = app.post("/api/v1/certificates/SM2026SCAN0001/marks", &app.issuer, &json!({"count": 10})).await;
    assert_eq!(response.status(), 201);
    let record =
        app.registry.get(&starmark::domain::CertificateNumber::parse("SM2026SCAN0001").unwrap()).await.unwrap().record;
    let path = format!("/v/{}", app.registry.mark_token(&record, 1, 4).unwrap());
    // Redis is counted off the answer path: an instance's answer shows the shared figure of its
    // last round trip plus its own scans since, so the next scans on each instance reach the
    // count of all scans made anywhere (bounded wait: it must converge).
    let mut first_at = None;
    let mut made = 0u64;
    for round in 0..6 {
        let base = if round % 2 == 1 { peer.clone() } else { app.base.clone() };
        let started = Instant::now();
        let answer = loop {
            let answer: Value = app
                .client
                .get(format!("{base}{path}"))
                .header("accept", "application/json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            made += 1;
            let count = answer["scans"]["requests"].as_u64().unwrap();
            assert!(count <= made, "{count} scans shown on {base}, only {made} made");
            if count == made {
                break answer;
            }
            // A hang guard: they agree by the next round trips to Redis.
            assert!(started.elapsed() < common::wait::HANG_GUARD, "{base} still shows {count} of {made} scans");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let first = answer["scans"]["first_at"].as_str().unwrap().to_string();
        assert_eq!(first_at.get_or_insert(first.clone()), &first, "one first-scan time for all");
    }
    // Both instances flush their own scans: the store ends with every scan made.
    app.registry.scans().flush().await.unwrap();
    peer_registry.scans().flush().await.unwrap();
    let (total, _) = app
        .registry
        .scan_summary(&starmark::domain::CertificateNumber::parse("SM2026SCAN0001").unwrap(), 5)
        .await
        .unwrap();
    assert_eq!(total, made);
}

#[tokio::test]
async fn while_the_change_feed_is_up_answers_are_served_past_the_bound() {
    // A bound that leaves the store watch (five looks within it) room on a busy machine.
    let bound = Duration::from_millis(1000);
    let (_redis, app, peer, peer_registry) = two_instances_on_redis(|c| c.cache_stale_bound = bound).await;
    let heard = announcements_heard(&peer_registry);
    app.issue(&issue_body("SM2026TRUST001", "信任测试有限公司", 99)).await;
    // After a change an instance drops its copy once more half a second later (a load in
    // flight during the change must not stay), and answers made before the watch's first look
    // are not trusted past the bound: warm the peer after both.
    common::observe::until_the_watch_looked(&peer_registry).await;
    // Time must pass: a copy from Redis counts as made up to the bound before it was read.
    tokio::time::sleep(bound + Duration::from_millis(50)).await;
    until_heard(&peer_registry, heard + 1).await; // the issue's announcement schedules a drop
    common::observe::until_scheduled_drops_ran(&peer_registry).await;
    assert_eq!(state_at(&app, &peer, "SM2026TRUST001").await.1.as_deref(), Some("valid"));
    let prepared = peer_registry.answers_prepared();
    // Time must pass, longer than the bound and than a heartbeat: the answer stays.
    tokio::time::sleep(bound * 2).await;
    assert_eq!(state_at(&app, &peer, "SM2026TRUST001").await.1.as_deref(), Some("valid"));
    assert_eq!(peer_registry.answers_prepared(), prepared, "served from memory, not prepared again");
}

/// The `produced_at` and `next_update` of the status assertion `base` answers for `number`.
async fn assertion_at(
    app: &TestApp,
    base: &str,
    number: &str,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let answer: Value =
        app.client.get(format!("{base}/api/v1/certificates/{number}")).send().await.unwrap().json().await.unwrap();
    let at = |name: &str| {
        let text = answer["status_assertion"]["assertion"][name].as_str().unwrap_or_else(|| panic!("{name}: {answer}"));
        chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc)
    };
    (at("produced_at"), at("next_update"))
}

#[tokio::test]
async fn even_with_the_feed_up_no_answer_is_served_past_its_next_update() {
    let lifetime = Duration::from_millis(1200);
    let (_redis, app, peer, _) = two_instances_on_redis(|c| c.answer_lifetime = lifetime).await;
    app.issue(&issue_body("SM2026NEXT0001", "时效测试有限公司", 93)).await;
    let (produced, next) = assertion_at(&app, &peer, "SM2026NEXT0001").await;
    let given = (next - produced).to_std().unwrap();
    assert!(given <= lifetime && given >= lifetime.mul_f64(0.9), "{given:?} for a lifetime of {lifetime:?}");
    // For three lifetimes, from both instances (the peer also finds the first instance's copy in
    // Redis): every answer's assertion is still current when it arrives.
    let mut seen = std::collections::BTreeSet::new();
    let started = Instant::now();
    while started.elapsed() < lifetime * 3 {
        for base in [app.base.as_str(), peer.as_str()] {
            let asked = chrono::Utc::now();
            let (produced, next) = assertion_at(&app, base, "SM2026NEXT0001").await;
            assert!(next > asked, "{base} served an assertion past its next_update ({next} <= {asked})");
            seen.insert(produced);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.len() >= 3, "the answer was prepared afresh as each assertion ran out: {seen:?}");
}

#[tokio::test]
async fn a_load_that_read_the_old_state_cannot_put_it_back_over_the_new_one_in_redis() {
    use redis::AsyncCommands;
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|c| c.redis_url = Some(redis.url())).await;
    let shared = app.registry.tiers().and_then(|t| t.shared).expect("a shared cache");
    wait_for_redis(&[&app.registry]).await;
    let number = "SM2026RACE0001";
    app.issue(&issue_body(number, "竞态测试有限公司", 92)).await;
    app.set_status(number, json!({"action": "revoke", "reason": "r"})).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("starmark:answer:{number}");
    // The record version of an entry, where the scripts read it.
    let held = |raw: Option<Vec<u8>>| {
        raw.map(|raw| match raw.get(..5) {
            Some(&[format, a, b, c, d]) if format == FORMAT => u32::from_be_bytes([a, b, c, d]).to_string(),
            _ => format!("an entry of another format: {raw:?}"),
        })
    };
    assert_eq!(held(connection.get(&key).await.unwrap()).as_deref(), Some("2"), "the revocation's answer is shared");

    // What a load that read the store just before the revocation would bring, finishing after it.
    let next_update = chrono::Utc::now() + chrono::Duration::minutes(10);
    let old =
        starmark::cache::Prepared::new(b"{\"status\":{\"state\":\"valid\"}}", "W/\"1-valid-1-aa\"", 1, next_update)
            .unwrap();
    assert!(shared.put(number, &old, &SignedParts::default()).await, "Redis holds a later answer");
    assert_eq!(held(connection.get(&key).await.unwrap()).as_deref(), Some("2"), "the old answer did not replace it");
    let (peer, _) = app.spawn_peer_with(|_| {}).await;
    assert_eq!(state_at(&app, &peer, number).await.1.as_deref(), Some("revoked"));

    // A later version does replace it.
    let newer = starmark::cache::Prepared::new(b"{}", "W/\"3-valid-1-bb\"", 3, next_update).unwrap();
    assert!(shared.put(number, &newer, &SignedParts::default()).await);
    assert_eq!(held(connection.get(&key).await.unwrap()).as_deref(), Some("3"));

    // The store watch drops a shared copy older than a change it found, and only such a copy.
    assert!(shared.forget_older(&[(number.to_string(), 3)]).await);
    assert_eq!(held(connection.get(&key).await.unwrap()).as_deref(), Some("3"), "not older than version 3");
    assert!(shared.forget_older(&[("SM2026NONE0001".to_string(), 9), (number.to_string(), 4)]).await);
    assert_eq!(held(connection.get(&key).await.unwrap()), None, "older than version 4");
}

#[tokio::test]
async fn an_entry_an_earlier_build_left_in_redis_is_a_miss_for_answers_and_scans() {
    use redis::AsyncCommands;
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|c| c.redis_url = Some(redis.url())).await;
    app.issue(&issue_body("SM2026OLDV0001", "升级测试有限公司", 96)).await;
    let ordered = app.post("/api/v1/certificates/SM2026OLDV0001/marks", &app.issuer, &json!({"count": 5})).await;
    assert_eq!(ordered.status(), 201);
    let record =
        app.registry.get(&starmark::domain::CertificateNumber::parse("SM2026OLDV0001").unwrap()).await.unwrap().record;
    let token = app.registry.mark_token(&record, 1, 2).unwrap();

    // What the build before the versioned layout left in Redis: version, ETag, next_update and
    // body a line each (here a body that is no full answer).
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let next_update = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let old = format!("{}\nW/\"old\"\n{next_update}\n{{\"number\":\"SM2026OLDV0001\"}}", record.version);
    let _: () = connection.pset_ex("starmark:answer:SM2026OLDV0001", old.into_bytes(), 60_000u64).await.unwrap();

    // A cold instance takes it for a miss: it judges the mark and answers from the store.
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    let response =
        app.client.get(format!("{peer}/v/{token}")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["verdict"], "valid", "{answer}");
    let (status, state) = state_at(&app, &peer, "SM2026OLDV0001").await;
    assert_eq!((status, state.as_deref()), (200, Some("valid")), "the full answer, prepared from the store");
    let held: Vec<u8> = connection.get("starmark:answer:SM2026OLDV0001").await.unwrap();
    assert_eq!(held.first(), Some(&FORMAT), "replaced by an entry of this build");
}

/// Puts `body` into Redis as the shared answer of `version` of `number`, with `signed` beside it.
async fn share(app: &TestApp, number: &str, version: u32, body: &[u8], signed: &SignedParts) {
    let shared = app.registry.tiers().and_then(|t| t.shared).expect("a shared cache");
    let next_update = chrono::Utc::now() + chrono::Duration::minutes(10);
    let etag = format!("W/\"{version}-planted\"");
    let prepared = starmark::cache::Prepared::new(body, &etag, version, next_update).unwrap();
    shared.forget(number).await;
    assert!(shared.put(number, &prepared, signed).await, "Redis took the entry");
}

/// The scan's verdict on `base` as JSON, and the body `GET` answers there.
async fn verdict_and_answer(app: &TestApp, base: &str, token: &str, number: &str) -> (Value, String) {
    let scan = app.client.get(format!("{base}/v/{token}")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(scan.status(), 200);
    let scan: Value = scan.json().await.unwrap();
    let answer = app.client.get(format!("{base}/api/v1/certificates/{number}")).send().await.unwrap();
    (scan["verdict"].clone(), answer.text().await.unwrap())
}

#[tokio::test]
async fn a_scan_judges_the_signed_record_a_shared_answer_carries_never_its_json() {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|c| c.redis_url = Some(redis.url())).await;
    let number = "SM2026TYPE0001";
    app.issue(&issue_body(number, "类型测试有限公司", 94)).await;
    let ordered = app.post(&format!("/api/v1/certificates/{number}/marks"), &app.issuer, &json!({"count": 5})).await;
    assert_eq!(ordered.status(), 201);
    let parsed = starmark::domain::CertificateNumber::parse(number).unwrap();
    let token = app.registry.mark_token(&app.registry.get(&parsed).await.unwrap().record, 1, 2).unwrap();
    app.set_status(number, json!({"action": "revoke", "reason": "不再符合要求"})).await;
    let revoked = app.registry.get(&parsed).await.unwrap();
    let version = revoked.record.version;
    let genuine = SignedParts {
        record: revoked.canonical.clone().into_bytes(),
        signature: serde_json::to_vec(&revoked.signature).unwrap(),
    };

    // The revoked record beside a body that claims nothing a reader of JSON could judge by:
    // the verdict comes from the record, the body is sent as it is.
    let planted = br#"{"status":{"state":"valid"},"record":{"note":"not the signed record"}}"#;
    share(&app, number, version, planted, &genuine).await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    let (verdict, answer) = verdict_and_answer(&app, &peer, &token, number).await;
    assert_eq!(verdict, "revoked");
    assert_eq!(answer.as_bytes(), planted, "the peer's entry came from Redis");

    // A record text that is not what was signed is refused with its entry: the store answers.
    let forged = SignedParts {
        record: revoked.canonical.replace("\"state\":\"revoked\"", "\"state\":\"valid\"").into_bytes(),
        ..genuine.clone()
    };
    assert_ne!(forged.record, genuine.record);
    // And a genuine record of another version than the entry's is refused too.
    let earlier = app.registry.history(&parsed).await.unwrap();
    let first = earlier.first().expect("the issue");
    let other_version = SignedParts {
        record: first.record.clone().into_bytes(),
        signature: serde_json::to_vec(&first.signature).unwrap(),
    };
    for signed in [forged, other_version] {
        share(&app, number, version, planted, &signed).await;
        let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
        wait_for_redis(&[&app.registry, &peer_registry]).await;
        let (verdict, answer) = verdict_and_answer(&app, &peer, &token, number).await;
        assert_eq!(verdict, "revoked");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["status"]["state"], "revoked", "prepared from the store: {answer}");
    }
}

#[tokio::test]
async fn a_scan_after_a_lookup_never_takes_a_shared_record_older_than_the_answer_held() {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(|c| c.redis_url = Some(redis.url())).await;
    let number = "SM2026LAZY0001";
    app.issue(&issue_body(number, "记录测试有限公司", 93)).await;
    let ordered = app.post(&format!("/api/v1/certificates/{number}/marks"), &app.issuer, &json!({"count": 5})).await;
    assert_eq!(ordered.status(), 201);
    let parsed = starmark::domain::CertificateNumber::parse(number).unwrap();
    let token = app.registry.mark_token(&app.registry.get(&parsed).await.unwrap().record, 1, 2).unwrap();
    app.set_status(number, json!({"action": "revoke", "reason": "不再符合要求"})).await;
    let version = app.registry.get(&parsed).await.unwrap().record.version;

    // The peer looks the certificate up first: its answer (from Redis) is held without a record.
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    assert_eq!(state_at(&app, &peer, number).await.1.as_deref(), Some("revoked"));

    // Redis then holds a genuine, signed copy of the version before the revocation (valid, with
    // the batch): a copy that verifies, but older than the answer the peer holds.
    let history = app.registry.history(&parsed).await.unwrap();
    let before = &history[history.len() - 2];
    assert_eq!(before.version + 1, version);
    let older = SignedParts {
        record: before.record.clone().into_bytes(),
        signature: serde_json::to_vec(&before.signature).unwrap(),
    };
    share(&app, number, before.version, b"{}", &older).await;

    // The first scan reads the record the lookup did not keep: never one older than the answer.
    let (verdict, answer) = verdict_and_answer(&app, &peer, &token, number).await;
    assert_eq!(verdict, "revoked");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["status"]["state"], "revoked", "the peer still serves the answer it held");
    // And the record it read is now kept beside that answer: the next scan says the same.
    let (verdict, _) = verdict_and_answer(&app, &peer, &token, number).await;
    assert_eq!(verdict, "revoked");
}
