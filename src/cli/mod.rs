//! The `starmark` command line: one module per subcommand.

mod audit;
mod demo;
mod import;
mod key;
mod keygen;
mod logging;
mod marks;
mod probe;
mod serve;
mod staff;
mod token;
mod verify;
mod verify_receipt;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Starmark: public registry of commodity after-sales service certificates (GB/T 27922-2011).
#[derive(Parser)]
#[command(name = "starmark", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the public and admin API (configured by the environment: STARMARK_*, DATABASE_URL
    /// for an SQLite file or postgres://..., REDIS_URL).
    Serve,
    /// Serve with a seeded set of demo certificates, a dev key and an admin token.
    Demo,
    /// Create a new Ed25519 signing key pair in the keys directory and make it active.
    Keygen,
    /// Create, list or revoke API tokens for the admin API.
    Token(token::TokenArgs),
    /// Create, list or revoke integrator keys (their own quota on public reads).
    Key(key::KeyArgs),
    /// Add, list or disable the console's members of staff, or reset a password.
    Staff(staff::StaffArgs),
    /// Issue certificates in bulk from a CSV file.
    Import(import::ImportArgs),
    /// Order serialised marks, render them for printing, or list their QR URLs.
    Marks(marks::MarksArgs),
    /// Check a signed record file (e.g. a saved API answer) offline against the keys.
    Verify(verify::VerifyArgs),
    /// Check a verification receipt offline (signature) or online (--server: what changed since).
    VerifyReceipt(verify_receipt::VerifyReceiptArgs),
    /// Re-derive the transparency log from the stored events and report every disagreement.
    Audit(audit::AuditArgs),
    /// Ask a running instance whether it is ready (/readyz by default): exit 0 or 1 with one line.
    Probe(probe::ProbeArgs),
}

/// A command's outcome: success, or a failure already explained to the user.
pub(crate) enum Outcome {
    Done,
    Failed,
    /// A command with documented exit statuses of its own (`verify-receipt`).
    Exit(u8),
}

/// Entry point of the binary: parses arguments, runs the command, maps failures to exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // `verify-receipt` documents 2 as "not genuine", so its usage errors exit 3.
            let receipt = std::env::args().nth(1).as_deref() == Some("verify-receipt");
            return match error.exit_code() {
                0 => ExitCode::SUCCESS,
                _ if receipt => ExitCode::from(verify_receipt::EXIT_ERROR),
                code => ExitCode::from(u8::try_from(code).unwrap_or(2)),
            };
        }
    };
    let exit_on_error = match cli.command {
        Command::VerifyReceipt(_) => ExitCode::from(verify_receipt::EXIT_ERROR),
        _ => ExitCode::FAILURE,
    };
    // Read before the runtime starts so that its log format applies from the first line; an
    // unusable configuration is reported below like any other failure.
    let config = Config::from_env();
    logging::init(config.as_ref().map_or_else(|_| Default::default(), |config| config.log_format));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit_on_error;
        }
    };
    let result = runtime.block_on(async {
        let config = config?;
        match cli.command {
            Command::Serve => serve::run(&config).await,
            Command::Demo => demo::run(&config).await,
            Command::Keygen => keygen::run(&config),
            Command::Token(args) => token::run(&config, args).await,
            Command::Key(args) => key::run(&config, args).await,
            Command::Staff(args) => staff::run(&config, args).await,
            Command::Import(args) => import::run(&config, args).await,
            Command::Verify(args) => verify::run(&config, args),
            Command::VerifyReceipt(args) => verify_receipt::run(&config, args).await,
            Command::Audit(args) => audit::run(&config, args).await,
            Command::Marks(args) => marks::run(&config, args).await,
            Command::Probe(args) => probe::run(&config, args).await,
        }
    });
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::FAILURE,
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            exit_on_error
        }
    }
}
