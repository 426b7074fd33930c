//! Issuing a single certificate.

use std::collections::HashSet;

use chrono::Datelike;
use serde_json::json;

use super::{clock, Registry, RegistryError};
use crate::crypto::SignedCertificate;
use crate::domain::EventKind;
use crate::domain::{CertificateDraft, CertificateNumber, CertificateRecord};
use crate::store::{NewEvent, StoreError};

/// Tries of an assigned number that another writer took between allocation and storing.
const ASSIGN_ATTEMPTS: usize = 3;

impl Registry {
    /// Issues a certificate after an audit: checks the draft, assigns a number when none is
    /// given, signs version 1 and stores it with its `issued` event. A draft that is refused
    /// consumes no number.
    pub async fn issue(&self, actor: &str, draft: CertificateDraft) -> Result<SignedCertificate, RegistryError> {
        let today = clock::today();
        let given = draft.number.clone();
        let placeholder = || CertificateNumber::assigned(today.year(), 0);
        let checked =
            CertificateRecord::issue(draft, given.clone().unwrap_or_else(placeholder), self.issuer.clone(), today)?;
        for _ in 0..ASSIGN_ATTEMPTS {
            let mut record = checked.clone();
            if given.is_none() {
                let year = today.year();
                let assigned = self.allocate_numbers(year, 1, &HashSet::new()).await?;
                record.number =
                    assigned.into_iter().next().ok_or_else(|| RegistryError::Internal("no number".into()))?;
            }
            let number = record.number.clone();
            let signed = self.sign(record)?;
            let event = NewEvent {
                kind: EventKind::Issued,
                actor: actor.to_string(),
                at: clock::now(),
                details: json!({ "level": signed.record.level, "valid_until": signed.record.valid_until }),
                signed,
            };
            match self.store.insert_new(std::slice::from_ref(&event)).await {
                Ok(()) => {
                    self.log_appended().await;
                    self.answer_changed(&number).await;
                    return self.get(&number).await;
                }
                // Someone took the assigned number meanwhile: assign the next free one.
                Err(StoreError::Duplicate(_)) if given.is_none() => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(RegistryError::Conflict("an assigned certificate number".into()))
    }
}
