//! The trust list served at `/.well-known/starmark/keys.json`: every public key a verifier may
//! meet, by key id, with the one that signs today marked active.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::keys::{KeyId, PublicKeyEntry};

/// The published document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustList {
    pub issuer: String,
    pub keys: Vec<TrustedKey>,
}

/// One key of the trust list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustedKey {
    pub key_id: KeyId,
    pub alg: String,
    /// Base64 of the 32 raw public key bytes.
    pub public_key: String,
    /// SubjectPublicKeyInfo PEM, for tools such as openssl.
    pub pem: String,
    /// `active` signs new records; `retired` still verifies old ones.
    pub status: String,
}

impl TrustList {
    pub fn build(issuer: &str, keys: &[PublicKeyEntry], active: &KeyId) -> Self {
        let keys = keys
            .iter()
            .map(|entry| TrustedKey {
                key_id: entry.key_id,
                alg: super::signing::ALGORITHM.to_string(),
                public_key: BASE64.encode(entry.key.as_bytes()),
                pem: entry.pem.clone(),
                status: if &entry.key_id == active { "active" } else { "retired" }.to_string(),
            })
            .collect();
        Self { issuer: issuer.to_string(), keys }
    }
}
