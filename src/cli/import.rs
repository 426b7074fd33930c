//! `starmark import FILE.csv`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::Outcome;
use crate::config::Config;
use crate::registry::{parse_csv, CSV_COLUMNS};
use crate::startup::open_registry;

#[derive(Args)]
pub struct ImportArgs {
    /// CSV file with a header row; see docs/import.md for the columns.
    file: PathBuf,
    /// Hide the progress bar (for scripts and benchmarks).
    #[arg(long)]
    quiet: bool,
}

pub async fn run(config: &Config, args: ImportArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let (rows, mut errors) = match parse_csv(std::io::BufReader::new(file)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("error: {}: line {}: {}", args.file.display(), e.line, e.message);
            eprintln!("expected columns: {}", CSV_COLUMNS.join(","));
            return Ok(Outcome::Failed);
        }
    };
    let registry = open_registry(config).await?;
    let total = rows.len() as u64;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} certificates ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let actor = format!("cli:import:{}", args.file.display());
    let report = registry.import(&actor, rows, &|done| bar.set_position(done)).await?;
    bar.finish_and_clear();
    errors.extend(report.errors);
    errors.sort_by_key(|e| e.line);
    for error in &errors {
        eprintln!("{}: line {}: {}", args.file.display(), error.line, error.message);
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 { report.issued as f64 / seconds } else { 0.0 };
    println!("issued {} certificates in {seconds:.2} s ({rate:.0}/s); {} rows refused", report.issued, errors.len());
    Ok(if errors.is_empty() { Outcome::Done } else { Outcome::Failed })
}
