//! `starmark staff add|list|disable|reset-password`: the console's members from the command
//! line. A password is read from the terminal without echo when there is one, otherwise from
//! `STARMARK_STAFF_PASSWORD` (scripts, CI); it is never an argument, which `ps` would show.

use std::io::IsTerminal;

use clap::{Args, Subcommand};

use super::Outcome;
use crate::config::Config;
use crate::domain::{DisplayName, StaffRole, Username};
use crate::registry::staff::{ConsoleError, Member};
use crate::startup::open_registry;

/// The variable a password is read from when stdin is not a terminal.
pub const PASSWORD_VARIABLE: &str = "STARMARK_STAFF_PASSWORD";

#[derive(Args)]
pub struct StaffArgs {
    #[command(subcommand)]
    command: StaffCommand,
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Add a member of staff (the password is prompted for, or read from STARMARK_STAFF_PASSWORD).
    Add {
        username: String,
        /// evaluator, decider, marks, auditor or admin.
        #[arg(long, value_parser = parse_role)]
        role: StaffRole,
        /// The name colleagues see (defaults to the username).
        #[arg(long)]
        name: Option<String>,
    },
    /// List members (username, role, second factor, state, display name).
    List,
    /// Disable a member and end their sessions.
    Disable { username: String },
    /// Set a new password and end every session of the member.
    ResetPassword { username: String },
}

fn parse_role(text: &str) -> Result<StaffRole, String> {
    StaffRole::parse(text).map_err(|e| format!("'{text}' is not a staff role: {}", e.message))
}

/// The new password: prompted twice on a terminal, else the variable; an error saying how to
/// give one when neither is there.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        return Ok(first);
    }
    match std::env::var(PASSWORD_VARIABLE) {
        Ok(password) if !password.is_empty() => Ok(password),
        _ => anyhow::bail!(
            "no password: run this in a terminal to be asked for one, or set {PASSWORD_VARIABLE} \
             (for scripts; it is read from the environment, never from the command line)"
        ),
    }
}

fn describe(member: &Member) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        member.username,
        member.role,
        if member.totp_enrolled { "totp" } else { "no-totp" },
        if member.disabled { "disabled" } else { "active" },
        member.display_name
    )
}

/// A console refusal as the command line says it: the user's mistake, exit 1, no backtrace.
fn refused(error: ConsoleError) -> anyhow::Result<Outcome> {
    match error {
        ConsoleError::Registry(e) => Err(e.into()),
        other => {
            eprintln!("error: {other}");
            Ok(Outcome::Failed)
        }
    }
}

pub async fn run(config: &Config, args: StaffArgs) -> anyhow::Result<Outcome> {
    let username_of = |text: &str| Username::parse(text);
    match args.command {
        StaffCommand::Add { username, role, name } => {
            let username = match username_of(&username) {
                Ok(username) => username,
                Err(e) => return refused(e.into()),
            };
            let name = match name.as_deref().map(DisplayName::parse).transpose() {
                Ok(name) => name,
                Err(e) => return refused(e.into()),
            };
            let password = read_password()?;
            let registry = open_registry(config).await?;
            match registry.console().add_member(username, name, role, password).await {
                Ok(member) => {
                    println!("added {}", describe(&member));
                    if role.needs_totp() {
                        eprintln!(
                            "{} enrols an authenticator app at the first sign-in to /admin/login",
                            member.username
                        );
                    }
                    Ok(Outcome::Done)
                }
                Err(e) => refused(e),
            }
        }
        StaffCommand::List => {
            let registry = open_registry(config).await?;
            match registry.console().members().await {
                Ok(members) => {
                    for member in members {
                        println!("{}", describe(&member));
                    }
                    Ok(Outcome::Done)
                }
                Err(e) => refused(e),
            }
        }
        StaffCommand::Disable { username } => {
            let username = match username_of(&username) {
                Ok(username) => username,
                Err(e) => return refused(e.into()),
            };
            let registry = open_registry(config).await?;
            match registry.console().disable(&username).await {
                Ok(member) => {
                    println!("disabled {}; their sessions are ended", member.username);
                    Ok(Outcome::Done)
                }
                Err(e) => refused(e),
            }
        }
        StaffCommand::ResetPassword { username } => {
            let username = match username_of(&username) {
                Ok(username) => username,
                Err(e) => return refused(e.into()),
            };
            let password = read_password()?;
            let registry = open_registry(config).await?;
            match registry.console().reset_password(&username, password).await {
                Ok(()) => {
                    println!("password of {username} reset; their sessions are ended");
                    Ok(Outcome::Done)
                }
                Err(e) => refused(e),
            }
        }
    }
}
