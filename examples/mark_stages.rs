//! Per-stage timing of mark rendering (QR symbol, SVG, PNG) for one URL, in-process, release
//! build: `cargo run --release --example mark_stages`. Today's `/v/` mark and the GS1 Digital
//! Link mark of the same claims (docs/format.md, section 10's vectors) are measured in one run,
//! on one thread, so their ratio holds whatever else the machine does. `MARK_STAGES_N` and
//! `MARK_STAGES_ROUNDS` (default 300 and 5) make it short enough for callgrind, whose
//! instruction counts no other load changes:
//! `MARK_STAGES_N=20 MARK_STAGES_ROUNDS=1 valgrind --tool=callgrind target/release/examples/mark_stages`
//! then `callgrind_annotate --inclusive=yes`, once with `MARK_STAGES_ONLY=plain`, once `gs1`. bench/marks.sh measures whole batches.
use starmark::domain::Level;
use starmark::mark::{MarkArt, MarkFace, QrMatrix};
use std::time::{Duration, Instant};

const PLAIN: &str = "HTTPS://VERIFY.STARMARK-EXAMPLE.ORG.CN/V/SM2026ASC000001.91350200776049653AAE2HKD4YXVM7Z7ADKRUQAAAAAMAADYSAPT2RASFWCJZXALCE63DXJ4YE5I3WTOA3LGJX7N7P5C7XRXV7FSJSS54K4KEIGCAIMFDQGDHD6I2Y7Z37CQB5VFBP3R2BNH6AOY7BOCI";
const GS1: &str = "https://VERIFY.STARMARK-EXAMPLE.ORG.CN/01/06901234567892/21/123456?S=SM2026ASC000001.91350200776049653AAI2HKD4YXVM7Z7ADKRUQAAAAAMOCO2HTRPGW34KQBR7YJKKXZP337BO72EJXO2E3Y5EWMCGDBT7QFLCB5EZFIYXBU5M5GDDXPPLYIBCXW4DUNIMJVI24EXFJLZE7ICIB";

/// Per-item time of `f` over `n` runs.
fn per_item(n: u32, mut f: impl FnMut(u32)) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed() / n
}

fn main() {
    let number = |name: &str, default: u32| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let n = number("MARK_STAGES_N", 300);
    let rounds_wanted = number("MARK_STAGES_ROUNDS", 5);
    let face = MarkFace { number: "SM2026ASC000001".into(), level: Level::FiveStar, serialised: true };
    let art = MarkArt::new(&face, 30.0, Some(600)).unwrap();
    let mut png = Vec::new();
    // Alternating rounds, so that both kinds meet the same load; the medians are printed.
    let mut rounds: [Vec<[Duration; 3]>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds_wanted {
        // `MARK_STAGES_ONLY=plain` or `gs1`: one kind alone (one callgrind run each).
        let only = std::env::var("MARK_STAGES_ONLY").unwrap_or_default();
        for (kind, url) in [PLAIN, GS1].into_iter().enumerate() {
            if (only == "plain" && kind == 1) || (only == "gs1" && kind == 0) {
                rounds[kind].push([Duration::ZERO; 3]);
                continue;
            }
            let qr = per_item(n, |_| {
                std::hint::black_box(QrMatrix::encode(url).unwrap());
            });
            let svg = per_item(n, |i| {
                std::hint::black_box(art.svg(url, Some((1, i))).unwrap());
            });
            let png_time = per_item(n, |i| {
                png = art.png(url, Some((1, i))).unwrap();
            });
            rounds[kind].push([qr, svg, png_time]);
        }
    }
    let median = |kind: usize, stage: usize| {
        let mut times: Vec<Duration> = rounds[kind].iter().map(|r| r[stage]).collect();
        times.sort();
        times[times.len() / 2]
    };
    for (kind, name) in [(0, "/v/ mark (QR version 10)"), (1, "GS1 mark (QR version 11)")] {
        let png = median(kind, 2);
        println!(
            "{name}: qr encode {:?}, svg {:?}, png {:?} ({:.0} PNG marks/s on one core)",
            median(kind, 0),
            median(kind, 1),
            png,
            1.0 / png.as_secs_f64()
        );
    }
    for (stage, name) in ["qr encode", "svg", "png"].into_iter().enumerate() {
        println!("GS1 / today's, {name}: {:.2}", median(1, stage).as_secs_f64() / median(0, stage).as_secs_f64());
    }
}
