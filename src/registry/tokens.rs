//! API tokens for the certification body's staff.
//!
//! A token reads `smk_<16 hex id>_<43 base64url secret>`. Only the SHA-256 of the secret is
//! stored; the id finds the row and the hashes are compared in constant time.

use subtle::ConstantTimeEq;

use super::credentials::{self, hash};
use super::{clock, Registry, RegistryError};
use crate::domain::clean_text;
use crate::domain::Role;
use crate::store::StoredToken;

/// Every token starts with this, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "smk_";

/// Who is calling, once their token checked out.
#[derive(Clone, Debug)]
pub struct Principal {
    pub token_id: String,
    pub role: Role,
}

impl Principal {
    /// The actor name written into events.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }
}

/// Why a presented token is not accepted. The messages never echo the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is unknown or revoked")]
    Rejected,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Splits a token into id and secret, checking its shape.
fn split(token: &str) -> Option<(&str, &str)> {
    credentials::split(token, TOKEN_PREFIX, |b| b.is_ascii_hexdigit())
}

impl Registry {
    /// Creates a token and returns it with the only copy of its full text.
    pub async fn create_token(&self, role: Role, label: &str) -> Result<(StoredToken, String), RegistryError> {
        let label = clean_text("label", label, 100)?;
        let (id, secret) = credentials::fresh();
        let stored = StoredToken {
            id: id.clone(),
            role,
            secret_hash: hash(&secret),
            label,
            created_at: clock::now(),
            revoked_at: None,
        };
        self.store.insert_token(&stored).await?;
        Ok((stored, format!("{TOKEN_PREFIX}{id}_{secret}")))
    }

    pub async fn list_tokens(&self) -> Result<Vec<StoredToken>, RegistryError> {
        Ok(self.store.list_tokens().await?)
    }

    pub async fn revoke_token(&self, id: &str) -> Result<bool, RegistryError> {
        Ok(self.store.revoke_token(id, clock::now()).await?)
    }

    /// Checks a presented token and says who it belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let (id, secret) = split(token.trim()).ok_or(AuthError::Malformed)?;
        let stored = self.store.find_token(id).await.map_err(RegistryError::from)?;
        // Hash even when the id is unknown so that timing does not tell ids apart.
        let presented = hash(secret);
        let Some(stored) = stored else {
            return Err(AuthError::Rejected);
        };
        let same: bool = presented.ct_eq(&stored.secret_hash).into();
        if !same || stored.revoked_at.is_some() {
            return Err(AuthError::Rejected);
        }
        Ok(Principal { token_id: stored.id, role: stored.role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_is_checked() {
        let secret = "a".repeat(crate::registry::credentials::SECRET_LEN);
        let good = format!("smk_0123456789abcdef_{secret}");
        assert_eq!(split(&good), Some(("0123456789abcdef", secret.as_str())));
        assert_eq!(split(&good.replace("smk_", "xyz_")), None);
        assert_eq!(split(&good[..good.len() - 1]), None);
        assert_eq!(split("smk_统统统统统统统统_"), None);
        assert_eq!(split(""), None);
    }
}
