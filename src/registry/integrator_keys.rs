//! Integrator keys: what a platform built on the registry presents on public reads to be known
//! by its own quota (see `crate::limits::integrators` and `http::rate_limits`).
//!
//! A key reads `smi_<16 hex id>_<43 base64url secret>` (256 random bits). Its prefix differs
//! from the staff tokens' `smk_`, so that neither can be taken for the other and secret
//! scanners can tell a leaked key by its shape. Only the SHA-256 of the secret is stored; the
//! id finds the row and the hashes are compared in constant time.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::credentials::{self, hash};
use super::{clock, Registry, RegistryError};
use crate::domain::clean_text;
use crate::limits::integrators::ValidKey;
use crate::limits::Policy;
use crate::store::StoredIntegratorKey;

/// Every integrator key starts with this.
pub const KEY_PREFIX: &str = "smi_";

/// Why a presented key is not accepted. The messages never echo the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is malformed")]
    Malformed,
    #[error("the key is unknown or revoked")]
    Rejected,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Splits a key into id and secret, checking its shape (a lower-case hex id); `None` for
/// anything else.
pub fn key_shape(key: &str) -> Option<(&str, &str)> {
    credentials::split(key, KEY_PREFIX, |b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What became of a revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    Now,
    /// Revoked before, at this instant.
    Already(DateTime<Utc>),
    NoSuchKey,
}

impl Registry {
    /// Creates a key with its own rate and returns it with the only copy of its full text.
    pub async fn create_integrator_key(
        &self,
        label: &str,
        rate: Policy,
    ) -> Result<(StoredIntegratorKey, String), RegistryError> {
        let label = clean_text("label", label, 100)?;
        let (id, secret) = credentials::fresh();
        let stored = StoredIntegratorKey {
            id: id.clone(),
            label,
            secret_hash: hash(&secret),
            rate,
            created_at: clock::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_integrator_key(&stored).await?;
        Ok((stored, format!("{KEY_PREFIX}{id}_{secret}")))
    }

    pub async fn list_integrator_keys(&self) -> Result<Vec<StoredIntegratorKey>, RegistryError> {
        Ok(self.store.list_integrator_keys().await?)
    }

    /// Revokes a key by id; instances that remember it valid refuse it within
    /// `crate::limits::integrators::REMEMBERED_FOR`.
    pub async fn revoke_integrator_key(&self, id: &str) -> Result<Revoked, RegistryError> {
        if self.store.revoke_integrator_key(id, clock::now()).await? {
            return Ok(Revoked::Now);
        }
        Ok(match self.store.find_integrator_key(id).await? {
            Some(StoredIntegratorKey { revoked_at: Some(at), .. }) => Revoked::Already(at),
            _ => Revoked::NoSuchKey,
        })
    }

    /// Checks a presented key against the store and says whose it is and at what rate.
    pub async fn check_integrator_key(&self, key: &str) -> Result<ValidKey, KeyError> {
        let (id, secret) = key_shape(key).ok_or(KeyError::Malformed)?;
        let stored = self.store.find_integrator_key(id).await.map_err(RegistryError::from)?;
        // Hash even when the id is unknown so that timing does not tell ids apart.
        let presented = hash(secret);
        let Some(stored) = stored else {
            return Err(KeyError::Rejected);
        };
        let same: bool = presented.ct_eq(&stored.secret_hash).into();
        if !same || stored.revoked_at.is_some() {
            return Err(KeyError::Rejected);
        }
        Ok(ValidKey { id: Arc::from(stored.id), policy: stored.rate })
    }

    /// Writes keys' last uses (a few a minute: see `crate::limits::integrators`).
    pub async fn record_integrator_key_uses(&self, uses: &[(Arc<str>, DateTime<Utc>)]) -> Result<(), RegistryError> {
        let uses: Vec<(&str, DateTime<Utc>)> = uses.iter().map(|(id, at)| (&**id, *at)).collect();
        Ok(self.store.record_integrator_key_uses(&uses).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shape_is_checked() {
        let secret = "a".repeat(crate::registry::credentials::SECRET_LEN);
        let good = format!("smi_0123456789abcdef_{secret}");
        assert_eq!(key_shape(&good), Some(("0123456789abcdef", secret.as_str())));
        assert_eq!(key_shape(&good.replace("smi_", "smk_")), None, "a staff token's prefix");
        assert_eq!(key_shape(&good.replace("0123456789abcdef", "0123456789ABCDEF")), None, "ids are lower case");
        assert_eq!(key_shape(&good[..good.len() - 1]), None);
        assert_eq!(key_shape(&format!("{good}a")), None);
        assert_eq!(key_shape(&good.replace("_aaa", "_a/a")), None);
        assert_eq!(key_shape("smi_统统统统统统统统_"), None);
        assert_eq!(key_shape(""), None);
    }
}
