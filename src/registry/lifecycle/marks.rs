//! Mark tokens for the serials of a batch, made with the registry's signing key.

use super::{Registry, RegistryError};
use crate::crypto::token::{self, MarkClaims};
use crate::domain::{CertificateRecord, MarkError};

/// What the mark of `serial` of `batch` says, from the record as it stands: a GS1 Digital Link
/// mark when the batch is bound to a product.
pub(in crate::registry) fn claims_of(record: &CertificateRecord, batch: u32, serial: u32) -> MarkClaims {
    let gtin = record.mark_batch(batch).and_then(|b| b.gtin);
    MarkClaims {
        number: record.number.clone(),
        uscc: record.holder.uscc.clone(),
        level: record.level,
        valid_until: record.valid_until,
        batch,
        serial,
        gtin,
    }
}

impl Registry {
    /// The token of serial `serial` of batch `batch` (0/0: the certificate-level mark).
    pub fn mark_token(&self, record: &CertificateRecord, batch: u32, serial: u32) -> Result<String, RegistryError> {
        if batch != 0 || serial != 0 {
            let entry = record.mark_batch(batch).ok_or(MarkError::NoSuchBatch(batch))?;
            if serial == 0 || serial > entry.count {
                return Err(MarkError::Range { batch, first: serial, last: serial, count: entry.count }.into());
            }
        }
        Ok(token::issue(&self.signer, &claims_of(record, batch, serial)))
    }

    /// The URL a mark's QR code carries.
    pub fn mark_url(&self, token: &str) -> String {
        token::mark_url(&self.public_url, token)
    }
}
