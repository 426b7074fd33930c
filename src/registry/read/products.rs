//! Products: which certificates cover a GTIN, for marketplaces and the GS1 resolver. A
//! certificate covers a product when a mark batch of its current record is bound to the GTIN.
//! The store's product index names the candidates (one indexed read, at most
//! [`MAX_PRODUCT_CERTIFICATES`]); each record comes from the read path, confirmed against the
//! log like any other answer, and only a record that binds a batch to the GTIN is served: the
//! index is not signed, so a row an insider adds names no certificate.

use std::sync::Arc;

use super::{Registry, RegistryError};
use crate::domain::{CertificateRecord, Gtin};

/// Most certificates one product lookup answers.
pub const MAX_PRODUCT_CERTIFICATES: u32 = 100;

impl Registry {
    /// The current records of the certificates with a batch bound to `gtin`, in number order.
    pub async fn certificates_of_product(&self, gtin: &Gtin) -> Result<Vec<Arc<CertificateRecord>>, RegistryError> {
        let numbers = self.store.numbers_with_gtin(gtin, MAX_PRODUCT_CERTIFICATES).await?;
        let mut records = Vec::with_capacity(numbers.len());
        for number in numbers {
            match self.current_certificate(&number).await? {
                Some(record) if record.mark_batches.iter().any(|b| b.gtin.as_ref() == Some(gtin)) => {
                    records.push(record);
                }
                // A record read between a change and its announcement may be older than the
                // index; anything else is a row its signed record does not back.
                _ => tracing::warn!(
                    number = number.as_str(),
                    gtin = gtin.as_str(),
                    "the product index names a certificate whose record binds no batch to the product; not served"
                ),
            }
        }
        Ok(records)
    }
}
