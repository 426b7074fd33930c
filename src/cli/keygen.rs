//! `starmark keygen`.

use super::Outcome;
use crate::config::Config;
use crate::crypto::keys;

pub fn run(config: &Config) -> anyhow::Result<Outcome> {
    let key_id = keys::generate(&config.keys_dir)?;
    println!("created key {key_id} in {} (private key mode 0600); it now signs new records", config.keys_dir.display());
    Ok(Outcome::Done)
}
