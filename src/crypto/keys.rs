//! The key directory: Ed25519 key pairs as PKCS#8 / SPKI PEM files named by key id.
//!
//! `keys/<key_id>.key.pem` holds a private key and must be readable by its owner only;
//! `keys/<key_id>.pub.pem` holds the public key that goes into the trust list; `keys/active`
//! names the key that signs. A key id is the first 8 bytes of SHA-256 over the raw public key,
//! in hex, so anyone can recompute it from the trust list.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Suffix of private key files.
pub const PRIVATE_SUFFIX: &str = ".key.pem";
/// Suffix of public key files.
pub const PUBLIC_SUFFIX: &str = ".pub.pem";
/// File naming the signing key.
pub const ACTIVE_FILE: &str = "active";

/// Identifies a public key: hex of the first 8 bytes of SHA-256 over its 32 raw bytes.
///
/// Held as its 16 hex digits inline (always ASCII): every scan reads one out of its token, and
/// an id that needs no allocation of its own costs nothing to make or copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KEY_ID_LEN]);

/// Hex digits of a key id.
const KEY_ID_LEN: usize = 16;

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        KeyId::parse(&raw).ok_or_else(|| serde::de::Error::custom("a key id is 16 lower-case hex digits"))
    }
}

impl KeyId {
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self::from_bytes(&first)
    }

    /// The id whose 8 bytes are `bytes` (as a mark token carries it).
    pub fn from_bytes(bytes: &[u8; 8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; KEY_ID_LEN];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        // Only ever made of hex digits (`from_bytes`, `parse`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Accepts exactly 16 lower-case hex digits.
    pub fn parse(input: &str) -> Option<Self> {
        let hex: [u8; KEY_ID_LEN] = input.as_bytes().try_into().ok()?;
        hex.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)).then_some(Self(hex))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.as_str())
    }
}

/// Everything that can go wrong with the key directory, each naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid {what} PEM file: {message}")]
    BadPem { path: PathBuf, what: &'static str, message: String },
    #[error("private key {path} is readable by others (mode {mode:o}); run `chmod 600 {path}` before starting")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("key directory {path} is writable by group or others (mode {mode:o}): anyone who can write there can plant a key; run `chmod go-w {path}` before starting")]
    DirectoryWritable { path: PathBuf, mode: u32 },
    #[error("{path}: file name says key id {named} but the key's id is {actual}")]
    WrongName { path: PathBuf, named: String, actual: KeyId },
    #[error("no private key in {0}; create one with `starmark keygen`")]
    NoPrivateKey(PathBuf),
    #[error("several private keys in {0} and no `active` file naming the one that signs")]
    NoActiveKey(PathBuf),
    #[error("keys/active names {0}, but there is no private key with that id")]
    UnknownActiveKey(String),
}

/// A key pair that signs, with its id.
pub struct SigningKeyEntry {
    pub key_id: KeyId,
    pub key: SigningKey,
}

/// A public key from the directory.
#[derive(Clone, Debug)]
pub struct PublicKeyEntry {
    pub key_id: KeyId,
    pub key: VerifyingKey,
    pub pem: String,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_path_buf(), source }
}

/// Creates a new key pair in `dir` (created if missing), makes it the active key, and returns
/// its id. The private key file is created with mode 0600 before any byte is written to it.
pub fn generate(dir: &Path) -> Result<KeyId, KeyError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))?;
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let key_id = KeyId::of(&signing.verifying_key());
    // PKCS#8 v1 (RFC 8410 without the optional public key): the form every tool reads,
    // including OpenSSL before 3.5, which refuses the v2 form ed25519-dalek writes by default.
    let keypair = ed25519_dalek::pkcs8::KeypairBytes { secret_key: signing.to_bytes(), public_key: None };
    let private_pem = keypair.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::BadPem {
        path: dir.to_path_buf(),
        what: "private",
        message: e.to_string(),
    })?;
    let public_pem = signing.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| KeyError::BadPem {
        path: dir.to_path_buf(),
        what: "public",
        message: e.to_string(),
    })?;
    let private_path = dir.join(format!("{key_id}{PRIVATE_SUFFIX}"));
    write_private(&private_path, private_pem.as_bytes())?;
    let public_path = dir.join(format!("{key_id}{PUBLIC_SUFFIX}"));
    fs::write(&public_path, public_pem.as_bytes()).map_err(io_error(&public_path))?;
    let active = dir.join(ACTIVE_FILE);
    fs::write(&active, format!("{key_id}\n")).map_err(io_error(&active))?;
    Ok(key_id)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(io_error(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
        }
    }
    Ok(())
}

