//! Keys, canonical bytes and signatures. Knows nothing of HTTP or storage.

#[cfg(test)]
mod assertion_vectors;
pub mod canonical;
pub mod keys;
pub mod password;
#[cfg(test)]
mod receipt_vectors;
pub mod signed;
pub mod signing;
pub mod token;
pub mod totp;
pub mod trust_list;
#[cfg(test)]
mod vectors;

pub use canonical::{canonical_bytes, canonical_value_bytes};
pub use keys::{KeyError, KeyId};
pub use signed::SignedCertificate;
pub use signing::{Signature, Signer, Verifier, VerifyError};
pub use trust_list::TrustList;
