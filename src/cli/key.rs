//! `starmark key create|list|revoke`: integrator keys for public reads.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};

use super::Outcome;
use crate::config::Config;
use crate::limits::integrators::{format_rate, parse_rate, DEFAULT_KEY_RATE, REMEMBERED_FOR};
use crate::limits::Policy;
use crate::registry::integrator_keys::Revoked;
use crate::startup::open_registry;

#[derive(Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key; it is printed once and only its hash is kept.
    Create {
        /// Who the key is for, such as the integrating platform's name.
        #[arg(long)]
        label: String,
        /// The key's own rate, shared by all the integrator's addresses: N/s, N/min or N/h
        /// (default 200/s); the burst is N.
        #[arg(long, value_parser = parse_rate)]
        rate: Option<Policy>,
    },
    /// List keys: id, rate, created, last use, state and label (never the keys themselves).
    List,
    /// Revoke a key by id; running instances refuse it within 30 seconds.
    Revoke { id: String },
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub async fn run(config: &Config, args: KeyArgs) -> anyhow::Result<Outcome> {
    let registry = open_registry(config).await?;
    match args.command {
        KeyCommand::Create { label, rate } => {
            let rate = rate.unwrap_or(DEFAULT_KEY_RATE);
            let (stored, key) = registry.create_integrator_key(&label, rate).await?;
            eprintln!(
                "created integrator key {} ({}) at {}; keep it secret, it is not shown again. \
                 Send it as `Authorization: Bearer <key>`:",
                stored.id,
                stored.label,
                format_rate(stored.rate)
            );
            println!("{key}");
        }
        KeyCommand::List => {
            let keys = registry.list_integrator_keys().await?;
            if keys.is_empty() {
                eprintln!("no integrator keys yet; create one with `starmark key create --label NAME`");
                return Ok(Outcome::Done);
            }
            println!("ID\tRATE\tCREATED\tLAST USE\tSTATE\tLABEL");
            for key in keys {
                let state = key.revoked_at.map_or_else(|| "live".to_string(), |at| format!("revoked {}", instant(at)));
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    key.id,
                    format_rate(key.rate),
                    instant(key.created_at),
                    key.last_used_at.map_or_else(|| "never".to_string(), instant),
                    state,
                    key.label
                );
            }
        }
        KeyCommand::Revoke { id } => match registry.revoke_integrator_key(id.trim()).await? {
            Revoked::Now => println!(
                "revoked integrator key {id}; running instances refuse it within {} s",
                REMEMBERED_FOR.as_secs()
            ),
            Revoked::Already(at) => {
                eprintln!("error: integrator key {id} was already revoked at {}", instant(at));
                return Ok(Outcome::Failed);
            }
            Revoked::NoSuchKey => {
                eprintln!("error: no integrator key with id {id}; `starmark key list` shows the ids");
                return Ok(Outcome::Failed);
            }
        },
    }
    Ok(Outcome::Done)
}
