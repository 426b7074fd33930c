//! Signing record versions and checking signatures strictly.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::keys::{KeyId, PublicKeyEntry, SigningKeyEntry};

/// The only algorithm this registry signs with.
pub const ALGORITHM: &str = "Ed25519";

/// A detached signature as it appears next to a record: algorithm, key id, base64 value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub alg: String,
    pub key_id: KeyId,
    /// Standard base64 (with padding) of the 64 signature bytes.
    pub value: String,
}

/// The active signing key.
pub struct Signer {
    key_id: KeyId,
    key: SigningKey,
}

impl Signer {
    pub fn new(entry: SigningKeyEntry) -> Self {
        Self { key_id: entry.key_id, key: entry.key }
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The 64 signature bytes, for formats that carry them raw (mark tokens, signed notes).
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        let signature = self.key.sign(message);
        Signature { alg: ALGORITHM.to_string(), key_id: self.key_id, value: BASE64.encode(signature.to_bytes()) }
    }
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unsupported signature algorithm '{0}' (only Ed25519)")]
    Algorithm(String),
    #[error("key id {0} is not in the trust list")]
    UnknownKey(KeyId),
    #[error("signature value is not 64 bytes of base64")]
    Malformed,
    #[error("signature does not match the record: it was altered or signed by another key")]
    Mismatch,
}

/// Public keys by id: what a verifier trusts.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    keys: HashMap<KeyId, VerifyingKey>,
}

impl Verifier {
    pub fn new(keys: &[PublicKeyEntry]) -> Self {
        Self { keys: keys.iter().map(|entry| (entry.key_id, entry.key)).collect() }
    }

    pub fn with_key(mut self, key: VerifyingKey) -> Self {
        self.keys.insert(KeyId::of(&key), key);
        self
    }

    /// Whether `key_id` names a key this verifier holds.
    pub fn trusts(&self, key_id: &KeyId) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Checks raw signature bytes by key id with `verify_strict`.
    pub fn verify_raw(&self, key_id: &KeyId, message: &[u8], signature: &[u8; 64]) -> Result<(), VerifyError> {
        let key = self.keys.get(key_id).ok_or(VerifyError::UnknownKey(*key_id))?;
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &signature).map_err(|_| VerifyError::Mismatch)
    }

    /// Checks `signature` over `message` with `verify_strict` (no malleable or small-order keys).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), VerifyError> {
        if signature.alg != ALGORITHM {
            return Err(VerifyError::Algorithm(signature.alg.clone()));
        }
        if !self.keys.contains_key(&signature.key_id) {
            return Err(VerifyError::UnknownKey(signature.key_id));
        }
        let bytes = BASE64.decode(signature.value.as_bytes()).map_err(|_| VerifyError::Malformed)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| VerifyError::Malformed)?;
        self.verify_raw(&signature.key_id, message, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
    }

    #[test]
    fn sign_then_verify_and_detect_changes() {
        let signer = signer();
        let verifier = Verifier::default().with_key(signer.verifying_key());
        let signature = signer.sign(b"record");
        assert_eq!(verifier.verify(b"record", &signature), Ok(()));
        assert_eq!(verifier.verify(b"recorD", &signature), Err(VerifyError::Mismatch));
        let mut wrong_key = signature.clone();
        wrong_key.key_id = KeyId::parse("0000000000000000").unwrap();
        assert!(matches!(verifier.verify(b"record", &wrong_key), Err(VerifyError::UnknownKey(_))));
        let mut short = signature;
        short.value = "AAAA".into();
        assert_eq!(verifier.verify(b"record", &short), Err(VerifyError::Malformed));
    }
}
