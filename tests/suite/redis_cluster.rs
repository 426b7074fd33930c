//! Instances sharing a real three-primary Redis Cluster (`REDIS_URL=redis+cluster://…`): shared
//! answers, scan counts and the change feed work across its slots, and a primary killed
//! mid-run costs no wrong verdict and no server error.

use std::time::{Duration, Instant};

use common::observe::announcements_heard;
use common::redis_cluster::RedisCluster;
use common::redis_feed::wait_for_redis;
use common::scan::scan_json;
use common::states::{state_at, until_state};
use common::{issue_body, spawn_app_with, TestApp};
use serde_json::{json, Value};
use starmark::cache::shared::slots;
use starmark::registry::Registry;

use crate::common;

/// The certificates of these tests: enough that their keys fall on every node.
fn numbers() -> Vec<String> {
    (1..=12).map(|i| format!("SM2026CLUS{i:04}")).collect()
}

/// Two instances of one store on `cluster`, both connected, with the test's certificates
/// issued and read once on each.
async fn two_instances_on(cluster: &RedisCluster, bound: Duration) -> (TestApp, String, std::sync::Arc<Registry>) {
    let (url, ca) = (cluster.url(), cluster.ca());
    let tls = url.starts_with("rediss");
    let app = spawn_app_with(|c| {
        c.redis_url = Some(url);
        c.redis_ca = tls.then_some(ca);
        c.cache_stale_bound = bound;
        // The tests read every certificate on both instances in tight rounds from one address.
        c.rate_limits = "lookups=off,scans=off".parse().expect("limits");
    })
    .await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    wait_for_redis(&[&app.registry, &peer_registry]).await;
    for (i, number) in numbers().iter().enumerate() {
        app.issue(&issue_body(number, "集群测试有限公司", 80 + i as u32 % 15)).await;
        for base in [&app.base, &peer] {
            assert_eq!(state_at(&app, base, number).await, (200, Some("valid".into())));
        }
    }
    (app, peer, peer_registry)
}

