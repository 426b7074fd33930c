//! Per-stage timing of mark rendering (QR symbol, SVG, PNG) for one URL, in-process, release
//! build: `cargo run --release --example mark_stages`. bench/marks.sh measures whole batches.
use starmark::domain::Level;
use starmark::mark::{MarkArt, MarkFace, QrMatrix};
use std::time::Instant;
fn main() {
    let url = "HTTPS://VERIFY.STARMARK-EXAMPLE.ORG.CN/V/SM2026ASC000001.91350200776049653AAE2HKD4YXVM7Z7ADKRUQAAAAAMAADYSAPT2RASFWCJZXALCE63DXJ4YE5I3WTOA3LGJX7N7P5C7XRXV7FSJSS54K4KEIGCAIMFDQGDHD6I2Y7Z37CQB5VFBP3R2BNH6AOY7BOCI";
    let n = 300;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(QrMatrix::encode(url).unwrap());
    }
    println!("qr encode: {:?}", t.elapsed() / n);
    let face = MarkFace { number: "SM2026ASC000001".into(), level: Level::FiveStar, serialised: true };
    let art = MarkArt::new(&face, 30.0, Some(600)).unwrap();
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(art.svg(url, Some((1, i))).unwrap());
    }
    println!("svg: {:?}", t.elapsed() / n);
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(art.png(url, Some((1, i))).unwrap());
    }
    println!("png: {:?}", t.elapsed() / n);
}
