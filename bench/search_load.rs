//! Open-loop mixed load for `bench/search_load.sh`: certificate lookups and searches, each at a
//! steady rate for a while, every request timed from when it was due (so a slow server cannot
//! hide its queueing by slowing the load down), then p50/p99/max of each kind.
//!
//! Usage: search_load BASE_URL CERTS SECONDS LOOKUPS_PER_S SEARCHES_PER_S
//! Lookups ask `GET /api/v1/certificates/SMBENCH{n}` for random n in 1..=CERTS (the numbers of
//! `bench/make_import_csv.py --numbered`); searches ask `GET /api/v1/certificates?q=...` for a
//! random term of the kinds procurement officers type: part of a Chinese name, an English name
//! in any case, a number prefix, a USCC-like code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Mutex;

const CITIES: [&str; 10] = ["北京", "上海", "广州", "深圳", "杭州", "厦门", "成都", "武汉", "南京", "青岛"];
const TRADES: [&str; 8] = ["电器", "家居", "汽车服务", "通信设备", "厨卫科技", "电梯工程", "办公设备", "制冷设备"];

fn search_term(rng: &mut impl Rng, certs: u64) -> String {
    let i = rng.gen_range(0..certs);
    match rng.gen_range(0..6) {
        0 => format!("第{i}号"),
        1 => format!("{}第{}", CITIES[rng.gen_range(0..CITIES.len())], rng.gen_range(0..1000)),
        2 => TRADES[rng.gen_range(0..TRADES.len())].to_string(),
        3 => format!("company {i} co"),
        4 => format!("SMBENCH{:03}", rng.gen_range(0..1000)),
        _ => "不存在的公司".to_string(),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    errors: u64,
}

impl Tally {
    fn line(&mut self, kind: &str, rate: f64) -> String {
        self.micros.sort_unstable();
        let at = |q: f64| {
            if self.micros.is_empty() {
                return 0.0;
            }
            let k = ((self.micros.len() as f64 - 1.0) * q).round() as usize;
            self.micros[k] as f64 / 1000.0
        };
        format!(
            "SEARCHLOAD kind={kind} rate={rate} requests={} errors={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            self.micros.len(),
            self.errors,
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

/// Fires `make()`'s requests at `rate` per second for `seconds`, timing each from when it was due.
async fn drive(
    client: reqwest::Client,
    rate: f64,
    seconds: f64,
    tally: Arc<Mutex<Tally>>,
    make: impl Fn() -> String + Send + 'static,
) {
    if rate <= 0.0 {
        return;
    }
    let start = Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * seconds) as u64;
    let mut tasks = Vec::new();
    for k in 0..total {
        let due = start + every * k as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, tally, url) = (client.clone(), tally.clone(), make());
        tasks.push(tokio::spawn(async move {
            let ok = match client.get(&url).send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            let mut tally = tally.lock().await;
            if ok {
                tally.micros.push(due.elapsed().as_micros() as u64);
            } else {
                tally.errors += 1;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: search_load BASE_URL CERTS SECONDS LOOKUPS_PER_S SEARCHES_PER_S");
        std::process::exit(2);
    }
    let parse = |i: usize| args[i].parse::<f64>().unwrap_or_else(|_| panic!("{} is not a number", args[i]));
    let base = args[1].trim_end_matches('/').to_string();
    let (certs, seconds, lookups, searches) = (parse(2) as u64, parse(3), parse(4), parse(5));
    let width = 6.max(certs.to_string().len());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .expect("http client");
    let lookup_tally = Arc::new(Mutex::new(Tally::default()));
    let search_tally = Arc::new(Mutex::new(Tally::default()));
    let lookup_base = base.clone();
    let lookup = drive(client.clone(), lookups, seconds, lookup_tally.clone(), move || {
        let n = rand::thread_rng().gen_range(1..=certs);
        format!("{lookup_base}/api/v1/certificates/SMBENCH{n:0width$}")
    });
    let search = drive(client, searches, seconds, search_tally.clone(), move || {
        let term = search_term(&mut rand::thread_rng(), certs);
        format!("{base}/api/v1/certificates?q={}", encode(&term))
    });
    tokio::join!(lookup, search);
    println!("{}", lookup_tally.lock().await.line("lookup", lookups));
    if searches > 0.0 {
        println!("{}", search_tally.lock().await.line("search", searches));
    }
}
