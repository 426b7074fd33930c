//! Transparency-log benchmark (run with `bench/tlog.sh`):
//!
//! 1. inclusion and consistency proofs at 1,000,000 leaves, from the in-memory tree the server
//!    keeps (and the time to build it from the stored leaf hashes);
//! 2. appends through the registry, each a committed event + leaf, then the tree catching up and
//!    a checkpoint signed and stored: one writer at a time, and 8 writers at once;
//! 3. signing one checkpoint.
//!
//! Every figure is the median of `RUNS` runs.

use std::sync::Arc;
use std::time::Instant;

use starmark::config::Config;
use starmark::crypto::keys;
use starmark::domain::Uscc;
use starmark::registry::{parse_csv, Registry};
use starmark::tlog::{leaf_hash, Tree};

const LEAVES: u64 = 1_000_000;
const PROOFS: u64 = 10_000;
const RUNS: usize = 5;
const APPENDS: u32 = 1_000;
const WRITERS: u32 = 8;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A cheap deterministic sequence of indexes (xorshift), so runs are comparable.
fn indexes(count: u64, below: u64) -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        })
        .collect()
}

fn proofs() {
    let hashes: Vec<_> = (0..LEAVES).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut builds = Vec::new();
    let mut tree = Tree::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        tree = Tree::new();
        for hash in &hashes {
            tree.push(*hash);
        }
        builds.push(started.elapsed().as_secs_f64());
    }
    println!("tree of {LEAVES} leaves built from their hashes: {:.3} s (median of {RUNS})", median(builds));

    let picks = indexes(PROOFS, LEAVES);
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    let mut lengths = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        for &index in &picks {
            lengths += tree.inclusion(index, LEAVES).map(|p| p.len()).unwrap_or(0);
        }
        inclusion.push(started.elapsed().as_secs_f64() / PROOFS as f64);
        let started = Instant::now();
        for &from in &picks {
            lengths += tree.consistency(from + 1, LEAVES).map(|p| p.len()).unwrap_or(0);
        }
        consistency.push(started.elapsed().as_secs_f64() / PROOFS as f64);
    }
    println!(
        "inclusion proof at {LEAVES} leaves: {:.2} µs (median of {RUNS} runs of {PROOFS} random leaves; target < 1000 µs)",
        median(inclusion) * 1e6
    );
    println!(
        "consistency proof to {LEAVES} leaves: {:.2} µs (median of {RUNS} runs of {PROOFS} random sizes)",
        median(consistency) * 1e6
    );
    std::hint::black_box(lengths);
}

async fn registry(dir: &std::path::Path) -> Arc<Registry> {
    let config = Config {
        data_dir: dir.join("data"),
        keys_dir: dir.join("keys"),
        public_url: "https://bench.example".into(),
        issuer_name: "Bench body".into(),
        cache_max_bytes: 16 << 20,
        ..Config::default()
    };
    keys::generate(&config.keys_dir).expect("keygen");
    starmark::startup::open_registry(&config).await.expect("registry")
}

fn drafts(count: u32, offset: u32) -> Vec<starmark::domain::CertificateDraft> {
    let mut csv = String::from("holder_name,uscc,address,scope,system,commodity,customer\n");
    for n in offset..offset + count {
        let uscc = Uscc::with_check_character(&format!("91350200{n:09}")).expect("uscc");
        csv.push_str(&format!("基准{n}有限公司,{uscc},厦门市示例路{n}号,家电售后服务,38,33,24\n"));
    }
    let (rows, errors) = parse_csv(csv.as_bytes()).expect("csv");
    assert!(errors.is_empty(), "{errors:?}");
    rows.into_iter().map(|row| row.draft).collect()
}

async fn appends() {
    let mut serial = Vec::new();
    let mut parallel = Vec::new();
    for run in 0..RUNS {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = registry(dir.path()).await;
        let drafts_one = drafts(APPENDS, 0);
        let started = Instant::now();
        for draft in drafts_one {
            registry.issue("bench", draft).await.expect("issue");
        }
        serial.push(f64::from(APPENDS) / started.elapsed().as_secs_f64());

        let per_writer = APPENDS / WRITERS;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let registry = registry.clone();
            let drafts = drafts(per_writer, APPENDS + writer * per_writer);
            tasks.push(tokio::spawn(async move {
                for draft in drafts {
                    registry.issue("bench", draft).await.expect("issue");
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
        parallel.push(f64::from(per_writer * WRITERS) / started.elapsed().as_secs_f64());
        assert_eq!(registry.log_size(), u64::from(APPENDS + per_writer * WRITERS));
        let checkpoint = registry.latest_checkpoint().expect("checkpoint");
        assert_eq!(checkpoint.checkpoint.size, registry.log_size(), "run {run}: every event is under a checkpoint");
    }
    println!(
        "appends, one writer: {:.0} events/s (each: event + leaf committed with fsync, tree updated, checkpoint signed and stored; median of {RUNS} runs of {APPENDS})",
        median(serial)
    );
    println!(
        "appends, {WRITERS} writers: {:.0} events/s (checkpoints cover several events when writers overlap; median of {RUNS})",
        median(parallel)
    );
}

fn signing() {
    let dir = tempfile::tempdir().expect("temp dir");
    keys::generate(dir.path()).expect("keygen");
    let signer = starmark::crypto::Signer::new(keys::load_signing_key(dir.path()).expect("key"));
    let key = starmark::tlog::LogKey::new("bench.example/starmark-log", signer.verifying_key()).expect("key");
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        for size in 0..1000u64 {
            let checkpoint = starmark::tlog::Checkpoint { origin: key.name().into(), size, root: [7; 32] };
            std::hint::black_box(key.sign(checkpoint, &signer));
        }
        times.push(started.elapsed().as_secs_f64() / 1000.0);
    }
    println!("signing one checkpoint note: {:.1} µs (median of {RUNS} runs of 1000)", median(times) * 1e6);
}

#[tokio::main]
async fn main() {
    proofs();
    signing();
    appends().await;
}
