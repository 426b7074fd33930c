//! `starmark verify-receipt FILE`: is a saved verification receipt genuine, and (with
//! `--server`) has anything changed since it was issued?
//!
//! Offline, the signature is checked against a trust list file or the public keys of the keys
//! directory, with no network at all. Online, the trust list comes from the registry (unless
//! one is given) and the registry reports what differs today from each snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::Args;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use serde_json::Value;

use super::Outcome;
use crate::config::Config;
use crate::crypto::{canonical_value_bytes, keys, KeyId, TrustList, Verifier};
use crate::domain::receipt::{Outcome as RowOutcome, Receipt};
use crate::registry::receipt::{check_signature, key_status, receipt_id};

/// Exit status: genuine (and, online, unchanged).
pub const EXIT_GENUINE: u8 = 0;
/// Exit status: genuine, but the registry reports changes since the receipt (online only).
pub const EXIT_CHANGED: u8 = 1;
/// Exit status: not genuine.
pub const EXIT_NOT_GENUINE: u8 = 2;
/// Exit status: the check could not be made (usage, file, trust list or network).
pub const EXIT_ERROR: u8 = 3;

/// How long a request to the registry may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args)]
#[command(after_help = "Exit status:\n  \
    0  genuine (and, with --server, nothing changed since it was issued)\n  \
    1  genuine, but the registry reports changes since (with --server)\n  \
    2  not genuine: altered, or not signed by a key of the trust list\n  \
    3  the check could not be made: bad arguments, unreadable file, not a receipt, network error")]
pub struct VerifyReceiptArgs {
    /// The receipt: the JSON document `{"receipt": ..., "signature": ...}` as served by
    /// GET /api/v1/receipts/{id}.
    file: PathBuf,
    /// Trust list (the JSON of /.well-known/starmark/keys.json) to check against, instead of
    /// the public keys in STARMARK_KEYS_DIR (or, with --server, the registry's own list).
    #[arg(long, value_name = "FILE")]
    trust_list: Option<PathBuf>,
    /// Registry base URL (e.g. https://verify.example.cn): fetch its trust list and ask it what
    /// changed since the receipt was issued.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

/// The answer of `POST /api/v1/receipts/verify`, as far as the CLI reads it.
#[derive(Deserialize)]
struct ServerCheck {
    genuine: bool,
    reason: Option<String>,
    key_status: Option<String>,
    checked_at: String,
    unchanged: usize,
    changed: Vec<ServerChange>,
}

#[derive(Deserialize)]
struct ServerChange {
    row: u32,
    query: String,
    number: Option<String>,
    changes: Vec<ServerFieldChange>,
}

#[derive(Deserialize)]
struct ServerFieldChange {
    field: String,
    then: Value,
    now: Value,
}

/// Runs the command; every failure becomes a message and exit status 3, never a panic.
pub async fn run(config: &Config, args: VerifyReceiptArgs) -> anyhow::Result<Outcome> {
    match check(config, &args).await {
        Ok(code) => Ok(Outcome::Exit(code)),
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(Outcome::Exit(EXIT_ERROR))
        }
    }
}

fn verifier_of(list: &TrustList) -> anyhow::Result<Verifier> {
    let mut verifier = Verifier::default();
    for entry in &list.keys {
        let raw = BASE64.decode(entry.public_key.as_bytes()).context("a trust list key is not base64")?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| anyhow!("a trust list key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw).context("a trust list key is not an Ed25519 key")?;
        if KeyId::of(&key) != entry.key_id {
            bail!("trust list entry {} does not match its key", entry.key_id);
        }
        verifier = verifier.with_key(key);
    }
    Ok(verifier)
}

fn read_trust_list(path: &Path) -> anyhow::Result<TrustList> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the trust list {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!("{} is not a trust list (the JSON of /.well-known/starmark/keys.json)", path.display())
    })
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().context("cannot set up the HTTP client")
}

async fn fetch_trust_list(client: &reqwest::Client, server: &str) -> anyhow::Result<TrustList> {
    let url = format!("{server}/.well-known/starmark/keys.json");
    let response = client.get(&url).send().await.with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    response.json().await.with_context(|| format!("{url} did not answer a trust list"))
}

async fn ask_server(client: &reqwest::Client, server: &str, document: &Value) -> anyhow::Result<ServerCheck> {
    let url = format!("{server}/api/v1/receipts/verify");
    let response = client.post(&url).json(document).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let problem: Value = response.json().await.unwrap_or(Value::Null);
        let detail = problem.get("detail").and_then(Value::as_str).unwrap_or("no detail");
        bail!("{url} answered {status}: {detail}");
    }
    response.json().await.with_context(|| format!("{url} did not answer a receipt check"))
}

