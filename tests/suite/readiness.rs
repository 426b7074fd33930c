//! `GET /readyz` says whether an instance can do its work: the store answers (200, else 503),
//! Redis is up, down or not configured (never a reason for 503: it is optional), and how long
//! ago the store watch last looked. A database that goes away is in tests/postgres_outage.rs.

use crate::common;

use std::time::{Duration, Instant};

use common::{spawn_app, spawn_app_with, RedisServer, TestApp};
use serde_json::Value;

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app.get("/readyz").await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn an_instance_on_its_own_store_is_ready() {
    let app = spawn_app().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["ready"].as_bool(), body["store"].as_str(), body["redis"].as_str()),
        (Some(true), Some("ok"), Some("off"))
    );
    assert!(body["store_ms"].as_u64().is_some(), "{body}");
    // The store watch looks at least once a second.
    let started = Instant::now();
    loop {
        let (_, body) = readyz(&app).await;
        if body["store_watch_age_ms"].as_u64().is_some_and(|age| age < 2_000) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the store watch never looked: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_flood_of_readiness_questions_asks_the_store_about_once_a_second() {
    let app = spawn_app().await;
    let asked = app.registry.store_checks();
    let started = Instant::now();
    let questions: Vec<_> = (0..100).map(|_| readyz(&app)).collect();
    for (status, _) in futures_util::future::join_all(questions).await {
        assert_eq!(status, 200);
    }
    let seconds = started.elapsed().as_secs() + 1;
    let asked = app.registry.store_checks() - asked;
    assert!((1..=seconds).contains(&asked), "100 questions in under {seconds} s asked the store {asked} times");
}

#[tokio::test]
async fn redis_going_down_is_reported_but_does_not_make_an_instance_unready() {
    let mut redis = RedisServer::start().await;
    let app = spawn_app_with(|config| config.redis_url = Some(redis.url())).await;
    let wait_for = |want: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            loop {
                let (status, body) = readyz(app).await;
                assert_eq!(status, 200, "{body}");
                if body["redis"] == want {
                    return;
                }
                assert!(started.elapsed() < Duration::from_secs(10), "redis not reported {want}: {body}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for("up").await;
    redis.kill();
    wait_for("down").await;
    redis.restart().await;
    wait_for("up").await;
}