/// Refuses a key directory others may write to: they could replace the public keys, the
/// `active` file or the signing key itself.
fn check_directory_mode(dir: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match fs::metadata(dir) {
            Ok(meta) => meta.permissions().mode() & 0o7777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(KeyError::Io { path: dir.to_path_buf(), source: e }),
        };
        if mode & 0o022 != 0 {
            return Err(KeyError::DirectoryWritable { path: dir.to_path_buf(), mode: mode & 0o777 });
        }
    }
    Ok(())
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<(String, PathBuf)>, KeyError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(KeyError::Io { path: dir.to_path_buf(), source: e }),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(suffix) {
            found.push((stem.to_string(), entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Loads every public key in `dir`, checking that each file is named by its key id.
pub fn load_public_keys(dir: &Path) -> Result<Vec<PublicKeyEntry>, KeyError> {
    let mut keys = Vec::new();
    for (stem, path) in files_with_suffix(dir, PUBLIC_SUFFIX)? {
        let pem = fs::read_to_string(&path).map_err(io_error(&path))?;
        let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| KeyError::BadPem {
            path: path.clone(),
            what: "public",
            message: e.to_string(),
        })?;
        let key_id = KeyId::of(&key);
        if key_id.as_str() != stem {
            return Err(KeyError::WrongName { path, named: stem, actual: key_id });
        }
        keys.push(PublicKeyEntry { key_id, key, pem });
    }
    Ok(keys)
}

/// Loads the active signing key, refusing a private key file that others can read and a key
/// directory that others can write.
pub fn load_signing_key(dir: &Path) -> Result<SigningKeyEntry, KeyError> {
    check_directory_mode(dir)?;
    let private = files_with_suffix(dir, PRIVATE_SUFFIX)?;
    let active_path = dir.join(ACTIVE_FILE);
    let chosen = match fs::read_to_string(&active_path) {
        Ok(text) => {
            let wanted = text.trim().to_string();
            private.into_iter().find(|(stem, _)| *stem == wanted).ok_or(KeyError::UnknownActiveKey(wanted))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match private.len() {
            0 => return Err(KeyError::NoPrivateKey(dir.to_path_buf())),
            1 => private.into_iter().next().ok_or_else(|| KeyError::NoPrivateKey(dir.to_path_buf()))?,
            _ => return Err(KeyError::NoActiveKey(dir.to_path_buf())),
        },
        Err(e) => return Err(KeyError::Io { path: active_path, source: e }),
    };
    let (stem, path) = chosen;
    check_private_mode(&path)?;
    let pem = fs::read_to_string(&path).map_err(io_error(&path))?;
    let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::BadPem {
        path: path.clone(),
        what: "private",
        message: e.to_string(),
    })?;
    let key_id = KeyId::of(&key.verifying_key());
    if key_id.as_str() != stem {
        return Err(KeyError::WrongName { path, named: stem, actual: key_id });
    }
    Ok(SigningKeyEntry { key_id, key })
}

/// Whether `dir` holds any private key at all (used by `demo` to create one when missing).
pub fn has_private_key(dir: &Path) -> Result<bool, KeyError> {
    Ok(!files_with_suffix(dir, PRIVATE_SUFFIX)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_their_hex_whichever_way_they_are_made() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let id = KeyId::of(&key);
        assert_eq!(id.as_str(), hex::encode(&Sha256::digest(key.as_bytes())[..8]));
        assert_eq!(KeyId::from_bytes(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]).as_str(), "0123456789abcdef");
        assert_eq!(KeyId::parse(id.as_str()), Some(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        for bad in ["0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg", "é123456789abcde"]
        {
            assert_eq!(KeyId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn generated_keys_load_back_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let id = generate(dir.path()).unwrap();
        let signing = load_signing_key(dir.path()).unwrap();
        assert_eq!(signing.key_id, id);
        let public = load_public_keys(dir.path()).unwrap();
        assert_eq!(public.len(), 1);
        assert_eq!(public[0].key_id, id);
        assert_eq!(public[0].key, signing.key.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(format!("{id}{PRIVATE_SUFFIX}"));
            assert_eq!(fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        generate(&keys).unwrap();
        assert_eq!(fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o700);
        for mode in [0o777, 0o775, 0o757] {
            fs::set_permissions(&keys, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_signing_key(&keys).err().expect("refused");
            assert!(matches!(err, KeyError::DirectoryWritable { mode: m, .. } if m == mode), "{err}");
        }
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(load_signing_key(&keys).is_ok());
    }

    #[test]
    fn a_private_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let id = generate(dir.path()).unwrap();
        let path = dir.path().join(format!("{id}{PRIVATE_SUFFIX}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_signing_key(dir.path()).err().expect("must refuse");
        assert!(matches!(err, KeyError::TooOpen { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn an_empty_directory_says_how_to_make_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_signing_key(dir.path()).err().expect("must refuse");
        assert!(err.to_string().contains("starmark keygen"));
    }
}
