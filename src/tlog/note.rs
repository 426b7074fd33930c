//! Checkpoints (C2SP tlog-checkpoint) inside signed notes (C2SP signed-note), and the verifier
//! key that checks them.
//!
//! ```text
//! example.com/starmark-log          <- origin
//! 1234                              <- tree size
//! base64(root hash)
//!                                   <- blank line ends the text
//! — example.com/starmark-log base64(4-byte key id || 64-byte Ed25519 signature)
//! ```
//! The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key); the verifier
//! key is published as `<name>+<key id hex>+<base64(0x01 || public key)>`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::hash::Hash;
use crate::crypto::Signer;

/// Signature type byte of Ed25519 in signed notes.
const ED25519_TYPE: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint or note is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("'{0}' is not a usable log or key name (non-empty, no spaces, no '+')")]
    BadName(String),
    #[error("the checkpoint text is malformed: {0}")]
    Malformed(&'static str),
    #[error("the verifier key is malformed")]
    BadVerifierKey,
    #[error("no valid signature by {0} on the note")]
    NoValidSignature(String),
}

/// The signed statement: this log, at this size, has this root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, each on its own line.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root))
    }

    /// Parses a checkpoint text (extension lines after the root are allowed and ignored).
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let body = text.strip_suffix('\n').ok_or(NoteError::Malformed("text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(NoteError::Malformed("no origin line"))?;
        let size = lines.next().ok_or(NoteError::Malformed("no size line"))?;
        let canonical_number = size == "0" || (!size.starts_with('0') && size.bytes().all(|b| b.is_ascii_digit()));
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| canonical_number)
            .ok_or(NoteError::Malformed("size is not a decimal number"))?;
        let root = lines.next().ok_or(NoteError::Malformed("no root hash line"))?;
        let root: Hash = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(NoteError::Malformed("root hash is not 32 bytes of base64"))?;
        if lines.any(str::is_empty) {
            return Err(NoteError::Malformed("blank extension line"));
        }
        Ok(Self { origin: origin.to_string(), size, root })
    }
}

/// A checkpoint with its signed note, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// A log's public key under its signed-note name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    name: String,
    key: VerifyingKey,
    id: [u8; 4],
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

impl LogKey {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName(name.to_string()));
        }
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([b'\n', ED25519_TYPE]);
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        let id = [digest[0], digest[1], digest[2], digest[3]];
        Ok(Self { name: name.to_string(), key, id })
    }

    /// Parses a verifier key `<name>+<key id hex>+<base64(0x01 || key)>`, checking the id.
    pub fn parse_vkey(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey);
        };
        let data = BASE64.decode(data).map_err(|_| NoteError::BadVerifierKey)?;
        let Some((&ED25519_TYPE, raw)) = data.split_first() else { return Err(NoteError::BadVerifierKey) };
        let raw: [u8; 32] = raw.try_into().map_err(|_| NoteError::BadVerifierKey)?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| NoteError::BadVerifierKey)?;
        let parsed = Self::new(name, key)?;
        if id.len() != 8 || hex::encode(parsed.id) != id {
            return Err(NoteError::BadVerifierKey);
        }
        Ok(parsed)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// The verifier key in signed-note form.
    pub fn vkey(&self) -> String {
        let mut data = vec![ED25519_TYPE];
        data.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), BASE64.encode(data))
    }

    /// Signs `checkpoint` with `signer`, whose key must be this one.
    pub fn sign(&self, checkpoint: Checkpoint, signer: &Signer) -> SignedCheckpoint {
        let body = checkpoint.body();
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&signer.sign_raw(body.as_bytes()));
        let note = format!("{body}\n{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(blob));
        SignedCheckpoint { checkpoint, note }
    }

    /// Checks that `note` carries a valid signature by this key and returns its checkpoint.
    /// Signatures by other keys are ignored, as the signed-note spec asks.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let split = note.find("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let signatures =
            signatures.strip_suffix('\n').ok_or(NoteError::Malformed("signature block does not end with a newline"))?;
        let mut verified = false;
        for line in signatures.split('\n') {
            let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(NoteError::Malformed("bad signature line"))?;
            let (name, blob) = rest.split_once(' ').ok_or(NoteError::Malformed("bad signature line"))?;
            let blob = BASE64.decode(blob).map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if name != self.name || blob.len() != 68 || blob[..4] != self.id {
                continue;
            }
            let Ok(signature) = <[u8; 64]>::try_from(&blob[4..]) else { continue };
            let signature = ed25519_dalek::Signature::from_bytes(&signature);
            if self.key.verify_strict(text.as_bytes(), &signature).is_ok() {
                verified = true;
            }
        }
        if !verified {
            return Err(NoteError::NoValidSignature(self.name.clone()));
        }
        Checkpoint::parse_body(text)
    }
}

/// The default log origin for a public URL: its host (and port), then `/starmark-log`.
pub fn default_origin(public_url: &str) -> String {
    let rest = public_url.split_once("://").map_or(public_url, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{host}/starmark-log")
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

    fn checkpoint() -> Checkpoint {
        Checkpoint { origin: "example.com/starmark-log".into(), size: 42, root: [7; 32] }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let signer = signer(1);
        let key = LogKey::new("example.com/starmark-log", signer.verifying_key()).unwrap();
        let signed = key.sign(checkpoint(), &signer);
        assert!(signed.note.starts_with("example.com/starmark-log\n42\nBwcH"));
        assert!(signed.note.contains("\n\n\u{2014} example.com/starmark-log "));
        assert_eq!(key.open(&signed.note).unwrap(), checkpoint());

        let other = LogKey::new("example.com/starmark-log", signer_key(2)).unwrap();
        assert!(matches!(other.open(&signed.note), Err(NoteError::NoValidSignature(_))));
        let forged = signed.note.replace("\n42\n", "\n43\n");
        assert!(matches!(key.open(&forged), Err(NoteError::NoValidSignature(_))));
    }

    fn signer_key(seed: u8) -> VerifyingKey {
        signer(seed).verifying_key()
    }

    #[test]
    fn vkeys_round_trip_and_reject_a_wrong_id() {
        let key = LogKey::new("example.com/log", signer_key(3)).unwrap();
        let vkey = key.vkey();
        assert_eq!(LogKey::parse_vkey(&vkey).unwrap(), key);
        let wrong = format!("example.com/other+{}", vkey.split_once('+').unwrap().1);
        assert_eq!(LogKey::parse_vkey(&wrong), Err(NoteError::BadVerifierKey));
        assert!(LogKey::new("has space", signer_key(3)).is_err());
        assert!(LogKey::new("a+b", signer_key(3)).is_err());
    }

    #[test]
    fn checkpoint_bodies_parse_strictly() {
        assert_eq!(Checkpoint::parse_body(&checkpoint().body()).unwrap(), checkpoint());
        assert!(Checkpoint::parse_body("o\n042\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").is_err());
        assert!(Checkpoint::parse_body("o\n1\nAAAA\n").is_err());
        assert!(Checkpoint::parse_body("o\n1\n").is_err());
        assert!(Checkpoint::parse_body("o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=").is_err());
    }

    #[test]
    fn the_default_origin_is_the_public_host() {
        assert_eq!(default_origin("https://registry.example.cn"), "registry.example.cn/starmark-log");
        assert_eq!(default_origin("http://127.0.0.1:8080"), "127.0.0.1:8080/starmark-log");
    }
}
