//! Issuing a single certificate.

use chrono::Datelike;
use serde_json::json;

use super::{clock, Registry, RegistryError};
use crate::domain::{CertificateDraft, CertificateNumber, CertificateRecord};
use crate::store::{EventKind, NewEvent, StoredCertificate};

impl Registry {
    /// Issues a certificate after an audit: checks the draft, assigns a number when none is
    /// given, signs version 1 and stores it with its `issued` event.
    pub async fn issue(&self, actor: &str, draft: CertificateDraft) -> Result<StoredCertificate, RegistryError> {
        let today = clock::today();
        let now = clock::now();
        let number = match &draft.number {
            Some(number) => number.clone(),
            None => {
                let year = today.year();
                CertificateNumber::assigned(year, self.store.reserve_sequence(year, 1).await?)
            }
        };
        let record = CertificateRecord::issue(draft, number.clone(), self.issuer.clone(), today)?;
        let signed = self.sign(record)?;
        let event = NewEvent {
            kind: EventKind::Issued,
            actor: actor.to_string(),
            at: now,
            details: json!({ "level": signed.record.level, "valid_until": signed.record.valid_until }),
            signed,
        };
        self.store.insert_new(std::slice::from_ref(&event)).await?;
        self.log_appended().await;
        self.answer_changed(&number).await;
        self.get(&number).await
    }
}
