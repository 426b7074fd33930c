//! A certificate version as every layer above the store handles it: the record, the exact
//! canonical text that was signed, the signature over it, and when the version was written.
//!
//! It is made of domain and crypto values only, so it lives here beside [`Signature`]: the store
//! builds it from a row (keeping the row's search columns beside it, for the registry alone),
//! the registry hands it upward once the row is tied to the transparency log, and HTTP renders
//! it without ever seeing a store type.

use chrono::{DateTime, Utc};

use super::Signature;
use crate::domain::CertificateRecord;

/// A signed certificate version, confirmed or read back from a prepared answer: nothing above
/// the registry needs to know which, since only confirmed versions are ever prepared.
#[derive(Clone, Debug)]
pub struct SignedCertificate {
    pub record: CertificateRecord,
    /// Canonical JSON text of `record`, as signed.
    pub canonical: String,
    pub signature: Signature,
    pub updated_at: DateTime<Utc>,
}
