//! `starmark marks order|render|urls`: serialised marks for printers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::Outcome;
use crate::config::Config;
use crate::domain::{CertificateNumber, CertificateRecord, Gtin, Product};
use crate::mark::{MarkArt, MarkFace, DEFAULT_DPI, DEFAULT_SIZE_MM};
use crate::registry::{Change, Registry};
use crate::startup::open_registry;

#[derive(Args)]
pub struct MarksArgs {
    #[command(subcommand)]
    command: MarksCommand,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Png,
    Svg,
}

#[derive(Args)]
struct Selection {
    /// The batch, as `NUMBER/BATCH` (e.g. SM2026ASC000001/1).
    #[arg(long)]
    batch: String,
    /// First serial (default 1).
    #[arg(long)]
    first: Option<u32>,
    /// Last serial (default: the end of the batch).
    #[arg(long)]
    last: Option<u32>,
}

#[derive(Subcommand)]
enum MarksCommand {
    /// Order a batch of serialised marks for a valid certificate.
    Order {
        number: String,
        #[arg(long)]
        count: u64,
        /// The product's GTIN (8, 12, 13 or 14 digits): the marks become GS1 Digital Link URIs.
        #[arg(long, requires = "product")]
        gtin: Option<String>,
        /// The product's name, shown on the consumer page (with --gtin).
        #[arg(long, requires = "gtin")]
        product: Option<String>,
    },
    /// Write one mark file per serial of a batch.
    Render {
        #[command(flatten)]
        selection: Selection,
        /// Folder for the files (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "png")]
        format: Format,
        /// Printed width in millimetres.
        #[arg(long, default_value_t = DEFAULT_SIZE_MM)]
        size_mm: f32,
        /// PNG resolution.
        #[arg(long, default_value_t = DEFAULT_DPI)]
        dpi: u32,
        /// Worker threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Print the QR URL of every serial, one per line (for printers with their own QR software).
    Urls {
        #[command(flatten)]
        selection: Selection,
    },
}

/// The record and serial range a selection names, checked against the record.
async fn select(registry: &Registry, selection: &Selection) -> anyhow::Result<(CertificateRecord, u32, u32, u32)> {
    let (number, batch) =
        selection.batch.rsplit_once('/').context("--batch takes NUMBER/BATCH, e.g. SM2026ASC000001/1")?;
    let number = CertificateNumber::parse(number).map_err(|e| anyhow::anyhow!("--batch: {e}"))?;
    let batch: u32 = batch.parse().with_context(|| format!("--batch: '{batch}' is not a batch number"))?;
    let record = registry.get(&number).await?.record;
    let count = record
        .mark_batches
        .iter()
        .find(|b| b.id == batch)
        .map(|b| b.count)
        .with_context(|| format!("certificate {number} has no mark batch {batch}"))?;
    let first = selection.first.unwrap_or(1);
    let last = selection.last.unwrap_or(count);
    if first == 0 || first > last || last > count {
        anyhow::bail!("serials {first}-{last} are not within batch {batch} (1-{count})");
    }
    Ok((record, batch, first, last))
}

pub async fn run(config: &Config, args: MarksArgs) -> anyhow::Result<Outcome> {
    let registry = open_registry(config).await?;
    match args.command {
        MarksCommand::Order { number, count, gtin, product } => {
            let number = CertificateNumber::parse(&number).map_err(|e| anyhow::anyhow!("{e}"))?;
            let product = match (gtin, product) {
                (Some(gtin), Some(name)) => {
                    let gtin = Gtin::parse(&gtin).map_err(|e| anyhow::anyhow!("--gtin '{gtin}': {e}"))?;
                    Some(Product::new(gtin, &name)?)
                }
                _ => None,
            };
            let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
            let record = registry.change(&actor, &number, &Change::OrderMarks { count, product }).await?.record;
            let batch = record.mark_batches.last().context("batch missing after order")?;
            println!("{number}/{}", batch.id);
            eprintln!("ordered batch {} of {} marks for {number}", batch.id, batch.count);
            // Before this process exits: the digest index that lets scans of the batch's fresh
            // tokens skip the signature verification.
            match registry.prepare_mark_digests(&record, batch.id).await {
                Ok(prepared) => eprintln!(
                    "prepared the digest index of {} marks in {:.1} s",
                    prepared.count,
                    prepared.elapsed.as_secs_f64()
                ),
                Err(e) => {
                    eprintln!("warning: no digest index for batch {} ({e}); its scans verify signatures", batch.id)
                }
            }
        }
        MarksCommand::Urls { selection } => {
            let (record, batch, first, last) = select(&registry, &selection).await?;
            let mut out = String::new();
            for serial in first..=last {
                out.push_str(&registry.mark_url(&registry.mark_token(&record, batch, serial)?));
                out.push('\n');
            }
            use std::io::Write;
            std::io::stdout().write_all(out.as_bytes()).context("cannot write to standard output")?;
        }
        MarksCommand::Render { selection, out, format, size_mm, dpi, threads, quiet } => {
            let (record, batch, first, last) = select(&registry, &selection).await?;
            std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let face = MarkFace { number: record.number.to_string(), level: record.level, serialised: true };
            let art = MarkArt::new(&face, size_mm, (format == Format::Png).then_some(dpi))?;
            let total = u64::from(last - first + 1);
            let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} marks ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let started = Instant::now();
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
            let next = AtomicU64::new(u64::from(first));
            let written = AtomicU64::new(0);
            let extension = if format == Format::Png { "png" } else { "svg" };
            let results: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        scope.spawn(|| -> anyhow::Result<()> {
                            loop {
                                let serial = next.fetch_add(1, Ordering::Relaxed);
                                if serial > u64::from(last) {
                                    return Ok(());
                                }
                                let serial = u32::try_from(serial).context("serial overflow")?;
                                let url = registry.mark_url(&registry.mark_token(&record, batch, serial)?);
                                let bytes = match format {
                                    Format::Png => art.png(&url, Some((batch, serial)))?,
                                    Format::Svg => art.svg(&url, Some((batch, serial)))?.into_bytes(),
                                };
                                let path = out.join(format!("{}-{batch}-{serial:06}.{extension}", record.number));
                                std::fs::write(&path, bytes)
                                    .with_context(|| format!("cannot write {}", path.display()))?;
                                bar.set_position(written.fetch_add(1, Ordering::Relaxed) + 1);
                            }
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a render thread panicked"))))
                    .collect()
            });
            bar.finish_and_clear();
            for result in results {
                result?;
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "wrote {total} {extension} marks to {} in {seconds:.2} s ({:.0}/s on {threads} threads)",
                out.display(),
                total as f64 / seconds.max(1e-9)
            );
        }
    }
    Ok(Outcome::Done)
}
