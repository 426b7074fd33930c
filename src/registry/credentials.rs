//! The shape both kinds of bearer credential share, staff API tokens (`smk_`) and integrator keys
//! (`smi_`): `<prefix><16 hex id>_<43 base64url secret>`, of which only the SHA-256 of the secret
//! is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const ID_LEN: usize = 16;
pub(super) const SECRET_LEN: usize = 43;

/// A new random id (64 bits, hex) and secret (256 bits, base64url).
pub(super) fn fresh() -> (String, String) {
    let mut id_bytes = [0u8; ID_LEN / 2];
    let mut secret_bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    rand::rngs::OsRng.fill_bytes(&mut secret_bytes);
    (hex::encode(id_bytes), URL_SAFE_NO_PAD.encode(secret_bytes))
}

/// What the store keeps of a secret.
pub(super) fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits `text` after `prefix` into id and secret, checking the shape: each id byte must pass
/// `id_byte`, the secret must be base64url; `None` for anything else.
pub(super) fn split<'a>(text: &'a str, prefix: &str, id_byte: fn(u8) -> bool) -> Option<(&'a str, &'a str)> {
    let rest = text.strip_prefix(prefix)?;
    if rest.len() != ID_LEN + 1 + SECRET_LEN || !rest.is_char_boundary(ID_LEN) {
        return None;
    }
    let (id, secret) = rest.split_at(ID_LEN);
    let secret = secret.strip_prefix('_')?;
    let id_ok = id.bytes().all(id_byte);
    let secret_ok = secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}
