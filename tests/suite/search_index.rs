//! The in-memory search index: the same answers as the store's search on both backends, over
//! real HTTP, kept current by writes on this instance and on another sharing the store.

use crate::common;

use std::time::Duration;

use common::{issue_body, spawn_app_on, uscc, Backend, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use starmark::domain::SearchQuery;
use starmark::domain::{CertificateNumber, Level, State, Uscc};
use starmark::registry::Registry;

/// Waits until `registry`'s search index holds `count` certificates, so searches are answered
/// by it rather than by the store.
async fn index_holds(registry: &Registry, count: usize) {
    for _ in 0..200 {
        if registry.search_index_certificates() == Some(count) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the search index holds {:?} certificates, not {count}", registry.search_index_certificates());
}

async fn numbers_at(app: &TestApp, base: &str, query: &str) -> (Vec<String>, Value) {
    let response = app.client.get(format!("{base}/api/v1/certificates?{query}")).send().await.expect("request");
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.expect("json");
    let numbers = page["items"].as_array().expect("items").iter().map(|i| i["number"].as_str().unwrap().to_string());
    (numbers.collect(), page["next"].clone())
}

async fn numbers(app: &TestApp, query: &str) -> Vec<String> {
    numbers_at(app, &app.base, query).await.0
}

fn body(number: &str, name: &str, name_en: &str, n: u32, scores: (u32, u32, u32)) -> Value {
    let mut body = issue_body(number, name, n);
    body["holder"]["name_en"] = json!(name_en);
    body["evaluation"] = json!({"system": scores.0, "commodity": scores.1, "customer": scores.2});
    body
}

fn in_days(days: u64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(days)).to_string()
}

const FIVE: (u32, u32, u32) = (38, 33, 24);
const FOUR: (u32, u32, u32) = (36, 32, 22);
const THREE: (u32, u32, u32) = (32, 28, 20);
const COMPLIANT: (u32, u32, u32) = (28, 25, 17);

async fn search_through_the_index(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let companies = [
        ("SM2026IDX0004", "格力电器股份有限公司", "Gree Electric Appliances", 4, COMPLIANT),
        ("SM2026IDX0001", "海尔智家股份有限公司", "Haier Smart Home", 1, FIVE),
        ("SM2026IDX0003", "美的集团股份有限公司", "Midea Group", 3, THREE),
        ("SM2026IDX0002", "海信视像科技股份有限公司", "Hisense Visual Technology", 2, FOUR),
        ("SM2026IDX0005", "小米通讯技术有限公司", "Xiaomi Communications", 5, FIVE),
    ];
    for (number, name, name_en, n, scores) in companies {
        app.issue(&body(number, name, name_en, n, scores)).await;
    }
    app.set_status("SM2026IDX0002", json!({"action": "revoke", "reason": "r"})).await;
    index_holds(&app.registry, 5).await;

    // CJK substrings, one character and several.
    assert_eq!(numbers(&app, "q=海").await, ["SM2026IDX0001", "SM2026IDX0002"]);
    assert_eq!(numbers(&app, "q=电器股份").await, ["SM2026IDX0004"]);
    assert_eq!(numbers(&app, "q=有限公司").await.len(), 5);
    assert!(numbers(&app, "q=海米").await.is_empty());
    // Latin, in any case, inside a word.
    assert_eq!(numbers(&app, "q=SMART%20home").await, ["SM2026IDX0001"]);
    assert_eq!(numbers(&app, "q=aPPl").await, ["SM2026IDX0004"]);
    assert_eq!(numbers(&app, "q=i").await.len(), 5);
    // USCC as text and as a filter; certificate number exact and as a prefix, any case.
    assert_eq!(numbers(&app, &format!("q={}", uscc(3))).await, ["SM2026IDX0003"]);
    assert_eq!(numbers(&app, &format!("uscc={}", uscc(5))).await, ["SM2026IDX0005"]);
    assert_eq!(numbers(&app, "q=sm2026idx0005").await, ["SM2026IDX0005"]);
    assert_eq!(numbers(&app, "q=SM2026IDX").await.len(), 5);
    // Filters alone and with text.
    assert_eq!(numbers(&app, "level=five_star").await, ["SM2026IDX0001", "SM2026IDX0005"]);
    assert_eq!(numbers(&app, "level=compliant&q=gree").await, ["SM2026IDX0004"]);
    assert_eq!(numbers(&app, "state=revoked").await, ["SM2026IDX0002"]);
    assert_eq!(numbers(&app, "q=海&state=valid").await, ["SM2026IDX0001"]);
    assert!(numbers(&app, "q=%E4%B8%8D%E5%AD%98%E5%9C%A8").await.is_empty()); // 不存在

    // Paging: two by two over every match, each once, in number order.
    let mut seen = Vec::new();
    let mut query = "q=有限&limit=2".to_string();
    for _ in 0..5 {
        let (page, next) = numbers_at(&app, &app.base, &query).await;
        assert!(page.len() <= 2);
        seen.extend(page);
        match next.as_str() {
            Some(cursor) => query = format!("q=有限&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let all: Vec<String> = (1..=5).map(|n| format!("SM2026IDX000{n}")).collect();
    assert_eq!(seen, all);
}

async fn writes_are_found_at_once_here_and_on_a_peer(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&body("SM2026IDX0100", "海尔智家股份有限公司", "Haier", 1, FIVE)).await;
    let (peer, peer_registry) = app.spawn_peer_with(|_| {}).await;
    index_holds(&app.registry, 1).await;
    index_holds(&peer_registry, 1).await;

    // Issue: found at once here and on the peer, by name, number and USCC.
    app.issue(&body("SM2026IDX0050", "星标电器有限公司", "Starmark Appliances", 50, FIVE)).await;
    assert_eq!(numbers(&app, "q=星标").await, ["SM2026IDX0050"]);
    assert_eq!(numbers_at(&app, &peer, "q=星标").await.0, ["SM2026IDX0050"]);
    assert_eq!(numbers_at(&app, &peer, "q=starMARK").await.0, ["SM2026IDX0050"]);
    assert_eq!(numbers_at(&app, &peer, &format!("q={}", uscc(50))).await.0, ["SM2026IDX0050"]);
    assert_eq!(numbers_at(&app, &peer, "q=SM2026IDX").await.0, ["SM2026IDX0050", "SM2026IDX0100"]);

    // A status change made on the peer: the state filter follows at once on both.
    let response = app
        .client
        .post(format!("{peer}/api/v1/certificates/SM2026IDX0050/status"))
        .bearer_auth(&app.issuer)
        .json(&json!({"action": "suspend", "reason": "audit", "until": in_days(60)}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    assert_eq!(numbers(&app, "state=suspended").await, ["SM2026IDX0050"]);
    assert!(numbers(&app, "q=星标&state=valid").await.is_empty());
    assert_eq!(numbers_at(&app, &peer, "state=suspended").await.0, ["SM2026IDX0050"]);
    app.set_status("SM2026IDX0050", json!({"action": "reinstate", "reason": "ok"})).await;
    assert_eq!(numbers_at(&app, &peer, "q=星标&state=valid").await.0, ["SM2026IDX0050"]);

    // A renewal to a lower level: the level filter follows at once on both.
    let response = app
        .post(
            "/api/v1/certificates/SM2026IDX0050/renew",
            &app.issuer,
            &json!({"evaluation": {"system": 32, "commodity": 28, "customer": 20}}),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    assert_eq!(numbers(&app, "level=three_star").await, ["SM2026IDX0050"]);
    assert_eq!(numbers_at(&app, &peer, "level=three_star").await.0, ["SM2026IDX0050"]);
    assert_eq!(numbers_at(&app, &peer, "level=five_star").await.0, ["SM2026IDX0100"]);

    // Both indexes followed every write rather than falling back to the store.
    assert_eq!(app.registry.search_index_certificates(), Some(2));
    assert_eq!(peer_registry.search_index_certificates(), Some(2));
}

/// Characters the random names are made of: few, so that substrings often match several.
const CJK: [&str; 10] = ["海", "尔", "电", "器", "有", "限", "公", "司", "T", "c"];
const LATIN: [&str; 9] = ["a", "B", "c", "D", "e", " ", "%", "_", "x"];

fn random_name(rng: &mut StdRng, alphabet: &[&str]) -> String {
    let len = rng.gen_range(2..9);
    (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect()
}

/// A random piece of what the registry holds, in a random case, or something else.
fn random_text(rng: &mut StdRng, names: &[(String, String, String, u32)]) -> Option<String> {
    let (number, name, name_en, n) = &names[rng.gen_range(0..names.len())];
    let piece = |text: &str, rng: &mut StdRng| {
        let chars: Vec<char> = text.chars().collect();
        let from = rng.gen_range(0..chars.len());
        let to = rng.gen_range(from + 1..=chars.len());
        chars[from..to].iter().collect::<String>()
    };
    let flip = |text: String, rng: &mut StdRng| {
        if rng.gen_bool(0.5) {
            text.to_ascii_uppercase()
        } else {
            text.to_ascii_lowercase()
        }
    };
    match rng.gen_range(0..8) {
        0 => None,
        1 => Some(piece(name, rng)),
        2 => Some(flip(piece(name_en, rng), rng)),
        3 => Some(flip(number[..rng.gen_range(1..=number.len())].to_string(), rng)),
        4 => Some(uscc(*n)),
        5 => Some(random_name(rng, &CJK)),
        6 => Some(flip(random_name(rng, &LATIN), rng)),
        _ => Some(piece(&format!("{name}{name_en}"), rng)),
    }
}

async fn the_index_answers_as_the_store_does(backend: Backend) {
    let seed: u64 = std::env::var("SEARCH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("SEARCH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let app = spawn_app_on(backend).await;
    let scores = [FIVE, FOUR, THREE, COMPLIANT];
    let mut names = Vec::new();
    let count = 120;
    // Numbers in random order, so some fall between those already indexed.
    let mut ids: Vec<u32> = (0..count).map(|i| i * 7 + rng.gen_range(0..7)).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.gen_range(0..=i));
    }
    for (k, id) in ids.iter().enumerate() {
        let number = format!("SM2026R{id:04}");
        let name = format!("{}{}", random_name(&mut rng, &CJK), random_name(&mut rng, &CJK));
        let name_en = random_name(&mut rng, &LATIN);
        let n = 1000 + k as u32 % 90; // some holders have several certificates
        let mut issue = body(&number, &name, &name_en, n, scores[rng.gen_range(0..4)]);
        if rng.gen_bool(0.2) {
            issue["issued"] = json!("2023-06-01"); // expired by now
        }
        app.issue(&issue).await;
        match rng.gen_range(0..10) {
            0 => drop(app.status(&number, json!({"action": "revoke", "reason": "r"})).await),
            1 => drop(app.status(&number, json!({"action": "withdraw", "reason": "w"})).await),
            2 => drop(app.status(&number, json!({"action": "suspend", "reason": "s", "until": in_days(60)})).await),
            _ => {}
        }
        names.push((number, name, name_en, n));
    }
    index_holds(&app.registry, count as usize).await;

    let levels = [Level::Compliant, Level::ThreeStar, Level::FourStar, Level::FiveStar];
    let states = [State::Valid, State::Suspended, State::Revoked, State::Withdrawn, State::Expired];
    let today = starmark::registry::clock::today();
    let mut found_some = 0;
    for round in 0..400 {
        let mut query = SearchQuery {
            text: random_text(&mut rng, &names),
            uscc: rng.gen_bool(0.1).then(|| Uscc::parse(&uscc(1000 + rng.gen_range(0..90))).unwrap()),
            level: rng.gen_bool(0.3).then(|| levels[rng.gen_range(0..4)]),
            state: rng.gen_bool(0.3).then(|| states[rng.gen_range(0..5)]),
            today,
            after: rng
                .gen_bool(0.3)
                .then(|| CertificateNumber::parse(&format!("SM2026R{:04}", rng.gen_range(0..900))).unwrap()),
            limit: rng.gen_range(1..=12),
        };
        // Walk every page, comparing each with the store's.
        for _ in 0..50 {
            let (indexed, more) = app.registry.search(&query).await.expect("index search");
            let (stored, stored_more) = app.registry.search_in_store(&query).await.expect("store search");
            let indexed: Vec<&str> = indexed.iter().map(|c| c.record.number.as_str()).collect();
            let stored: Vec<&str> = stored.iter().map(|c| c.record.number.as_str()).collect();
            assert_eq!((&indexed, more), (&stored, stored_more), "round {round}, seed {seed}: {query:?}");
            found_some += usize::from(!indexed.is_empty());
            if !more {
                break;
            }
            query.after = Some(CertificateNumber::parse(indexed.last().unwrap()).unwrap());
        }
    }
    assert!(found_some > 200, "most queries find something to compare ({found_some} pages did)");
    assert_eq!(app.registry.search_index_certificates(), Some(count as usize), "the index answered throughout");
}

on_each_backend!(
    search_through_the_index,
    writes_are_found_at_once_here_and_on_a_peer,
    the_index_answers_as_the_store_does
);
