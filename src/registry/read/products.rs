//! Products: which certificates cover a GTIN, for marketplaces and the GS1 resolver. A
//! certificate covers a product when a mark batch of its current record is bound to the GTIN;
//! each record comes from the read path, like any other answer.

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
            if let Some(record) = self.current_certificate(&number).await? {
                // The store's current row and the read path agree on the batches; a record read
                // between a change and its announcement is checked once more here.
                if record.mark_batches.iter().any(|b| b.gtin.as_ref() == Some(gtin)) {
                    records.push(record);
                }
            }
        }
        Ok(records)
    }
}