fn print_receipt(receipt: &Receipt) {
    println!("  issuer:      {} ({})", receipt.issuer.name, receipt.issuer.approval_number.as_str());
    if !receipt.registry.is_empty() {
        println!("  registry:    {}", receipt.registry);
    }
    println!("  rows:        {}", receipt.results.len());
    for row in &receipt.results {
        match row.outcome {
            RowOutcome::Found => {
                for c in &row.certificates {
                    println!(
                        "    row {:>4}  {}  {} {}  {}  {}  valid until {}",
                        row.row,
                        row.query,
                        c.number,
                        c.holder_name,
                        c.level.as_str(),
                        c.state.as_str(),
                        c.valid_until
                    );
                }
            }
            RowOutcome::Unknown | RowOutcome::Malformed => println!(
                "    row {:>4}  {}  {}: {}",
                row.row,
                row.query,
                row.outcome.as_str().to_uppercase(),
                row.error.as_deref().unwrap_or("")
            ),
        }
    }
}

fn print_changes(server: &str, answer: &ServerCheck) {
    if answer.changed.is_empty() {
        println!(
            "UNCHANGED: as of {} the registry at {server} reports no change since the receipt ({} checked)",
            answer.checked_at, answer.unchanged
        );
        return;
    }
    println!(
        "CHANGED SINCE: as of {} the registry at {server} reports {} change(s) ({} unchanged)",
        answer.checked_at,
        answer.changed.len(),
        answer.unchanged
    );
    for change in &answer.changed {
        let fields: Vec<String> =
            change.changes.iter().map(|c| format!("{} {} -> {}", c.field, plain(&c.then), plain(&c.now))).collect();
        println!(
            "    row {:>4}  {}  {}: {}",
            change.row,
            change.query,
            change.number.as_deref().unwrap_or("-"),
            fields.join("; ")
        );
    }
}

/// A JSON value as plain words: strings without quotes, null as "none".
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

async fn check(config: &Config, args: &VerifyReceiptArgs) -> anyhow::Result<u8> {
    let server = args.server.as_deref().map(|s| s.trim().trim_end_matches('/').to_string());
    if let Some(server) = &server {
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be a URL starting with http:// or https://, not '{server}'");
        }
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the receipt file {}", args.file.display()))?;
    let document: Value = serde_json::from_str(&text).with_context(|| {
        format!("{} is not JSON; save the receipt as served by GET /api/v1/receipts/{{id}}", args.file.display())
    })?;

    let client = server.as_ref().map(|_| client()).transpose()?;
    let (verifier, list, source) = match (&args.trust_list, &server, &client) {
        (Some(path), _, _) => {
            let list = read_trust_list(path)?;
            (verifier_of(&list)?, Some(list), format!("trust list {}", path.display()))
        }
        (None, Some(server), Some(client)) => {
            let list = fetch_trust_list(client, server).await?;
            (verifier_of(&list)?, Some(list), format!("trust list of {server}"))
        }
        _ => {
            let public = keys::load_public_keys(&config.keys_dir).with_context(|| {
                format!(
                    "cannot load the public keys of {} (STARMARK_KEYS_DIR); give --trust-list keys.json or --server URL",
                    config.keys_dir.display()
                )
            })?;
            if public.is_empty() {
                bail!(
                    "there are no public keys (*.pub.pem) in {} (STARMARK_KEYS_DIR) to check against; \
                     give --trust-list keys.json or --server URL",
                    config.keys_dir.display()
                );
            }
            (Verifier::new(&public), None, format!("keys in {}", config.keys_dir.display()))
        }
    };

    let verdict = check_signature(&document, &verifier)
        .map_err(|e| anyhow!("{} is not a Starmark receipt: {e}", args.file.display()))?;
    let key = verdict.key_id.as_ref().map_or_else(|| "(none)".to_string(), ToString::to_string);
    let Some(receipt) = verdict.receipt.as_ref().filter(|_| verdict.genuine) else {
        println!("NOT GENUINE: {}", verdict.reason.as_deref().unwrap_or("the signature does not verify"));
        println!("  claimed issued at: {}", verdict.issued_at.as_deref().unwrap_or("(not stated)"));
        println!("  claimed key:       {key}");
        println!("  checked against:   {source}");
        return Ok(EXIT_NOT_GENUINE);
    };
    let status = list.as_ref().zip(verdict.key_id.as_ref()).and_then(|(list, id)| key_status(list, id));
    let id = receipt_id(&canonical_value_bytes(&document)?);
    println!("GENUINE: verification receipt {id}, signed by the registry");
    println!("  issued at:   {}", verdict.issued_at.as_deref().unwrap_or("(not stated)"));
    println!(
        "  key:         {key}{} (checked against {source})",
        status.map(|s| format!(" ({s})")).unwrap_or_default()
    );
    print_receipt(receipt);

    let (Some(server), Some(client)) = (&server, &client) else {
        println!("  (offline check: give --server URL to learn what changed since)");
        return Ok(EXIT_GENUINE);
    };
    let answer = ask_server(client, server, &document).await?;
    if !answer.genuine {
        println!(
            "NOT GENUINE according to {server}: {}",
            answer.reason.as_deref().unwrap_or("the registry does not accept the signature")
        );
        return Ok(EXIT_NOT_GENUINE);
    }
    if let Some(status) = &answer.key_status {
        if status != "active" {
            println!("  note: the signing key is {status} at {server}; receipts it signed stay genuine");
        }
    }
    print_changes(server, &answer);
    Ok(if answer.changed.is_empty() { EXIT_GENUINE } else { EXIT_CHANGED })
}
