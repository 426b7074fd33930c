//! `starmark verify FILE`: offline check of a signed record against the keys directory or a
//! saved trust list. The file is any JSON object with `record` and `signature`, such as the
//! answer of `GET /api/v1/certificates/{number}`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::Args;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::Outcome;
use crate::config::Config;
use crate::crypto::{canonical_value_bytes, keys, KeyId, Signature, TrustList, Verifier};
use crate::domain::CertificateRecord;
use crate::registry::clock;

#[derive(Args)]
pub struct VerifyArgs {
    /// JSON file holding `record` and `signature`.
    file: PathBuf,
    /// Trust list (keys.json) to use instead of the public keys in the keys directory.
    #[arg(long)]
    trust_list: Option<PathBuf>,
}

fn verifier_from_trust_list(path: &Path) -> anyhow::Result<Verifier> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let list: TrustList =
        serde_json::from_str(&text).with_context(|| format!("{} is not a trust list", path.display()))?;
    let mut verifier = Verifier::default();
    for entry in list.keys {
        let raw = BASE64.decode(entry.public_key.as_bytes()).context("trust list key is not base64")?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| anyhow::anyhow!("trust list key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw).context("trust list key is not an Ed25519 key")?;
        if KeyId::of(&key) != entry.key_id {
            anyhow::bail!("trust list entry {} does not match its key", entry.key_id);
        }
        verifier = verifier.with_key(key);
    }
    Ok(verifier)
}

pub fn run(config: &Config, args: VerifyArgs) -> anyhow::Result<Outcome> {
    let verifier = match &args.trust_list {
        Some(path) => verifier_from_trust_list(path)?,
        None => Verifier::new(&keys::load_public_keys(&config.keys_dir)?),
    };
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    let (Some(record), Some(signature)) = (document.get("record"), document.get("signature")) else {
        eprintln!("NOT VERIFIABLE: {} has no `record` and `signature` fields", args.file.display());
        return Ok(Outcome::Failed);
    };
    let signature: Signature = match serde_json::from_value(signature.clone()) {
        Ok(signature) => signature,
        Err(e) => {
            eprintln!("NOT GENUINE: the signature field is malformed: {e}");
            return Ok(Outcome::Failed);
        }
    };
    let canonical = canonical_value_bytes(record)?;
    if let Err(e) = verifier.verify(&canonical, &signature) {
        println!("NOT GENUINE: {e}");
        return Ok(Outcome::Failed);
    }
    match serde_json::from_value::<CertificateRecord>(record.clone()) {
        Ok(record) => {
            println!(
                "GENUINE: certificate {} version {} signed by key {}",
                record.number, record.version, signature.key_id
            );
            println!("  holder:      {} ({})", record.holder.name, record.holder.uscc);
            println!("  level:       {} {}", record.level, record.level.name_zh());
            println!("  valid until: {}", record.valid_until);
            println!(
                "  state:       {} as signed; {} by today's date (ask the registry for changes since)",
                record.status.state,
                record.state_on(clock::today())
            );
        }
        Err(e) => println!(
            "GENUINE signature by key {}, but the record is not one this version understands: {e}",
            signature.key_id
        ),
    }
    Ok(Outcome::Done)
}
