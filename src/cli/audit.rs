//! `starmark audit`: re-derives the transparency log and the current state from the stored
//! events and names every disagreement; exits non-zero on any finding. Reads only.

use anyhow::Context;
use clap::Args;

use super::Outcome;
use crate::config::Config;
use crate::crypto::{keys, Verifier};
use crate::registry::audit::audit;
use crate::tlog::{default_origin, LogKey};

#[derive(Args)]
pub struct AuditArgs {
    /// A log origin the checkpoints may carry; repeat it for a log renamed over time (default:
    /// the origin fixed in the database, else STARMARK_LOG_ORIGIN, else the public URL's host +
    /// /starmark-log).
    #[arg(long)]
    origin: Vec<String>,
}

pub async fn run(config: &Config, args: AuditArgs) -> anyhow::Result<Outcome> {
    let public = keys::load_public_keys(&config.keys_dir)
        .with_context(|| format!("cannot read the public keys in {}", config.keys_dir.display()))?;
    let verifier = Verifier::new(&public);
    // Auditing must never create an empty database where the real one was expected.
    if let Some(path) = config.database_url().strip_prefix("sqlite://") {
        if !std::path::Path::new(path).exists() {
            anyhow::bail!("there is no database at {path}; set STARMARK_DATA_DIR or DATABASE_URL");
        }
    }
    let store = crate::store::open(&config.database_url()).await.with_context(|| {
        format!("cannot open the database at {}", crate::store::display_url(&config.database_url()))
    })?;
    let origins = if !args.origin.is_empty() {
        args.origin
    } else if let Some(fixed) = store.log_origin().await.context("cannot read the log origin")? {
        vec![fixed]
    } else {
        vec![config.log_origin.clone().unwrap_or_else(|| default_origin(&config.public_url))]
    };
    let mut log_keys = Vec::new();
    for origin in &origins {
        for entry in &public {
            log_keys
                .push(LogKey::new(origin, entry.key).with_context(|| format!("'{origin}' cannot be a log origin"))?);
        }
    }
    let origin = origins.join(", ");
    let report = audit(store.as_ref(), &verifier, &log_keys).await.context("the store could not be read")?;

    println!(
        "audited {} events, {} log leaves, {} checkpoints, {} certificates (log {origin}, {} trusted keys)",
        report.events,
        report.leaves,
        report.checkpoints,
        report.certificates,
        public.len()
    );
    if let Some(root) = report.root {
        println!("root recomputed from the events at size {}: {}", report.leaves, hex::encode(root));
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    for finding in &report.findings {
        println!("FINDING {finding}");
    }
    if report.passed() {
        println!("audit passed: the store, the log and its checkpoints agree");
        Ok(Outcome::Done)
    } else {
        eprintln!("audit FAILED: {} finding(s)", report.findings.len());
        Ok(Outcome::Failed)
    }
}
