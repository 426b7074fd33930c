//! `bench/l1.sh`: what one L1 hit costs, with 100,000 prepared answers of 3.3 KB and uniformly
//! random keys (the read-path benchmark's access pattern): our `AnswerCache` (hits read from its
//! read index, moka bounded by bytes behind it), a bare moka cache bounded by bytes (what hits
//! cost when they went to moka), and a plain `RwLock<HashMap>` holding the same answers. One
//! thread, so the figures are per hit, without contention. A hit here is the lookup alone: the
//! answer is not unpacked (about a microsecond for a real answer, see `cache::packing`).
//!
//! Prints nanoseconds per hit, the median of five passes of 1,000,000 lookups each.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use rand::Rng;
use starmark::cache::{AnswerCache, CacheSettings, Cached, Held, Prepared};

const ANSWERS: usize = 100_000;
const LOOKUPS: usize = 1_000_000;
const PASSES: usize = 5;

fn answer(n: usize) -> Cached {
    let next_update = chrono::Utc::now() + chrono::Duration::hours(1);
    let prepared = Prepared::new(&[b'x'; 3300], &format!("W/\"1-valid-{n}-0123456789ab\""), 1, next_update);
    Cached::Answer(prepared.expect("a valid ETag"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let keys: Vec<String> = (0..ANSWERS).map(|n| format!("SMBENCH{n:06}")).collect();
    let mut rng = rand::thread_rng();
    let order: Vec<usize> = (0..LOOKUPS).map(|_| rng.gen_range(0..ANSWERS)).collect();

    let settings = CacheSettings { max_bytes: 512 << 20, ..CacheSettings::default() };
    let cache = AnswerCache::new(settings);
    // As the store watch would say: answers loaded from now on are trusted past the bound.
    cache.verified(Instant::now() - settings.stale_bound);
    for (n, key) in keys.iter().enumerate() {
        let Cached::Answer(prepared) = answer(n) else { unreachable!("an answer") };
        // As a lookup leaves it: the bytes alone (a scan would keep the record beside them).
        cache.put(key, Held::Answer(prepared, None)).await;
    }
    let mut ours = Vec::new();
    for _ in 0..PASSES {
        cache.verified(Instant::now());
        let start = Instant::now();
        let mut bytes = 0;
        for &i in &order {
            // What `GET` asks first: the answer without its record.
            if let Some(Cached::Answer(prepared)) = cache.hit(&keys[i]).await {
                bytes += prepared.body_len();
            }
        }
        assert_eq!(bytes, LOOKUPS * 3300, "every lookup must hit");
        ours.push(start.elapsed().as_nanos() as f64 / LOOKUPS as f64);
    }
    drop(cache);

    let bare: moka::future::Cache<String, Cached> = moka::future::Cache::builder()
        .max_capacity(512 << 20)
        .weigher(|key: &String, _: &Cached| u32::try_from(key.len() + 3400).unwrap_or(u32::MAX))
        .build();
    for (n, key) in keys.iter().enumerate() {
        bare.insert(key.clone(), answer(n)).await;
    }
    let mut moka = Vec::new();
    for _ in 0..PASSES {
        let start = Instant::now();
        let mut bytes = 0;
        for &i in &order {
            if let Some(Cached::Answer(prepared)) = bare.get(keys[i].as_str()).await {
                bytes += prepared.body_len();
            }
        }
        assert_eq!(bytes, LOOKUPS * 3300, "every lookup must hit");
        moka.push(start.elapsed().as_nanos() as f64 / LOOKUPS as f64);
    }
    drop(bare);

    let map: RwLock<HashMap<String, Cached>> =
        RwLock::new(keys.iter().enumerate().map(|(n, key)| (key.clone(), answer(n))).collect());
    let mut plain = Vec::new();
    for _ in 0..PASSES {
        let start = Instant::now();
        let mut bytes = 0;
        for &i in &order {
            let hit = map.read().ok().and_then(|m| m.get(keys[i].as_str()).cloned());
            if let Some(Cached::Answer(prepared)) = hit {
                bytes += prepared.body_len();
            }
        }
        assert_eq!(bytes, LOOKUPS * 3300, "every lookup must hit");
        plain.push(start.elapsed().as_nanos() as f64 / LOOKUPS as f64);
    }
    let (ours, moka, plain) = (median(ours), median(moka), median(plain));
    println!("L1 hit, {ANSWERS} answers of 3.3 KB, random keys, median of {PASSES} passes of {LOOKUPS}:");
    println!("  AnswerCache (read index, moka behind)  {ours:>6.0} ns");
    println!("  bare moka cache, bounded by bytes      {moka:>6.0} ns");
    println!("  RwLock<HashMap> (unbounded)            {plain:>6.0} ns");
}