#[tokio::test]
async fn the_slots_we_compute_are_the_clusters_own() {
    let cluster = RedisCluster::start().await;
    let port = cluster.ports()[0];
    let mut keys: Vec<String> = numbers().iter().map(|number| format!("starmark:answer:{number}")).collect();
    keys.extend(numbers().iter().map(|number| starmark::cache::shared::scan_figures::batch_key(number, 3)));
    keys.extend(["{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "售后服务"].map(String::from));
    for key in keys {
        let theirs: u16 = cluster.cli(port, &["cluster", "keyslot", &key]).trim().parse().expect("a slot number");
        assert_eq!(slots::slot(key.as_bytes()), theirs, "slot of {key}");
    }
}

#[tokio::test]
async fn instances_on_a_cluster_share_answers_scans_and_changes_across_its_slots() {
    shared_across_slots(RedisCluster::start().await).await;
}

#[tokio::test]
async fn the_same_over_tls_with_a_private_ca() {
    shared_across_slots(RedisCluster::start_tls().await).await;
}

async fn shared_across_slots(cluster: RedisCluster) {
    let (app, peer, peer_registry) = two_instances_on(&cluster, Duration::from_millis(1000)).await;
    // The shared answers are spread over every node: the cluster, not one of its nodes, holds them.
    for port in cluster.ports() {
        let keys: u64 = cluster.cli(port, &["dbsize"]).trim().parse().expect("a key count");
        assert!(keys > 0, "node {port} holds none of the shared answers");
    }

    // A revocation reaches the other instance by the change feed, published on one node and
    // heard on another.
    let heard = announcements_heard(&peer_registry);
    let numbers = numbers();
    app.set_status(&numbers[0], json!({"action": "revoke", "reason": "集群"})).await;
    until_state(&app, &peer, &numbers[0], "revoked").await;
    common::wait::until_true("the revocation's announcement", || {
        std::future::ready(announcements_heard(&peer_registry) > heard)
    })
    .await;

    // Marks of two certificates whose batches live in different slots, scanned on both
    // instances at once: each round trip to Redis spans both slots, and the counts converge.
    let (first, second) = (&numbers[1], &numbers[2]);
    let slot_of = |number: &str| slots::slot(starmark::cache::shared::scan_figures::batch_key(number, 1).as_bytes());
    assert_ne!(slot_of(first), slot_of(second));
    let mut paths = Vec::new();
    for number in [first, second] {
        app.order(number, 10).await;
        paths.push(app.mark_path(number, 1, 7).await);
    }
    let mut scans = Vec::new();
    for i in 0..40 {
        let base = if i % 2 == 0 { app.base.clone() } else { peer.clone() };
        let (client, url) = (app.client.clone(), format!("{base}{}", paths[i / 2 % 2]));
        scans.push(tokio::spawn(async move {
            let response = client.get(url).header("accept", "application/json").send().await.unwrap();
            assert_eq!(response.status(), 200);
        }));
    }
    for scan in scans {
        scan.await.unwrap();
    }
    for path in &paths {
        let mut made = 20;
        for base in [&app.base, &peer, &app.base] {
            let started = Instant::now();
            loop {
                let answer = scan_json(&app.client, base, path).await;
                made += 1;
                let count = answer["scans"]["requests"].as_u64().unwrap();
                assert!(count <= made, "{count} scans shown, only {made} made");
                if count == made {
                    break;
                }
                assert!(started.elapsed() < common::wait::HANG_GUARD, "{base}{path}: {count} of {made} scans");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_primary_killed_mid_run_costs_no_wrong_verdict_and_no_server_error() {
    let mut cluster = RedisCluster::start().await;
    let bound = Duration::from_millis(1000);
    let (app, peer, _) = two_instances_on(&cluster, bound).await;
    let numbers = numbers();
    app.order(&numbers[1], 10).await;
    let mark = app.mark_path(&numbers[1], 1, 3).await;

    cluster.kill(0);
    // Changes go on while a third of the slots have no node: the peer learns of them by the
    // change feed or, where that is cut, by its store watch, within the bound.
    let revoked_at = Instant::now();
    app.set_status(&numbers[0], json!({"action": "revoke", "reason": "节点故障"})).await;
    let until = (chrono::Utc::now() + chrono::Duration::days(60)).format("%Y-%m-%d").to_string();
    app.set_status(&numbers[2], json!({"action": "suspend", "reason": "节点故障", "until": until})).await;
    until_state(&app, &peer, &numbers[0], "revoked").await;
    until_state(&app, &peer, &numbers[2], "suspended").await;
    assert!(revoked_at.elapsed() < bound * 5, "the changes took {:?}", revoked_at.elapsed());

    // Every certificate, on both instances, for rounds across the cluster's failure detection
    // (a node is failed after twice its one-second timeout): never a server error, never a
    // state it does not have.
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || started.elapsed() < Duration::from_secs(4) {
        assert!(started.elapsed() < common::wait::SLOW_GUARD, "{rounds} rounds in {:?}", started.elapsed());
        for (i, number) in numbers.iter().enumerate() {
            let expected = match i {
                0 => "revoked",
                2 => "suspended",
                _ => "valid",
            };
            for base in [&app.base, &peer] {
                let (status, state) = state_at(&app, base, number).await;
                assert_eq!(status, 200, "{number} on {base} while a primary is down");
                assert_eq!(state.as_deref(), Some(expected), "{number} on {base}");
            }
        }
        for base in [&app.base, &peer] {
            let response = app.client.get(format!("{base}{mark}")).header("accept", "application/json").send().await;
            let response = response.unwrap();
            assert_eq!(response.status(), 200, "a scan is answered while a primary is down");
            let verdict: Value = response.json().await.unwrap();
            assert_eq!(verdict["verdict"], "valid", "{verdict}");
        }
        rounds += 1;
    }
}
