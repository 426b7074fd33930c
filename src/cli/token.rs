//! `starmark token create|list|revoke`.

use clap::{Args, Subcommand};

use super::Outcome;
use crate::config::Config;
use crate::domain::Role;
use crate::startup::open_registry;

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and only its hash is kept.
    Create {
        /// reader, issuer or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Who or what the token is for.
        #[arg(long, default_value = "created from the command line")]
        label: String,
    },
    /// List tokens (ids, roles, labels; never secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("'{text}' is not a role; use reader, issuer or admin"))
}

pub async fn run(config: &Config, args: TokenArgs) -> anyhow::Result<Outcome> {
    let registry = open_registry(config).await?;
    match args.command {
        TokenCommand::Create { role, label } => {
            let (stored, token) = registry.create_token(role, &label).await?;
            eprintln!(
                "created {} token {} ({}); keep it secret, it is not shown again:",
                role.as_str(),
                stored.id,
                stored.label
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for token in registry.list_tokens().await? {
                let state = token.revoked_at.map_or_else(|| "live".to_string(), |at| format!("revoked {at}"));
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    token.id,
                    token.role.as_str(),
                    token.created_at.format("%Y-%m-%d"),
                    state,
                    token.label
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if registry.revoke_token(&id).await? {
                println!("revoked token {id}");
            } else {
                eprintln!("error: no live token with id {id}");
                return Ok(Outcome::Failed);
            }
        }
    }
    Ok(Outcome::Done)
}
