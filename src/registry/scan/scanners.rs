//! Who scanned, as the public scan figure counts it: a 32-bit keyed hash of the client's network
//! (an IPv4 address or an IPv6 /64), its user agent and the day in China. The key is secret to
//! the deployment, so a stored hash cannot be turned back into an address by trying them all;
//! the day is in it, so a client scanning again counts again only on another day.
//!
//! The key is derived from the registry's signing key (a SHA-256 of its Ed25519 signature over
//! a fixed label, which it signs nowhere else), so every instance of a deployment has the same
//! one without configuration. Rotating the signing key changes it: a client that scanned the
//! same serial just before and just after a rotation counts twice, once each side.

use sha2::{Digest, Sha256};

use crate::crypto::Signer;

/// The label whose signature becomes the key; nothing else the registry signs starts with it.
const KEY_LABEL: &[u8] = b"starmark scanner key v1\n";

/// The client a scan comes from, as the scan handler sees it (nothing kept).
#[derive(Clone, Copy, Debug)]
pub struct ScanClient<'a> {
    /// The client's network bits (see `http::client::ClientAddr::network`).
    pub network: u128,
    /// The `User-Agent` header as sent.
    pub user_agent: &'a [u8],
}

/// The deployment's secret for scanner hashes: SHA-256 with the key's one block absorbed, so a
/// scan costs a copy of the state and the hash of its own bytes.
#[derive(Clone)]
pub struct ScannerKey {
    keyed: Sha256,
}

impl ScannerKey {
    /// The key of the deployment whose signing key `signer` holds.
    pub fn derive(signer: &Signer) -> Self {
        let secret = Sha256::digest(signer.sign_raw(KEY_LABEL));
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&secret);
        block[32..].fill(0x5c);
        Self { keyed: Sha256::new_with_prefix(block) }
    }

    /// The scanner `client` is on day `day` (days since the Unix epoch, China time).
    pub fn scanner(&self, client: &ScanClient<'_>, day: i64) -> u32 {
        let mut hash = self.keyed.clone();
        hash.update(day.to_be_bytes());
        hash.update(client.network.to_be_bytes());
        hash.update(client.user_agent);
        let digest = hash.finalize();
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
    }
}

/// Days since the Unix epoch in China (UTC+8) of `at_us`, microseconds since the epoch.
pub fn china_day(at_us: i64) -> i64 {
    (at_us + 8 * 3_600 * 1_000_000).div_euclid(86_400 * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SigningKeyEntry;
    use crate::crypto::KeyId;
    use ed25519_dalek::SigningKey;

    fn signer(seed: u8) -> Signer {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
    }

    #[test]
    fn a_scanner_is_the_same_client_on_the_same_day_only() {
        let key = ScannerKey::derive(&signer(1));
        let phone = ScanClient { network: 1, user_agent: b"Mozilla/5.0 (iPhone)" };
        let day = china_day(1_764_000_000_000_000);
        assert_eq!(key.scanner(&phone, day), key.scanner(&phone, day));
        assert_ne!(key.scanner(&phone, day), key.scanner(&phone, day + 1));
        assert_ne!(key.scanner(&phone, day), key.scanner(&ScanClient { network: 2, ..phone }, day));
        assert_ne!(
            key.scanner(&phone, day),
            key.scanner(&ScanClient { user_agent: b"Mozilla/5.0 (Android)", ..phone }, day)
        );
        let other = ScannerKey::derive(&signer(2));
        assert_ne!(key.scanner(&phone, day), other.scanner(&phone, day), "another deployment, another key");
    }

    #[test]
    fn days_turn_at_midnight_in_china() {
        // 2026-01-01T15:59:59Z is 23:59:59 in China; a second later it is the next day there.
        let before = 1_767_283_199_000_000;
        assert_eq!(china_day(before) + 1, china_day(before + 1_000_000));
    }
}
