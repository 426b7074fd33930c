//! The `log` object of a certificate answer: where the record version sits in the log and the
//! proof that the signed checkpoint includes it, so an answer saved today stays checkable.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Serialize;

use super::base64_hashes;
use crate::registry::LogProof;
use crate::tlog::leaf_hash;

#[derive(Serialize)]
pub struct LogView {
    /// Leaf index of the certificate's latest event.
    pub index: u64,
    /// The leaf data, exactly (its leaf hash is SHA-256(0x00 || these UTF-8 bytes)).
    pub leaf: String,
    pub leaf_hash: String,
    pub tree_size: u64,
    /// The signed checkpoint (C2SP signed note) the proof leads to.
    pub checkpoint: String,
    /// RFC 9162 inclusion proof, leaf first, standard base64.
    pub inclusion: Vec<String>,
}

impl LogView {
    pub fn of(proof: &LogProof) -> Self {
        Self {
            index: proof.index,
            leaf: String::from_utf8_lossy(&proof.leaf).into_owned(),
            leaf_hash: BASE64.encode(leaf_hash(&proof.leaf)),
            tree_size: proof.checkpoint.checkpoint.size,
            checkpoint: proof.checkpoint.note.clone(),
            inclusion: base64_hashes(&proof.inclusion),
        }
    }
}

/// The `log` object for the version a certificate answer shows, when that version is logged.
pub async fn log_view(
    registry: &crate::registry::Registry,
    certificate: &crate::crypto::SignedCertificate,
) -> Result<Option<LogView>, crate::http::error::ApiError> {
    let record = &certificate.record;
    let proof = registry.log_proof(&record.number, record.version).await?;
    Ok(proof.as_ref().map(LogView::of))
}
